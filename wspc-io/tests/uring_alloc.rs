//! After a warm-up, the io_uring server echoing messages allocates nothing per message
//! (small messages, pipelined or one at a time, and a 64 KiB one written from where the
//! engine lends it). A counting global allocator counts the calls made on the server's
//! thread between the handler's 1,000th and 6,000th message (its own test binary).

use std::sync::mpsc;
use std::thread;
use wspc_io::blocking;
use wspc_io::uring::{Conn, Handler, Server};
use wspc_io::{Config, Message};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::counting;

const WARM: usize = 1_000;
const COUNTED: usize = 5_000;

/// Echoes, counting the allocations of its thread over messages WARM..WARM+COUNTED.
struct Echo {
    seen: usize,
    result: mpsc::Sender<usize>,
}

impl Handler for Echo {
    fn on_message(&mut self, conn: &mut Conn<'_>, msg: Message) {
        self.seen += 1;
        if self.seen == WARM {
            counting(true);
        }
        let _ = conn.send(msg);
        if self.seen == WARM + COUNTED {
            counting(false);
            let _ = self.result.send(counting_alloc::allocations());
        }
    }
}

/// Echoes WARM + COUNTED messages of `size` bytes, `k` in flight at a time; returns the
/// server thread's allocations over the counted ones.
fn echo_allocations(size: usize, k: usize) -> usize {
    let server = Server::bind("127.0.0.1:0", Config::default(), 1).unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let stop = server.shutdown_handle();
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || server.run(|| Echo { seen: 0, result: tx.clone() }));
    let (mut ws, _) = blocking::connect(url).unwrap();
    let payload = vec![0x5au8; size];
    let mut left = WARM + COUNTED;
    while left > 0 {
        let n = k.min(left);
        for _ in 0..n {
            ws.feed(Message::binary(payload.clone())).unwrap();
        }
        ws.flush().unwrap();
        for _ in 0..n {
            assert_eq!(ws.recv().unwrap().as_bytes().len(), size);
        }
        left -= n;
    }
    let count = rx.recv().unwrap();
    ws.close(None).unwrap();
    stop.shutdown();
    t.join().unwrap().unwrap();
    count
}

#[test]
fn echo_allocates_nothing_per_message() {
    for (size, k) in [(20, 1), (20, 16), (1024, 16), (64 << 10, 1)] {
        let n = echo_allocations(size, k);
        assert_eq!(n, 0, "{n} allocations over {COUNTED} messages of {size} bytes, {k} in flight");
    }
}
