"""Case 14: the skills that keep data or hold credentials (kv_store, webhook_send, ...), under
hostile inputs. A tenant must never reach another tenant's keys, whatever namespace or key it
names; limits must fail with their own codes and leave the server healthy; secrets may not be
templated into a skill that takes none, and credentials a skill reads from the tenant's secrets
never come back (the leak scanner sees every answer)."""

import base64
import hashlib
import hmac
import os
import uuid

from harness import ONCE, Problems, step_attempts, step_code, step_state, wait_runs
from registry import case

LIT = "{{ secrets.LEAKME }}"


def kv_step(step_id: str, **inp) -> dict:
    extra = {k: inp.pop(k) for k in ("depends_on", "retry", "on_error", "condition") if k in inp}
    return {"id": step_id, "skill": "kv_store", "input": inp, "retry": ONCE, **extra}


def run_plan(ctx, p: Problems, api, name: str, steps, timeout: float = 30, inputs=None):
    plan = {"name": name, "steps": steps}
    if inputs:
        plan["input_schema"] = {"type": "object"}
    r = api.submit(plan, inputs or {})
    if not p.check(r.status == 202, f"{name}: submission answered {r.brief(250)}"):
        return None
    rid = r.json["run_id"]
    view = wait_runs(api, [rid], timeout)[rid]
    p.check(view is not None and view.get("status") in ("succeeded", "failed"), f"{name}: run {rid} not final after {timeout} s")
    return view


def output(view, step_id: str):
    attempts = step_attempts(view, step_id)
    return ((attempts[-1] if attempts else {}).get("outcome") or {}).get("output")


def templated(inp: dict) -> tuple:
    """The input with each value taken from the run's inputs (so it passes submission's schema
    check and reaches the skill's own), and those inputs."""
    names = {k: f"v_{k}" for k in inp}
    return {k: f"{{{{ inputs.{n} }}}}" for k, n in names.items()}, {n: inp[k] for k, n in names.items()}


@case("14a-kv-tenant-isolation", 140)
def kv_isolation(ctx, p):
    tag = uuid.uuid4().hex[:8]
    dev, other = ctx.api("developer"), ctx.api("other")
    mine = run_plan(ctx, p, dev, "14a-set", [kv_step("set", op="set", namespace=f"n{tag}", key="secret-plan", value="default's")])
    p.check(step_state(mine, "set").get("status") == "succeeded", f"the default tenant's set did not succeed: {step_state(mine, 'set')}")
    # The same namespace and key from the other tenant: another key, empty; writing it changes nothing of ours.
    theirs = run_plan(ctx, p, other, "14a-other", [
        kv_step("get", op="get", namespace=f"n{tag}", key="secret-plan"),
        kv_step("set", op="set", namespace=f"n{tag}", key="secret-plan", value="other's", depends_on=["get"]),
        kv_step("incr", op="incr", namespace=f"n{tag}", key="secret-plan-n", depends_on=["set"]),
    ])
    got = output(theirs, "get") or {}
    p.check(got.get("found") is False, f"the other tenant read the default tenant's key: {got}")
    again = run_plan(ctx, p, dev, "14a-again", [kv_step("get", op="get", namespace=f"n{tag}", key="secret-plan")])
    p.check((output(again, "get") or {}).get("value") == "default's", f"the other tenant's write reached the default tenant: {output(again, 'get')}")
    # Namespaces and keys that look like store keys or paths of another tenant are refused or stay ours.
    hostile = {
        "ns-hash": ({"namespace": "t#other#sd#kv_store#kv#default", "key": "k"}, "KV_KEY_INVALID"),
        "ns-dotdot": ({"namespace": "../other", "key": "k"}, "KV_KEY_INVALID"),
        "ns-slash": ({"namespace": "a/b", "key": "k"}, "KV_KEY_INVALID"),
        "ns-empty": ({"namespace": "", "key": "k"}, "KV_KEY_INVALID"),
        "ns-unicode": ({"namespace": "n\u0430me", "key": "k"}, "KV_KEY_INVALID"),
        "key-nul": ({"key": "a\u0000b"}, "KV_KEY_INVALID"),
        "key-newline": ({"key": "a\nb"}, "KV_KEY_INVALID"),
        "key-bidi-ok-but-del": ({"key": "a\u007fb"}, "KV_KEY_INVALID"),
        "key-too-long": ({"key": "k" * 513}, "KV_KEY_INVALID"),
        "key-10k": ({"key": "k" * 10_000}, "KV_KEY_INVALID"),
    }
    for label, (inp, code) in hostile.items():
        # Written in the plan: refused at submission by the skill's input schema, naming the field.
        r = dev.submit({"name": "14a-literal", "steps": [kv_step("a", op="get", **inp)]}, {})
        p.check(r.status == 422 and "PLAN_INPUT_SCHEMA" in r.codes(), f"kv_store get with {label} in the plan: expected 422 PLAN_INPUT_SCHEMA, got {r.brief(200)}")
        # Through the run's inputs: the skill's own check.
        step_input, inputs = templated(inp)
        view = run_plan(ctx, p, dev, "14a-hostile-names", [kv_step("a", op="get", **step_input)], inputs=inputs)
        p.check(step_code(view, "a") == code, f"kv_store get with {label} from the run's inputs: expected {code}, got {step_code(view, 'a')}")
    # A key that spells another tenant's store key is just a key of ours.
    view = run_plan(ctx, p, dev, "14a-key-as-store-key", [kv_step("get", op="get", namespace="default", key=f"t#other#sd#kv_store#kv#n{tag}")])
    p.check((output(view, "get") or {}).get("found") is False, f"a key spelling another tenant's store key found something: {output(view, 'get')}")


@case("14b-kv-limits", 141)
def kv_limits(ctx, p):
    dev = ctx.api("developer")
    steps = [
        kv_step("value-over-64k", op="set", key="big", value="x" * (64 * 1024 + 10)),
        kv_step("ttl-zero", op="set", key="t", value=1, ttl_seconds=0),
        kv_step("ttl-huge", op="set", key="t", value=1, ttl_seconds=10**12),
        kv_step("by-huge", op="incr", key="n", by=2**70),
        kv_step("unknown-op", op="drop_table", key="k"),
        kv_step("unknown-field", op="get", key="k", tenant="other"),
        kv_step("set-no-value", op="set", key="k"),
        kv_step("version-zero", op="set", key="k", value=1, if_version=0),
        kv_step("incr-text", op="incr", key="text-key", depends_on=["set-text"]),
        kv_step("set-text", op="set", key="text-key", value="text"),
        kv_step("cas-miss", op="set", key="nope-" + uuid.uuid4().hex, value=1, if_version=3),
    ]
    expected = {
        "value-over-64k": "KV_VALUE_TOO_LARGE", "ttl-zero": "SKILL_INPUT_INVALID", "ttl-huge": "SKILL_INPUT_INVALID",
        "by-huge": "SKILL_INPUT_INVALID", "unknown-op": "SKILL_INPUT_INVALID", "unknown-field": "SKILL_INPUT_INVALID",
        "set-no-value": "SKILL_INPUT_INVALID", "version-zero": "SKILL_INPUT_INVALID", "incr-text": "KV_NOT_A_NUMBER",
        "cas-miss": "KV_VERSION_CONFLICT",
    }
    r = dev.submit({"name": "14b-unknown-field", "steps": [kv_step("a", op="get", key="k", tenant="other")]}, {})
    p.check(r.status == 422 and "PLAN_INPUT_SCHEMA" in r.codes(), f"kv_store with a `tenant` field: expected 422 PLAN_INPUT_SCHEMA, got {r.brief(200)}")
    for step in steps:
        if step["id"] in ("set-text", "unknown-field"):
            continue
        step_input, inputs = templated(step["input"])
        templ = {**step, "input": step_input}
        deps = [s for s in steps if s["id"] in step.get("depends_on", [])]
        view = run_plan(ctx, p, dev, f"14b-{step['id']}", deps + [templ], inputs=inputs)
        code = expected[step["id"]]
        p.check(step_code(view, step["id"]) == code, f"kv_store {step['id']}: expected {code}, got {step_code(view, step['id'])}")


@case("14c-kv-takes-no-secrets", 142)
def kv_no_secrets(ctx, p):
    dev = ctx.api("developer")
    for field, inp in {"value": {"op": "set", "key": "k", "value": {"a": LIT}}, "key": {"op": "get", "key": LIT}}.items():
        r = dev.submit({"name": "14c", "steps": [{"id": "a", "skill": "kv_store", "input": inp}]}, {})
        p.check(r.status == 422 and "PLAN_SECRET_NOT_ALLOWED" in r.codes(),
                f"a secret in kv_store's {field}: expected 422 PLAN_SECRET_NOT_ALLOWED, got {r.brief(250)}")


def webhook_step(step_id: str, url: str, **inp) -> dict:
    extra = {k: inp.pop(k) for k in ("depends_on", "retry", "on_error", "condition") if k in inp}
    return {"id": step_id, "skill": "webhook_send", "input": {"url": url, **inp}, "retry": ONCE, **extra}


def whsec() -> tuple:
    raw = os.urandom(24)
    return "whsec_" + base64.b64encode(raw).decode(), raw


def expected_signature(key: bytes, headers, body: bytes) -> str:
    msg = f"{headers('webhook-id')}.{headers('webhook-timestamp')}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


@case("14d-webhook-signing-key-of-the-run-tenant", 143)
def webhook_tenant_key(ctx, p):
    """Both tenants hold a signing key of the same name: each run signs with its own tenant's, the
    key never leaves (the scanner knows both values), and the signature verifies only with it."""
    admin, other = ctx.api("admin"), ctx.api("other")
    (mine, mine_raw), (theirs, theirs_raw) = whsec(), whsec()
    ctx.scanner.add("WEBHOOK_KEY_DEFAULT", mine)
    ctx.scanner.add("WEBHOOK_KEY_DEFAULT_RAW", mine[len("whsec_"):])
    ctx.scanner.add("WEBHOOK_KEY_OTHER", theirs)
    ctx.scanner.add("WEBHOOK_KEY_OTHER_RAW", theirs[len("whsec_"):])
    for api, value in ((admin, mine), (other, theirs)):
        r = api.request("PUT", "/api/v1/secrets/HOSTILE_WEBHOOK_KEY", {"value": value})
        if not p.check(r.status in (200, 201, 204), f"PUT HOSTILE_WEBHOOK_KEY: {r.brief()}"):
            return
    tag = uuid.uuid4().hex[:8]
    for api, who, key, wrong in ((ctx.api("developer"), "default", mine_raw, theirs_raw), (other, "other", theirs_raw, mine_raw)):
        path = f"/hook/14d-{who}-{tag}"
        view = run_plan(ctx, p, api, f"14d-{who}", [webhook_step("send", f"{ctx.recv.base}{path}", payload={"who": who},
                                                                   secret="HOSTILE_WEBHOOK_KEY")])
        p.check(step_state(view, "send").get("status") == "succeeded", f"{who}'s webhook: {step_state(view, 'send')}")
        got = ctx.recv.received(path)
        if not p.check(len(got) == 1, f"{who}'s webhook: the receiver got {len(got)} requests at {path}"):
            continue
        req = got[0]
        sig = req.header("webhook-signature") or ""
        p.check(sig == expected_signature(key, req.header, req.body), f"{who}'s webhook is not signed with {who}'s key")
        p.check(sig != expected_signature(wrong, req.header, req.body), f"{who}'s webhook verifies with the other tenant's key")
        p.check((output(view, "send") or {}).get("webhook_id") == req.header("webhook-id"), f"{who}: the output's webhook_id is not the one sent")


@case("14e-webhook-hostile-inputs", 144)
def webhook_hostile(ctx, p):
    dev = ctx.api("developer")
    tag = uuid.uuid4().hex[:8]
    # A secret templated into the payload is refused at submission (only headers take secrets).
    r = dev.submit({"name": "14e", "steps": [webhook_step("a", f"{ctx.recv.base}/hook/14e", payload={"k": LIT})]}, {})
    p.check(r.status == 422 and "PLAN_SECRET_NOT_ALLOWED" in r.codes(), f"a secret in webhook_send's payload: expected 422, got {r.brief(200)}")
    cases = {
        "metadata-address": ({"url": "http://169.254.169.254/latest/meta-data/", "payload": 1, "secret": "HOSTILE_WEBHOOK_KEY"}, "HTTP_BLOCKED_ADDRESS"),
        "private-address": ({"url": "http://10.0.0.1/hook", "payload": 1, "secret": "HOSTILE_WEBHOOK_KEY"}, "HTTP_BLOCKED_ADDRESS"),
        "file-url": ({"url": "file:///etc/passwd", "payload": 1, "secret": "HOSTILE_WEBHOOK_KEY"}, "HTTP_INVALID_URL"),
        "reserved-header": ({"url": f"{ctx.recv.base}/hook/14e-{tag}", "payload": 1, "headers": {"webhook-signature": "v1,forged"}}, "SKILL_INPUT_INVALID"),
        "header-injection": ({"url": f"{ctx.recv.base}/hook/14e-{tag}", "payload": 1, "headers": {"x-a": "b\r\nwebhook-id: forged"}}, "SKILL_INPUT_INVALID"),
        "secret-name-path": ({"url": f"{ctx.recv.base}/hook/14e-{tag}", "payload": 1, "secret": "../other/LEAKME"}, "SKILL_INPUT_INVALID"),
        "missing-secret": ({"url": f"{ctx.recv.base}/hook/14e-{tag}", "payload": 1, "secret": "NO_SUCH_KEY"}, "SECRET_NOT_FOUND"),
        "payload-over-256k": ({"url": f"{ctx.recv.base}/hook/14e-{tag}", "payload": "x" * (256 * 1024 + 1), "secret": "HOSTILE_WEBHOOK_KEY"}, "WEBHOOK_PAYLOAD_TOO_LARGE"),
    }
    for label, (inp, code) in cases.items():
        step_input, inputs = templated(inp)
        view = run_plan(ctx, p, dev, f"14e-{label}", [{"id": "a", "skill": "webhook_send", "input": step_input, "retry": ONCE}], inputs=inputs)
        p.check(step_code(view, "a") == code, f"webhook_send {label}: expected {code}, got {step_code(view, 'a')}")
    p.check(not ctx.recv.received(f"/hook/14e-{tag}"), "a refused webhook reached the receiver")


@case("14f-email-hostile-inputs", 145)
def email_hostile(ctx, p):
    """email_send refuses before connecting: header injection through addresses and the subject,
    template bombs, an SMTP host at the metadata address, plaintext to a public host. (No SMTP
    server is needed: none of these may reach one.)"""
    admin, dev = ctx.api("admin"), ctx.api("developer")
    for name, value in {"HOSTILE_SMTP_METADATA": "smtps://u:hostile-pw-1@169.254.169.254:465?from=a@aos.example",
                        "HOSTILE_SMTP_PLAIN": "smtp://u:hostile-pw-2@mail.example.com:25?tls=none&from=a@aos.example"}.items():
        ctx.scanner.add(name, value)
        r = admin.request("PUT", f"/api/v1/secrets/{name}", {"value": value})
        if not p.check(r.status in (200, 201, 204), f"PUT {name}: {r.brief()}"):
            return
    base = {"to": ["ana@example.com"], "subject": "s", "text": "t", "connection": "HOSTILE_SMTP_METADATA"}
    cases = {
        "to-header-injection": ({"to": ["ana@example.com\r\nBcc: all@example.com"]}, "EMAIL_ADDRESS_INVALID"),
        "from-header-injection": ({"from": "a@aos.example\nX-Evil: 1"}, "EMAIL_ADDRESS_INVALID"),
        "subject-injection": ({"subject": "{{ s }}", "data": {"s": "hi\r\nBcc: all@example.com"}}, "EMAIL_TOO_LARGE"),
        "51-recipients": ({"to": [f"u{i}@example.com" for i in range(51)]}, "EMAIL_ADDRESS_INVALID"),
        "template-loop-bomb": ({"text": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"}, "EMAIL_TEMPLATE_ERROR"),
        "template-string-bomb": ({"text": "{{ 'x' * 100000000 }}"}, "EMAIL_TEMPLATE_ERROR"),
        "template-undefined": ({"text": "{{ secrets.LEAKME }} {{ nope }}"}, "EMAIL_TEMPLATE_ERROR"),
        "template-env-probe": ({"text": "{{ self.__init__.__globals__ }}"}, "EMAIL_TEMPLATE_ERROR"),
        "metadata-smtp-host": ({}, "EMAIL_BLOCKED_ADDRESS"),
        "plaintext-to-public-host": ({"connection": "HOSTILE_SMTP_PLAIN"}, "EMAIL_CONNECTION_INVALID"),
        "missing-connection": ({"connection": "NO_SUCH_SMTP"}, "SECRET_NOT_FOUND"),
    }
    for label, (patch, code) in cases.items():
        inp = {**base, **patch}
        step_input, inputs = templated(inp)
        view = run_plan(ctx, p, dev, f"14f-{label}", [{"id": "a", "skill": "email_send", "input": step_input, "retry": ONCE}], inputs=inputs)
        p.check(step_code(view, "a") == code, f"email_send {label}: expected {code}, got {step_code(view, 'a')}")


@case("14g-slack-hostile-inputs", 146)
def slack_hostile(ctx, p):
    """slack_send refuses before any request: webhook secrets that point inside or are no https URL,
    messages over Slack's limits, a token that would inject a header, secret names that are paths, a
    secret templated into the message. Each webhook URL's key and each token is known to the
    scanner: none may come back in an answer, a record or the log."""
    admin, dev = ctx.api("admin"), ctx.api("developer")
    key = uuid.uuid4().hex
    token = "xoxb-" + uuid.uuid4().hex
    secrets = {
        "HOSTILE_SLACK_METADATA": f"https://169.254.169.254/services/T14G/B14G/{key}",
        "HOSTILE_SLACK_PRIVATE": f"https://10.1.2.3/services/T14G/B14G/{key}",
        "HOSTILE_SLACK_PLAIN": f"http://hooks.slack.example/services/T14G/B14G/{key}",
        "HOSTILE_SLACK_USERINFO": f"https://u:{key}@hooks.slack.example/services/x",
        "HOSTILE_SLACK_FILE": f"file:///etc/passwd#{key}",
        "HOSTILE_SLACK_TOKEN": f"{token}\r\nX-Injected: 1",
    }
    ctx.scanner.add("SLACK_HOOK_KEY", key)
    ctx.scanner.add("SLACK_TOKEN", token)
    for name, value in secrets.items():
        r = admin.request("PUT", f"/api/v1/secrets/{name}", {"value": value})
        if not p.check(r.status in (200, 201, 204), f"PUT {name}: {r.brief()}"):
            return
    for field, value in (("text", LIT), ("blocks", [{"type": "section", "text": {"type": "mrkdwn", "text": LIT}}])):
        r = dev.submit({"name": "14g", "steps": [{"id": "a", "skill": "slack_send", "input": {field: value}}]}, {})
        p.check(r.status == 422 and "PLAN_SECRET_NOT_ALLOWED" in r.codes(),
                f"a secret in slack_send's {field}: expected 422 PLAN_SECRET_NOT_ALLOWED, got {r.brief(200)}")
    cases = {
        "metadata-address": ({"webhook": "HOSTILE_SLACK_METADATA"}, "HTTP_BLOCKED_ADDRESS"),
        "private-address": ({"webhook": "HOSTILE_SLACK_PRIVATE"}, "HTTP_BLOCKED_ADDRESS"),
        "plain-http-public": ({"webhook": "HOSTILE_SLACK_PLAIN"}, "SLACK_WEBHOOK_URL_INVALID"),
        "userinfo": ({"webhook": "HOSTILE_SLACK_USERINFO"}, "SLACK_WEBHOOK_URL_INVALID"),
        "file-url": ({"webhook": "HOSTILE_SLACK_FILE"}, "SLACK_WEBHOOK_URL_INVALID"),
        "token-header-injection": ({"token": "HOSTILE_SLACK_TOKEN", "channel": "C0AOS1"}, "SLACK_INVALID_AUTH"),
        "secret-name-path": ({"webhook": "../other/LEAKME"}, "SKILL_INPUT_INVALID"),
        "missing-secret": ({"webhook": "NO_SUCH_HOOK"}, "SECRET_NOT_FOUND"),
        "text-over-40000": ({"text": "x" * 40_001, "webhook": "HOSTILE_SLACK_METADATA"}, "SLACK_MESSAGE_TOO_LONG"),
        "51-blocks": ({"blocks": [{"type": "divider"}] * 51, "webhook": "HOSTILE_SLACK_METADATA"}, "SLACK_MESSAGE_TOO_LONG"),
        "section-over-3000": ({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]}, "SLACK_MESSAGE_TOO_LONG"),
        "modal-only-block": ({"blocks": [{"type": "modal"}]}, "SLACK_INVALID_PAYLOAD"),
        "channel-without-token": ({"channel": "C0AOS1"}, "SKILL_INPUT_INVALID"),
    }
    for label, (patch, code) in cases.items():
        inp = {"text": "hostile", **patch}
        if "blocks" in patch and "text" not in patch:
            inp.pop("text")
        step_input, inputs = templated(inp)
        view = run_plan(ctx, p, dev, f"14g-{label}", [{"id": "a", "skill": "slack_send", "input": step_input, "retry": ONCE}], inputs=inputs)
        p.check(step_code(view, "a") == code, f"slack_send {label}: expected {code}, got {step_code(view, 'a')}")
