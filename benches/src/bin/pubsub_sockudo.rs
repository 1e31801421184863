//! Pub/sub benchmark server on sockudo-ws's `pubsub::PubSub`: every connection subscribes
//! to one topic; what a connection sends is published to the others
//! (`publish_excluding`), as pubsub_wspc does. One thread (the benchmark pins it to a CPU).
//! Handshake and relay follow sockudo-ws's own `pubsub_echo` example.

use bytes::BytesMut;
use sockudo_ws::handshake::{build_response, generate_accept_key, parse_request};
use sockudo_ws::pubsub::PubSub;
use sockudo_ws::{Config, Message, WebSocketStream};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOPIC: &str = "bench";

async fn handshake(mut s: TcpStream) -> Option<TcpStream> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if s.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
        if let Some((req, _)) = parse_request(&buf).ok()? {
            let resp = build_response(&generate_accept_key(req.key), None, None);
            s.write_all(&resp).await.ok()?;
            return Some(s);
        }
    }
}

async fn connection(s: TcpStream, pubsub: Arc<PubSub>) -> Option<()> {
    let s = handshake(s).await?;
    let (mut reader, mut writer) = WebSocketStream::server(s, Config::default()).split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let id = pubsub.create_subscriber(tx);
    pubsub.subscribe(id, TOPIC);
    loop {
        tokio::select! {
            m = reader.next() => match m {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    pubsub.publish_excluding(id, TOPIC, m);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            Some(m) = rx.recv() => if writer.send(m).await.is_err() { break },
        }
    }
    pubsub.remove_subscriber(id);
    Some(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let l = TcpListener::bind(wspc_benches::addr_arg()).await.unwrap();
        wspc_benches::announce(&l.local_addr().unwrap());
        let pubsub = Arc::new(PubSub::new());
        loop {
            let Ok((s, _)) = l.accept().await else { continue };
            let _ = s.set_nodelay(true);
            tokio::spawn(connection(s, pubsub.clone()));
        }
    });
}
