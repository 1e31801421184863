//! Topics over loopback TCP: a published message reaches plain and compressing
//! subscribers in order with each connection's own frames, its shared frame never cut by
//! an automatic pong.

use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use wspc_io::pubsub::{Delivery, Hub, PreparedMessage};
use wspc_io::tokio::{accept_with, connect_with, WebSocket};
use wspc_io::{Accept, ClientOptions, Config, DeflateConfig, DeflateOffer, Message, Request};

/// Each connection subscribes to "t" and writes every delivery between two frames of its own.
async fn serve(mut ws: WebSocket<TcpStream>, hub: Hub) {
    let mut sub = hub.subscriber();
    sub.subscribe("t");
    loop {
        tokio::select! {
            d = sub.recv() => match d {
                Delivery::Message(m) => {
                    ws.feed(Message::text("before")).await.unwrap();
                    ws.feed_prepared(&m).await.unwrap();
                    ws.feed(Message::text("after")).await.unwrap();
                    ws.flush().await.unwrap();
                }
                Delivery::Overflow => break,
            },
            m = ws.recv() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
    let _ = ws.close(None).await;
}

async fn server(hub: Hub) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let config = Config::default().deflate_config(Some(DeflateConfig { threshold: 0, ..Default::default() }));
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let (config, hub) = (config.clone(), hub.clone());
            tokio::spawn(async move {
                if let Ok(ws) = accept_with(s, &config, |_: &Request| Ok(Accept::default())).await {
                    serve(ws, hub).await
                }
            });
        }
    });
    addr
}

fn client_options(deflate: Option<bool>) -> ClientOptions {
    let d = deflate.map(|reset| DeflateConfig {
        offers: vec![DeflateOffer { server_no_context_takeover: reset, ..Default::default() }],
        ..Default::default()
    });
    ClientOptions::default().config(Config::default().deflate_config(d))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_compressing_subscribers_get_every_message_in_order() {
    let hub = Hub::new();
    let addr = server(hub.clone()).await;
    let mut clients = Vec::new();
    for d in [None, Some(true), Some(false), Some(true)] {
        let (ws, _) = connect_with(&format!("ws://{addr}/"), &client_options(d)).await.unwrap();
        clients.push(ws);
    }
    while hub.subscriber_count("t") < clients.len() {
        tokio::task::yield_now().await;
    }
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8 ^ (i >> 9) as u8).collect();
    let sent = [
        Message::text("small"),
        Message::binary(big.clone()),
        Message::text("repeat ".repeat(5000)),
        Message::binary(Vec::new()),
    ];
    for c in clients.iter_mut() {
        // Pings keep the server's automatic pongs going while the shared frames are written.
        for _ in 0..20 {
            c.feed(Message::ping(b"p".to_vec())).await.unwrap();
        }
        c.flush().await.unwrap();
    }
    let mut prepared = Vec::new();
    for m in &sent {
        let p = Arc::new(match m {
            Message::Text(s) => PreparedMessage::text(s),
            Message::Binary(b) => PreparedMessage::binary(b),
            _ => unreachable!(),
        });
        assert_eq!(hub.publish("t", p.clone(), None), clients.len());
        prepared.push(p);
    }
    for c in clients.iter_mut() {
        let mut got = Vec::new();
        while got.len() < sent.len() * 3 {
            if let m @ (Message::Text(_) | Message::Binary(_)) = c.recv().await.unwrap().unwrap() {
                got.push(m);
            }
        }
        for (i, m) in sent.iter().enumerate() {
            assert_eq!(got[3 * i], Message::text("before"));
            assert_eq!(&got[3 * i + 1], m, "message {i}");
            assert_eq!(got[3 * i + 2], Message::text("after"));
        }
        c.close(None).await.unwrap();
    }
    // The two subscribers without context takeover shared one compressed frame per message
    // (the one with context takeover compressed its own, the plain one took the plain frame).
    assert!(prepared.iter().all(|p| p.compressed_frames() == 1));
}
