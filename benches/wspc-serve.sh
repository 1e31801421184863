#!/bin/sh
# `wspc serve ADDR` as a one-argument server binary for run.sh (echo mode, defaults).
exec "$(dirname "$0")/../target/release/wspc" serve "$@"
