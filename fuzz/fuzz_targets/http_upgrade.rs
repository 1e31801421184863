//! wspc-io's HTTP upgrade parser, both sides, through the public blocking API over an
//! in-memory stream: arbitrary bytes delivered at arbitrary split points.
//!
//! Server: `accept_with` reads the request; the answer must be a well-formed `101` with
//! the right accept key, or a well-formed 4xx/5xx with `Connection: close`, or nothing (the
//! peer went away), and no more than the head limit (plus one read) may be consumed before
//! it decides. After an upgrade, the bytes that followed the head are received as frames.
//!
//! Client: `client_handshake` sends its request and reads the arbitrary response. A `{A}`
//! in the input is replaced with the accept key for the key the client actually sent, so
//! the fuzzer reaches the accepting path (and the extension/subprotocol checks after it).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use wspc_io::{blocking, Accept, ClientOptions, Config, Request};

/// Input bytes handed out in chunks; writes collected (shared, so they can be inspected
/// after the stream was moved into the API).
#[derive(Clone)]
struct Pipe(Rc<RefCell<State>>);

struct State {
    input: Vec<u8>,
    pos: usize,
    splits: Vec<u8>,
    split_i: usize,
    written: Vec<u8>,
    /// Client mode: substitute `{A}` once the request is written.
    patch_accept: bool,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl State {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.patch_accept {
            self.patch_accept = false;
            let req = String::from_utf8_lossy(&self.written).into_owned();
            let key = req
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .expect("the client sends a key")
                .trim()
                .to_string();
            let accept = wspc::handshake::accept_key(key.as_bytes());
            let mut out = Vec::with_capacity(self.input.len() + 32);
            let mut i = 0;
            while i < self.input.len() {
                if self.input[i..].starts_with(b"{A}") {
                    out.extend_from_slice(accept.as_bytes());
                    i += 3;
                } else {
                    out.push(self.input[i]);
                    i += 1;
                }
            }
            self.input = out;
        }
        if self.pos >= self.input.len() || buf.is_empty() {
            return Ok(0);
        }
        let want = match self.splits.get(self.split_i) {
            Some(&s) => s as usize + 1,
            None => 4096,
        };
        self.split_i += 1;
        let n = want.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self.0.borrow_mut();
        assert!(st.written.len() < 1 << 20, "unbounded output");
        st.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl blocking::Stream for Pipe {}

/// Checks that `out` is one complete, well-formed HTTP response; returns status and headers.
fn parse_response(out: &[u8]) -> (u16, Vec<(String, Vec<u8>)>, usize) {
    let mut hdrs = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut hdrs);
    let n = match r.parse(out) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!("malformed response {other:?}: {:?}", String::from_utf8_lossy(out)),
    };
    let hs = r.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect();
    (r.code.unwrap(), hs, n)
}

fn header<'a>(hs: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    hs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
}

fn server(flags: u8, splits: &[u8], data: &[u8]) {
    let max_bytes = if flags & 2 != 0 { 512 } else { wspc_io::DEFAULT_MAX_HEADER_BYTES };
    let max_headers = if flags & 4 != 0 { 8 } else { wspc_io::DEFAULT_MAX_HEADERS };
    let config = Config::default()
        .header_limits(max_bytes, max_headers)
        .deflate(flags & 8 != 0)
        .max_message_size(Some(1 << 16))
        .receive_buffer_size(256 + (flags as u32 >> 5) * 1024);
    let reject = flags & 16 != 0;
    let mut saw_request = None;
    let handler = |req: &Request| {
        assert!(req.headers().len() <= max_headers);
        assert_eq!(req.method(), "GET");
        for p in wspc_io::http::subprotocols(req) {
            // Offers are passed through as sent (not checked to be tokens: see
            // HARDENING_FINDINGS.md); they never carry line breaks.
            assert!(!p.is_empty() && !p.contains(['\r', '\n', '\0', ',']), "bad subprotocol {p:?}");
        }
        let _ = (req.uri().path(), req.uri().query(), req.headers().get("host"));
        saw_request = Some(wspc_io::http::subprotocols(req).next().map(str::to_string));
        if reject {
            Err(wspc_io::reject(403, "no"))
        } else {
            let mut a = Accept::default().header("X-Fuzz", "1");
            if let Some(p) = wspc_io::http::subprotocols(req).next() {
                a = a.subprotocol(p);
            }
            Ok(a)
        }
    };
    let pipe = Pipe(Rc::new(RefCell::new(State {
        input: data.to_vec(),
        pos: 0,
        splits: splits.to_vec(),
        split_i: 0,
        written: Vec::new(),
        patch_accept: false,
    })));
    let result = blocking::accept_with(pipe.clone(), &config, handler);
    match result {
        Ok(mut ws) => {
            assert!(saw_request.is_some() && !reject);
            // What followed the head: frames. Receive until the input runs out.
            for _ in 0..64 {
                if ws.recv().is_err() {
                    break;
                }
            }
            drop(ws);
            let st = pipe.0.borrow();
            let (status, hs, n) = parse_response(&st.written);
            assert_eq!(status, 101);
            assert!(header(&hs, "sec-websocket-accept").is_some());
            assert!(n <= st.written.len());
        }
        Err(e) => {
            let st = pipe.0.borrow();
            // The head limit: no more than the limit plus one read is taken before deciding.
            assert!(st.pos <= max_bytes + 2048, "{} bytes read for a {max_bytes}-byte head limit", st.pos);
            if st.written.is_empty() {
                // Nothing answered: only when the peer ended the stream before a full head.
                assert!(matches!(e, wspc_io::Error::ConnectionReset | wspc_io::Error::Io(_)), "{e:?}");
                assert!(st.pos == st.input.len());
            } else {
                let (status, hs, _) = parse_response(&st.written);
                assert!((400..=599).contains(&status), "status {status}");
                assert_eq!(header(&hs, "connection"), Some(&b"close"[..]));
                if status == 403 {
                    assert!(reject);
                }
            }
        }
    }
}

fn client(flags: u8, splits: &[u8], data: &[u8]) {
    // The URL comes from the input too, up to the first newline.
    let (url, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) if flags & 2 != 0 => (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..]),
        _ => ("ws://fuzz.example:8080/path?q=1".to_string(), data),
    };
    let mut opts = ClientOptions::default()
        .subprotocol("chat")
        .subprotocol("superchat")
        .config(Config::default().header_limits(1024, 16).deflate(flags & 8 != 0));
    if flags & 4 != 0 {
        opts = opts.origin("http://fuzz.example").header("X-A", "b");
    }
    let pipe = Pipe(Rc::new(RefCell::new(State {
        input: rest.to_vec(),
        pos: 0,
        splits: splits.to_vec(),
        split_i: 0,
        written: Vec::new(),
        patch_accept: true,
    })));
    match blocking::client_handshake(pipe.clone(), &url, &opts) {
        Ok((mut ws, resp)) => {
            assert_eq!(resp.status(), 101);
            if let Some(p) = ws.subprotocol() {
                assert!(p == "chat" || p == "superchat");
            }
            for _ in 0..64 {
                if ws.recv().is_err() {
                    break;
                }
            }
        }
        Err(_) => {
            // The response head limit (1024) plus one read, at most, before giving up.
            assert!(pipe.0.borrow().pos <= 1024 + 2048);
        }
    }
    // The request the client wrote is always well-formed when it wrote one.
    let st = pipe.0.borrow();
    if !st.written.is_empty() {
        let mut hdrs = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Request::new(&mut hdrs);
        assert!(matches!(r.parse(&st.written), Ok(httparse::Status::Complete(_))), "bad request written");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let flags = data[0];
    let nsplits = (data[1] as usize).min(data.len() - 2);
    let (splits, rest) = data[2..].split_at(nsplits);
    if flags & 1 == 0 {
        server(flags, splits, rest);
    } else {
        client(flags, splits, rest);
    }
});
