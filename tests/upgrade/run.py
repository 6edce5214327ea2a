"""Upgrade test: opens every data directory kept in tests/upgrade/fixtures/ (each written by an
earlier release and left by `kill -9` with runs in flight) with this release's `aos serve`, and
checks that nothing was lost: the server starts (integrity check included) without making new keys,
every key authenticates with its tenant and role (revoked ones stay refused), every run in flight
finishes as expected and replays with parity, every finished run reads back identically (status,
outputs, attempts' hashes, trace root) and replays with parity, failure records, the stored catalog
candidates and the audit log are still listed, the saved workflows run again, the secret still
resolves in a new run (checked by its SHA-256 at a local server, never printed), idempotency records
still answer, and the upgraded directory opens again after a clean stop.

    python3 tests/upgrade/run.py --aos target/debug/aos [--fixture PATH ...] [--keep]

Exit status 0 when every check passed, 1 otherwise (each failed check is printed). Servers are
stopped by PID. Python 3 standard library only; see README.md."""

import argparse
import hashlib
import json
import re
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import Api, Failed, Server, diff, digest, strip_ansi  # noqa: E402

ORDERS = {"orders": [{"sku": "a", "qty": 2, "price": 3.5}, {"sku": "b", "qty": 1, "price": 10}]}
FINISHED = ("succeeded", "failed", "cancelled")
# Records that expire by design: idempotency keys after 7 days, audit events after 400 (f96a76c).
# Failure records were written with --failure-retention-days 3650, API keys without expiry or 3650 days.
IDEMPOTENCY_DAYS = 7
AUDIT_DAYS = 400


class PriceServer(BaseHTTPRequestHandler):
    """GET /price: the price the fixture's price-check workflow reads. Keeps the SHA-256 of each
    bearer token it receives (never the token)."""
    token_hashes: List[str] = []

    def do_GET(self):
        auth = self.headers.get("authorization") or ""
        if auth.startswith("Bearer "):
            PriceServer.token_hashes.append(hashlib.sha256(auth[len("Bearer "):].encode()).hexdigest())
        body = json.dumps({"bitcoin": {"usd": 43210.5}}).encode()
        self.send_response(200 if self.path == "/price" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Checks:
    """Counts checks; prints each failure at once, and each passed check only when verbose."""

    def __init__(self, verbose: bool):
        self.passed = 0
        self.failed: List[str] = []
        self.verbose = verbose

    def ok(self, what: str) -> None:
        self.passed += 1
        if self.verbose:
            print(f"  ok    {what}")

    def fail(self, what: str) -> None:
        self.failed.append(what)
        print(f"  FAIL  {what}")

    def check(self, cond: bool, what: str, why: str = "") -> bool:
        if cond:
            self.ok(what)
        else:
            self.fail(f"{what}: {why}" if why else what)
        return cond

    def run(self, what: str, fn) -> Any:
        """Runs one group of checks; an exception fails it without stopping the others."""
        passed, failed, t0 = self.passed, len(self.failed), time.time()
        try:
            return fn()
        except Failed as e:
            self.fail(f"{what}: {e}")
        except Exception:  # a bug in the test or an unexpected answer: show where
            self.fail(f"{what}: {traceback.format_exc(limit=3)}")
        finally:
            bad = len(self.failed) - failed
            print(f"  {'FAIL' if bad else 'ok':5} {what}: {self.passed - passed} checks passed"
                  + (f", {bad} failed" if bad else "") + f" ({time.time() - t0:.1f} s)")
        return None


def step_view(view: Dict[str, Any], sid: str) -> Dict[str, Any]:
    return next((s for s in view.get("step_details", []) if s.get("step_id") == sid), {})


def open_fixture(aos: str, fixture: Path, keep: bool, verbose: bool) -> Checks:
    c = Checks(verbose)
    work = Path(tempfile.mkdtemp(prefix="aos-upgrade."))
    logdir = work / "logs"
    logdir.mkdir()
    with tarfile.open(fixture) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(work, filter="data")
        else:
            tar.extractall(work)
    m = json.loads((work / "manifest.json").read_text())
    data = work / "data"
    data.chmod(0o700)
    age_days = (time.time() * 1000 - m["killed_at_ms"]) / 86_400_000
    print(f"== {fixture.name}: written by release {m['release']} {age_days:.1f} days ago, "
          f"{len(m['keys'])} keys, {len(m['runs'])} runs, {len(m['failures'])} failure records (data in {data})")
    admin_key_file = (data / "admin.key").read_text()

    price = ThreadingHTTPServer(("127.0.0.1", 0), PriceServer)
    price.daemon_threads = True
    threading.Thread(target=price.serve_forever, daemon=True).start()
    price_url = f"http://127.0.0.1:{price.server_address[1]}/price"

    # The same settings as when the fixture was made: failure records keep their 10-year retention
    # and no scheduled aggregation replaces the stored candidates during the test.
    server = Server(aos, data, logdir, "new", [
        "--failure-retention-days", "3650", "--aggregate-every", "off",
    ], {"AOS_HTTP_ALLOW_HOSTS": "127.0.0.1", "AOS_LOG": "info"})
    try:
        took = server.start()
        t_up = time.time()
        keys = {k["key"]: k for k in m["keys"]}
        admin_key = next(k["key"] for k in m["keys"] if k["tenant"] == "dev" and k["role"] == "admin" and k["name"] == "")
        acme_key = next(k["key"] for k in m["keys"] if k["tenant"] != "dev")
        api = {"dev": Api(server.base, admin_key), "acme": Api(server.base, acme_key)}
        admin = api["dev"]

        def api_of(run: Dict[str, Any]) -> Api:
            return api["dev" if run["tenant"] == "dev" else "acme"]

        def check_start():
            c.ok("the new binary starts on the old data dir, integrity check on")
            out = server.stdout.read_text(errors="replace")
            c.check("Created tenant" not in out and "API key (shown once" not in out,
                    "no new admin key on start (the old key files are recognised)", "the start printed a new key: the old keys were not recognised")
            c.check((data / "admin.key").read_text() == admin_key_file, "admin.key is left as it was")
        c.run(f"the new binary starts on the old data dir (integrity check on, {took:.1f} s)", check_start)

        # --- keys --------------------------------------------------------------------------------
        def check_keys():
            for key, k in keys.items():
                label = f"key {k['id']} ({k['tenant']}/{k['role']} {k['name'] or '-'})"
                who = Api(server.base, key).call("GET", "/api/v1/whoami")
                if not k["active"]:
                    c.check(who.status == 401, f"{label} stays refused ({k.get('note', '')})", f"answered {who.status} {who.text[:200]}")
                    continue
                if not c.check(who.status == 200, f"{label} authenticates", f"whoami answered {who.status} {who.text[:300]}"):
                    continue
                got = {f: who.json.get(f) for f in ("tenant", "role", "id")}
                c.check(got == {"tenant": k["tenant"], "role": k["role"], "id": k["id"]}, f"{label} keeps its tenant, role and id", f"whoami: {got}")
                lost = sorted(set(k.get("permissions", [])) - set(who.json.get("permissions", [])))
                c.check(not lost, f"{label} keeps its permissions", f"lost {lost}")
                r = Api(server.base, key).call("GET", "/api/v1/runs", query={"limit": 1})
                c.check(r.status == 200, f"{label} lists runs", f"{r.status} {r.text[:200]}")
            viewer = next(k["key"] for k in m["keys"] if k["role"] == "viewer" and k["active"])
            r = Api(server.base, viewer).call("POST", "/api/v1/runs", {"plan": {"name": "x", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "."}}]}})
            c.check(r.status == 403, "the viewer key is still refused runs:write", f"{r.status} {r.text[:200]}")
            listed = {k["key_id"]: k for k in admin.ok("GET", "/api/v1/keys").get("keys", [])}
            for k in m["keys"]:
                if k["tenant"] != "dev":
                    continue
                rec = listed.get(k["id"])
                c.check(rec is not None and rec.get("role") == k["role"] and bool(rec.get("revoked_at_ms")) == (not k["active"]),
                        f"GET /api/v1/keys lists key {k['id']} with its role and revocation", json.dumps(rec)[:300] if rec else "not listed")
        c.run("keys authenticate with their tenant and role; revoked ones stay refused", check_keys)

        # --- runs in flight at the kill -----------------------------------------------------------
        deadline = t_up + 45
        unfinished = {n: r for n, r in m["runs"].items() if r["phase"] != "finished"}
        views: Dict[str, Dict[str, Any]] = {}

        def check_inflight():
            for n, r in unfinished.items():
                try:
                    views[n] = v = api_of(r).wait_run(r["run_id"], deadline)
                except Failed as e:
                    c.fail(f"run {n} ({r['phase']}) finishes: {e}")
                    continue
                exp = r["expect"]
                problems = []
                if v["status"] != exp["status"]:
                    problems.append(f"status {v['status']} (error {json.dumps(v.get('error'))[:300]}), expected {exp['status']}")
                if exp.get("error_code") and (v.get("error") or {}).get("code") != exp["error_code"]:
                    problems.append(f"error {(v.get('error') or {}).get('code')}, expected {exp['error_code']}")
                for sid, st in exp.get("steps", {}).items():
                    if step_view(v, sid).get("status") != st:
                        problems.append(f"step {sid} {step_view(v, sid).get('status')}, expected {st}")
                for sid, o in exp.get("outputs", {}).items():
                    if step_view(v, sid).get("output") != o:
                        problems.append(f"step {sid} output {json.dumps(step_view(v, sid).get('output'))[:100]}, expected {json.dumps(o)}")
                for want in exp.get("attempts", []):
                    got = next((x for x in step_view(v, want["step_id"]).get("attempts", []) if x.get("attempt") == want["attempt"]), None)
                    err = (got or {}).get("outcome", {}).get("error") or {}
                    text = json.dumps(err)
                    if got is None:
                        problems.append(f"step {want['step_id']} has no attempt {want['attempt']}")
                    elif err.get("code") != want["error_code"] or want["error_contains"] not in text or want["error_lacks"] in text:
                        problems.append(f"step {want['step_id']} attempt {want['attempt']}: error {err.get('code')}, expected {want['error_code']} "
                                        f"mentioning {want['error_contains']} (the secret filled in, then masked) and not {want['error_lacks']}")
                c.check(not problems, f"run {n} ({r['phase']}) finishes {exp['status']}"
                        + (f" with {exp['error_code']}" if exp.get("error_code") else ""), "; ".join(problems))
        c.run("runs in flight at the kill finish as expected", check_inflight)

        # --- finished runs read back identically; every run replays with parity -------------------
        def check_finished():
            for n, r in m["runs"].items():
                a = api_of(r)
                if r["phase"] == "finished":
                    v = a.ok("GET", f"/api/v1/runs/{r['run_id']}")
                    d = diff(r["digest"], digest(v))
                    c.check(not d, f"run {n} reads back identically ({r['digest']['status']}, {len(r['digest']['attempts'])} attempts, trace root)",
                            "\n          " + "\n          ".join(d[:12]))
                elif n not in views:
                    continue
                rep = a.call("POST", f"/api/v1/runs/{r['run_id']}/replay")
                want_root = r.get("replay", {}).get("trace_root") or (views.get(n) or {}).get("trace_root")
                c.check(rep.status == 200 and rep.json.get("parity") is True and rep.json.get("trace_root") == want_root,
                        f"run {n} replays with parity", f"{rep.status} {rep.text[:400]}")
        c.run("finished runs read back identically; every run replays with parity", check_finished)

        def check_lists():
            dev_ids = set(admin.run_ids())
            acme_ids = set(api["acme"].run_ids())
            for n, r in m["runs"].items():
                mine, other = (dev_ids, acme_ids) if r["tenant"] == "dev" else (acme_ids, dev_ids)
                c.check(r["run_id"] in mine and r["run_id"] not in other, f"run {n} is listed for its tenant only")
            acme_run = next(r["run_id"] for r in m["runs"].values() if r["tenant"] != "dev")
            c.check(admin.call("GET", f"/api/v1/runs/{acme_run}").status == 404, "another tenant's run stays invisible (404)")
        c.run("run lists and tenant isolation", check_lists)

        # --- failure records, catalog candidates, audit log ---------------------------------------
        def check_failures():
            got = {f["id"]: f for f in admin.failures(m["failures_window"])}
            for f in m["failures"]:
                g = got.get(f["id"])
                if g is None:
                    c.fail(f"failure record {f['id']} ({f['kind']} {f['code']}) is listed: missing from GET /api/v1/failures")
                    continue
                d = diff(f, {k: g.get(k) for k in f})
                c.check(not d, f"failure record {f['kind']} {f['code']} ({f['run_id'] or 'rejected'}) reads back identically", "; ".join(d))
            stats = admin.ok("GET", "/api/v1/failures/stats", query=m["failures_window"])
            c.check(stats.get("total", 0) >= len(m["failures"]), "failure stats count the old records", f"total {stats.get('total')}")
            cand = admin.ok("GET", "/api/v1/failures/candidates")
            c.check(cand.get("generated_at_ms") == m["aggregation"]["generated_at_ms"] and cand.get("total") == m["aggregation"]["total"],
                    f"the stored catalog candidates are still served ({m['aggregation']['total']})",
                    f"generated_at_ms {cand.get('generated_at_ms')}, total {cand.get('total')}, expected {m['aggregation']}")
            w = m["failures_window"]
            ev = {e["id"]: e for e in admin.ok("GET", "/api/v1/audit", query={"from": w["from"], "to": w["to"], "limit": 500}).get("events", [])}
            lost = [e["id"] for e in m["audit"] if {k: ev.get(e["id"], {}).get(k) for k in e} != e]
            if age_days < AUDIT_DAYS - 1:
                c.check(not lost, f"the audit log keeps its {len(m['audit'])} events", f"missing or changed: {lost}")
            else:
                print(f"  ..    audit events not checked: the fixture is older than their {AUDIT_DAYS}-day retention")
        c.run("failure records, stats, catalog candidates, audit log", check_failures)

        # --- workflows run again; the secret still resolves ---------------------------------------
        def check_workflows():
            saved = {}
            for w in admin.ok("GET", "/api/v1/workflows").get("workflows", []):
                saved.setdefault(w["name"], {})[str(w["version"])] = w
            for name, versions in m["workflows"].items():
                for ver, w in versions.items():
                    got = saved.get(name, {}).get(ver)
                    d = ["missing"] if got is None else diff(w["plan"], got["plan"]) + diff(w["created_at_ms"], got["created_at_ms"])
                    c.check(not d, f"workflow {name} v{ver} reads back identically", "; ".join(d))
            expected = {n: m["runs"][n]["digest"]["steps"]["summary"]["output"] for n in ("workflow_latest", "workflow_v1_idempotent")}
            for label, body, want in (("latest", {"workflow": "totals", "inputs": ORDERS}, expected["workflow_latest"]),
                                      ("v1", {"workflow": "totals", "version": 1, "inputs": ORDERS}, expected["workflow_v1_idempotent"])):
                v = admin.wait_run(admin.submit(body), time.time() + 20)
                c.check(v["status"] == "succeeded" and step_view(v, "summary").get("output") == want,
                        f"workflow totals ({label}) runs again with the same output", f"{v['status']} {json.dumps(step_view(v, 'summary').get('output'))}")
            names = admin.ok("GET", "/api/v1/secrets").get("names", [])
            c.check(m["secret"]["name"] in names, f"secret {m['secret']['name']} is still listed", f"names {names}")
            PriceServer.token_hashes.clear()
            v = admin.wait_run(admin.submit({"workflow": "price-check", "inputs": {"url": price_url}}), time.time() + 20)
            c.check(v["status"] == "succeeded" and step_view(v, "price").get("output") == 43210.5,
                    "workflow price-check (http_call with the secret) runs again", f"{v['status']} {json.dumps(v.get('error'))[:300]}")
            c.check(m["secret"]["sha256"] in PriceServer.token_hashes,
                    "the old secret still resolves: the target received it (compared by SHA-256)",
                    f"{len(PriceServer.token_hashes)} bearer tokens received, none with the secret's hash")
        c.run("workflows read back and run again; the secret resolves", check_workflows)

        def check_idempotency():
            r = m["runs"]["workflow_v1_idempotent"]
            ans = admin.ok("POST", "/api/v1/runs", {"workflow": "totals", "version": 1, "inputs": ORDERS,
                                                    "idempotency_key": r["digest"]["idempotency_key"]}, expect=(202,))
            if age_days < IDEMPOTENCY_DAYS - 0.1:
                c.check(ans.get("created") is False and ans.get("run_id") == r["run_id"],
                        "an old idempotency key (still within 7 days) returns its run", json.dumps(ans))
            elif age_days > IDEMPOTENCY_DAYS + 0.1:
                c.check(ans.get("created") is True and ans.get("run_id") != r["run_id"],
                        "an old idempotency key past its 7 days starts a new run", json.dumps(ans))
        c.run("idempotency records", check_idempotency)

        # --- the log, then a clean stop and a second start on the upgraded directory --------------
        def check_restart():
            log = strip_ansi(server.stderr.read_text(errors="replace")).splitlines()
            c.check(not any("panicked" in l for l in log), "no panic in the log", next((l for l in log if "panicked" in l), ""))
            errors = [l for l in log if re.search(r"\bERROR\b", l) or "corrupt record" in l]
            c.check(not errors, "no ERROR line in the log (a record that does not decode shows here)", "\n          " + "\n          ".join(e[:300] for e in errors[:10]))
            resumed = [int(x) for x in re.findall(r"resumed unfinished runs runs=(\d+)", "\n".join(log))]
            in_flight = sum(r["phase"] == "in_flight" for r in m["runs"].values())
            c.check(bool(resumed) and resumed[0] >= in_flight, f"the start resumed the unfinished runs (log: `resumed unfinished runs`, at least {in_flight})",
                    f"found {resumed}")
            rc = server.stop()
            c.check(rc == 0, "a clean stop (SIGTERM) after the upgrade", f"exit code {rc}")
            server.start()
            a = Api(server.base, admin_key)
            c.check(a.call("GET", "/api/v1/whoami").status == 200, "the upgraded data dir opens again; the admin key works")
            n = next(n for n, r in m["runs"].items() if r["phase"] == "finished" and r["tenant"] == "dev")
            d = diff(m["runs"][n]["digest"], digest(a.ok("GET", f"/api/v1/runs/{m['runs'][n]['run_id']}")))
            c.check(not d, f"run {n} still reads back after the second start", "; ".join(d))
            rc = server.stop()
            c.check(rc == 0, "a clean stop of the second start", f"exit code {rc}")
        c.run("no panic or ERROR in the log; runs resumed; clean stop; a second start", check_restart)
    except Failed as e:
        c.fail(str(e))
    finally:
        server.stop()
        price.shutdown()
        price.server_close()
    if c.failed:
        for f in sorted(logdir.glob("*.stderr")):
            lines = strip_ansi(f.read_text(errors="replace")).splitlines()
            notable = [l for l in lines if re.search(r"\b(WARN|ERROR)\b", l) or "panicked" in l]
            print(f"--- {f.name}: {len(lines)} lines, WARN/ERROR lines: ---")
            print("\n".join(l[:400] for l in notable[:40]) or "(none)")
    if keep or c.failed:
        print(f"  (kept {work})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aos", required=True, help="the aos binary under test")
    ap.add_argument("--fixture", action="append", help="a fixture .tar.gz (default: every one in tests/upgrade/fixtures)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dirs")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every check, not only failures and groups")
    a = ap.parse_args()
    fixtures = [Path(f) for f in a.fixture] if a.fixture else sorted((HERE / "fixtures").glob("*.tar.gz"))
    if not fixtures:
        print("no fixture in tests/upgrade/fixtures", file=sys.stderr)
        return 1
    t0 = time.time()
    passed, failed = 0, []
    for f in fixtures:
        c = open_fixture(a.aos, f, a.keep, a.verbose)
        passed += c.passed
        failed += [f"{f.name}: {x}" for x in c.failed]
    took = time.time() - t0
    if failed:
        print(f"upgrade test FAILED ({len(failed)} of {passed + len(failed)} checks, {took:.1f} s):")
        for x in failed:
            print(f"  - {x}")
        return 1
    print(f"upgrade test passed: {len(fixtures)} fixture(s), {passed} checks, {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
