//! Autobahn TestSuite client: echoes every message of every case.
//!
//! Usage: `autobahn_client BASE_URL [--deflate] [--agent NAME]`
//!
//! GET `BASE_URL/getCaseCount`, then `BASE_URL/runCase?case=N&agent=wspc` for each case,
//! then `BASE_URL/updateReports?agent=wspc`. With `--deflate` it offers two
//! permessage-deflate alternatives in one header (the second with
//! `client_no_context_takeover`), both with `client_max_window_bits`.

use wspc_io::{ClientOptions, Config, DeflateConfig, DeflateOffer, Message};

async fn run(url: &str, opts: &ClientOptions) -> wspc_io::Result<()> {
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut base = None;
    let mut deflate = false;
    let mut agent = "wspc".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--deflate" => deflate = true,
            "--agent" => agent = args.next().expect("--agent NAME"),
            _ if base.is_none() => base = Some(a),
            _ => {
                eprintln!("usage: autobahn_client BASE_URL [--deflate] [--agent NAME]");
                std::process::exit(2);
            }
        }
    }
    let base = base.unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/');
    let mut config = Config::default();
    if deflate {
        let offers = vec![
            DeflateOffer { client_max_window_bits: Some(None), ..Default::default() },
            DeflateOffer { client_no_context_takeover: true, client_max_window_bits: Some(None), ..Default::default() },
        ];
        config = config.deflate_config(Some(DeflateConfig { offers, threshold: 0, ..Default::default() }));
    }
    let opts = ClientOptions::default().config(config);

    let (mut ws, _) = wspc_io::tokio::connect_with(&format!("{base}/getCaseCount"), &opts).await.unwrap_or_else(|e| {
        eprintln!("getCaseCount: {e}");
        std::process::exit(1)
    });
    let count: u32 = match ws.recv().await {
        Some(Ok(Message::Text(t))) => t.trim().parse().expect("a case count"),
        other => {
            eprintln!("getCaseCount: unexpected {other:?}");
            std::process::exit(1)
        }
    };
    let _ = ws.close(None).await;
    eprintln!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        if let Err(e) = run(&url, &opts).await {
            eprintln!("case {case}: {e}");
        }
    }
    let url = format!("{base}/updateReports?agent={agent}");
    match wspc_io::tokio::connect_with(&url, &opts).await {
        Ok((mut ws, _)) => {
            while let Some(Ok(_)) = ws.recv().await {}
            let _ = ws.close(None).await;
        }
        Err(e) => {
            eprintln!("updateReports: {e}");
            std::process::exit(1);
        }
    }
    eprintln!("done");
}
