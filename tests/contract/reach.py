#!/usr/bin/env python3
"""How far contract fuzzing got: counts the requests of `tests/contract/run.sh --report-dir DIR`.

usage: python3 tests/contract/reach.py DIR [--all]

Reads every VCR cassette in DIR (one per schemathesis run) and prints, per phase, how many
requests were sent and how many were answered 2xx by the operations that create runs, workflows
and keys and by those that act on one by id (only a real record answers 2xx there). `--all` adds
every operation's answers by status.
"""

import glob
import json
import os
import re
import sys
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Operations that create the records the others act on, and those that act on one by id.
CREATE = ["POST /api/v1/runs", "POST /api/v1/simulate", "POST /api/v1/workflows", "POST /api/v1/keys"]
BY_ID = [
    "GET /api/v1/runs/{id}",
    "POST /api/v1/runs/{id}/cancel",
    "POST /api/v1/runs/{id}/replay",
    "POST /api/v1/runs/{id}/rerun",
    "POST /api/v1/runs/{id}/redrive",
    "GET /api/v1/workflows/{name}",
    "DELETE /api/v1/keys/{key_id}",
    "POST /api/v1/keys/{key_id}/rotate",
]
PHASES = ["examples", "coverage", "fuzzing", "stateful"]


def templates():
    doc = json.load(open(os.path.join(ROOT, "docs", "openapi.json")))
    out = []
    for path in doc["paths"]:
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
        out.append((path.count("{"), re.compile(regex), path))
    out.sort(key=lambda t: t[0])  # literal paths before templated ones
    return out


def interactions(path):
    """Yields (phase, mode, method, path, status) per recorded request; line-based, cassettes are large."""
    phase = mode = method = uri = None
    in_phase = in_response = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("- id: "):
                phase = mode = method = uri = None
                in_phase = in_response = False
            elif line.startswith("    mode: ") and mode is None:
                mode = line.split(":", 1)[1].strip()
            elif line.startswith("  phase:"):
                in_phase = True
            elif in_phase and line.startswith("    name: "):
                phase = line.split(":", 1)[1].strip().strip("'")
                in_phase = False
            elif line.startswith("    uri: ") and uri is None:
                uri = line.split(":", 1)[1].strip().strip("'")
            elif line.startswith("    method: ") and method is None:
                method = line.split(":", 1)[1].strip().strip("'")
            elif line.startswith("  response:"):
                in_response = True
            elif in_response and line.startswith("      code: "):
                status = int(line.split(":", 1)[1].strip().strip("'"))
                in_response = False
                path_only = re.sub(r"^[a-z]+://[^/]+", "", uri or "").split("?", 1)[0]
                yield phase, mode, method, path_only, status


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    show_all = "--all" in sys.argv[2:]
    tpls = templates()
    by_op = Counter()  # (phase, op, status class or code) -> n
    sent = Counter()
    for cassette in sorted(glob.glob(os.path.join(sys.argv[1], "*.yaml"))):
        for phase, _mode, method, path, status in interactions(cassette):
            op = None
            for _, regex, tpl in tpls:
                if regex.match(path):
                    op = f"{method} {tpl}"
                    break
            op = op or f"{method} (undocumented) {path}"
            sent[phase] += 1
            by_op[(phase, op, status)] += 1

    def two_xx(phase, op):
        return sum(n for (p, o, s), n in by_op.items() if p == phase and o == op and 200 <= s < 300)

    def conflict(phase, op):
        return sum(n for (p, o, s), n in by_op.items() if p == phase and o == op and s == 409)

    def total(phase, op):
        return sum(n for (p, o, s), n in by_op.items() if p == phase and o == op)

    print("requests sent: " + ", ".join(f"{p} {sent[p]}" for p in PHASES) + f", total {sum(sent.values())}")
    for title, ops, with_409 in (("creates: 2xx / sent", CREATE, False), ("by id: 2xx + 409 / sent", BY_ID, True)):
        print(f"\n{title:38}" + "".join(f"{p:>16}" for p in PHASES))
        sums = Counter()
        for op in ops + [None]:
            cells = ""
            for p in PHASES:
                if op is not None:
                    sums[(p, 0)] += two_xx(p, op)
                    sums[(p, 1)] += conflict(p, op)
                    sums[(p, 2)] += total(p, op)
                    ok, c, n = two_xx(p, op), conflict(p, op), total(p, op)
                else:
                    ok, c, n = sums[(p, 0)], sums[(p, 1)], sums[(p, 2)]
                cells += f"{f'{ok} + {c} / {n}' if with_409 else f'{ok} / {n}':>16}"
            print(f"{op or 'all of the above':38}{cells}")
    if show_all:
        print("\nevery operation, by phase and status")
        for (p, op, s), n in sorted(by_op.items(), key=lambda kv: (PHASES.index(kv[0][0]) if kv[0][0] in PHASES else 9, kv[0][1], kv[0][2])):
            print(f"{p:10} {op:45} {s:4} {n}")


if __name__ == "__main__":
    main()
