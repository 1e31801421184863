//! After a warm-up, the io_uring server echoing messages allocates nothing per message
//! (small messages, pipelined or one at a time, a 64 KiB one written from where the
//! engine lends it, and 1 MiB ones received straight into their pooled vectors). A counting
//! global allocator counts the calls made on the server's thread between the handler's
//! 1,000th and 6,000th message (fewer for 1 MiB; its own test binary).

use std::sync::mpsc;
use std::thread;
use wspc_io::blocking;
use wspc_io::uring::{Conn, Handler, Server};
use wspc_io::{Config, Message};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::counting;

/// Echoes, counting the allocations of its thread over messages warm..warm+counted.
struct Echo {
    seen: usize,
    warm: usize,
    counted: usize,
    result: mpsc::Sender<usize>,
}

impl Handler for Echo {
    fn on_message(&mut self, conn: &mut Conn<'_>, msg: Message) {
        self.seen += 1;
        if self.seen == self.warm {
            counting(true);
        }
        let _ = conn.send(msg);
        if self.seen == self.warm + self.counted {
            counting(false);
            let _ = self.result.send(counting_alloc::allocations());
        }
    }
}

/// Echoes `warm + counted` messages of `size` bytes, `k` in flight at a time; returns the
/// server thread's allocations over the counted ones.
fn echo_allocations(size: usize, k: usize, warm: usize, counted: usize) -> usize {
    let server = Server::bind("127.0.0.1:0", Config::default(), 1).unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let stop = server.shutdown_handle();
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || server.run(|| Echo { seen: 0, warm, counted, result: tx.clone() }));
    let (mut ws, _) = blocking::connect(url).unwrap();
    let payload = vec![0x5au8; size];
    let mut left = warm + counted;
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
    for (size, k, warm, counted) in [
        (20, 1, 1_000, 5_000),
        (20, 16, 1_000, 5_000),
        (1024, 16, 1_000, 5_000),
        (64 << 10, 1, 1_000, 5_000),
        (1 << 20, 1, 20, 100),
    ] {
        let n = echo_allocations(size, k, warm, counted);
        assert_eq!(n, 0, "{n} allocations over {counted} messages of {size} bytes, {k} in flight");
    }
}
