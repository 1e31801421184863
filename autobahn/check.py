#!/usr/bin/env python3
"""Check a kosoku/Autobahn results dir against the committed expectation.

Usage: check.py RESULTS_DIR --role server|client [--expected FILE] [--include GLOB]...
                [--exclude GLOB]... [--update] [--require-expected] [--elapsed SECONDS]

Fails (exit 1) when
  * any case's behavior is FAILED, NON-STRICT, UNIMPLEMENTED (or ERROR), or its
    behaviorClose is anything but OK / INFORMATIONAL -- except a case that ended in a
    known kosoku error of its own (TOOL_ERRORS below: printed as TOOL-ERROR, not counted
    unless AUTOBAHN_STRICT_TOOL_ERRORS=1);
  * any case regressed against the expectation (verdict worse than expected, or an
    expected case in the selected groups is missing from the results);
  * the results hold no case at all.
Prints one summary line (counts per verdict, regressions, elapsed time).

--update writes the expectation (case -> behavior/behaviorClose) from these results,
keeping expected entries for cases outside this run's selection (so the deflate
groups can be refreshed separately).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter

BAD_BEHAVIOR = {"FAILED", "NON-STRICT", "UNIMPLEMENTED", "ERROR"}
GOOD_CLOSE = {"OK", "INFORMATIONAL"}
RANK = {"OK": 0, "INFORMATIONAL": 0, "NON-STRICT": 1, "UNIMPLEMENTED": 2, "FAILED": 3, "ERROR": 4}
CLOSE_RANK = {"OK": 0, "INFORMATIONAL": 0}  # anything else ranks 1
ORDER = ["OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "FAILED", "ERROR"]


def case_key(cid: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in cid.split("."))


def load_results(resdir: str) -> tuple[str, dict[str, dict]]:
    path = os.path.join(resdir, "index.json")
    with open(path) as f:
        index = json.load(f)
    if not index:
        return "", {}
    if len(index) > 1:
        print(f"warning: {path} holds several agents ({', '.join(index)}); merging", file=sys.stderr)
    cases: dict[str, dict] = {}
    for agent, entries in index.items():
        for cid, e in entries.items():
            cases[cid] = {"behavior": e.get("behavior"), "behaviorClose": e.get("behaviorClose"),
                          "duration": e.get("duration"), "remoteCloseCode": e.get("remoteCloseCode"),
                          "reportfile": os.path.join(resdir, e.get("reportfile", ""))}
    return ",".join(index), cases


# kosoku 0.1.0 errors of its own (a Python exception inside the vendored case code, not a
# verdict on the peer). A case that ends in one of these is counted as TOOL-ERROR and
# reported, but does not fail the check (AUTOBAHN_STRICT_TOOL_ERRORS=1 makes it fail).
TOOL_ERRORS = {
    "Strings must be encoded before hashing":
        "kosoku bug: cases 12.x/13.x crash when the peer sends a message uncompressed"
        " (RSV1 clear) on a permessage-deflate connection, which RFC 7692 allows (e.g. below a"
        " compression threshold: 12.x.1/13.x.1 send 16-byte messages); compress every message"
        " to get a real verdict",
}


def case_report_text(c: dict) -> str:
    try:
        with open(c["reportfile"]) as f:
            rep = json.load(f)
    except (OSError, ValueError, KeyError):
        return ""
    parts = [str(rep.get(k) or "").strip() for k in ("result", "resultClose")]
    return " / ".join(p for p in parts if p)[:300]


def tool_error(c: dict, text: str) -> str:
    """The explanation when the case ended in a known kosoku error, else ''."""
    if c["behavior"] != "ERROR":
        return ""
    return next((h for k, h in TOOL_ERRORS.items() if k in text), "")


def dump_expectation(doc: dict) -> str:
    """JSON with one line per case, so that diffs of the expectation read well."""
    head = {k: v for k, v in doc.items() if k != "cases"}
    out = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()] + ['  "cases": {']
    items = list(doc["cases"].items())
    for i, (cid, v) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        out.append(f"    {json.dumps(cid)}: {json.dumps(v, sort_keys=True)}{sep}")
    out += ["  }", "}", ""]
    return "\n".join(out)


def glob_match(cid: str, pattern: str) -> bool:
    """kosoku's case selection: an id without `*` matches exactly; with `*` the
    pattern matches from the start of the id but need not reach its end
    (`13.*.1` also selects 13.1.10 ... 13.1.18)."""
    if "*" not in pattern:
        return cid == pattern
    return re.match(".*".join(re.escape(part) for part in pattern.split("*")), cid) is not None


def selected(cid: str, inc: list[str], exc: list[str]) -> bool:
    if inc and not any(glob_match(cid, g) for g in inc):
        return False
    return not any(glob_match(cid, g) for g in exc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("resdir")
    ap.add_argument("--role", required=True, choices=["server", "client"])
    ap.add_argument("--expected", default=None)
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--exclude", action="append", default=[])
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--require-expected", action="store_true")
    ap.add_argument("--elapsed", type=float, default=None)
    a = ap.parse_args()
    expected_path = a.expected or os.path.join(os.path.dirname(os.path.abspath(__file__)), f"expected-{a.role}.json")

    agent, cases = load_results(a.resdir)
    problems: list[str] = []
    if not cases:
        problems.append("no case results at all")

    counts = Counter(c["behavior"] for c in cases.values())
    close_counts = Counter(c["behaviorClose"] for c in cases.values())
    tool_errors: list[str] = []
    strict_tool = os.environ.get("AUTOBAHN_STRICT_TOOL_ERRORS") == "1"
    for cid in sorted(cases, key=case_key):
        c = cases[cid]
        if c["behavior"] in BAD_BEHAVIOR or c["behaviorClose"] not in GOOD_CLOSE:
            text = case_report_text(c)
            line = (f"{cid}: behavior={c['behavior']} behaviorClose={c['behaviorClose']}"
                    f" remoteCloseCode={c['remoteCloseCode']}" + (f"\n      {text}" if text else ""))
            hint = tool_error(c, text)
            if hint and not strict_tool:
                tool_errors.append(cid)
                if len(tool_errors) == 1:
                    print(f"TOOL-ERROR {line}\n      {hint}")
            else:
                problems.append(line + (f"\n      hint: {hint}" if hint else ""))
    if len(tool_errors) > 1:
        print(f"TOOL-ERROR the same in {len(tool_errors) - 1} more case(s): {', '.join(tool_errors[1:])}")

    regressions: list[str] = []
    changes: list[str] = []
    expected = None
    if os.path.exists(expected_path):
        with open(expected_path) as f:
            expected = json.load(f)
    exp_cases: dict[str, dict] = (expected or {}).get("cases", {})

    if a.update:
        merged = {cid: v for cid, v in exp_cases.items() if not selected(cid, a.include, a.exclude)}
        for cid, c in cases.items():
            merged[cid] = {"behavior": c["behavior"], "behaviorClose": c["behaviorClose"]}
        doc = {
            "comment": f"Autobahn verdicts expected of wspc as {a.role}; regenerate with "
                       f"`autobahn/run.sh {a.role} --update ...` (see autobahn/run.sh).",
            "role": a.role,
            "agent": agent,
            "cases": {cid: merged[cid] for cid in sorted(merged, key=case_key)},
        }
        with open(expected_path, "w") as f:
            f.write(dump_expectation(doc))
        print(f"updated {expected_path} ({len(merged)} cases)")
    elif expected is None:
        msg = f"no expectation file {expected_path} (create it with run.sh {a.role} --update)"
        if a.require_expected:
            problems.append(msg)
        else:
            print(f"warning: {msg}; checking verdicts only", file=sys.stderr)
    else:
        for cid in sorted(exp_cases, key=case_key):
            if not selected(cid, a.include, a.exclude):
                continue
            e = exp_cases[cid]
            c = cases.get(cid)
            if c is None:
                regressions.append(f"{cid}: expected {e['behavior']}/{e['behaviorClose']}, missing from results")
                continue
            worse = RANK.get(c["behavior"], 9) > RANK.get(e["behavior"], 9) or \
                CLOSE_RANK.get(c["behaviorClose"], 1) > CLOSE_RANK.get(e["behaviorClose"], 1)
            if worse:
                regressions.append(f"{cid}: expected {e['behavior']}/{e['behaviorClose']},"
                                   f" got {c['behavior']}/{c['behaviorClose']}")
            elif (c["behavior"], c["behaviorClose"]) != (e["behavior"], e["behaviorClose"]):
                changes.append(f"{cid}: {e['behavior']}/{e['behaviorClose']} -> {c['behavior']}/{c['behaviorClose']}")
        new = [cid for cid in cases if cid not in exp_cases]
        if new:
            changes.append(f"{len(new)} case(s) not in the expectation, e.g. {', '.join(sorted(new, key=case_key)[:5])}")

    for p in problems:
        print(f"BAD   {p}")
    for r in regressions:
        print(f"REGRESSION {r}")
    for c in changes:
        print(f"note  {c} (improved/changed; refresh with --update)")

    verdicts = " ".join(f"{k}={counts[k]}" for k in ORDER if counts.get(k)) or "none"
    others = [k for k in counts if k not in ORDER]
    if others:
        verdicts += " " + " ".join(f"{k}={counts[k]}" for k in others)
    if tool_errors:
        verdicts += f" (TOOL-ERROR={len(tool_errors)} of the ERRORs: kosoku's own, not counted)"
    bad_close = sum(v for k, v in close_counts.items() if k not in GOOD_CLOSE) - len(tool_errors)
    status = "PASS" if not problems and not regressions else "FAIL"
    elapsed = f" elapsed={a.elapsed:.1f}s" if a.elapsed is not None else ""
    print(f"autobahn {a.role} {status}: {len(cases)} cases: {verdicts}; close-not-OK={bad_close};"
          f" regressions={len(regressions)}{elapsed} (agent {agent or '?'})")
    return 0 if status == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
