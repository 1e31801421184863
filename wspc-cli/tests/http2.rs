//! `wspc serve --tls-cert/--tls-key` over HTTP/2 against independent peers and wspc's own
//! client: Python's `h2` package driving RFC 8441 by hand (tests-interop/h2_client.py, run
//! with the workspace's `.venv`), and `wspc connect --http2` with its HTTP/1.1 fallback.
//!
//! The Python test prints SKIP and passes when `.venv` lacks `h2`, unless
//! `WSPC_REQUIRE_PYTHON_H2=1` (CI), which makes that a failure.
#![cfg(unix)] // the helpers signal the server

mod cli_support;

use cli_support::{connect, Server};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A test certificate for localhost in a fresh directory: (cert, key) paths.
fn cert(name: &str) -> (PathBuf, PathBuf) {
    let dir = cli_support::temp_dir(name);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn tls_server(cert: &Path, key: &Path) -> Server {
    Server::start(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()])
}

#[test]
fn python_h2_drives_extended_connect_against_wspc_serve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = root.join(".venv/bin/python");
    let has_h2 = Command::new(&python).args(["-c", "import h2"]).status().is_ok_and(|s| s.success());
    if !has_h2 {
        let required = std::env::var("WSPC_REQUIRE_PYTHON_H2").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "WSPC_REQUIRE_PYTHON_H2=1 but {} cannot import h2; run .ci/install-deps.sh",
            python.display()
        );
        println!("SKIP python_h2_drives_extended_connect_against_wspc_serve: no h2 in {}", python.display());
        return;
    }
    let (c, k) = cert("http2-python");
    let srv = tls_server(&c, &k);
    let out = Command::new(&python)
        .arg(root.join("tests-interop/h2_client.py"))
        .args(["localhost", &srv.port().to_string(), "--ca", c.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}\n{}\nserver log:\n{}", String::from_utf8_lossy(&out.stderr), srv.log());
    println!("{stdout}");
    assert!(out.status.success() && stdout.contains("h2_client: 10 passed, 0 failed"), "{all}");
    srv.wait_log("connected peer=", "path=/py-h2 subprotocol=none via=h2 (extended CONNECT, stream 1)");
    srv.wait_log("closed peer=", "code=1000 reason=\"bye\"");
}

#[test]
fn connect_http2_uses_h2_and_falls_back_to_http1() {
    let (c, k) = cert("http2-connect");
    let srv = tls_server(&c, &k);
    let url = format!("wss://localhost:{}/over-h2", srv.port());
    let out = connect(&url, &["--http2", "-v", "--ca", c.to_str().unwrap()], "wörld\n".as_bytes());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "wörld\n", "{out:?}");
    assert!(out.stderr.contains("protocol: HTTP/2 (extended CONNECT)"), "{out:?}");
    srv.wait_log("connected peer=", "path=/over-h2 subprotocol=none via=h2");
    // Without --http2 the same server is reached with an HTTP/1.1 upgrade.
    let url = format!("wss://localhost:{}/over-h1", srv.port());
    let out = connect(&url, &["-v", "--ca", c.to_str().unwrap()], b"x\n");
    assert!(out.stderr.contains("protocol: HTTP/1.1"), "{out:?}");
    srv.wait_log("connected peer=", "path=/over-h1 subprotocol=none via=http/1.1");
    // A ws:// server (no TLS, so no h2): --http2 falls back to HTTP/1.1.
    let plain = Server::start(&[]);
    let out = connect(&plain.ws_url(), &["--http2", "-v"], b"y\n");
    assert_eq!(out.stdout, b"y\n", "{out:?}");
    assert!(out.stderr.contains("protocol: HTTP/1.1"), "{out:?}");
}
