#!/usr/bin/env bash
# The test command: every crate's unit, integration, property and doc tests, and the C/C++
# programs of wspc-capi (built and run by its cargo tests, under valgrind when present).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --workspace --all-features "$@"
