//! Builds the C and C++ programs in `tests/c` with the system compilers against the
//! freshly built libwspc, runs them, and requires exit status 0: natively, as C++, linked
//! statically, under valgrind (when installed) and with AddressSanitizer +
//! UndefinedBehaviorSanitizer (when the compiler supports them).
//!
//! The library is built first by a nested `cargo build -p wspc-capi --lib` into this test's
//! own target directory and profile, so the programs always run against the current code.
//!
//! Knobs: `WSPC_REQUIRE_VALGRIND=1` / `WSPC_REQUIRE_SANITIZERS=1` turn "tool missing,
//! skipped" into a failure (CI sets them); `WSPC_THREADS_MESSAGES` overrides the message
//! count of `threads.c` (default 10000; 2000 under valgrind, which is ~25x slower).
//! `dotnet_pump.c` runs with fixed seeds plus one from the clock (each run prints its seed
//! first); `WSPC_PUMP_SEED` replaces the clock's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

struct Env {
    /// `wspc-capi/`
    manifest: PathBuf,
    /// `target/<profile>/`: libwspc.so and libwspc.a.
    profile_dir: PathBuf,
    /// Where programs are built; its `lib/` holds libwspc.so under its soname.
    out: PathBuf,
    target_dir: PathBuf,
    profile: String,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        // This binary is target/<profile>/deps/c_programs-<hash>.
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf();
        let dir_name = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug").to_string();
        let profile = match dir_name.as_str() {
            "debug" => "dev".to_string(),
            other => other.to_string(),
        };
        let mut target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let mut triple = None;
        // target/<triple>/<profile> when built with --target.
        if let Some(name) = target_dir.file_name().and_then(|n| n.to_str()) {
            if name.matches('-').count() >= 2 && target_dir.parent().is_some() {
                triple = Some(name.to_string());
                target_dir = target_dir.parent().unwrap().to_path_buf();
            }
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(manifest.join("Cargo.toml"))
            .args(["-p", "wspc-capi", "--lib", "--profile", &profile, "--target-dir"])
            .arg(&target_dir);
        if let Some(t) = &triple {
            cmd.args(["--target", t]);
        }
        let status = cmd.status().expect("running cargo build for libwspc");
        assert!(status.success(), "cargo build -p wspc-capi --lib failed");
        for f in ["libwspc.so", "libwspc.a"] {
            assert!(profile_dir.join(f).exists(), "{} missing after the build", profile_dir.join(f).display());
        }
        let out = profile_dir.join("wspc-c-tests");
        let lib = out.join("lib");
        std::fs::create_dir_all(&lib).expect("create test dirs");
        // The programs find the library by its soname (libwspc.so.0) through their rpath.
        for name in ["libwspc.so", "libwspc.so.0"] {
            let link = lib.join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(profile_dir.join("libwspc.so"), &link).expect("symlink libwspc.so");
        }
        Env { manifest, profile_dir, out, target_dir, profile }
    })
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

fn required(var: &str) -> bool {
    std::env::var(var).map(|v| v == "1").unwrap_or(false)
}

fn show(o: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    C,
    Cxx,
}

#[derive(Clone, Copy, PartialEq)]
enum Link {
    /// Header only.
    None,
    Shared,
    Static,
}

/// Compiles `tests/c/<src>.c` into `<out>/<name>` and returns the path.
fn build(src: &str, name: &str, lang: Lang, link: Link, extra: &[&str]) -> PathBuf {
    let e = env();
    let exe = e.out.join(name);
    let (compiler, std_flags): (&str, &[&str]) = match lang {
        Lang::C => ("cc", &["-std=c99"]),
        Lang::Cxx => ("c++", &["-x", "c++", "-std=c++11"]),
    };
    let mut cmd = Command::new(compiler);
    cmd.args(std_flags)
        .args(["-Wall", "-Wextra", "-Werror", "-g", "-O1", "-pthread"])
        .arg("-I")
        .arg(e.manifest.join("include"))
        .arg("-I")
        .arg(e.manifest.join("tests/c"))
        .args(extra)
        .arg(e.manifest.join("tests/c").join(format!("{src}.c")));
    if lang == Lang::Cxx {
        // Everything after this is a library, not C++ source.
        cmd.args(["-x", "none"]);
    }
    match link {
        Link::None => {}
        Link::Shared => {
            let lib = e.out.join("lib");
            cmd.arg(format!("-L{}", lib.display())).arg("-lwspc").arg(format!("-Wl,-rpath,{}", lib.display()));
        }
        Link::Static => {
            cmd.arg(e.profile_dir.join("libwspc.a")).args(["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-lgcc_s"]);
        }
    }
    cmd.arg("-o").arg(&exe);
    let o = cmd.output().unwrap_or_else(|err| panic!("running {compiler}: {err}"));
    assert!(o.status.success(), "{compiler} failed to build {src}.c as {name}\n{}", show(&o));
    exe
}

fn run(exe: &Path, args: &[&str], wrapper: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = if wrapper.is_empty() {
        Command::new(exe)
    } else {
        let mut c = Command::new(wrapper[0]);
        c.args(&wrapper[1..]).arg(exe);
        c
    };
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap_or_else(|err| panic!("running {}: {err}", exe.display()));
    println!("{}", show(&o));
    o
}

fn assert_ok(what: &str, o: &Output) {
    assert!(o.status.success(), "{what} failed with {:?}\n{}", o.status, show(o));
}

fn threads_args(default: usize) -> Vec<String> {
    vec![std::env::var("WSPC_THREADS_MESSAGES").unwrap_or_else(|_| default.to_string())]
}

/// Seeds for `dotnet_pump.c`: fixed ones (covering its buffer-size choices), then one from
/// the clock or `WSPC_PUMP_SEED`, so every CI run also tries a new one.
fn pump_seeds(fixed: &[u32]) -> Vec<String> {
    let extra = std::env::var("WSPC_PUMP_SEED").ok().and_then(|s| s.parse::<u32>().ok()).unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        t.subsec_nanos() ^ t.as_secs() as u32 | 1
    });
    fixed.iter().copied().chain([extra]).map(|s| s.to_string()).collect()
}

/// The .NET Framework pump with pings, fragmented random sends, the close handshake and
/// abort/drain, once per seed; `wrap` runs one (messages, seed) pair.
fn dotnet_pump(messages: usize, fixed: &[u32], mut wrap: impl FnMut(&[&str])) {
    let n = messages.to_string();
    for seed in pump_seeds(fixed) {
        wrap(&[&n, &seed]);
    }
}

// ------------------------------------------------------------------ native runs

#[test]
fn abi_check_c() {
    for std in ["-std=c99", "-std=c11", "-std=c17"] {
        let exe = build("abi_check", &format!("abi_check_{}", &std[5..]), Lang::C, Link::None, &[std]);
        assert_ok("abi_check (C)", &run(&exe, &[], &[], &[]));
    }
}

#[test]
fn abi_check_cxx() {
    let exe = build("abi_check", "abi_check_cxx", Lang::Cxx, Link::None, &[]);
    assert_ok("abi_check (C++)", &run(&exe, &[], &[], &[]));
}

#[test]
fn sample() {
    let exe = build("sample", "sample", Lang::C, Link::Shared, &[]);
    let o = run(&exe, &[], &[], &[]);
    assert_ok("sample", &o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("received UTF8_MESSAGE: \"Hello World\""), "sample output lacks Hello World");
}

#[test]
fn sample_cxx() {
    let exe = build("sample", "sample_cxx", Lang::Cxx, Link::Shared, &[]);
    assert_ok("sample (C++)", &run(&exe, &[], &[], &[]));
}

#[test]
fn sample_static() {
    let exe = build("sample", "sample_static", Lang::C, Link::Static, &[]);
    assert_ok("sample (static)", &run(&exe, &[], &[], &[]));
}

#[test]
fn misuse() {
    let exe = build("misuse", "misuse", Lang::C, Link::Shared, &[]);
    assert_ok("misuse", &run(&exe, &[], &[], &[]));
}

#[test]
fn misuse_cxx() {
    let exe = build("misuse", "misuse_cxx", Lang::Cxx, Link::Shared, &[]);
    assert_ok("misuse (C++)", &run(&exe, &[], &[], &[]));
}

#[test]
fn allocbuf() {
    let exe = build("allocbuf", "allocbuf", Lang::C, Link::Shared, &[]);
    assert_ok("allocbuf", &run(&exe, &[], &[], &[]));
}

#[test]
fn threads() {
    let exe = build("threads", "threads", Lang::C, Link::Shared, &[]);
    let args = threads_args(10_000);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_ok("threads", &run(&exe, &args, &[], &[]));
}

#[test]
fn dotnet_pump_native() {
    let exe = build("dotnet_pump", "dotnet_pump", Lang::C, Link::Shared, &[]);
    dotnet_pump(3000, &[1, 2, 3, 4, 5, 6, 7, 8], |args| assert_ok("dotnet_pump", &run(&exe, args, &[], &[])));
}

#[test]
fn empty_message() {
    let exe = build("empty_message", "empty_message", Lang::C, Link::Shared, &[]);
    assert_ok("empty_message", &run(&exe, &[], &[], &[]));
}

/// The opt-in permessage-deflate property (wspc's one extension to websocket.h).
#[test]
fn deflate_property() {
    let exe = build("deflate", "deflate", Lang::C, Link::Shared, &[]);
    assert_ok("deflate", &run(&exe, &[], &[], &[]));
}

// ------------------------------------------------------------------ the library itself

/// libwspc.so exports exactly the 13 functions of websocket.h.
#[test]
fn exports_are_the_13_functions() {
    if !have("nm") {
        eprintln!("nm not found: skipped");
        return;
    }
    let e = env();
    let o = Command::new("nm").args(["-D", "--defined-only"]).arg(e.profile_dir.join("libwspc.so")).output().unwrap();
    assert!(o.status.success(), "nm failed\n{}", show(&o));
    let mut functions: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            (kind == "T").then(|| name.to_string())
        })
        .collect();
    functions.sort();
    let expected = [
        "WebSocketAbortHandle",
        "WebSocketBeginClientHandshake",
        "WebSocketBeginServerHandshake",
        "WebSocketCompleteAction",
        "WebSocketCreateClientHandle",
        "WebSocketCreateServerHandle",
        "WebSocketDeleteHandle",
        "WebSocketEndClientHandshake",
        "WebSocketEndServerHandshake",
        "WebSocketGetAction",
        "WebSocketGetGlobalProperty",
        "WebSocketReceive",
        "WebSocketSend",
    ];
    assert_eq!(functions, expected, "exported functions of libwspc.so");
}

/// `make -C wspc-capi` leaves the soname link (libwspc.so.0) beside libwspc.so, so a
/// program linked from the build tree (`-L target/<profile> -lwspc`, which records
/// libwspc.so.0) starts.
#[test]
fn build_tree_library_loads() {
    if !have("make") {
        assert!(!required("WSPC_REQUIRE_SANITIZERS"), "make missing");
        eprintln!("make not found: skipped");
        return;
    }
    let e = env();
    let _ = std::fs::remove_file(e.profile_dir.join("libwspc.so.0"));
    let o = Command::new("make")
        .arg("-C")
        .arg(&e.manifest)
        .arg(format!("PROFILE={}", e.profile))
        .arg(format!("TARGET_DIR={}", e.target_dir.display()))
        .arg(format!("MANIFEST={}", e.manifest.join("Cargo.toml").display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "make failed\n{}", show(&o));
    let exe = e.out.join("sample_build_tree");
    let o = Command::new("cc")
        .arg(e.manifest.join("tests/c/sample.c"))
        .arg("-I")
        .arg(e.manifest.join("include"))
        .arg("-L")
        .arg(&e.profile_dir)
        .arg("-lwspc")
        .arg(format!("-Wl,-rpath,{}", e.profile_dir.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(o.status.success(), "cc failed\n{}", show(&o));
    assert_ok("sample linked from the build tree", &run(&exe, &[], &[], &[]));
}

/// `make install` into a scratch prefix, then a program built with exactly the README's
/// line: `cc app.c $(pkg-config --cflags --libs wspc)`.
#[test]
fn pkg_config_after_install() {
    if !have("make") || !have("pkg-config") {
        assert!(!required("WSPC_REQUIRE_SANITIZERS"), "make or pkg-config missing");
        eprintln!("make or pkg-config not found: skipped");
        return;
    }
    let e = env();
    let prefix = e.out.join("prefix");
    let _ = std::fs::remove_dir_all(&prefix);
    let o = Command::new("make")
        .arg("-C")
        .arg(&e.manifest)
        .arg("install")
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(format!("PROFILE={}", e.profile))
        .arg(format!("TARGET_DIR={}", e.target_dir.display()))
        .arg(format!("MANIFEST={}", e.manifest.join("Cargo.toml").display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "make install failed\n{}", show(&o));
    let pc = Command::new("pkg-config")
        .args(["--cflags", "--libs", "wspc"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .output()
        .unwrap();
    assert!(pc.status.success(), "pkg-config failed\n{}", show(&pc));
    let flags = String::from_utf8_lossy(&pc.stdout).to_string();
    assert!(flags.contains("-lwspc") && flags.contains("-I"), "pkg-config flags: {flags}");
    let exe = e.out.join("sample_pkgconfig");
    let line = format!(
        "cc {} -o {} $(pkg-config --cflags --libs wspc) -Wl,-rpath,{}",
        e.manifest.join("tests/c/sample.c").display(),
        exe.display(),
        prefix.join("lib").display()
    );
    let o =
        Command::new("sh").arg("-c").arg(&line).env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")).output().unwrap();
    assert!(o.status.success(), "{line}\n{}", show(&o));
    assert_ok("sample built with pkg-config", &run(&exe, &[], &[], &[]));
}

// ------------------------------------------------------------------ valgrind

fn valgrind(src: &str, args: &[&str]) {
    if !have("valgrind") {
        assert!(!required("WSPC_REQUIRE_VALGRIND"), "valgrind is required but not installed");
        eprintln!("valgrind not found: skipped");
        return;
    }
    let exe = build(src, &format!("{src}_vg"), Lang::C, Link::Shared, &[]);
    let o = run(
        &exe,
        args,
        &[
            "valgrind",
            "-q",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect",
        ],
        &[],
    );
    assert_ok(&format!("{src} under valgrind"), &o);
}

#[test]
fn sample_valgrind() {
    valgrind("sample", &[]);
}

#[test]
fn misuse_valgrind() {
    valgrind("misuse", &[]);
}

#[test]
fn allocbuf_valgrind() {
    valgrind("allocbuf", &[]);
}

#[test]
fn dotnet_pump_valgrind() {
    // 12-26 s per run here under valgrind (debug build), depending on the buffer sizes drawn.
    dotnet_pump(300, &[1], |args| valgrind("dotnet_pump", args));
}

#[test]
fn threads_valgrind() {
    let args = threads_args(2_000);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    valgrind("threads", &args);
}

// ------------------------------------------------------------------ sanitizers

const SAN: &[&str] = &["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"];

fn sanitizers_work() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let e = env();
        let src = e.out.join("san_probe.c");
        std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
        let exe = e.out.join("san_probe");
        Command::new("cc").args(SAN).arg(&src).arg("-o").arg(&exe).output().map(|o| o.status.success()).unwrap_or(false)
            && Command::new(&exe).output().map(|o| o.status.success()).unwrap_or(false)
    })
}

fn sanitized(src: &str, lang: Lang, args: &[&str]) {
    if !sanitizers_work() {
        assert!(!required("WSPC_REQUIRE_SANITIZERS"), "sanitizers are required but do not work here");
        eprintln!("-fsanitize=address,undefined unsupported here: skipped");
        return;
    }
    let suffix = if lang == Lang::Cxx { "cxx_san" } else { "san" };
    let exe = build(src, &format!("{src}_{suffix}"), lang, Link::Shared, SAN);
    let mut o = run(
        &exe,
        args,
        &[],
        &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0"), ("UBSAN_OPTIONS", "print_stacktrace=1")],
    );
    if !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("does not work under ptrace") {
        eprintln!("LeakSanitizer cannot run here (ptrace); leaks are left to the valgrind tests");
        o = run(&exe, args, &[], &[("ASAN_OPTIONS", "detect_leaks=0"), ("UBSAN_OPTIONS", "print_stacktrace=1")]);
    }
    assert_ok(&format!("{src} with ASan+UBSan"), &o);
}

#[test]
fn sample_sanitizers() {
    sanitized("sample", Lang::C, &[]);
}

#[test]
fn sample_cxx_sanitizers() {
    sanitized("sample", Lang::Cxx, &[]);
}

#[test]
fn misuse_sanitizers() {
    sanitized("misuse", Lang::C, &[]);
}

#[test]
fn allocbuf_sanitizers() {
    sanitized("allocbuf", Lang::C, &[]);
}

#[test]
fn dotnet_pump_sanitizers() {
    dotnet_pump(1500, &[1, 2, 3], |args| sanitized("dotnet_pump", Lang::C, args));
}

#[test]
fn threads_sanitizers() {
    let args = threads_args(10_000);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sanitized("threads", Lang::C, &args);
}
