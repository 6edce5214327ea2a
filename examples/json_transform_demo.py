#!/usr/bin/env python3
"""json_transform with the AOS SDK: jq steps over run inputs, templating, replay and verification.

The plan takes a list of orders as its input and runs four jq steps:

  totals    per-status totals of the orders              (reads {{ inputs.orders }})
  largest   the largest order                            (runs in parallel with totals)
  summary   combines both outputs into one object        (whole-string references keep types)
  headline  a sentence built with string interpolation   ("... {{ steps.summary.output.count }} ...")

Then it asks the server to replay the run (json_transform is pure, so it is re-executed) and
recomputes the trace root locally from the attempt records.

Environment: AOS_URL (default http://127.0.0.1:8080), AOS_API_KEY.
Exit status: 0 when the run succeeded and verified, 1 otherwise.
"""

from __future__ import annotations

import json
import sys

import aos
from aos import PlanBuilder, ref_input, ref_step

ORDERS = [
    {"id": "o-1", "status": "paid", "amount": 120.5},
    {"id": "o-2", "status": "open", "amount": 80},
    {"id": "o-3", "status": "paid", "amount": 42.25},
    {"id": "o-4", "status": "refunded", "amount": 15},
]


def build_plan() -> aos.Plan:
    return (
        PlanBuilder("json-transform-demo")
        .inputs(["orders"], orders={"type": "array", "items": {"type": "object"}})
        .json_transform(
            "totals",
            ref_input("orders"),
            "group_by(.status) | map({key: .[0].status, value: (map(.amount) | add)}) | from_entries",
        )
        .json_transform("largest", ref_input("orders"), "max_by(.amount) | {id, amount}")
        .json_transform(
            "summary",
            {"totals": ref_step("totals"), "largest": ref_step("largest"), "orders": ref_input("orders")},
            "{count: (.orders | length), revenue: (.totals.paid // 0), largest: .largest.id, totals}",
            depends_on=["totals", "largest"],
        )
        .json_transform(
            "headline",
            "{{ steps.summary.output.count }} orders, {{ steps.summary.output.revenue }} paid, "
            "largest {{ steps.summary.output.largest }}",
            "ascii_upcase",
            depends_on=["summary"],
        )
        .build()
    )


def main() -> int:
    plan = build_plan()
    with aos.Client() as client:
        sim = client.simulate(plan)
        print(
            f"Simulated {plan.name!r}: feasible={sim.feasible}, cost ~{sim.total_cost_usd:g} USD, "
            f"p95 ~{sim.total_latency_ms_p95} ms"
        )
        run = client.runs.submit_and_wait(plan, inputs={"orders": ORDERS}, seed=2024, timeout=60)
        print(f"Run {run.run_id} {run.status}")
        for step in run.step_details:
            print(f"  {step.step_id:<9} {step.status:<10} -> {json.dumps(step.output)}")
        if not run.succeeded:
            err = run.error
            print(f"FAILED: {err.code}: {err.message}" if err else "FAILED", file=sys.stderr)
            return 1

        replay = client.runs.replay(run.run_id)
        print(f"Replay: parity={replay.parity}, re-executed {replay.reexecuted}, recorded {replay.recorded}")
        report = client.runs.verify(run.run_id)
        print(f"Local verification: {'ok' if report.ok else 'FAILED'} over {report.entries} trace entries")
        print(f"Trace root {report.computed_root}")
        for problem in report.problems:
            print(f"  problem: {problem}", file=sys.stderr)
        return 0 if replay.parity and report.ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except aos.AosError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
