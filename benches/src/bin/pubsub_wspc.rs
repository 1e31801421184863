//! Pub/sub benchmark server on wspc-io's topics: every connection subscribes to one topic;
//! every text or binary message it sends is published to the topic, the sender excluded
//! (what uWebSockets' `ws->publish` does). One thread (the benchmark pins it to a CPU).

use std::sync::Arc;
use tokio::net::TcpListener;
use wspc_io::pubsub::{Delivery, Hub, PreparedMessage, QueueLimits, SlowPolicy};
use wspc_io::{Accept, Config, Message, Request};

const TOPIC: &str = "bench";

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let l = TcpListener::bind(wspc_benches::addr_arg()).await.unwrap();
        wspc_benches::announce(&l.local_addr().unwrap());
        // The load keeps the publisher at most a few messages ahead of every subscriber.
        let hub = Hub::with_limits(QueueLimits { policy: SlowPolicy::DropMessages, ..Default::default() });
        let config = Config::default();
        loop {
            let Ok((s, _)) = l.accept().await else { continue };
            let _ = s.set_nodelay(true);
            let (hub, config) = (hub.clone(), config.clone());
            tokio::spawn(async move {
                let Ok(mut ws) = wspc_io::tokio::accept_with(s, &config, |_: &Request| Ok(Accept::default())).await
                else {
                    return;
                };
                let mut sub = hub.subscriber();
                sub.subscribe(TOPIC);
                loop {
                    tokio::select! {
                        d = sub.recv() => match d {
                            Delivery::Message(m) => {
                                if ws.feed_prepared(&m).await.is_err() {
                                    break;
                                }
                                if sub.queued() == 0 && ws.flush().await.is_err() {
                                    break;
                                }
                            }
                            Delivery::Overflow => break,
                        },
                        m = ws.recv() => match m {
                            Some(Ok(Message::Text(t))) => {
                                sub.publish_to_others(TOPIC, Arc::new(PreparedMessage::text(&t)));
                            }
                            Some(Ok(Message::Binary(b))) => {
                                sub.publish_to_others(TOPIC, Arc::new(PreparedMessage::binary(&b)));
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                    }
                }
            });
        }
    });
}
