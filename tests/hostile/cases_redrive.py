"""Case 16: rerun and redrive under hostile requests — oversized, malformed, deep and mistyped
patches, patches of steps that do not exist or that the redrive keeps, a redrive of a run still
running or of one that succeeded, other tenants' and forged run ids, roles that may not start runs.
A kept step that sent a secret to the echo target (which answers with it in every encoding) is
copied into the new run as recorded — redacted — and every answer goes through the leak scanner."""

import json
import time

from harness import ONCE, closed_port, http_step, jq_step, wait_runs
from registry import case

T = 10.0
FAST_S = 1.5


def fast(p, r, what, status, code=None):
    ok = r.status == status and r.enveloped and (code is None or r.code == code)
    p.check(ok, f"{what}: expected an enveloped {status}{' ' + code if code else ''}, got {r.brief()}")
    p.check(r.elapsed < FAST_S, f"{what}: took {r.elapsed:.2f} s")
    p.check(len(r.body) < 64 * 1024, f"{what}: a {len(r.body)}-byte answer echoes the request back")


@case("16-redrive/patches-states-and-tenants", 160)
def redrive_hostile(ctx, p):
    dev, viewer, other = ctx.api("developer"), ctx.api("viewer"), ctx.api("other")
    # A failed run: `echo` (a secret sent, the secret echoed back, redacted in the record) and `ok`
    # succeed, `boom` fails for good after them, `after` is cancelled.
    plan = {"name": "hostile-redrive", "steps": [
        http_step("echo", f"{ctx.echo.base}/echo", headers={"authorization": "Bearer {{ secrets.LEAKME }}"}),
        jq_step("ok", ". + 1", 1),
        jq_step("boom", 'error("boom")', 1, depends_on=["echo", "ok"], retry=ONCE),
        jq_step("after", ".", 1, depends_on=["boom"]),
    ]}
    r = dev.submit(plan, {})
    if not p.check(r.status == 202, f"submit the plan to redrive: {r.brief()}"):
        return
    rid = r.json["run_id"]
    view = wait_runs(dev, [rid], 60)[rid] or {}
    if not p.check(view.get("status") == "failed", f"the run to redrive ended {view.get('status')}"):
        return
    path = f"/api/v1/runs/{rid}/redrive"

    # Malformed and oversized bodies and patches.
    fast(p, dev.request("POST", path, raw=b'{"patch": {', timeout=T), "invalid JSON", 400, "INVALID_JSON")
    fast(p, dev.request("POST", path, raw=b"patch=1", content_type="application/x-www-form-urlencoded", timeout=T), "a form body", 415)
    fast(p, dev.post(path, {"patch": {"boom": {"input": {"pad": "x" * (1024 * 1024 + 4096)}}}}, timeout=T), "a 1 MiB patch", 413, "BODY_TOO_LARGE")
    fast(p, dev.post(path, {"patch": {"boom": {"input": {"pad": "x" * (300 * 1024)}}}}, timeout=T), "a 300 KB patch", 422, "PATCH_TOO_LARGE")
    deep = '{"patch": {"boom": {"input": ' + "[" * 10000 + "]" * 10000 + "}}}"
    r = dev.request("POST", path, raw=deep.encode(), timeout=T)
    p.check(400 <= r.status < 500 and r.enveloped, f"a 10000-deep patch: {r.brief()}")
    for what, body, status, code in (
        ("a patch that is a list", {"patch": [1, 2]}, 422, "INVALID_FIELD"),
        ("a step patch that is a string", {"patch": {"boom": "x"}}, 422, "INVALID_FIELD"),
        ("an unknown body field", {"patch": {}, "evil": True}, 422, "INVALID_FIELD"),
        ("an unknown step", {"patch": {"nope": {"timeout_ms": 1000}}}, 422, "PATCH_UNKNOWN_STEP"),
        ("a 100 KB step id", {"patch": {"s" * 100_000: {"timeout_ms": 1000}}}, 422, "PATCH_UNKNOWN_STEP"),
        ("10000 unknown steps", {"patch": {f"s{i}": {} for i in range(10_000)}}, 422, "PATCH_UNKNOWN_STEP"),
        ("a kept step", {"patch": {"echo": {"input": {"url": "http://169.254.169.254/"}}}}, 422, "PATCH_STEP_SUCCEEDED"),
        ("the step's id", {"patch": {"boom": {"id": "echo"}}}, 422, "PATCH_UNKNOWN_FIELD"),
        ("an unknown step field", {"patch": {"boom": {"__proto__": {}}}}, 422, "PATCH_UNKNOWN_FIELD"),
        ("a timeout of 2^64", {"patch": {"boom": {"timeout_ms": 18446744073709551616}}}, 422, "INVALID_FIELD"),
        ("a timeout over the limit", {"patch": {"boom": {"timeout_ms": 10**9}}}, 422, None),
        ("an unknown skill", {"patch": {"boom": {"skill": "no_such_skill"}}}, 422, "PLAN_UNKNOWN_SKILL"),
        ("a cycle", {"patch": {"boom": {"depends_on": ["after"]}}}, 422, None),
        ("a reference to another tenant's secret", {"patch": {"boom": {"input": {"data": "{{ secrets.NOT_MINE }}", "expr": "."}}}}, 422, None),
        ("a 10 KB idempotency key", {"idempotency_key": "k" * 10_000}, 422, "INVALID_IDEMPOTENCY_KEY"),
    ):
        fast(p, dev.post(path, body, timeout=T), what, status, code)
    # Rerun: its body is checked too.
    fast(p, dev.post(f"/api/v1/runs/{rid}/rerun", {"seed": 2**60}, timeout=T), "a rerun with a seed over 2^53", 422, "INVALID_SEED")
    fast(p, dev.post(f"/api/v1/runs/{rid}/rerun", {"patch": {}}, timeout=T), "a rerun with a patch", 422, "INVALID_FIELD")

    # Who may, and whose runs.
    for route in ("rerun", "redrive"):
        fast(p, viewer.post(f"/api/v1/runs/{rid}/{route}", {}, timeout=T), f"a viewer's {route}", 403)
        fast(p, other.post(f"/api/v1/runs/{rid}/{route}", {}, timeout=T), f"another tenant's {route} of the run", 404, "NOT_FOUND")
        for forged in ("r_" + "0" * 32, "r_" + "f" * 5000, "..%2F..%2Fkeys", "%00", "r_%2Fmeta"):
            fast(p, dev.post(f"/api/v1/runs/{forged}/{route}", {}, timeout=T), f"{route} of a forged id {forged[:30]}", 404)

    # A run still running (its call waits out a long backoff) cannot be redriven; it can be rerun.
    waiting = {"name": "hostile-redrive-waiting", "steps": [
        http_step("wait", f"http://127.0.0.1:{closed_port()}/", retry={"max_attempts": 3, "initial_delay_ms": 60_000, "max_delay_ms": 60_000}),
    ]}
    r = dev.submit(waiting, {})
    if p.check(r.status == 202, f"submit a waiting run: {r.brief()}"):
        wid = r.json["run_id"]
        fast(p, dev.post(f"/api/v1/runs/{wid}/redrive", {}, timeout=T), "a redrive of a running run", 409, "RUN_NOT_FINISHED")
        dev.post(f"/api/v1/runs/{wid}/cancel", {}, timeout=T)

    # The redrive: the kept steps come as recorded (the echoed secret redacted — the scanner checks
    # every answer), the failed step restarts patched, and the new run finishes.
    r = dev.post(path, {"patch": {"boom": {"input": {"data": 1, "expr": ". * 2"}}}, "idempotency_key": "hostile-redrive"}, timeout=T)
    if not p.check(r.status == 201 and r.json.get("seeded_steps") == ["echo", "ok"], f"the redrive: {r.brief()}"):
        return
    new = r.json["run_id"]
    echoed = len([q for q in ctx.echo.requests if q.path.startswith("/echo")]) if hasattr(ctx.echo, "requests") else None
    done = wait_runs(dev, [new], 60)[new] or {}
    p.check(done.get("status") == "succeeded", f"the redriven run ended {done.get('status')}: {json.dumps(done.get('error'))[:300]}")
    if echoed is not None:
        p.check(len([q for q in ctx.echo.requests if q.path.startswith("/echo")]) == echoed, "the kept call was sent again")
    r = dev.post(f"/api/v1/runs/{new}/replay", {}, timeout=30)
    p.check(r.status == 200 and r.json.get("parity") is True, f"the redriven run replays with parity: {r.brief()}")
    fast(p, dev.post(f"/api/v1/runs/{new}/redrive", {}, timeout=T), "a redrive of a run that succeeded", 409, "RUN_SUCCEEDED")
    # Many redrives of the same run at once with one key: one new run.
    started = time.monotonic()
    ids = {dev.post(path, {"patch": {"boom": {"input": {"data": 1, "expr": ". * 2"}}}, "idempotency_key": "hostile-redrive"}, timeout=T).json.get("run_id") for _ in range(10)}
    p.check(ids == {new}, f"the same key answered {ids}")
    p.note(f"10 idempotent redrives in {time.monotonic() - started:.2f} s")
