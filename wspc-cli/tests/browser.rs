//! The demo page of `wspc serve` in a real browser: headless Chromium (`/usr/bin/chromium`)
//! driven by playwright-core (`node_modules/playwright-core` at the workspace root) through
//! `tests/browser_demo.js`, which types and sends text, sends binary, closes with a code and a
//! reason, and saves `target/browser-demo.png`.
//!
//! Skipped (prints SKIP, passes) when Chromium or playwright-core is missing, unless
//! `WSPC_REQUIRE_BROWSER=1` (CI), which makes that a failure.
#![cfg(unix)] // the helpers signal the server

mod cli_support;

use cli_support::Server;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// `target/` (the directory holding the profile directory of the binary under test).
fn target_dir() -> PathBuf {
    let bin = Path::new(cli_support::wspc());
    bin.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| workspace_root().join("target"))
}

/// Whether Chromium, node and playwright-core are here; prints SKIP (or fails under
/// `WSPC_REQUIRE_BROWSER=1`) when not.
fn browser_available(test: &str) -> bool {
    let chromium = Path::new("/usr/bin/chromium");
    let playwright = workspace_root().join("node_modules/playwright-core/package.json");
    let required = std::env::var("WSPC_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let node_ok = Command::new("node").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !chromium.exists() || !playwright.exists() || !node_ok {
        let why = format!(
            "chromium at {}: {}, {}: {}, node: {}",
            chromium.display(),
            chromium.exists(),
            playwright.display(),
            playwright.exists(),
            node_ok
        );
        assert!(!required, "WSPC_REQUIRE_BROWSER=1 but the browser test cannot run ({why}); run .ci/install-deps.sh");
        println!("SKIP {test}: {why}");
        return false;
    }
    true
}

/// Runs `node script args...` within 180 s; its stdout, stderr and whether it succeeded.
fn run_node(script: &Path, args: &[String]) -> (String, String, bool) {
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} did not finish within 180 s", script.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (stdout, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.success())
}

#[test]
fn demo_page_in_headless_chromium() {
    if !browser_available("demo_page_in_headless_chromium") {
        return;
    }

    let srv = Server::start(&[]);
    let screenshot = target_dir().join("browser-demo.png");
    let _ = std::fs::remove_file(&screenshot);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser_demo.js");
    let args = [format!("http://{}/", srv.addr), screenshot.display().to_string()];
    let (stdout, stderr, ok) = run_node(&script, &args);
    println!("{stdout}");
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}", srv.log());
    assert!(ok, "browser_demo.js failed:\n{all}");
    assert!(stdout.contains("browser_demo: 9 passed, 0 failed"), "{all}");
    // The echoes as the page shows them.
    assert!(stdout.contains("log: received | received | héllo wörld — Ωμέγα ✓"), "{all}");
    assert!(stdout.contains("log: received | received | second message"), "{all}");
    assert!(stdout.contains("log: received | received | binary 16 bytes: "), "{all}");
    assert!(stdout.contains("log: received | received | binary 100000 bytes: "), "{all}");
    assert!(stdout.contains("✓ matches the bytes sent"), "{all}");
    assert!(stdout.contains("log: info | closed | code 4000, reason \"demo done\""), "{all}");
    assert!(
        screenshot.metadata().map(|m| m.len() > 10_000).unwrap_or(false),
        "no screenshot at {}",
        screenshot.display()
    );
    // The server saw the page's connection and its close.
    srv.wait_log("http peer=", "GET / 200");
    srv.wait_log("connected peer=", "path=/");
    srv.wait_log("closed peer=", "code=4000 reason=\"demo done\"");
}

/// RFC 8441 in Chromium: the page comes from `wspc serve --tls-cert/--tls-key` over
/// `https://` with h2, and the WebSocket to the same origin goes as an extended CONNECT on
/// that connection (the server's log says so); tests-interop/browser.js runs its checks in
/// the page: multi-byte UTF-8 text, binary up to 4 MiB, 20 pipelined messages, close 4001
/// with a reason. The test certificate is trusted by its SPKI pin.
#[test]
fn websocket_over_http2_in_headless_chromium() {
    use base64::Engine as _;
    if !browser_available("websocket_over_http2_in_headless_chromium") {
        return;
    }
    let dir = cli_support::temp_dir("browser-h2");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let pin =
        ring::digest::digest(&ring::digest::SHA256, &rcgen::PublicKeyData::subject_public_key_info(&ck.signing_key));
    let pin = base64::engine::general_purpose::STANDARD.encode(pin.as_ref());
    let srv = Server::start(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let script = workspace_root().join("tests-interop/browser.js");
    let shot = target_dir().join("browser-h2.png");
    let args = [
        format!("https://localhost:{}/", srv.port()),
        "--spki".into(),
        pin,
        "--screenshot".into(),
        shot.display().to_string(),
    ];
    let (stdout, stderr, ok) = run_node(&script, &args);
    println!("{stdout}");
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}", srv.log());
    assert!(ok, "browser.js failed:\n{all}");
    assert!(stdout.contains(" passed, 0 failed") && stdout.contains("ok   binary 4194304 B"), "{all}");
    // The page came over h2, and the WebSocket as an extended CONNECT stream of it.
    srv.wait_log("http peer=", "GET / 200 via=h2");
    srv.wait_log("connected peer=", "via=h2 (extended CONNECT, stream");
    srv.wait_log("closed peer=", "code=4001");
    assert!(!srv.log().contains("via=http/1.1"), "a WebSocket came over HTTP/1.1:\n{all}");
    // On the page's own connection: the same peer address (client port) for both.
    let log = srv.log();
    let peer_of = |needle: &str| {
        let line = log.lines().find(|l| l.contains(needle)).unwrap_or_default();
        line.split_whitespace().find(|w| w.starts_with("peer=")).map(str::to_string)
    };
    let page = peer_of("GET / 200 via=h2");
    assert!(page.is_some() && page == peer_of("via=h2 (extended CONNECT"), "not the page's connection:\n{all}");
}
