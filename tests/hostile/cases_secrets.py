"""Cases 4 and 7: secrets must reach only the designated input fields of side-effecting skills, and
no encoding of a secret value may come back through any API surface, any role, the receiver of a
plan's requests (except where the plan sent it there on purpose) or a redirect to another origin.

The leak scanner sees every API response and every request the receiver and the redirect's far
side got, so most checks here are implicit: a case fails when anything it caused contains a secret
in any encoding. The explicit checks make sure the test was not vacuous (the secret really was
resolved and sent where the plan asked)."""

import secrets as pysecrets
import uuid

from harness import ONCE, Problems, http_step, jq_step, step_attempts, step_code, step_state, steps_summary, wait_runs, closed_port
from registry import case

ROLES = ("admin", "operator", "developer", "machine", "viewer")
RAW_ROLES = ("admin", "operator", "developer", "machine")
METRICS_ROLES = ("admin", "operator", "machine")
LIT = "{{ secrets.LEAKME }}"
LIT_SPECIAL = "{{ secrets.LEAKME_SPECIAL }}"


def read_everything(ctx, run_ids) -> None:
    """Every read surface, as every role; the scanner checks each answer."""
    for role in ROLES:
        api = ctx.api(role)
        for rid in run_ids:
            api.run(rid)
            if role in RAW_ROLES:
                api.post(f"/api/v1/runs/{rid}/replay")
        api.get("/api/v1/runs?limit=200")
        for q in ("", "&kind=attempt", "&kind=run", "&kind=step", "&kind=rejected", "&matched=false"):
            api.get(f"/api/v1/failures?limit=200{q}")
        api.get("/api/v1/failures/stats")
        api.get("/api/v1/failures/candidates?limit=200")
        api.get("/api/v1/workflows")
        api.get("/api/v1/secrets")
        if role == "admin":
            api.get("/api/v1/audit?limit=500")
            api.get("/api/v1/keys")
        if role in METRICS_ROLES:
            api.get("/metrics")


def submit_and_wait(ctx, p: Problems, plan: dict, inputs=None, role: str = "developer", timeout: float = 40):
    r = ctx.api(role).submit(plan, inputs or {})
    if not p.check(r.status == 202, f"{plan['name']}: submission answered {r.brief()}"):
        return None, None
    rid = r.json["run_id"]
    view = wait_runs(ctx.api(role), [rid], timeout)[rid]
    p.check(view is not None and view.get("status") in ("succeeded", "failed", "cancelled"),
            f"{plan['name']}: run {rid} not finished after {timeout} s (status {(view or {}).get('status')})")
    return rid, view


@case("04a-secret-template-in-run-inputs", 40)
def secret_in_inputs(ctx, p):
    tag = uuid.uuid4().hex[:8]
    plan = {"name": "4a", "input_schema": {"type": "object", "properties": {"name": {"type": "string"}, "alt": {"type": "string"}}},
            "steps": [http_step("send", f"{ctx.recv.base}/hook/4a-{tag}", method="POST",
                                headers={"X-Name": "{{ inputs.name }}", "X-Greeting": "hi {{ inputs.alt }}"},
                                query={"q": "{{ inputs.name }}"},
                                body={"n": "{{ inputs.name }}", "t": "hello {{ inputs.alt }}"}, retry=ONCE)]}
    rid, view = submit_and_wait(ctx, p, plan, {"name": LIT, "alt": "{{secrets.LEAKME_SPECIAL}}"})
    if view is None:
        return
    read_everything(ctx, [rid])
    got = ctx.recv.received(f"/hook/4a-{tag}")
    if p.check(len(got) == 1, f"the receiver got {len(got)} requests for the 4a step, expected 1 ({steps_summary(view)})"):
        req = got[0]
        p.check(req.header("x-name") == LIT, f"the receiver's X-Name is {req.header('x-name')!r}, expected the literal text {LIT!r}")
        p.check(LIT in req.body.decode(errors="replace"), "the receiver's body does not hold the literal template text")
    ctx.remember_final(rid, view["status"], None, None, "04a")


@case("04b-secret-template-in-upstream-output", 41)
def secret_in_output(ctx, p):
    tag = uuid.uuid4().hex[:8]
    plan = {"name": "4b", "steps": [
        http_step("fetch", f"{ctx.echo.base}/literal", retry=ONCE),
        http_step("send", f"{ctx.recv.base}/hook/4b-{tag}", method="POST", depends_on=["fetch"], retry=ONCE,
                  headers={"X-Fwd": "{{ steps.fetch.output.body.text }}"},
                  body={"fwd": "{{ steps.fetch.output.body.text }}", "whole": "{{ steps.fetch.output.body }}", "s": "x {{ steps.fetch.output.body.text }} y"}),
        # The same text made by a pure step: jq writes `{{` as \u007b\u007b, so the plan holds no reference.
        jq_step("mk", '"\\u007b\\u007b secrets.LEAKME }}"', {}),
        http_step("send2", f"{ctx.recv.base}/hook/4b2-{tag}", method="POST", depends_on=["mk"], retry=ONCE,
                  body={"fwd": "{{ steps.mk.output }}"}, query={"q": "{{ steps.mk.output }}"}),
    ]}
    rid, view = submit_and_wait(ctx, p, plan)
    if view is None:
        return
    read_everything(ctx, [rid])
    for path, step in ((f"/hook/4b-{tag}", "send"), (f"/hook/4b2-{tag}", "send2")):
        got = ctx.recv.received(path)
        if p.check(len(got) == 1, f"the receiver got {len(got)} requests from step {step}, expected 1 ({steps_summary(view)})"):
            p.check(LIT in got[0].body.decode(errors="replace"), f"step {step}: the receiver's body does not hold the literal template text: {got[0].body[:200]!r}")
    ctx.remember_final(rid, view["status"], None, None, "04b")


def refused(p: Problems, r, what: str, fields) -> None:
    ok = r.status == 422 and "PLAN_SECRET_NOT_ALLOWED" in r.codes()
    if p.check(ok, f"{what}: expected 422 PLAN_SECRET_NOT_ALLOWED, got {r.brief(250)}"):
        names = r.fields()
        p.check(any(any(f in n for f in fields) for n in names), f"{what}: the error names fields {names}, expected one with {fields}")


@case("04c-secret-outside-designated-fields", 42)
def secret_not_allowed(ctx, p):
    dev, viewer = ctx.api("developer"), ctx.api("viewer")
    plans = {
        "json_transform data": ({"name": "4c", "steps": [jq_step("a", ".", LIT)]}, ("data",)),
        "json_transform data, nested and interpolated": ({"name": "4c", "steps": [jq_step("a", ".", {"a": [f"x {LIT} y"]})]}, ("data",)),
        "json_transform expr": ({"name": "4c", "steps": [jq_step("a", f'"{LIT}"', 1)]}, ("expr",)),
        "http_call method": ({"name": "4c", "steps": [http_step("a", f"{ctx.recv.base}/on-purpose/4c", method=LIT)]}, ("method",)),
        "http_call input timeout_ms": ({"name": "4c", "steps": [{"id": "a", "skill": "http_call", "input": {"url": f"{ctx.recv.base}/on-purpose/4c", "timeout_ms": LIT}}]}, ("timeout_ms",)),
        "json_transform fallback input": ({"name": "4c", "steps": [http_step("a", f"{ctx.recv.base}/on-purpose/4c", retry=ONCE,
                                           on_error={"action": "fallback", "skill": "json_transform", "input": {"data": LIT, "expr": "."}})]}, ("on_error", "fallback")),
    }
    for what, (plan, fields) in plans.items():
        refused(p, dev.submit(plan, {}), f"developer POST /api/v1/runs, secret in {what}", fields)
    plan, fields = plans["json_transform data"]
    refused(p, viewer.post("/api/v1/simulate", {"plan": plan}), "viewer POST /api/v1/simulate, secret in json_transform data", fields)
    refused(p, dev.post("/api/v1/workflows", {"name": "secret-in-jq", "plan": plan}), "developer POST /api/v1/workflows, secret in json_transform data", fields)
    # The designated fields stay usable.
    allowed = {"name": "4c-allowed", "steps": [
        http_step("a", f"{ctx.recv.base}/on-purpose/4c?k={LIT}", method="POST", headers={"X-T": LIT}, query={"q": LIT}, body={"b": LIT, "s": f"t={LIT_SPECIAL}"}, retry=ONCE),
        http_step("b", f"{ctx.recv.base}/status-none", retry=ONCE,
                  on_error={"action": "fallback", "skill": "http_call", "input": {"url": f"{ctx.recv.base}/on-purpose/4c-fb", "headers": {"X-T": LIT}}}),
    ]}
    r = dev.submit(allowed, {})
    p.check(r.status == 202, f"secrets in http_call url, headers, query, body and a fallback's headers: expected 202, got {r.brief(250)}")
    if r.status == 202:
        rid = r.json["run_id"]
        view = wait_runs(dev, [rid], 30)[rid]
        got = ctx.recv.received("/on-purpose/4c?")
        p.check(bool(got) and got[0].header("x-t") == ctx.secrets["LEAKME"], "the allowed http_call did not deliver the resolved secret to the receiver")
        if view:
            ctx.remember_final(rid, view.get("status"), None, None, "04c")


@case("04d-encoded-secret-echoes", 43)
def encoded_echoes(ctx, p):
    tag = uuid.uuid4().hex[:8]
    auth = {"Authorization": f"Bearer {LIT}", "X-Special": LIT_SPECIAL}
    ok_plan = {"name": "4d-echo", "steps": [
        http_step("echo", f"{ctx.echo.base}/echo/{tag}", headers=auth, retry=ONCE),
        http_step("fwd", f"{ctx.recv.base}/hook/4d-fwd-{tag}", method="POST", depends_on=["echo"], retry=ONCE, on_error={"action": "continue"},
                  body={"echo": "{{ steps.echo.output.body }}", "headers": "{{ steps.echo.output.headers }}", "b64": "{{ steps.echo.output.body.bearer.base64 }}"}),
        jq_step("digest", "{b: .bearer.base64, h: .bearer.hex, u: .bearer.upper, s: .special}", "{{ steps.echo.output.body }}", depends_on=["echo"], on_error={"action": "continue"}),
        http_step("purpose", f"{ctx.recv.base}/on-purpose/4d-{tag}", method="POST", headers={"X-Token": LIT}, body={"t": LIT_SPECIAL}, retry=ONCE),
    ]}
    fail_plan = {"name": "4d-echo-fail", "steps": [
        http_step("echo", f"{ctx.echo.base}/echo-fail/{tag}?token={LIT_SPECIAL}", headers=auth, retry=ONCE)]}
    retried_plan = {"name": "4d-echo-fail-retried", "steps": [
        http_step("echo", f"{ctx.echo.base}/echo-fail/{tag}/r?token={LIT}", headers=auth,
                  retry={"max_attempts": 2, "initial_delay_ms": 10, "max_delay_ms": 20, "retry_on": ["PERMANENT", "VALIDATION"]})]}
    rids = []
    for plan in (ok_plan, fail_plan, retried_plan):
        rid, view = submit_and_wait(ctx, p, plan, role="machine")
        if rid:
            rids.append(rid)
            if view:
                ctx.remember_final(rid, view.get("status"), None, None, "04d")
    # Candidates come from an aggregation: run one now, then read every surface as every role.
    r = ctx.api("admin").post("/api/v1/failures/aggregate?days=1")
    p.check(r.status == 200, f"POST /api/v1/failures/aggregate answered {r.brief()}")
    read_everything(ctx, rids)
    # Not vacuous: the echo server got the real values, and the receiver got what the plan sent it on purpose.
    echoed = [q for q in ctx.echo.received() if tag in q.path]
    p.check(any(q.header("authorization") == f"Bearer {ctx.secrets['LEAKME']}" for q in echoed), "the echo server never received the resolved LEAKME (the secret was not resolved?)")
    p.check(any(q.header("x-special") == ctx.secrets["LEAKME_SPECIAL"] for q in echoed), "the echo server never received the resolved LEAKME_SPECIAL")
    purpose = ctx.recv.received(f"/on-purpose/4d-{tag}")
    p.check(any(q.header("x-token") == ctx.secrets["LEAKME"] for q in purpose), "the receiver never got the secret the plan sent it on purpose")


@case("04e-secret-in-error-messages", 44)
def error_messages(ctx, p):
    port = closed_port()
    plan = {"name": "4e", "steps": [
        http_step("closed", f"http://127.0.0.1:{port}/?token={LIT}", retry=ONCE, on_error={"action": "continue"}),
        http_step("closed_special", f"http://127.0.0.1:{port}/p/{LIT_SPECIAL}?t={LIT_SPECIAL}", query={"k": LIT_SPECIAL}, retry=ONCE, on_error={"action": "continue"}),
        http_step("userinfo", f"http://user:{LIT}@127.0.0.1:{port}/", retry=ONCE, on_error={"action": "continue"}),
        http_step("metadata", f"http://169.254.169.254/latest?t={LIT}", retry=ONCE, on_error={"action": "continue"}),
        http_step("dns", f"http://{LIT}.invalid/", retry=ONCE, timeout_ms=3000, on_error={"action": "continue"}),
    ]}
    rid, view = submit_and_wait(ctx, p, plan, role="developer")
    if view is None:
        return
    for s in ("closed", "closed_special", "userinfo", "metadata"):
        st = step_state(view, s)
        p.check(st.get("status") == "failed", f"step {s}: expected failed, got {st.get('status')} ({step_code(view, s)})")
    ctx.api("admin").post("/api/v1/failures/aggregate?days=1")
    read_everything(ctx, [rid])
    ctx.remember_final(rid, view["status"], None, None, "04e")


# --- 7: redirects --------------------------------------------------------------------------------

SENSITIVE = ("x-api-key", "authorization", "cookie", "x-custom", "referer", "proxy-authorization")


@case("07-redirect-to-another-origin", 70)
def redirects(ctx, p):
    tag = uuid.uuid4().hex[:8]
    markers = {k: f"{k}-{pysecrets.token_hex(12)}" for k in ("token", "apikey", "cookie", "custom")}
    variants = [("302", "ip", "GET"), ("307", "ip", "POST"), ("301", "name", "GET"), ("308", "name", "POST"), ("303", "ip", "POST")]
    steps = []
    for i, (status, target, method) in enumerate(variants):
        label = f"{tag}-{i}"
        inp = {"method": method, "headers": {"X-Api-Key": markers["apikey"], "Authorization": f"Bearer {LIT}",
                                             "Cookie": f"session={markers['cookie']}", "X-Custom": markers["custom"]}}
        if method == "POST":
            inp["body"] = {"b": "payload"}
        steps.append(http_step(f"r{i}", f"{ctx.redir.base}/{status}/{target}/{label}?token={markers['token']}", retry=ONCE, on_error={"action": "continue"}, **inp))
    rid, view = submit_and_wait(ctx, p, {"name": "redirects", "steps": steps})
    if view is None:
        return
    for i, (status, target, method) in enumerate(variants):
        label = f"{tag}-{i}"
        what = f"{method} answered {status} to {'127.0.0.1' if target == 'ip' else 'localhost'}:{ctx.far.port}"
        at_a = ctx.redir.received(f"/{status}/{target}/{label}")
        p.check(bool(at_a) and at_a[0].header("x-custom") == markers["custom"], f"{what}: the first server did not get the request with its headers")
        landed = ctx.far.received(f"/landed/{label}")
        if not p.check(bool(landed), f"{what}: nothing arrived at the other origin ({steps_summary(view)})"):
            continue
        for req in landed:
            kept = [h for h in SENSITIVE if req.header(h) is not None]
            p.check(not kept, f"{what}: the other origin received {kept}")
            text = req.text()
            leaked = [k for k, v in markers.items() if v in text]
            p.check(not leaked, f"{what}: the other origin received the values of {leaked}")
    ctx.remember_final(rid, view["status"], None, None, "07")
