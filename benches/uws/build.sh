#!/usr/bin/env bash
# Builds benches/target/release/echo_uws and pubsub_uws (uWebSockets + uSockets, no SSL, no zlib) from
# the sources shipped in the crates.io crate libuwebsockets-sys: fetched into a scratch cargo
# project under benches/target (never committed), compiled with gcc/g++ -O2.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUTDIR="$ROOT/benches/target/release"
SCRATCH="$ROOT/benches/target/uws-fetch"
mkdir -p "$OUTDIR" "$SCRATCH/src"
if [ ! -f "$SCRATCH/Cargo.toml" ]; then
    printf '[package]\nname = "uws-fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nlibuwebsockets-sys = "=0.0.10"\n[workspace]\n' >"$SCRATCH/Cargo.toml"
    echo 'fn main() {}' >"$SCRATCH/src/main.rs"
fi
(cd "$SCRATCH" && cargo fetch --quiet)
SRC=$(cd "$SCRATCH" && cargo metadata --format-version 1 | python3 -c '
import json, sys, os
m = json.load(sys.stdin)
p = next(p for p in m["packages"] if p["name"] == "libuwebsockets-sys")
print(os.path.join(os.path.dirname(p["manifest_path"]), "uWebSockets"))')
OBJ="$SCRATCH/obj"
mkdir -p "$OBJ"
for c in "$SRC"/uSockets/src/*.c "$SRC"/uSockets/src/eventing/epoll_kqueue.c; do
    o="$OBJ/$(basename "$c" .c).o"
    [ -f "$o" ] || gcc -O2 -DLIBUS_NO_SSL -I"$SRC/uSockets/src" -c "$c" -o "$o"
done
for prog in echo_uws pubsub_uws; do
    g++ -O2 -std=c++20 -DLIBUS_NO_SSL -DUWS_NO_ZLIB -I"$SRC/src" -I"$SRC/uSockets/src" \
        "$ROOT/benches/uws/$prog.cpp" "$OBJ"/*.o -o "$OUTDIR/$prog"
    echo "built $OUTDIR/$prog"
done
