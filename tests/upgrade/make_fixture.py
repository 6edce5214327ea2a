"""Makes an upgrade fixture with a release's `aos` binary: a data directory holding keys of every
role (one revoked, one rotated), a second tenant, a secret, two workflows, finished runs (succeeded,
failed, cancelled; failure records of every kind) and runs still in flight when the server is
killed with SIGKILL (retries waiting out a delay in the queue, a budget deadline, a POST and a GET
executing), with a clean restart in between, packed with a manifest of what each should end as. See README.md; run through
make_fixture.sh. Python 3 standard library only.

Nothing an in-flight run does after the upgrade needs a server of the fixture's time: the waiting
retries are jq steps or calls to 127.0.0.1:1 (nothing listens there), the POST becomes
STEP_INTERRUPTED without being sent again, and the GET, sent again to a port now closed, fails
into its fallback."""

import argparse
import hashlib
import json
import re
import secrets as pysecrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Api, Failed, Server, digest  # noqa: E402

SECRET_NAME = "UPGRADE_TOKEN"
EXTRA_TENANT = "acme"
NO_LIMIT = {"max_duration_ms": None}  # in-flight runs must not hit the default 15-minute budget later

TOTALS_V1 = {
    "name": "totals",
    "input_schema": {"type": "object", "required": ["orders"], "properties": {"orders": {"type": "array"}}},
    "steps": [
        {"id": "totals", "skill": "json_transform", "input": {"data": "{{ inputs.orders }}", "expr": "map({sku, total: (.qty * .price)})"}},
        {"id": "summary", "skill": "json_transform", "depends_on": ["totals"],
         "input": {"data": "{{ steps.totals.output }}", "expr": "{orders: length, revenue: (map(.total) | add)}"}},
    ],
}
TOTALS_V2 = json.loads(json.dumps(TOTALS_V1))
TOTALS_V2["steps"][1]["input"]["expr"] = "{orders: length, revenue: (map(.total) | add), top: (max_by(.total) | .sku)}"
ORDERS = {"orders": [{"sku": "a", "qty": 2, "price": 3.5}, {"sku": "b", "qty": 1, "price": 10}]}

# Sends the secret in a header to the URL it is given; the URL is an input, so the workflow can run
# again after an upgrade against whatever server the test starts.
PRICE_CHECK = {
    "name": "price-check",
    "input_schema": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
    "steps": [
        {"id": "fetch", "skill": "http_call", "timeout_ms": 5000,
         "input": {"url": "{{ inputs.url }}", "headers": {"authorization": "Bearer {{ secrets." + SECRET_NAME + " }}"}},
         "retry": {"max_attempts": 2, "initial_delay_ms": 50, "retry_on": ["TRANSIENT"]}},
        {"id": "price", "skill": "json_transform", "depends_on": ["fetch"], "input": {"data": "{{ steps.fetch.output.body }}", "expr": ".bitcoin.usd"}},
    ],
}


def jq_fail(expr_data=1):
    return {"data": expr_data, "expr": 'error("fixture: always fails")'}


def plan(name, steps, budget=None):
    p = {"name": name, "steps": steps}
    if budget is not None:
        p["budget"] = budget
    return p


class Hang(BaseHTTPRequestHandler):
    """GET and POST /hang/<tag>: note the request, never answer (the server is killed first)."""
    seen = {}
    lock = threading.Lock()

    def _hang(self):
        n = int(self.headers.get("content-length") or 0)
        if n:
            self.rfile.read(n)
        with Hang.lock:
            Hang.seen[self.path] = self.command
        time.sleep(600)

    do_GET = do_POST = _hang

    def log_message(self, *args):
        pass


def start_target(binary: str, logdir: Path):
    out = open(logdir / "aos-target.stdout", "wb")
    proc = subprocess.Popen([binary, "--port", "0"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        m = re.search(r"AOS target listening on (\S+)", (logdir / "aos-target.stdout").read_text(errors="replace"))
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise Failed("aos-target did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aos", required=True, help="the release's aos binary")
    ap.add_argument("--target", required=True, help="an aos-target binary (aos-testkit)")
    ap.add_argument("--release", required=True, help="the release's commit, e.g. f96a76c")
    ap.add_argument("--out", required=True, help="the .tar.gz to write")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="aos-upgrade-fixture."))
    data = work / "data"
    logdir = work / "logs"
    logdir.mkdir()
    print(f"work dir {work} (removed when the fixture is written)")

    target_proc, target = start_target(a.target, logdir)
    hang = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    hang.daemon_threads = True
    threading.Thread(target=hang.serve_forever, daemon=True).start()
    hang_url = f"http://127.0.0.1:{hang.server_address[1]}"

    server = Server(a.aos, data, logdir, "old", [
        "--extra-tenants", EXTRA_TENANT, "--failure-retention-days", "3650", "--aggregate-every", "off",
    ], {"AOS_HTTP_ALLOW_HOSTS": "127.0.0.1", "AOS_LOG": "info"})
    try:
        server.start()
        t_start = int(time.time() * 1000)
        admin_key = (data / "admin.key").read_text().strip()
        acme_key = (data / f"{EXTRA_TENANT}.key").read_text().strip()
        admin = Api(server.base, admin_key)
        acme = Api(server.base, acme_key)
        m = {
            "release": a.release,
            "made_at_ms": t_start,
            "made_with": {"aos_serve_args": server.args, "env": server.env},
            "note": "Throwaway credentials of a test fixture: the keys below and the secret in aos.db are not used anywhere else.",
            "keys": [],
            "secret": {},
            "workflows": {},
            "runs": {},
            "failures": [],
        }

        # --- keys --------------------------------------------------------------------------------
        def key_entry(key, tenant, role, name, active=True, note=""):
            who = Api(server.base, key).ok("GET", "/api/v1/whoami") if active else None
            e = {"key": key, "tenant": tenant, "role": role, "name": name, "active": active}
            if who:
                e["id"] = who["id"]
                e["permissions"] = who["permissions"]
                assert (who["tenant"], who["role"]) == (tenant, role), who
            else:
                e["id"] = key.split("_")[1]
            if note:
                e["note"] = note
            m["keys"].append(e)

        key_entry(admin_key, "dev", "admin", "", note="first-start admin key (data/admin.key)")
        key_entry(acme_key, EXTRA_TENANT, "admin", "", note=f"--extra-tenants admin key (data/{EXTRA_TENANT}.key)")
        for role in ("operator", "developer", "viewer", "machine"):
            body = {"name": f"fixture-{role}", "role": role}
            if role == "machine":
                body["expires_in_days"] = 3650
            created = admin.ok("POST", "/api/v1/keys", body, expect=(201,))
            key_entry(created["key"], "dev", role, body["name"])
        revoked = admin.ok("POST", "/api/v1/keys", {"name": "fixture-revoked", "role": "developer"}, expect=(201,))
        admin.ok("DELETE", f"/api/v1/keys/{revoked['record']['key_id']}")
        key_entry(revoked["key"], "dev", "developer", "fixture-revoked", active=False, note="revoked: must stay refused")
        old = admin.ok("POST", "/api/v1/keys", {"name": "fixture-rotated", "role": "operator"}, expect=(201,))
        new = admin.ok("POST", f"/api/v1/keys/{old['record']['key_id']}/rotate", expect=(201,))
        key_entry(old["key"], "dev", "operator", "fixture-rotated", active=False, note="replaced by rotation: must stay refused")
        key_entry(new["key"], "dev", "operator", "fixture-rotated", note="the rotated key")

        # --- secret and workflows ------------------------------------------------------------------
        secret_value = "fixture-" + pysecrets.token_hex(16)
        admin.ok("PUT", f"/api/v1/secrets/{SECRET_NAME}", {"value": secret_value}, expect=(204,))
        m["secret"] = {"tenant": "dev", "name": SECRET_NAME, "sha256": hashlib.sha256(secret_value.encode()).hexdigest()}
        dev = Api(server.base, next(k["key"] for k in m["keys"] if k["role"] == "developer"))
        for wf in (TOTALS_V1, TOTALS_V2, PRICE_CHECK):
            dev.ok("POST", "/api/v1/workflows", {"name": wf["name"], "plan": wf}, expect=(201,))
        for w in admin.ok("GET", "/api/v1/workflows")["workflows"]:
            m["workflows"].setdefault(w["name"], {})[str(w["version"])] = {"plan": w["plan"], "created_at_ms": w["created_at_ms"]}

        # --- runs that finish before the kill ----------------------------------------------------
        finished = {}  # name -> (api, run_id, expected status)

        def sub(name, api, body, expect):
            finished[name] = (api, api.submit(body), expect)

        machine = Api(server.base, next(k["key"] for k in m["keys"] if k["role"] == "machine"))
        sub("transform", machine, {"plan": TOTALS_V2, "inputs": ORDERS, "seed": 7}, "succeeded")
        sub("workflow_v1_idempotent", dev, {"workflow": "totals", "version": 1, "inputs": ORDERS, "idempotency_key": "upgrade-fixture-1"}, "succeeded")
        sub("workflow_latest", dev, {"workflow": "totals", "inputs": ORDERS}, "succeeded")
        sub("secret_workflow", admin, {"workflow": "price-check", "inputs": {"url": f"{target}/price"}}, "succeeded")
        sub("flaky_retried", admin, {"seed": 42, "plan": plan("flaky", [
            {"id": "fetch", "skill": "http_call", "input": {"url": f"{target}/flaky/upgrade-{t_start}/2"},
             "retry": {"max_attempts": 4, "initial_delay_ms": 50, "retry_on": ["TRANSIENT"]}}])}, "succeeded")
        sub("rate_limited", admin, {"plan": plan("limited", [
            {"id": "fetch", "skill": "http_call", "input": {"url": f"{target}/limited/upgrade-{t_start}/1/1"},
             "retry": {"max_attempts": 3, "initial_delay_ms": 50}}])}, "succeeded")
        sub("not_found", admin, {"plan": plan("not-found", [
            {"id": "fetch", "skill": "http_call", "input": {"url": f"{target}/status/404"}}])}, "failed")
        sub("fallback", admin, {"plan": plan("fallback", [
            {"id": "fetch", "skill": "http_call", "input": {"url": f"{target}/status/500"},
             "retry": {"max_attempts": 2, "initial_delay_ms": 50},
             "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": {"cached": 1}, "expr": ".cached"}}},
            {"id": "use", "skill": "json_transform", "depends_on": ["fetch"], "input": {"data": "{{ steps.fetch.output }}", "expr": ". + 1"}}])}, "succeeded")
        sub("jq_continue", admin, {"plan": plan("jq-continue", [
            {"id": "bad", "skill": "json_transform", "input": jq_fail(), "on_error": {"action": "continue"}},
            {"id": "after_bad", "skill": "json_transform", "depends_on": ["bad"], "input": {"data": 1, "expr": "."}},
            {"id": "good", "skill": "json_transform", "input": {"data": [3, 1, 2], "expr": "sort"}},
            {"id": "skipped", "skill": "json_transform", "depends_on": ["good"], "condition": ".steps.good.output | length > 5",
             "input": {"data": 1, "expr": "."}},
            {"id": "bad_condition", "skill": "json_transform", "depends_on": ["good"], "condition": '.steps.good.output | error("fixture")',
             "input": {"data": 1, "expr": "."}, "on_error": {"action": "continue"}}])}, "succeeded")
        sub("unmatched", admin, {"plan": plan("unmatched", [
            {"id": "fetch", "skill": "http_call", "input": {"url": f"{target}/status/699"}, "retry": {"max_attempts": 1}}])}, "failed")
        sub("acme_tenant", acme, {"plan": TOTALS_V1, "inputs": ORDERS}, "succeeded")
        # Cancelled while its retry waits out a 1-2 s delay. That retry still runs after the cancel
        # (f96a76c and later record it as attempt 2, outside the trace): the run is digested only
        # once it has, so what it reads back as does not depend on when the fixture is opened.
        cancel_id = admin.submit({"plan": plan("to-cancel", [
            {"id": "wait", "skill": "json_transform", "input": jq_fail(),
             "retry": {"max_attempts": 3, "initial_delay_ms": 2000, "max_delay_ms": 2000, "multiplier": 1, "retry_on": ["VALIDATION"]}}])})
        finished["cancelled"] = (admin, cancel_id, "cancelled")
        time.sleep(0.3)
        admin.ok("POST", f"/api/v1/runs/{cancel_id}/cancel")
        cancelled_at = time.time()
        rejected = admin.call("POST", "/api/v1/runs", {"plan": plan("rejected", [{"id": "a", "skill": "no_such_skill", "input": {}}])})
        assert rejected.status == 422, rejected.text

        deadline = time.time() + 60
        time.sleep(max(0.0, cancelled_at + 3 - time.time()))
        for name, (api, rid, expect) in finished.items():
            view = api.wait_run(rid, deadline)
            if view["status"] != expect:
                raise Failed(f"fixture run {name} ended {view['status']}, expected {expect}: {json.dumps(view.get('error'))}")
            rep = Api(server.base, admin_key if api is not acme else acme_key).ok("POST", f"/api/v1/runs/{rid}/replay")
            if not rep.get("parity"):
                raise Failed(f"fixture run {name}: the old binary itself finds no replay parity: {rep}")
            tenant = EXTRA_TENANT if api is acme else "dev"
            m["runs"][name] = {"run_id": rid, "tenant": tenant, "phase": "finished", "expect": {"status": expect},
                               "digest": digest(view), "replay": {"parity": True, "trace_root": rep.get("trace_root")}}

        # Failure records (every kind: attempt, step, run, rejected) and a stored aggregation.
        agg = admin.ok("POST", "/api/v1/failures/aggregate", query={"days": 1})
        m["aggregation"] = {"generated_at_ms": agg.get("generated_at_ms"), "total": agg.get("total")}
        t_finished = int(time.time() * 1000)
        m["failures_window"] = {"from": t_start - 1000, "to": t_finished + 1000}
        for f in admin.failures(m["failures_window"]):
            m["failures"].append({k: f.get(k) for k in ("id", "kind", "run_id", "step_id", "attempt", "skill", "code", "catalog_code", "matched", "recovery_succeeded", "at_ms")})
        kinds = {f["kind"] for f in m["failures"]}
        if kinds != {"attempt", "step", "run", "rejected"}:
            raise Failed(f"fixture: failure kinds recorded {sorted(kinds)}, expected attempt, step, run and rejected")
        if not m["aggregation"]["total"]:
            raise Failed(f"fixture: the aggregation found no catalog candidate: {agg}")
        audit = admin.ok("GET", "/api/v1/audit", query={"from": t_start - 1000, "to": t_finished + 1000, "limit": 500})
        m["audit"] = [{k: e.get(k) for k in ("id", "action", "actor", "target")} for e in audit.get("events", [])]

        # --- a clean restart: SIGTERM folds the WAL into aos.db, so the WAL packed below holds only
        # what follows (a small fixture), and the database has been through a restart ------------
        rc = server.stop()
        if rc != 0:
            raise Failed(f"fixture: the old server exited with {rc} on SIGTERM:\n{server.log_tail()}")
        server.start()
        admin = Api(server.base, admin_key)
        admin.ok("GET", "/api/v1/whoami")

        # --- runs in flight at the kill ----------------------------------------------------------
        inflight = {}

        def fly(name, body, expect, **more):
            inflight[name] = (admin.submit(body), {"status": expect, **more})

        fly("retry_waiting", {"plan": plan("retry-waiting", [
            {"id": "flaky", "skill": "json_transform", "input": jq_fail(),
             "retry": {"max_attempts": 2, "initial_delay_ms": 30000, "max_delay_ms": 30000, "multiplier": 1, "retry_on": ["VALIDATION"]},
             "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": {"v": 41}, "expr": ".v + 1"}}},
            {"id": "next", "skill": "json_transform", "depends_on": ["flaky"], "input": {"data": "{{ steps.flaky.output }}", "expr": ". * 2"}}],
            NO_LIMIT)}, "succeeded", outputs={"flaky": 42, "next": 84})
        # The queued retry is a task in f96a76c's format (no secret slots) with the secret in its URL:
        # after the upgrade the worker must still fill it in, which shows without a server as the
        # URL masked in the connection error (`/t/[REDACTED]`, not the reference).
        fly("connect_retry_waiting", {"plan": plan("connect-retry-waiting", [
            {"id": "call", "skill": "http_call", "timeout_ms": 5000,
             "input": {"url": "http://127.0.0.1:1/t/{{ secrets." + SECRET_NAME + " }}",
                       "headers": {"authorization": "Bearer {{ secrets." + SECRET_NAME + " }}"}},
             "retry": {"max_attempts": 2, "initial_delay_ms": 30000, "max_delay_ms": 30000, "multiplier": 1, "retry_on": ["TRANSIENT"]},
             "on_error": {"action": "continue"}},
            {"id": "after_call", "skill": "json_transform", "depends_on": ["call"], "input": {"data": 1, "expr": "."}},
            {"id": "other", "skill": "json_transform", "input": {"data": "upgrade", "expr": "ascii_upcase"}}], NO_LIMIT)},
            "succeeded", steps={"call": "failed", "after_call": "skipped", "other": "succeeded"}, outputs={"other": "UPGRADE"},
            attempts=[{"step_id": "call", "attempt": 2, "error_code": "HTTP_CONNECT_ERROR", "error_contains": "127.0.0.1:1/t/[REDACTED]",
                       "error_lacks": "secrets."}])
        fly("budget_deadline", {"plan": plan("budget-deadline", [
            {"id": "wait", "skill": "json_transform", "input": jq_fail(),
             "retry": {"max_attempts": 3, "initial_delay_ms": 60000, "max_delay_ms": 60000, "retry_on": ["VALIDATION"]}}],
            {"max_duration_ms": 15000})}, "failed", error_code="BUDGET_DURATION_EXCEEDED")
        fly("post_executing", {"plan": plan("post-executing", [
            {"id": "send", "skill": "http_call", "timeout_ms": 600000, "retry": {"max_attempts": 1},
             "input": {"method": "POST", "url": f"{hang_url}/hang/post", "body": {"n": 1}}}], NO_LIMIT)},
            "failed", error_code="STEP_INTERRUPTED", steps={"send": "failed"})
        fly("get_executing", {"plan": plan("get-executing", [
            {"id": "read", "skill": "http_call", "timeout_ms": 20000, "retry": {"max_attempts": 1},
             "input": {"url": f"{hang_url}/hang/get"},
             "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": "fallback", "expr": "."}}}], NO_LIMIT)},
            "succeeded", outputs={"read": "fallback"})

        # Wait until each is where it should be at the kill.
        def step(view, sid):
            return (view.get("steps") or {}).get(sid) or {}

        deadline = time.time() + 20
        while True:
            views = {n: admin.ok("GET", f"/api/v1/runs/{rid}") for n, (rid, _) in inflight.items()}
            ready = {
                "retry_waiting": bool(step(views["retry_waiting"], "flaky").get("due_at_ms")),
                "connect_retry_waiting": bool(step(views["connect_retry_waiting"], "call").get("due_at_ms"))
                and step(views["connect_retry_waiting"], "other").get("status") == "succeeded",
                "budget_deadline": bool(step(views["budget_deadline"], "wait").get("due_at_ms")),
                "post_executing": "/hang/post" in Hang.seen,
                "get_executing": "/hang/get" in Hang.seen,
            }
            if all(ready.values()):
                break
            if time.time() > deadline:
                raise Failed(f"fixture: in-flight runs not in place: {ready}")
            time.sleep(0.1)
        for n, v in views.items():
            if v["status"] in ("succeeded", "failed", "cancelled"):
                raise Failed(f"fixture: in-flight run {n} already finished ({v['status']})")

        # A burst submitted just before the kill: accepted (202), anywhere from queued to done at the kill.
        chain = plan("chain", [{"id": "s0", "skill": "json_transform", "input": {"data": 0, "expr": ". + 1"}}]
                     + [{"id": f"s{i}", "skill": "json_transform", "depends_on": [f"s{i - 1}"],
                         "input": {"data": f"{{{{ steps.s{i - 1}.output }}}}", "expr": ". + 1"}} for i in range(1, 8)], NO_LIMIT)
        for i in range(4):
            inflight[f"burst_{i}"] = (admin.submit({"plan": chain}), {"status": "succeeded", "outputs": {"s7": 8}})
        server.kill9()
        t_kill = int(time.time() * 1000)
        for n, v in views.items():
            m["runs"][n] = {"run_id": inflight[n][0], "tenant": "dev", "phase": "in_flight",
                            "at_kill": {"status": v["status"], "steps": {s: st.get("status") for s, st in (v.get("steps") or {}).items()}},
                            "expect": inflight[n][1]}
        for n in [n for n in inflight if n.startswith("burst_")]:
            m["runs"][n] = {"run_id": inflight[n][0], "tenant": "dev", "phase": "submitted_at_kill", "expect": inflight[n][1]}
        m["killed_at_ms"] = t_kill
    finally:
        server.kill9()
        target_proc.terminate()
        target_proc.wait()
        hang.shutdown()

    # What the kill left: queued messages (some delayed), claimed attempts.
    db = sqlite3.connect(f"file:{data / 'aos.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT queue, COUNT(*), SUM(visible_at_ms > ?) FROM messages GROUP BY queue", (t_kill,)).fetchall()
    finally:
        db.close()
    m["messages_at_kill"] = {q: {"count": c, "delayed": d} for q, c, d in rows}
    if not any(v["delayed"] for v in m["messages_at_kill"].values()):
        raise Failed(f"fixture: no delayed message in the queue at the kill: {m['messages_at_kill']}")
    m["files"] = sorted(p.name for p in data.iterdir())

    (work / "manifest.json").write_text(json.dumps(m, indent=1, sort_keys=True) + "\n")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def clean(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        ti.mtime = t_kill // 1000
        return ti

    with tarfile.open(out, "w:gz", compresslevel=9) as tar:
        tar.add(work / "manifest.json", "manifest.json", filter=clean)
        tar.add(data, "data", recursive=False, filter=clean)
        for p in sorted(data.iterdir()):
            tar.add(p, f"data/{p.name}", filter=clean)
    print(f"wrote {out} ({out.stat().st_size} bytes): {len(m['keys'])} keys, {len(m['runs'])} runs "
          f"({sum(r['phase'] != 'finished' for r in m['runs'].values())} unfinished at the kill), {len(m['failures'])} failure records, "
          f"messages at the kill {m['messages_at_kill']}, files {m['files']}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
