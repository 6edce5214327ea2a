"""Cases 1, 2 and 5: hostile jq programs as a `json_transform` step's `expr`, as a step's
`condition`, and programs whose output is too large. DO NOT run these against a server without
the jq limits: they abort it, freeze it, or make it allocate tens of GB (the memory guard in
harness.py kills `aos serve` above HOSTILE_MAX_RSS_MB, 3 GB by default, but the machine is shared).

Every program is submitted twice at once, in waves of WAVE programs (one tenant may hold half of
the sandbox's workers: the suite's server has 16, so a wave's 8 runs have a worker each; a flood
larger than its share queues, which is the sandbox's fairness working, and is tested by the
benign load of the other tenant that runs throughout). A run must end within the step's timeout
plus SLACK_S, with exactly one attempt (a limit is not a transient failure), and the code listed
for its program."""

import secrets as pysecrets
import threading
import time
from typing import Dict, List, Tuple

from harness import Problems, jq_step, step_attempts, step_code, step_state, wait_runs
from registry import group, case

STEP_TIMEOUT_MS = 3000
SLACK_S = 6.0  # "within the step's timeout plus a few seconds"
COND_MAX_S = 10.0  # a condition has no step timeout: the run must fail within this
COPIES = 2
WAVE = 4  # programs per wave: WAVE * COPIES runs at once
OUTPUT_PROGRAM = "[range(3000000)]"  # case 5: an output far over any sane size limit

LIMIT = ("JQ_LIMIT_EXCEEDED",)
REFUSED = ("JQ_RUNTIME_ERROR", "JQ_COMPILE_ERROR", "rejected")  # "rejected": refused at submission (422)
MARKER = f"JQMARK{pysecrets.token_hex(10)}"  # what debug/stderr/halt_error try to write; must not reach the log

# (label, expr, data, accepted outcomes: step error codes, "succeeded", or "rejected")
EXPR_PROGRAMS: List[Tuple[str, str, object, Tuple[str, ...]]] = [
    ("recursive-def-1e6", "def f(n): if n == 0 then 0 else f(n-1) + 1 end; f(1000000)", None, LIMIT),
    ("reduce-nesting-1e6", "reduce range(1000000) as $i (0; [.]) | length", None, LIMIT),
    ("collect-range-1e9", "[range(1e9)] | length", None, LIMIT),
    ("last-range-1e15", "last(range(1e15))", None, LIMIT),
    ("def-f-f", "def f: f; f", None, LIMIT),
    ("def-f-array-f", "def f: [f]; f", None, LIMIT),
    ("def-f-growing-arg", "def f(x): f([x]); f(0)", None, LIMIT),
    ("mutual-recursion", "def f: def g: f; g; f", None, LIMIT),
    ("recurse-no-output", "0 | recurse(. + 1) | select(. < 0)", None, LIMIT),
    ("until-false", "0 | until(false; . + 1)", None, LIMIT),
    ("range-zero-step", "last(range(0; 1; 0))", None, LIMIT),
    ("while-collect", "[0 | while(true; . + 1)] | length", None, LIMIT),
    ("string-repeat-1e9", '"x" * 1e9 | length', None, LIMIT + ("JQ_RUNTIME_ERROR",)),  # jaq refuses it outright
    ("string-doubling", 'reduce range(40) as $i ("xx"; . + .) | length', None, LIMIT),
    ("big-string-repeat", "([range(100000)] | tostring) * 100000 | length", None, LIMIT),
    ("limit-repeat-1e8", "[limit(1e8; repeat(1))] | length", None, LIMIT),
    ("combinations-1e9", "[[range(1000)], [range(1000)], [range(1000)]] | [combinations] | length", None, LIMIT),
    ("setpath-1e9", "null | setpath([1e9]; 1) | length", None, LIMIT + ("JQ_RUNTIME_ERROR",)),
    ("index-assign-1e9", "[] | .[1e9] = 1 | length", None, LIMIT + ("JQ_RUNTIME_ERROR",)),
    ("deep-tojson", "reduce range(100000) as $i (0; [.]) | tojson | length", None, LIMIT),
    ("deep-fromjson", '("[" * 100000) + ("]" * 100000) | fromjson | length', None, LIMIT + ("JQ_RUNTIME_ERROR",)),
    ("deep-program-text", "[" * 20000 + "]" * 20000, None, LIMIT + ("JQ_COMPILE_ERROR", "rejected")),
    ("many-results", "range(1e9)", None, LIMIT),
    ("native-quadratic", '("a" * 1000000) | indices("a" * 1000) | length', None, LIMIT + ("succeeded",)),
    ("regex-backtracking", 'test("(a+)+$")', "a" * 50000 + "!", LIMIT + ("succeeded", "JQ_RUNTIME_ERROR")),
    ("regex-huge", '"a" | test("((a{100}){100}){100}")', None, LIMIT + ("JQ_RUNTIME_ERROR", "JQ_COMPILE_ERROR")),
    ("implode-invalid", "[55296, 1114112, -1] | implode", None, REFUSED),
    ("input", "input", None, REFUSED),
    ("debug", '{"m": "%s"} | debug | 1' % MARKER, None, REFUSED + ("succeeded",)),
    ("stderr", '"%s" | stderr | 1' % MARKER, None, REFUSED + ("succeeded",)),
    ("halt_error", '"%s" | halt_error' % MARKER, None, REFUSED),
    ("env", "env | tojson", None, REFUSED),
    ("$ENV", "$ENV | tojson", None, REFUSED),
    ("env-marker", "env.HOSTILE_ENV_MARKER", None, REFUSED),
    ("now", "now", None, REFUSED),
    ("localtime", "0 | localtime", None, REFUSED),
    ("import-file", 'import "../../../../../../etc/passwd" as $p; $p', None, REFUSED),
    ("include-file", 'include "/etc/passwd"; .', None, REFUSED),
]

COND_ERR = ("CONDITION_ERROR", "rejected")
COND_PROGRAMS: List[Tuple[str, str, Tuple[str, ...]]] = [
    ("last-range-1e15", "last(range(1e15)) > 0", LIMIT),
    ("def-f-f", "def f: f; f", LIMIT),
    ("recursive-def-1e6", "def f(n): if n == 0 then 0 else f(n-1) + 1 end; f(1000000) > 0", LIMIT),
    ("reduce-nesting-1e6", "(reduce range(1000000) as $i (0; [.]) | length) > 0", LIMIT),
    ("collect-range-1e9", "([range(1e9)] | length) > 0", LIMIT),
    ("string-repeat-1e9", '("x" * 1e9 | length) > 0', LIMIT + ("CONDITION_ERROR",)),  # jaq refuses it outright
    ("limit-repeat-1e8", "([limit(1e8; repeat(1))] | length) > 0", LIMIT),
    ("until-false", "0 | until(false; . + 1)", LIMIT),
    ("deep-tojson", "(reduce range(100000) as $i (0; [.]) | tojson | length) > 0", LIMIT),
    ("no-output-then-true", "(range(1e15) | select(. < 0)), true", LIMIT),
    ("deep-program-text", "[" * 20000 + "]" * 20000, LIMIT + COND_ERR + ("PLAN_INVALID_CONDITION",)),
    ("error", 'error("boom")', COND_ERR),
    ("env", "env | length > 0", COND_ERR),
    ("input", "input", COND_ERR),
    ("now", "now > 0", COND_ERR),
    ("debug", '{"m": "%s"} | debug | true' % MARKER, COND_ERR + ("succeeded",)),
]


def _waves(programs: list, copies: int, make_plan) -> List[List[Tuple[str, dict]]]:
    """Plans grouped in waves of WAVE programs, each program `copies` times."""
    waves = []
    for start in range(0, len(programs), WAVE):
        waves.append([(prog[0], make_plan(prog, c)) for prog in programs[start:start + WAVE] for c in range(copies)])
    return waves


def _submit_all(ctx, plans: List[Tuple[str, dict]]) -> Dict[int, Tuple[str, object]]:
    """Submits every plan at once (a thread each). Returns index -> (label, Resp)."""
    out: Dict[int, Tuple[str, object]] = {}

    def go(i, label, plan):
        out[i] = (label, ctx.api("developer").submit(plan, {}))

    threads = [threading.Thread(target=go, args=(i, label, plan)) for i, (label, plan) in enumerate(plans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _outcome(view: dict, step: str) -> str:
    if view.get("status") == "succeeded":
        return "succeeded"
    return step_code(view, step) or f"run {view.get('status')} without a step error (run error {((view.get('error') or {}).get('code'))})"


@group("01-jq-expr", 80, [label for label, *_ in EXPR_PROGRAMS] + ["replay-of-limited-runs"])
def jq_expr(ctx, selected):
    ctx.state["jq_markers"].append(MARKER)
    results = {s: Problems() for s in selected}
    programs = [x for x in EXPR_PROGRAMS if x[0] in selected]
    accept = {label: acc for label, _, _, acc in programs}
    limited = {}
    waves = _waves(programs, COPIES, lambda prog, c: {"name": f"hostile-jq-{prog[0]}-{c}", "steps": [jq_step("x", prog[1], prog[2] if prog[2] is not None else {}, timeout_ms=STEP_TIMEOUT_MS)]})
    for plans in waves:
        _expr_wave(ctx, results, accept, plans, limited)
    if "replay-of-limited-runs" in selected:
        _replay(ctx, results["replay-of-limited-runs"], limited)
    return results


def _expr_wave(ctx, results, accept, plans, limited) -> None:
    t0 = time.time()
    submitted = _submit_all(ctx, plans)
    runs: Dict[str, str] = {}
    for i, (label, r) in submitted.items():
        p = results[label]
        if r.status == 202:
            runs[r.json["run_id"]] = label
        elif r.status == 422 and "rejected" in accept[label]:
            p.note(f"refused at submission: {r.code}")
        else:
            p.fail(f"submission answered {r.brief(200)}")
    for i in range(len(plans)):
        if i not in submitted:
            results[plans[i][0]].fail("the submission got no answer within 60 s")
    views = wait_runs(ctx.api("developer"), list(runs), STEP_TIMEOUT_MS / 1000 + SLACK_S + 10)
    for rid, label in runs.items():
        p, view = results[label], views.get(rid)
        if not p.check(view is not None and view.get("status") in ("failed", "succeeded", "cancelled"),
                       f"run {rid} not finished {time.time() - t0:.0f} s after submission (status {(view or {}).get('status')})"):
            continue
        out = _outcome(view, "x")
        p.note(f"{rid}: {out} in {(view.get('finished_at_ms', 0) - view.get('created_at_ms', 0)) / 1000:.2f} s: {(step_state(view, 'x').get('error') or {}).get('message', '')[:160]}")
        p.check(out in accept[label], f"run {rid}: {out} ({(step_state(view, 'x').get('error') or {}).get('message', '')[:150]}), expected {' or '.join(accept[label])}")
        took = (view.get("finished_at_ms", 0) - view.get("created_at_ms", 0)) / 1000
        p.check(took <= STEP_TIMEOUT_MS / 1000 + SLACK_S, f"run {rid} took {took:.1f} s, more than the step timeout ({STEP_TIMEOUT_MS} ms) plus {SLACK_S:.0f} s")
        attempts = step_attempts(view, "x")
        p.check(len(attempts) <= 1 and step_state(view, "x").get("attempt", 0) <= 1,
                f"run {rid}: {len(attempts)} attempts (codes {[((a.get('outcome') or {}).get('error') or {}).get('code') for a in attempts]}): a limit must not be retried")
        ctx.remember_final(rid, view["status"], "x", step_code(view, "x"), f"01/{label}")
        if out == "JQ_LIMIT_EXCEEDED" and label not in limited.values():
            limited[rid] = label


def _replay(ctx, p: Problems, limited: Dict[str, str]) -> None:
    """Replay re-executes json_transform attempts in the API process: it must stop the same
    programs just as fast."""
    if not p.check(bool(limited), "nothing to replay: no program of this group ended with JQ_LIMIT_EXCEEDED (select some)"):
        return
    out = {}

    def go(rid):
        out[rid] = ctx.api("admin").post(f"/api/v1/runs/{rid}/replay", timeout=60)

    threads = [threading.Thread(target=go, args=(rid,)) for rid in limited]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    for rid, label in limited.items():
        r = out.get(rid)
        if not p.check(r is not None and r.status != 0, f"replay of {label} ({rid}): no answer ({r.brief() if r else 'thread still running'})"):
            continue
        p.check(r.status == 200 or (400 <= r.status < 500 and r.enveloped), f"replay of {label}: {r.brief(200)}")
        p.check(r.elapsed <= STEP_TIMEOUT_MS / 1000 + SLACK_S, f"replay of {label} took {r.elapsed:.1f} s")
        p.note(f"replay of {label}: {r.status} in {r.elapsed:.2f} s")


@group("02-jq-condition", 81, [label for label, *_ in COND_PROGRAMS])
def jq_condition(ctx, selected):
    ctx.state["jq_markers"].append(MARKER)
    results = {s: Problems() for s in selected}
    programs = [x for x in COND_PROGRAMS if x[0] in selected]
    accept = {label: acc for label, _, acc in programs}
    waves = _waves(programs, COPIES, lambda prog, c: {"name": f"hostile-cond-{prog[0]}-{c}", "steps": [
        jq_step("a", ". + 1", 1),
        jq_step("b", ". * 2", "{{ steps.a.output }}", depends_on=["a"], condition=prog[1]),
    ]})
    for plans in waves:
        _condition_wave(ctx, results, accept, plans)
    return results


def _condition_wave(ctx, results, accept, plans) -> None:
    t0 = time.time()
    submitted = _submit_all(ctx, plans)
    runs: Dict[str, str] = {}
    for i, (label, r) in submitted.items():
        if r.status == 202:
            runs[r.json["run_id"]] = label
        elif r.status == 422 and ("rejected" in accept[label] or r.code in accept[label]):
            results[label].note(f"refused at submission: {r.code}")
        else:
            results[label].fail(f"submission answered {r.brief(200)}")
    views = wait_runs(ctx.api("developer"), list(runs), COND_MAX_S + 10)
    for rid, label in runs.items():
        p, view = results[label], views.get(rid)
        if not p.check(view is not None and view.get("status") in ("failed", "succeeded", "cancelled"),
                       f"run {rid} not finished {time.time() - t0:.0f} s after submission (status {(view or {}).get('status')})"):
            continue
        out = _outcome(view, "b")
        p.note(f"{rid}: {out} in {(view.get('finished_at_ms', 0) - view.get('created_at_ms', 0)) / 1000:.2f} s: {(step_state(view, 'b').get('error') or {}).get('message', '')[:160]}")
        p.check(out in accept[label], f"run {rid}: {out} ({(step_state(view, 'b').get('error') or {}).get('message', '')[:150]}), expected {' or '.join(accept[label])}")
        if out != "succeeded":
            p.check(view["status"] == "failed", f"run {rid} ended {view['status']}, expected failed")
        took = (view.get("finished_at_ms", 0) - view.get("created_at_ms", 0)) / 1000
        p.check(took <= COND_MAX_S, f"run {rid} took {took:.1f} s (more than {COND_MAX_S:.0f} s)")
        p.check(not step_attempts(view, "b"), f"run {rid}: step b ran although its condition failed")
        ctx.remember_final(rid, view["status"], "b", step_code(view, "b"), f"02/{label}")


@case("05-output-size", 82)
def output_size(ctx, p):
    plan = {"name": "hostile-output-size", "steps": [
        jq_step(f"big{i}", OUTPUT_PROGRAM, {}, on_error={"action": "continue"}) for i in range(8)
    ] + [jq_step("after", "length", "{{ steps.big0.output }}", depends_on=["big0"])]}
    r = ctx.api("developer").submit(plan, {})
    if not p.check(r.status == 202, f"submission answered {r.brief()}"):
        return
    rid = r.json["run_id"]
    view = wait_runs(ctx.api("developer"), [rid], 5 + SLACK_S + 15)[rid]
    if not p.check(view is not None and view.get("status") in ("failed", "succeeded"), f"run {rid} not finished (status {(view or {}).get('status')})"):
        return
    for i in range(8):
        code = step_code(view, f"big{i}")
        p.check(step_state(view, f"big{i}").get("status") == "failed" and code == "JQ_LIMIT_EXCEEDED",
                f"step big{i}: {step_state(view, f'big{i}').get('status')} {code}, expected failed JQ_LIMIT_EXCEEDED")
        p.check(len(step_attempts(view, f"big{i}")) <= 1, f"step big{i}: {len(step_attempts(view, f'big{i}'))} attempts, a limit must not be retried")
    for role in ("developer", "viewer", "admin", "developer"):
        t0 = time.time()
        rv = ctx.api(role).run(rid)
        p.check(rv.status == 200, f"{role} GET the run: {rv.brief()}")
        p.check(len(rv.body) < 2 * 1024 * 1024, f"{role} GET the run: {len(rv.body)} bytes, expected under 2 MB")
        p.check(time.time() - t0 < 5, f"{role} GET the run took {time.time() - t0:.1f} s")
    rl = ctx.api("developer").get("/api/v1/runs?limit=200")
    p.check(rl.status == 200 and len(rl.body) < 2 * 1024 * 1024, f"GET /api/v1/runs: {rl.status}, {len(rl.body)} bytes")
    rf = ctx.api("developer").get("/api/v1/failures?limit=200")
    p.check(rf.status == 200 and len(rf.body) < 2 * 1024 * 1024, f"GET /api/v1/failures: {rf.status}, {len(rf.body)} bytes")
    rp = ctx.api("admin").post(f"/api/v1/runs/{rid}/replay", timeout=60)
    p.check(rp.status == 200 and len(rp.body) < 2 * 1024 * 1024 and rp.elapsed < 5 + SLACK_S,
            f"replay of the run: {rp.brief(150)} in {rp.elapsed:.1f} s")
    ctx.remember_final(rid, view["status"], "big0", step_code(view, "big0"), "05")


# Programs that cannot compile, as json_transform's literal `expr` (and a fallback's): refused at
# submission, by simulate and by a workflow save, with PLAN_INVALID_EXPR naming the field; never a
# run that fails later, never a 500. The deep program text is a parser stack bomb.
UNCOMPILABLE = [".[", "map((", "{a: }", "[" * 8000 + "]" * 7999, "def f: ; f", "..[[[" * 3000]


@case("01b-jq-expr-refused-at-submission", 80)
def jq_expr_refused_at_submission(ctx, p):
    api = ctx.api("developer")
    for expr in UNCOMPILABLE:
        label = repr(expr[:24]) + (f"... ({len(expr)} chars)" if len(expr) > 24 else "")
        plan = {"name": "hostile-uncompilable", "steps": [
            jq_step("a", ". + 1", 1),
            jq_step("b", ".", 1, depends_on=["a"], on_error={"action": "fallback", "skill": "json_transform", "input": {"data": 1, "expr": expr}}),
            jq_step("c", expr, 1),
        ]}
        for what, r in (("submit", api.submit(plan, {})), ("simulate", api.post("/api/v1/simulate", {"plan": plan})),
                        ("workflow", api.post("/api/v1/workflows", {"name": "hostile-uncompilable", "plan": plan}))):
            if not p.check(r.status == 422 and r.enveloped, f"{what} {label}: {r.brief(200)}, expected 422"):
                continue
            p.check("PLAN_INVALID_EXPR" in r.codes(), f"{what} {label}: codes {r.codes()}, expected PLAN_INVALID_EXPR")
            for field in ("steps[2].input.expr", "steps[1].on_error.input.expr"):
                p.check(field in r.fields(), f"{what} {label}: fields {r.fields()}, expected {field}")
            p.note(f"{what} {label}: 422 {r.codes()}")
