"""Cases 3, 6, 9, 10 and 12: what the API does with hostile requests — oversized plans and bodies,
deep nesting, huge strings, extreme numbers, unauthenticated methods, broken URIs, idempotency
keys reused with another plan, key names with control characters."""

import json
import threading
import time
import uuid

from harness import Problems, jq_step, http_request, stream_request
from registry import case

FAST_S = 1.0  # "well under 1 s"
T = 10.0  # client timeout of requests expected to answer at once
MAX_ERROR_BYTES = 64 * 1024  # an error answer must not echo a 900 KB field back


def chain(n: int, prefix: str = "s") -> dict:
    steps = []
    for i in range(n):
        s = jq_step(f"{prefix}{i}", ".", i)
        if i:
            s["depends_on"] = [f"{prefix}{i - 1}"]
        steps.append(s)
    return {"name": f"chain-{n}", "steps": steps}


def expect_too_large(p: Problems, r, what: str) -> None:
    p.check(r.status == 422 and r.code == "PLAN_TOO_LARGE", f"{what}: expected 422 PLAN_TOO_LARGE, got {r.brief()}")
    p.check(r.elapsed < FAST_S, f"{what}: answered in {r.elapsed:.2f} s, expected well under {FAST_S} s")


BIG = chain(3200)


@case("03-plan-size/viewer-simulate-3200-chain", 30)
def viewer_simulate(ctx, p):
    expect_too_large(p, ctx.api("viewer").post("/api/v1/simulate", {"plan": BIG}, timeout=T), "viewer POST /api/v1/simulate")


@case("03-plan-size/developer-runs-3200-chain", 30)
def developer_runs(ctx, p):
    expect_too_large(p, ctx.api("developer").submit(BIG, {}, timeout=T), "developer POST /api/v1/runs")


@case("03-plan-size/developer-workflow-post-3200-chain", 30)
def developer_workflow_post(ctx, p):
    expect_too_large(p, ctx.api("developer").post("/api/v1/workflows", {"name": "big-chain", "plan": BIG}, timeout=T), "developer POST /api/v1/workflows")


@case("03-plan-size/developer-workflow-put-3200-chain", 30)
def developer_workflow_put(ctx, p):
    # The API has no PUT on workflows (docs/api.md); should one appear, it must validate the same
    # way. Today's answer for a route without PUT is 405 (or 404), which is fine as long as it is
    # fast and enveloped.
    for path, body in (("/api/v1/workflows/big-chain", {"plan": BIG}), ("/api/v1/workflows", {"name": "big-chain", "plan": BIG})):
        r = ctx.api("developer").request("PUT", path, body, timeout=T)
        ok = (r.status == 422 and r.code == "PLAN_TOO_LARGE") or (r.status in (404, 405) and r.enveloped)
        p.check(ok, f"developer PUT {path}: expected 422 PLAN_TOO_LARGE (or 404/405 when there is no such route), got {r.brief()}")
        p.check(r.elapsed < FAST_S, f"developer PUT {path}: answered in {r.elapsed:.2f} s")


@case("03-plan-size/two-at-once", 30)
def two_at_once(ctx, p):
    calls = [
        ("viewer POST /api/v1/simulate", lambda: ctx.api("viewer").post("/api/v1/simulate", {"plan": BIG}, timeout=T)),
        ("viewer POST /api/v1/simulate (2)", lambda: ctx.api("viewer").post("/api/v1/simulate", {"plan": BIG}, timeout=T)),
        ("developer POST /api/v1/runs", lambda: ctx.api("developer").submit(BIG, {}, timeout=T)),
        ("developer POST /api/v1/workflows", lambda: ctx.api("developer").post("/api/v1/workflows", {"name": "big-chain", "plan": BIG}, timeout=T)),
    ]
    out = {}

    def go(name, fn):
        out[name] = fn()

    threads = [threading.Thread(target=go, args=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for name, _ in calls:
        if name not in out:
            p.fail(f"{name}: no answer within 60 s")
        else:
            expect_too_large(p, out[name], f"{name} (concurrent)")


@case("03-plan-size/wide-banded-and-dense-plans", 30)
def wide_plans(ctx, p):
    wide = {"name": "wide", "steps": [jq_step(f"w{i}", ".", i) for i in range(3200)]}
    expect_too_large(p, ctx.api("developer").submit(wide, {}, timeout=T), "developer POST /api/v1/runs (3200 independent steps)")
    expect_too_large(p, ctx.api("viewer").post("/api/v1/simulate", {"plan": chain(201)}, timeout=T), "viewer POST /api/v1/simulate (201-step chain)")
    # 1,000 steps, each depending on the 50 before it (~50,000 edges): refused as fast.
    banded = {"name": "banded", "steps": []}
    for i in range(1000):
        s = jq_step(f"d{i}", ".", i)
        if i:
            s["depends_on"] = [f"d{j}" for j in range(max(0, i - 50), i)]
        banded["steps"].append(s)
    expect_too_large(p, ctx.api("viewer").post("/api/v1/simulate", {"plan": banded}, timeout=T), "viewer POST /api/v1/simulate (1000 steps, 50 dependencies each)")
    # The largest valid shape: 200 steps, each depending on every earlier one. Valid, and fast.
    dense = {"name": "dense", "steps": []}
    for i in range(200):
        s = jq_step(f"d{i}", ".", i)
        if i:
            s["depends_on"] = [f"d{j}" for j in range(i)]
        dense["steps"].append(s)
    r = ctx.api("viewer").post("/api/v1/simulate", {"plan": dense}, timeout=T)
    p.check(r.status == 200, f"viewer POST /api/v1/simulate (200 steps, each depending on all earlier): expected 200, got {r.brief()}")
    p.check(r.elapsed < FAST_S, f"viewer POST /api/v1/simulate (200 dense steps): took {r.elapsed:.2f} s")


@case("03-body-size/over-1MiB", 31)
def body_too_large(ctx, p):
    pad = "x" * (1024 * 1024 + 512 * 1024)
    plan = {"name": "pad", "steps": [jq_step("a", ".")]}
    for role, path in (("developer", "/api/v1/runs"), ("viewer", "/api/v1/simulate"), ("developer", "/api/v1/workflows")):
        body = {"plan": plan, "inputs": {"pad": pad}} if path.endswith("runs") else {"plan": {**plan, "name": pad}} if path.endswith("simulate") else {"name": "w", "plan": {**plan, "name": pad}}
        r = ctx.api(role).post(path, body)
        p.check(r.status == 413 and r.code == "BODY_TOO_LARGE", f"{role} POST {path} with a 1.5 MiB body: expected 413 BODY_TOO_LARGE, got {r.brief()}")
    # The same without Content-Length (chunked): the limit must hold while streaming.
    host, port = ctx.server.host_port
    head = (f"POST /api/v1/runs HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: Bearer {ctx.keys['developer']}\r\n"
            f"content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n").encode()
    pre = json.dumps({"plan": plan, "inputs": {"pad": ""}})[:-3].encode()

    def chunks():
        yield b"%x\r\n" % len(pre) + pre + b"\r\n"
        for _ in range(24):
            c = b"x" * 65536
            yield b"%x\r\n" % len(c) + c + b"\r\n"
        yield b"3\r\n\"}}\r\n"
        yield b"0\r\n\r\n"

    r = stream_request(host, port, head, chunks())
    ctx.scanner.scan(r.body, "developer POST /api/v1/runs (chunked)")
    p.check(r.status == 413 and r.code == "BODY_TOO_LARGE", f"chunked 1.5 MiB POST /api/v1/runs: expected 413 BODY_TOO_LARGE, got {r.brief()}")


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


@case("03-nesting/10000-deep-json", 32)
def deep_json(ctx, p):
    step = '{"id": "a", "skill": "json_transform", "input": {"data": %s, "expr": "."}}'
    plan = '{"name": "deep", "steps": [%s]}' % (step % "1")
    deep = {  # label -> (JSON text, legitimate: below the parser's usual depth limit of 128)
        "10000 nested arrays": (nested(10000), False),
        "10000 nested objects": ('{"a":' * 10000 + "1" + "}" * 10000, False),
        "100 nested arrays": (nested(100), True),
    }
    for label, (text, shallow) in deep.items():
        cases = [
            ("developer", "/api/v1/runs", f"in inputs.x: {label}", '{"plan": %s, "inputs": {"x": %s}}' % (plan, text)),
            ("developer", "/api/v1/runs", f"as inputs: {label}", '{"plan": %s, "inputs": %s}' % (plan, text)),
            ("developer", "/api/v1/runs", f"in step data: {label}", '{"plan": {"name": "deep", "steps": [%s]}, "inputs": {}}' % (step % text)),
            ("viewer", "/api/v1/simulate", f"in step data: {label}", '{"plan": {"name": "deep", "steps": [%s]}}' % (step % text)),
            ("developer", "/api/v1/workflows", f"in step data: {label}", '{"name": "deep", "plan": {"name": "deep", "steps": [%s]}}' % (step % text)),
        ]
        for role, path, what, body in cases:
            r = ctx.api(role).request("POST", path, raw=body.encode(), timeout=10)
            if shallow:
                p.check(r.status in (200, 201, 202) or (400 <= r.status < 500 and r.enveloped), f"{role} POST {path} ({what}): expected 2xx or an enveloped 4xx, got {r.brief()}")
            else:
                p.check(400 <= r.status < 500 and r.enveloped, f"{role} POST {path} ({what}): expected an enveloped 4xx, got {r.brief()}")
            p.check(r.elapsed < 2.0, f"{role} POST {path} ({what}): took {r.elapsed:.2f} s (a parse error must be fast)")
    schema = '{"not":' * 10000 + "{}" + "}" * 10000
    for role, path, body in (("developer", "/api/v1/runs", '{"plan": {"name": "deep", "input_schema": %s, "steps": [%s]}, "inputs": {}}' % (schema, step % "1")),
                             ("viewer", "/api/v1/simulate", '{"plan": {"name": "deep", "input_schema": %s, "steps": [%s]}}' % (schema, step % "1"))):
        r = ctx.api(role).request("POST", path, raw=body.encode(), timeout=10)
        p.check(400 <= r.status < 500 and r.enveloped, f"{role} POST {path} (input_schema 10000 levels deep): expected an enveloped 4xx, got {r.brief()}")
    # A schema that is legal and small but expensive to compile or apply.
    allof = '{"allOf": [' * 60 + "{}" + "]}" * 60
    r = ctx.api("developer").request("POST", "/api/v1/runs", raw=('{"plan": {"name": "deep", "input_schema": %s, "steps": [%s]}, "inputs": {}}' % (allof, step % "1")).encode(), timeout=10)
    p.check(r.status == 202 or (400 <= r.status < 500 and r.enveloped), f"input_schema of 60 nested allOf: expected 202 or an enveloped 4xx, got {r.brief()}")
    p.check(r.elapsed < 5.0, f"input_schema of 60 nested allOf: took {r.elapsed:.2f} s")


HUGE = 900 * 1024


def huge_plans():
    h = "a" * HUGE
    base = lambda **kw: {"name": "huge", "steps": [jq_step("a", ".", 1, **kw)]}
    return {
        "step id": ({"name": "huge", "steps": [jq_step(h, ".", 1)]}, ("steps[0].id", "id")),
        "plan name": ({"name": h, "steps": [jq_step("a", ".", 1)]}, ("name",)),
        "expr": ({"name": "huge", "steps": [jq_step("a", '"' + h + '"', 1)]}, ("expr",)),
        "condition": (base(condition='"' + h + '" == "x"'), ("condition",)),
        "depends_on id": ({"name": "huge", "steps": [jq_step("a", ".", 1), jq_step("b", ".", 1, depends_on=[h])]}, ("depends_on",)),
        "secret reference name": ({"name": "huge", "steps": [{"id": "a", "skill": "http_call", "input": {"url": "http://127.0.0.1:9/", "headers": {"x": "{{ secrets.%s }}" % ("A" * HUGE)}}}]}, ("headers", "secrets", "input")),
    }


@case("03-huge-strings/900KB-fields", 33)
def huge_strings(ctx, p):
    for what, (plan, want) in huge_plans().items():
        for role, path, body in (("developer", "/api/v1/runs", {"plan": plan, "inputs": {}}),
                                 ("viewer", "/api/v1/simulate", {"plan": plan}),
                                 ("developer", "/api/v1/workflows", {"name": "huge", "plan": plan})):
            r = ctx.api(role).post(path, body, timeout=20)
            label = f"{role} POST {path} with a 900 KB {what}"
            if not p.check(400 <= r.status < 500 and r.enveloped, f"{label}: expected an enveloped 4xx naming the field, got {r.brief(200)}"):
                continue
            fields = r.fields()
            p.check(any(any(w in f for w in want) for f in fields), f"{label}: the error names no field like {want} (fields {[f[:60] for f in fields]}, code {r.code})")
            p.check(len(r.body) <= MAX_ERROR_BYTES, f"{label}: the error answer is {len(r.body)} bytes (it echoes the field back)")
            p.check(r.elapsed < 2.0, f"{label}: took {r.elapsed:.2f} s")
    # A 900 KB workflow name in the body, and a 100 KB one in a path.
    r = ctx.api("developer").post("/api/v1/workflows", {"name": "w" * HUGE, "plan": {"name": "x", "steps": [jq_step("a", ".")]}})
    p.check(r.status == 422 and r.code in ("INVALID_WORKFLOW_NAME", "INVALID_FIELD") and len(r.body) <= MAX_ERROR_BYTES,
            f"POST /api/v1/workflows with a 900 KB name: expected 422 INVALID_WORKFLOW_NAME, small, got {r.brief(200)}")
    r = ctx.api("developer").post("/api/v1/runs", {"workflow": "w" * HUGE, "inputs": {}})
    p.check(400 <= r.status < 500 and r.enveloped and len(r.body) <= MAX_ERROR_BYTES, f"POST /api/v1/runs naming a 900 KB workflow: expected a small enveloped 4xx, got {r.brief(200)}")
    r = ctx.api("developer").submit({"name": "x", "steps": [jq_step("a", ".")]}, {}, idempotency_key="k" * HUGE)
    p.check(r.status == 422 and r.code == "INVALID_IDEMPOTENCY_KEY" and len(r.body) <= MAX_ERROR_BYTES, f"900 KB idempotency_key: expected 422 INVALID_IDEMPOTENCY_KEY, got {r.brief(200)}")


# --- 6: numbers ----------------------------------------------------------------------------------

@case("06-numbers/budget-max-duration", 60)
def budget_numbers(ctx, p):
    for raw in ("9223372036854775807", "18446744073709551615", "9223372036854775808", "1e300", "-1"):
        plan = '{"name": "budget", "budget": {"max_duration_ms": %s}, "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "."}}]}' % raw
        bodies = {"/api/v1/runs": ('{"plan": %s, "inputs": {}}' % plan).encode(), "/api/v1/simulate": ('{"plan": %s}' % plan).encode()}
        # The brief's two values must be PLAN_INVALID_BUDGET; for the others a shape error will do.
        codes = ("PLAN_INVALID_BUDGET",) if raw in ("9223372036854775807", "18446744073709551615") else ("PLAN_INVALID_BUDGET", "INVALID_FIELD")
        for role, path in (("developer", "/api/v1/runs"), ("viewer", "/api/v1/simulate")):
            r = ctx.api(role).request("POST", path, raw=bodies[path])
            p.check(r.status == 422 and r.code in codes, f"{role} POST {path} with max_duration_ms {raw}: expected 422 {' or '.join(codes)}, got {r.brief()}")
    for raw in ("1e999", "-1e999", "1.7976931348623157e309"):
        body = ('{"plan": {"name": "budget", "budget": {"max_cost_usd": %s}, "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "."}}]}, "inputs": {}}' % raw).encode()
        r = ctx.api("developer").request("POST", "/api/v1/runs", raw=body)
        p.check(400 <= r.status < 500 and r.enveloped, f"POST /api/v1/runs with max_cost_usd {raw}: expected an enveloped 4xx, got {r.brief()}")
    for field, raw in (("timeout_ms", "9223372036854775807"), ("timeout_ms", "18446744073709551616")):
        body = ('{"plan": {"name": "n", "steps": [{"id": "a", "skill": "json_transform", "%s": %s, "input": {"data": 1, "expr": "."}}]}, "inputs": {}}' % (field, raw)).encode()
        r = ctx.api("developer").request("POST", "/api/v1/runs", raw=body)
        p.check(r.status == 422 and r.code in ("PLAN_INVALID_TIMEOUT", "INVALID_FIELD"), f"POST /api/v1/runs with {field} {raw}: expected 422, got {r.brief()}")
    for raw in ("9223372036854775807", "18446744073709551615", "-1"):
        body = ('{"plan": {"name": "n", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "."}}]}, "inputs": {}, "seed": %s}' % raw).encode()
        r = ctx.api("developer").request("POST", "/api/v1/runs", raw=body)
        p.check(r.status == 422 and r.code in ("INVALID_SEED", "INVALID_FIELD"), f"POST /api/v1/runs with seed {raw}: expected 422 INVALID_SEED, got {r.brief()}")
    for retry in ('{"max_attempts": 3, "initial_delay_ms": 9223372036854775807, "max_delay_ms": 9223372036854775807}',
                  '{"max_attempts": 18446744073709551615}', '{"max_attempts": 3, "multiplier": 1e308}'):
        body = ('{"plan": {"name": "n", "steps": [{"id": "a", "skill": "json_transform", "retry": %s, "input": {"data": 1, "expr": "."}}]}, "inputs": {}}' % retry).encode()
        r = ctx.api("viewer").request("POST", "/api/v1/simulate", raw=body)
        p.check(r.status < 500 and r.status != 0 and (r.status == 200 or r.enveloped), f"POST /api/v1/simulate with retry {retry}: expected 200 or an enveloped 4xx, got {r.brief()}")


MIN, MAX = "-9223372036854775808", "9223372036854775807"


@case("06-numbers/query-extremes", 61)
def query_numbers(ctx, p):
    must_400 = [
        ("admin", f"/api/v1/failures/stats?bucket_ms={MAX}"),
        ("admin", f"/api/v1/failures?to={MIN}"),
        ("admin", f"/api/v1/failures/stats?to={MIN}"),
        ("admin", f"/api/v1/audit?to={MIN}"),
        ("viewer", f"/api/v1/failures?to={MIN}"),
        ("viewer", f"/api/v1/failures/stats?bucket_ms={MAX}"),
    ]
    for role, path in must_400:
        r = ctx.api(role).get(path)
        p.check(r.status == 400 and r.enveloped and r.code == "INVALID_QUERY", f"{role} GET {path}: expected 400 INVALID_QUERY in the envelope, got {r.brief()}")
    # Other extremes: any proper answer but never a 5xx, never a hang.
    others = [f"/api/v1/failures?from={MIN}", f"/api/v1/failures?from={MAX}", f"/api/v1/failures?to={MAX}",
              f"/api/v1/failures/stats?from={MIN}&to={MAX}", f"/api/v1/failures/stats?bucket_ms=1", f"/api/v1/failures/stats?bucket_ms=-1",
              f"/api/v1/failures/stats?from={MAX}", f"/api/v1/audit?from={MIN}", f"/api/v1/audit?from={MAX}&to={MAX}",
              f"/api/v1/audit?limit={MAX}", f"/api/v1/runs?limit=18446744073709551616", f"/api/v1/runs?created_after={MIN}",
              f"/api/v1/runs?created_before={MIN}", f"/api/v1/runs?created_after={MAX}", f"/api/v1/failures?limit={MIN}",
              f"/api/v1/runs/r_00000000000000000000000000000000?wait_ms={MAX}", f"/api/v1/workflows/x?version={MAX}",
              f"/api/v1/workflows/x?version={MIN}", f"/api/v1/failures/candidates?limit={MAX}",
              f"/api/v1/failures/stats?from=0&to={MAX}&bucket_ms=1", "/api/v1/failures/stats?from=1e3", "/api/v1/failures?to=NaN"]
    for path in others:
        r = ctx.api("admin").get(path, timeout=10)
        p.check(r.status != 0 and r.status < 500 and (r.status == 200 or r.enveloped), f"admin GET {path}: expected 200 or an enveloped 4xx, got {r.brief()}")
        p.check(r.elapsed < 5, f"admin GET {path}: took {r.elapsed:.2f} s")
    r = ctx.api("admin").post(f"/api/v1/failures/aggregate?days={MAX}")
    p.check(r.status == 400 and r.enveloped, f"POST /api/v1/failures/aggregate?days={MAX}: expected 400, got {r.brief()}")


# --- 9: methods and URIs -------------------------------------------------------------------------

AUTH_PATHS = ["/api/v1/runs", "/api/v1/runs/r_0123", "/api/v1/runs/r_0123/cancel", "/api/v1/workflows", "/api/v1/workflows/x",
              "/api/v1/secrets", "/api/v1/secrets/X", "/api/v1/keys", "/api/v1/keys/abcd1234", "/api/v1/failures",
              "/api/v1/failures/stats", "/api/v1/audit", "/api/v1/skills", "/api/v1/simulate", "/api/v1/whoami", "/metrics"]


@case("09-unauthenticated-methods", 90)
def unauth_methods(ctx, p):
    bad = []
    for path in AUTH_PATHS:
        for method in ("PATCH", "DELETE", "PUT"):
            for who, api in (("no key", ctx.anon()), ("a bogus key", ctx.api("bogus", "aos_00000000_" + "0" * 48))):
                r = api.request(method, path, body={} if method != "DELETE" else None)
                if not (r.status == 401 and r.code == "UNAUTHENTICATED"):
                    bad.append(f"{method} {path} ({who}) -> {r.status} {r.code}")
    p.check(not bad, lambda: f"{len(bad)} unauthenticated requests not answered 401 UNAUTHENTICATED: {'; '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}")


@case("09-bad-uris", 91)
def bad_uris(ctx, p):
    long_seg = "a" * (100 * 1024)
    for who, api in (("admin", ctx.api("admin")), ("no key", ctx.anon())):
        for path in ("/api/v1/runs/%FF", "/api/v1/runs/%C3%28", "/api/v1/workflows/%FF%FE", "/api/v1/runs/%FF/replay",
                     "/api/v1/secrets/%FF", f"/api/v1/runs/{long_seg}", f"/api/v1/runs?cursor={long_seg}",
                     f"/api/v1/{long_seg}", f"/api/v1/failures?code={long_seg}", "/api/v1/runs?status=%FF", "/api/v1/runs?%FF=1"):
            method = "PUT" if path.startswith("/api/v1/secrets") else "POST" if path.endswith("replay") else "GET"
            r = api.request(method, path, body={"value": "x"} if method == "PUT" else None, timeout=10)
            p.check(400 <= r.status < 500 and r.enveloped, f"{who} {method} {path[:60]}{'...' if len(path) > 60 else ''}: expected an enveloped 4xx, got {r.brief(150)}")
            p.check(len(r.body) <= MAX_ERROR_BYTES, f"{who} {method} {path[:60]}: the answer is {len(r.body)} bytes")
    # Percent-encoded nonsense on a public route, and a long header.
    r = ctx.anon().get("/healthz%FF")
    p.check(r.status == 404 and r.enveloped, f"GET /healthz%FF: expected an enveloped 404, got {r.brief()}")
    r = ctx.api("admin").get("/api/v1/runs?limit=1", headers={"x-long": "b" * (60 * 1024)})
    p.check(r.status in (200, 431) and (r.status == 200 or r.enveloped or not r.body), f"GET with a 60 KB header: expected 200 or 431, got {r.brief()}")


# --- 10: idempotency -----------------------------------------------------------------------------

@case("10-idempotency", 100)
def idempotency(ctx, p):
    key = f"hostile-{uuid.uuid4().hex}"
    plan_a = {"name": "idem-a", "steps": [jq_step("a", ". + 1", 1)]}
    plan_b = {"name": "idem-b", "steps": [jq_step("a", ". + 2", 1)]}
    api = ctx.api("developer")
    r1 = api.submit(plan_a, {}, idempotency_key=key)
    if not p.check(r1.status == 202 and (r1.json or {}).get("created") is True, f"first submission: expected 202 created, got {r1.brief()}"):
        return
    run_id = r1.json["run_id"]
    r2 = api.submit(plan_b, {}, idempotency_key=key)
    p.check(r2.status == 409 and r2.code == "IDEMPOTENCY_MISMATCH", f"same key, another plan: expected 409 IDEMPOTENCY_MISMATCH, got {r2.brief()}")
    r3 = api.submit(plan_a, {}, idempotency_key=key)
    p.check(r3.status == 202 and (r3.json or {}).get("run_id") == run_id and (r3.json or {}).get("created") is False,
            f"same key, same plan: expected 202 with run {run_id} and created false, got {r3.brief()}")
    r4 = ctx.api("machine").submit(plan_b, {"x": 1}, idempotency_key=key)
    p.check(r4.status == 409 and r4.code == "IDEMPOTENCY_MISMATCH", f"same key, another plan and inputs, another key of the tenant: expected 409 IDEMPOTENCY_MISMATCH, got {r4.brief()}")
    # Another tenant's key space is its own.
    r5 = ctx.api("other").submit(plan_b, {}, idempotency_key=key)
    p.check(r5.status == 202 and (r5.json or {}).get("created") is True and (r5.json or {}).get("run_id") != run_id,
            f"the same key in another tenant: expected a new run, got {r5.brief()}")
    # Concurrent first submissions with one key and two plans: one run, the other refused.
    key2 = f"hostile-{uuid.uuid4().hex}"
    out = {}

    def go(name, plan):
        out[name] = api.submit(plan, {}, idempotency_key=key2)

    ts = [threading.Thread(target=go, args=("a", plan_a)), threading.Thread(target=go, args=("b", plan_b))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    statuses = sorted((out[n].status, out[n].code) for n in out)
    ok = len(out) == 2 and [s for s, _ in statuses].count(202) == 1 and any(s == 409 for s, _ in statuses)
    p.check(ok, f"concurrent first submissions with one key and two plans: expected one 202 and one 409, got {statuses}")


# --- 12: key names -------------------------------------------------------------------------------

@case("12-key-names", 120)
def key_names(ctx, p):
    bad = {"U+202E right-to-left override": "ci\u202egnp.exe", "U+2066 left-to-right isolate": "ci\u2066x", "U+200F right-to-left mark": "ci\u200fx",
           "U+061C arabic letter mark": "ci\u061cx", "NUL": "ci\x00x", "BEL": "ci\x07x", "newline": "ci\nkey: forged", "carriage return": "ci\rx",
           "ESC (terminal escape)": "ci\x1b[31mred", "DEL": "ci\x7fx", "U+0085 next line": "ci\x85x",
           "tab": "ci\tx", "U+202A left-to-right embedding": "ci\u202ax", "U+2069 pop directional isolate": "ci\u2069x"}
    created = []
    for what, name in bad.items():
        r = ctx.api("admin").post("/api/v1/keys", {"name": name, "role": "viewer"})
        if r.status == 201 and isinstance(r.json, dict):
            created.append(r.json.get("record", {}).get("key_id"))
            if r.json.get("key"):
                ctx.all_keys.append(r.json["key"])
        p.check(r.status == 422 and r.enveloped and any("name" in f for f in r.fields()), f"key name with {what}: expected 422 naming `name`, got {r.brief(200)}")
    r = ctx.api("admin").post("/api/v1/keys", {"name": "ci-deploy (ok) ünïcödé", "role": "viewer"})
    p.check(r.status == 201, f"a plain printable key name: expected 201, got {r.brief()}")
    if r.status == 201 and isinstance(r.json, dict):
        ctx.all_keys.append(r.json.get("key", ""))
        created.append(r.json.get("record", {}).get("key_id"))
    for kid in filter(None, created):
        ctx.api("admin").request("DELETE", f"/api/v1/keys/{kid}")


@case("17-failure-guess", 170)
def failure_guess(ctx, p):
    """The second stage of failure matching (a guess from the nearest labelled failures) runs on
    whatever message a caller sends: its work must stay bounded (the message is read up to 8 KiB,
    a query keeps at most 512 features), and a guess must never look like a decisive match."""
    words = " ".join(f"w{i}x" for i in range(9000))[: 64 * 1024 - 16]
    common = ("error request failed timeout connection refused rate limit exceeded " * 1200)[: 64 * 1024 - 16]
    pairs = " ".join(f"error {i}" for i in range(8000))[: 64 * 1024 - 16]
    bodies = {
        "64 KiB of distinct words": {"message": words},
        "64 KiB of the commonest failure words": {"message": common},
        "64 KiB of word pairs around one common word": {"message": pairs},
        "unusual code and status with unknown words": {"message": "frobnicator upstream hung up mid-body", "code": "X" * 200, "http_status": 599},
    }
    for what, body in bodies.items():
        r = ctx.api("viewer").post("/api/v1/catalog/match", body, timeout=T)
        p.check(r.status == 200 and isinstance(r.json, dict), f"match {what}: expected 200, got {r.brief(200)}")
        p.check(r.elapsed < FAST_S, f"match {what}: answered in {r.elapsed:.2f} s, expected well under {FAST_S} s")
        if r.status == 200 and isinstance(r.json, dict) and not r.json.get("matched"):
            m = r.json
            p.check(m.get("match_type") in ("inferred", "none"), f"match {what}: unmatched with match_type {m.get('match_type')!r}")
            p.check(m.get("code") is None and m.get("recovery_mode") is None, f"match {what}: a guess carries no code or recovery mode: {r.brief(200)}")
            p.check(float(m.get("confidence", 1)) <= 0.45, f"match {what}: a guess's confidence {m.get('confidence')} is above 0.45")
