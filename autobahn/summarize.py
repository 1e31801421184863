#!/usr/bin/env python3
"""Write a Markdown summary of a kosoku/Autobahn results dir.

Usage: summarize.py RESULTS_DIR [--role server|client] [-o OUT.md]

Default output: autobahn/summary-<role>.md (role defaults to the results dir's name).
Contents: verdict counts, a per-group table (group = first component of the case id,
with the suite's group titles), the non-OK cases, and the slowest cases.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict

GROUPS = {
    "1": "Framing", "2": "Pings/Pongs", "3": "Reserved Bits", "4": "Opcodes",
    "5": "Fragmentation", "6": "UTF-8 Handling", "7": "Close Handling",
    "9": "Limits/Performance", "10": "Misc", "12": "WebSocket Compression (different payloads)",
    "13": "WebSocket Compression (different parameters)",
}
COLS = ["OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "FAILED", "ERROR"]


def case_key(cid: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in cid.split("."))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("resdir")
    ap.add_argument("--role", default=None)
    ap.add_argument("-o", "--output", default=None)
    a = ap.parse_args()
    role = a.role or os.path.basename(os.path.normpath(a.resdir))
    out = a.output or os.path.join(os.path.dirname(os.path.abspath(__file__)), f"summary-{role}.md")

    with open(os.path.join(a.resdir, "index.json")) as f:
        index = json.load(f)
    cases = {}
    for agent, entries in index.items():
        for cid, e in entries.items():
            cases[cid] = dict(e, agent=agent)
    ids = sorted(cases, key=case_key)

    total = Counter(cases[c]["behavior"] for c in ids)
    close_total = Counter(cases[c]["behaviorClose"] for c in ids)
    per_group: dict[str, Counter] = defaultdict(Counter)
    bad_close: Counter = Counter()
    dur: Counter = Counter()
    for cid in ids:
        g = cid.split(".")[0]
        per_group[g][cases[cid]["behavior"]] += 1
        if cases[cid]["behaviorClose"] not in ("OK", "INFORMATIONAL"):
            bad_close[g] += 1
        dur[g] += cases[cid].get("duration") or 0

    lines = [f"# Autobahn results: wspc as {role}", ""]
    lines.append(f"Agent(s): {', '.join(sorted(index)) or '-'}; {len(ids)} cases; "
                 f"total case time {sum(dur.values()) / 1000:.1f} s (sum of per-case durations).")
    lines.append("")
    lines.append("| verdict | cases |")
    lines.append("| --- | ---: |")
    for k in COLS + sorted(set(total) - set(COLS)):
        if total.get(k):
            lines.append(f"| {k} | {total[k]} |")
    lines.append("")
    lines.append("Close verdicts: " + ", ".join(f"{k}={v}" for k, v in sorted(close_total.items())))
    lines.append("")
    lines.append("| group | title | cases | " + " | ".join(COLS) + " | close not OK | time (s) |")
    lines.append("| --- | --- | ---: | " + " | ".join("---:" for _ in COLS) + " | ---: | ---: |")
    for g in sorted(per_group, key=int):
        c = per_group[g]
        lines.append(f"| {g} | {GROUPS.get(g, '')} | {sum(c.values())} | "
                     + " | ".join(str(c.get(k, 0)) for k in COLS)
                     + f" | {bad_close[g]} | {dur[g] / 1000:.1f} |")
    lines.append("")
    notok = [cid for cid in ids if cases[cid]["behavior"] != "OK" or cases[cid]["behaviorClose"] != "OK"]
    if notok:
        lines.append("## Cases not OK")
        lines.append("")
        lines.append("| case | behavior | behaviorClose | remoteCloseCode |")
        lines.append("| --- | --- | --- | --- |")
        for cid in notok:
            c = cases[cid]
            lines.append(f"| {cid} | {c['behavior']} | {c['behaviorClose']} | {c.get('remoteCloseCode')} |")
        lines.append("")
    slow = sorted(ids, key=lambda c: -(cases[c].get("duration") or 0))[:10]
    lines.append("## Slowest cases")
    lines.append("")
    lines.append("| case | duration (ms) |")
    lines.append("| --- | ---: |")
    for cid in slow:
        lines.append(f"| {cid} | {cases[cid].get('duration')} |")
    lines.append("")

    with open(out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
