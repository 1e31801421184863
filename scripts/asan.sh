#!/usr/bin/env bash
# The Rust crates' unit and integration tests under AddressSanitizer (nightly toolchain):
# they cover the `unsafe` blocks of the core (AVX2 masking and the fused unmask + UTF-8 pass,
# the lent buffer regions, direct payload reads) and of wspc-io (reads into lent buffers and
# into a message vector's spare capacity, vectored writes from lent payloads).
#   bash scripts/asan.sh [extra cargo test args]
# Without a nightly toolchain it says SKIP and exits 0. Builds into target/asan.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! cargo +nightly --version >/dev/null 2>&1; then echo "SKIP asan: no nightly toolchain"; exit 0; fi
export RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address"
export CARGO_TARGET_DIR="$PWD/target/asan"
cargo +nightly test -p wspc -p wspc-io --all-features --target "$(rustc -vV | sed -n 's/^host: //p')" --lib --tests "$@"
