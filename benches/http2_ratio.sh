#!/usr/bin/env bash
# Echo throughput of N WebSockets over one HTTP/2 connection (RFC 8441) against N HTTP/1.1
# connections, as a ratio from interleaved rounds (wspc-io/examples/h2_ratio.rs), written
# into BENCHMARKS.md between the http2-ratio markers (benches/report.py keeps that block
# when it regenerates the rest). About 30 s. Arguments go to h2_ratio
# (--conns 16 --size 1024 --depth 4 --secs 2 --rounds 5).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build -q --release -p wspc-io --features http2 --example h2_ratio
section="$(target/release/examples/h2_ratio "$@")"
python3 - "$ROOT/BENCHMARKS.md" "$section" <<'PY'
import sys
path, section = sys.argv[1], sys.argv[2]
begin, end = "<!-- http2-ratio:begin -->", "<!-- http2-ratio:end -->"
text = open(path).read()
block = f"{begin}\n{section.strip()}\n{end}"
if begin in text and end in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(text)
PY
echo "$section"
