#!/bin/sh
# `wspc serve --io uring ADDR` as a one-argument server binary for run.sh (echo mode; the
# io_uring driver, compared with its example echo_server_uring).
exec "$(dirname "$0")/../target/release/wspc" serve --io uring "$@"
