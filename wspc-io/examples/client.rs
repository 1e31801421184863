//! Tokio line client: sends each stdin line as a text message and prints every text
//! message received as a line (binary as `<binary N bytes>`). At the end of stdin it
//! waits for as many replies as lines sent (at most 30 s), closes with 1000 and exits 0.
//!
//! Usage: `client URL [--subprotocol P] [--deflate] [--ca PEM]`

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use wspc_io::{ClientOptions, CloseFrame, Config, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut opts = ClientOptions::default();
    let mut config = Config::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--subprotocol" | "--protocol" => opts = opts.subprotocol(args.next().expect("--subprotocol P")),
            "--deflate" => config = config.deflate(true),
            "--ca" => {
                let pem = std::fs::read(args.next().expect("--ca PEM")).expect("read the CA file");
                opts = opts.tls(wspc_io::tls::client_config_with_ca(&pem).expect("CA"));
            }
            _ if url.is_none() => url = Some(a),
            _ => {
                eprintln!("usage: client URL [--subprotocol P] [--deflate] [--ca PEM]");
                std::process::exit(2);
            }
        }
    }
    let url = url.unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let opts = opts.config(config);
    let (ws, _) = wspc_io::tokio::connect_with(&url, &opts).await.unwrap_or_else(|e| {
        eprintln!("connect {url}: {e}");
        std::process::exit(1)
    });
    if let Some(p) = ws.subprotocol() {
        eprintln!("subprotocol: {p}");
    }
    let (mut rx, mut tx) = ws.split();
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        let mut n = 0usize;
        while let Some(msg) = rx.recv().await {
            match msg {
                Ok(Message::Text(t)) => {
                    let mut line = t.into_string().into_bytes();
                    line.push(b'\n');
                    let _ = out.write_all(&line).await;
                    let _ = out.flush().await;
                }
                Ok(Message::Binary(b)) => {
                    let _ = out.write_all(format!("<binary {} bytes>\n", b.len()).as_bytes()).await;
                    let _ = out.flush().await;
                }
                Ok(Message::Close(c)) => {
                    eprintln!("close: {c:?}");
                    continue;
                }
                Ok(_) => continue,
                Err(e) => {
                    eprintln!("receive: {e}");
                    break;
                }
            }
            n += 1;
            let _ = count_tx.send(n);
        }
        let _ = count_tx.send(usize::MAX);
    });
    let mut lines = BufReader::new(tokio::io::stdin()).split(b'\n');
    let mut sent = 0usize;
    loop {
        match lines.next_segment().await {
            Ok(Some(line)) => {
                let text = String::from_utf8_lossy(&line).into_owned();
                if let Err(e) = tx.send(Message::text(text)).await {
                    eprintln!("send: {e}");
                    std::process::exit(1);
                }
                sent += 1;
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("stdin: {e}");
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), count_rx.wait_for(|n| *n >= sent)).await;
    let _ = tx.close(Some(CloseFrame::new(1000, ""))).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
}
