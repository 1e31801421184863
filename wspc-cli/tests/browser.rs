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

#[test]
fn demo_page_in_headless_chromium() {
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
        println!("SKIP demo_page_in_headless_chromium: {why}");
        return;
    }

    let srv = Server::start(&[]);
    let screenshot = target_dir().join("browser-demo.png");
    let _ = std::fs::remove_file(&screenshot);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser_demo.js");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(format!("http://{}/", srv.addr))
        .arg(&screenshot)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("browser_demo.js did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}", srv.log());
    assert!(status.success(), "browser_demo.js failed ({status}):\n{all}");
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
