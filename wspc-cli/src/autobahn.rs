//! `wspc autobahn-client URL`: runs every case of an Autobahn TestSuite fuzzing server
//! (`wstest -m fuzzingserver`) against wspc's client, echoing every message.
//!
//! Protocol: `GET URL/getCaseCount` (one text message: the count), then
//! `URL/runCase?case=N&agent=AGENT` for N = 1..=count (echo everything until the server
//! closes), then `URL/updateReports?agent=AGENT` to write the reports.

use crate::BoxError;
use clap::Args;
use std::process::ExitCode;
use wspc_io::{ClientOptions, Config, DeflateConfig, DeflateOffer, Message};

/// Arguments of `wspc autobahn-client`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "\
Start the fuzzing server first (e.g. `wstest -m fuzzingserver -s fuzzingserver.json`), then run \
`wspc autobahn-client ws://127.0.0.1:9001`; the reports appear in the server's output directory \
under the agent name. A failing case is printed and does not stop the run.

Exit status: 0 when every case ran and the reports were updated, 1 when the server could not be \
reached or answered getCaseCount/updateReports unexpectedly, 2 on a usage error.")]
pub struct AutobahnArgs {
    /// Base URL of the fuzzing server.
    #[arg(default_value = "ws://127.0.0.1:9001")]
    pub url: String,
    /// Agent name the results are filed under.
    #[arg(long, default_value = "wspc")]
    pub agent: String,
    /// Offer permessage-deflate, as several alternatives in one header: with `client_max_window_bits`,
    /// and with `client_no_context_takeover; client_max_window_bits`.
    #[arg(long)]
    pub deflate: bool,
    /// Run only case N (repeatable; default: all).
    #[arg(long, value_name = "N")]
    pub case: Vec<u32>,
}

/// The client options used for every case: 64 MiB limits (case 9.x sends 16 MiB frames)
/// and, with `deflate`, two offers in one header and every message compressed.
pub fn client_options(deflate: bool) -> ClientOptions {
    let mut config = Config::default();
    if deflate {
        let offers = vec![
            DeflateOffer { client_max_window_bits: Some(None), ..Default::default() },
            DeflateOffer { client_no_context_takeover: true, client_max_window_bits: Some(None), ..Default::default() },
        ];
        // Compress every message (threshold 0): Autobahn's fuzzing server (kosoku) errors on
        // short uncompressed text on a permessage-deflate connection.
        config = config.deflate_config(Some(DeflateConfig { offers, threshold: 0, ..Default::default() }));
    }
    ClientOptions::default().config(config)
}

/// Echoes every message of one case until the server closes.
pub async fn run_case(url: &str, opts: &ClientOptions) -> wspc_io::Result<()> {
    let (mut ws, _) = wspc_io::tokio::connect_with(url, opts).await?;
    while let Some(msg) = ws.recv().await {
        match msg? {
            m @ (Message::Text(_) | Message::Binary(_)) => ws.feed(m).await?,
            Message::Close(_) => break,
            _ => {}
        }
    }
    ws.close(None).await
}

/// Runs the whole protocol.
pub async fn run_all(args: &AutobahnArgs) -> Result<(), String> {
    let base = args.url.trim_end_matches('/');
    let opts = client_options(args.deflate);
    let (mut ws, _) = wspc_io::tokio::connect_with(&format!("{base}/getCaseCount"), &opts)
        .await
        .map_err(|e| format!("getCaseCount: {e}"))?;
    let count: u32 = match ws.recv().await {
        Some(Ok(Message::Text(t))) => t.trim().parse().map_err(|_| format!("getCaseCount: not a number: {t:?}"))?,
        other => return Err(format!("getCaseCount: unexpected {other:?}")),
    };
    let _ = ws.close(None).await;
    let cases: Vec<u32> = if args.case.is_empty() { (1..=count).collect() } else { args.case.clone() };
    eprintln!("{count} cases on the server; running {}", cases.len());
    let agent = &args.agent;
    for case in cases {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        if let Err(e) = run_case(&url, &opts).await {
            eprintln!("case {case}: {e}");
        }
    }
    let url = format!("{base}/updateReports?agent={agent}");
    let (mut ws, _) = wspc_io::tokio::connect_with(&url, &opts).await.map_err(|e| format!("updateReports: {e}"))?;
    while let Some(Ok(_)) = ws.recv().await {}
    let _ = ws.close(None).await;
    eprintln!("done: reports updated for agent {agent}");
    Ok(())
}

/// Runs `wspc autobahn-client`.
pub fn run(args: AutobahnArgs) -> Result<ExitCode, BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(match rt.block_on(run_all(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wspc: {e}");
            ExitCode::from(1)
        }
    })
}
