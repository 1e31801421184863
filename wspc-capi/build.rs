//! Gives libwspc.so a versioned soname, as installed C libraries have, so that a program
//! linked with `-lwspc` records `libwspc.so.0` (the ABI major version) and keeps working
//! across compatible upgrades.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "freebsd" || os == "netbsd" || os == "openbsd" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwspc.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
