#!/usr/bin/env python3
"""The hostile test suite: a real `aos serve` under hostile plans and requests.

It starts its own `aos serve` (free port, temporary data dir, a second tenant `other`), keys of
every role, two secrets, and local HTTP servers (a webhook receiver, an echo server that returns
a secret in every encoding, a redirector and the far side of its redirects), then runs the cases:

   1 hostile jq programs as json_transform `expr` (and replay of those runs)
   2 the same as step conditions
   3 oversized plans (3,200 steps), bodies over 1 MiB, deep JSON, 900 KB strings
   4 secrets: templates in inputs and outputs, secrets outside designated fields, encoded echoes,
     error messages
   5 outputs too large to keep
   6 extreme numbers in budgets and query parameters
   7 credentials across a redirect to another origin
   8 slow clients (half request lines, slowloris)
   9 unauthenticated PATCH/DELETE/PUT, invalid UTF-8 and 100 KB URIs
  10 idempotency keys reused with another plan
  11 data file modes; a corrupt database at start
  12 API key names with bidi and control characters
  99 kill -9 and restart: healthy at once, final runs unchanged
  14 skills with data or credentials: kv_store across tenants and at its limits, secrets where a
     skill takes none; the Slack, SMTP and webhook credentials of runs that succeed and fail never
     come back (answers, stored records, a debug log, metrics)
  15 the recovery routes: oversized, deep, ambiguous and mistyped suggestion requests, other
     tenants' failure and candidate ids, forged ids and cursors, decisions by roles that may not
     decide, a flood of suggestions; settings out of range and across tenants, forged policy ids,
     a plan's unknown policy mode, repeated drift evaluations
  16 rerun and redrive: oversized, malformed, deep and mistyped patches, unknown and kept steps, a
     running or succeeded run, other tenants' and forged run ids, roles that may not start runs
  13 the server's log: no secret in any encoding, no API key, no jq debug output

Throughout: a watchdog polls /healthz every 200 ms (any answer over 1 s fails the suite), a
memory guard kills `aos serve` above HOSTILE_MAX_RSS_MB (default 3072) so a runaway program cannot
take the shared machine down, the other tenant submits a benign run every 1.5 s (every one must
succeed), and every API response and every request the local servers receive is scanned for
every encoding of every secret.

One line per case (PASS/FAIL), details of the failures at the end; exit status 1 when anything
failed. A case that cannot run fails; nothing is skipped.

usage: python3 tests/hostile/run.py [-k SUBSTRING]... [-x SUBSTRING]... [--list] [--keep] [-v] [--aos PATH]
  -k   run only cases whose name contains one of the substrings (repeatable)
  -x   leave out cases whose name contains one of the substrings (repeatable)
  -v   print each case's notes (observed outcomes, timings) under its line
  AOS_BIN  the aos binary (default $CARGO_TARGET_DIR/debug/aos, else target/debug/aos)

Cases 1, 2 and 5 need the jq limits: against a server without them they abort or freeze it, or
make it allocate tens of GB. Leave them out there with `-x 01-jq -x 02-jq -x 05-output`.
Standard library only.
"""

import argparse
import os
import random
import re
import shutil
import signal
import string
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ in the tree

import harness  # noqa: E402
from harness import (AosServer, BenignLoad, Ctx, Failed, MemGuard, Problems, Watchdog, format_exc, strip_ansi)  # noqa: E402
import registry  # noqa: E402
import targets  # noqa: E402
import cases_api  # noqa: E402,F401
import cases_secrets  # noqa: E402,F401
import cases_jq  # noqa: E402,F401
import cases_server  # noqa: E402,F401
import cases_skills  # noqa: E402,F401
import cases_skill_secrets  # noqa: E402,F401
import cases_recovery  # noqa: E402,F401
import cases_redrive  # noqa: E402,F401

ROOT = HERE.parents[1]
ROLES = ("developer", "viewer", "machine", "operator")
BENIGN_MAX_S = 30.0


def rand(n: int) -> str:
    rng = random.SystemRandom()
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


class Report:
    def __init__(self, verbose: bool = False):
        self.lines = []  # (name, problems, seconds)
        self.verbose = verbose

    def add(self, name: str, p: Problems, seconds: float, mask) -> None:
        self.lines.append((name, p, seconds))
        status = "FAIL" if p else "PASS"
        first = f"  {mask(p.items[0])[:200]}" + (f" (+{len(p.items) - 1} more)" if len(p.items) > 1 else "") if p else ""
        print(f"{status} {name} ({seconds:.1f} s){first}", flush=True)
        if self.verbose:
            for n in p.notes:
                print(f"       note: {mask(n)[:400]}", flush=True)

    @property
    def failed(self):
        return [(n, p) for n, p, _ in self.lines if p]


def find_binary(args) -> str:
    path = args.aos or os.environ.get("AOS_BIN") or str(Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug" / "aos")
    if not os.access(path, os.X_OK):
        raise Failed(f"`{path}` is not an executable aos binary (build it with `cargo build -p aos-cli`, or set AOS_BIN)")
    return path


def setup(ctx: Ctx) -> None:
    ctx.recv, ctx.echo, ctx.redir, ctx.far = targets.Recorder(), targets.Echo(), targets.Redirector(), targets.Recorder()
    ctx.far.name = "far-origin"
    ctx.redir.targets = {"ip": ctx.far.base, "name": f"http://localhost:{ctx.far.port}"}
    env_marker = f"ENVMARK{rand(24)}"
    ctx.scanner.add("ENV_MARKER", env_marker)
    env = {
        "AOS_HTTP_ALLOW_HOSTS": "127.0.0.1,localhost",
        "AOS_RATE_LIMIT_PER_MINUTE": "0",
        harness.HEADER_TIMEOUT_ENV: str(harness.HEADER_TIMEOUT_MS),
        "AOS_HTTP_DEFAULT_TIMEOUT_MS": "10000",
        "AOS_AGGREGATE_EVERY": "off",
        "AOS_LOG": "info",
        "HOSTILE_ENV_MARKER": env_marker,
        # The jq sandbox sized for the suite: 16 workers (one tenant holds at most 8), each capped
        # at 128 MiB, so a wave of 8 hostile runs has a worker each on this 2-core machine.
        "AOS_JQ_WORKERS": "16",
        "AOS_JQ_MEMORY_MB": "128",
    }
    for k in ("AOS_API_KEY", "AOS_URL", "AOS_DATA_DIR", "AOS_PORT", "AOS_HOST", "AOS_EXTRA_TENANTS"):
        os.environ.pop(k, None)
    (ctx.tmp / "logs").mkdir()
    ctx.server = AosServer(ctx.aos_bin, ctx.tmp / "data", ctx.tmp / "logs", "aos", env, ["--extra-tenants", "other"])
    ctx.guarded.append(ctx.server)
    ctx.memguard = MemGuard(ctx)
    ctx.memguard.start()
    ctx.server.start()
    ctx.keys["admin"] = (ctx.server.data_dir / "admin.key").read_text().strip()
    ctx.keys["other"] = (ctx.server.data_dir / "other.key").read_text().strip()
    for role in ROLES:
        r = ctx.api("admin").post("/api/v1/keys", {"name": f"hostile-{role}", "role": role})
        if r.status != 201:
            raise Failed(f"creating a {role} key: {r.brief()}")
        ctx.keys[role] = r.json["key"]
    ctx.all_keys.extend(ctx.keys.values())
    ctx.secrets = {"LEAKME": rand(32), "LEAKME_SPECIAL": f"{rand(12)}\"\\/+&=% ?'{rand(12)}"}
    for name, value in ctx.secrets.items():
        ctx.scanner.add(name, value)
        r = ctx.api("admin").request("PUT", f"/api/v1/secrets/{name}", {"value": value})
        if r.status != 204:
            raise Failed(f"PUT secret {name}: {r.brief()}")
        # The other tenant has a secret of the same name with another value: it must never be used.
    r = ctx.api("other").request("PUT", "/api/v1/secrets/LEAKME", {"value": (other := rand(32))})
    ctx.scanner.add("OTHER_TENANT_LEAKME", other)
    if r.status != 204:
        raise Failed(f"PUT the other tenant's secret: {r.brief()}")
    ctx.watchdog = Watchdog(ctx)
    ctx.watchdog.start()
    ctx.benign = BenignLoad(ctx)
    ctx.benign.start()
    print(f"aos serve {ctx.server.base} (data {ctx.server.data_dir}), receiver {ctx.recv.base}, echo {ctx.echo.base}, "
          f"redirector {ctx.redir.base} -> {ctx.far.base}", flush=True)


def run_case(ctx: Ctx, case: registry.Case, subs, report: Report) -> None:
    ctx.current_case = case.name
    n_leaks, n_wd, n_mem = ctx.scanner.count(), len(ctx.watchdog.violations), len(ctx.memguard.events)
    t0 = time.time()
    results = []
    try:
        if case.subcases is None:
            p = Problems()
            case.fn(ctx, p)
            results = [(case.name, p)]
        else:
            out = case.fn(ctx, subs) or {}
            for s in subs:
                p = out.get(s)
                if p is None:
                    p = Problems()
                    p.fail("the group returned no result for this sub-case")
                results.append((f"{case.name}/{s}", p))
    except Exception:
        p = Problems()
        p.fail(f"the case raised: {format_exc()}")
        results = [(case.name if case.subcases is None else f"{case.name}/(group)", p)]
    ctx.scan_local_servers()
    server = Problems()
    leaks = ctx.scanner.since(n_leaks)
    for f in leaks[:5]:
        server.fail(f"secret leaked: {f}")
    if len(leaks) > 5:
        server.fail(f"... {len(leaks) - 5} more leaks")
    wd = ctx.watchdog.since(n_wd)
    if wd:
        server.fail(f"/healthz over {harness.HEALTHZ_MAX_S:.0f} s or failing {len(wd)} times during this case (worst {max(v[1] for v in wd):.2f} s; {wd[0][2]})")
    for e in ctx.memguard.since(n_mem):
        server.fail(e)
    if not ctx.server.alive() and not ctx.monitors_paused.is_set():
        server.fail(f"aos serve died during this case ({ctx.server.exit_description()}); log tail:\n{ctx.scanner.mask(ctx.server.tail(1500))}")
        try:
            with ctx.server_down_on_purpose():
                ctx.server.start()
            server.note("aos serve was restarted on the same data dir for the following cases")
        except Failed as e:
            server.fail(f"restarting it failed too: {e}")
    elapsed = time.time() - t0
    if case.subcases is None or len(results) == 1:
        name, p = results[0]
        p.items += server.items
        p.notes += server.notes
        report.add(name, p, elapsed, ctx.scanner.mask)
    else:
        for name, p in results:
            report.add(name, p, elapsed, ctx.scanner.mask)
        report.add(f"{case.name}/(server health, leaks)", server, elapsed, ctx.scanner.mask)


def suite_checks(ctx: Ctx, report: Report) -> None:
    ctx.current_case = "(suite checks)"
    t0 = time.time()
    b = ctx.benign
    b.finish(40)
    p = Problems()
    runs = dict(b.runs)
    p.check(len(runs) >= 1, "no benign run of the other tenant was submitted")
    for e in b.errors[:5]:
        p.fail(e)
    slow = []
    for rid, st in runs.items():
        v = st["view"] or {}
        if not p.check(v.get("status") == "succeeded", f"the other tenant's run {rid} ended {v.get('status') or 'unfinished'} "
                                                      f"({(v.get('error') or {}).get('code')}; submitted during {st.get('case', '?')})"):
            continue
        took = (v.get("finished_at_ms", 0) - v.get("created_at_ms", 0)) / 1000
        if took > BENIGN_MAX_S and st["restarts"] == ctx.server.starts:
            slow.append(f"{rid} {took:.1f} s")
    p.check(not slow, f"{len(slow)} of the other tenant's runs took over {BENIGN_MAX_S:.0f} s: {slow[:5]}")
    p.note(f"{len(runs)} benign runs")
    report.add("suite/other-tenant-runs-keep-completing", p, time.time() - t0, ctx.scanner.mask)

    p = Problems()
    wd = ctx.watchdog
    for at, lat, what, case in wd.violations[:10]:
        p.fail(f"/healthz {what} during {case}")
    if len(wd.violations) > 10:
        p.fail(f"... {len(wd.violations) - 10} more slow or failed /healthz answers")
    p.check(wd.samples > 0, "the watchdog took no sample")
    p.note(f"{wd.samples} /healthz samples, worst {wd.worst[0]:.3f} s during {wd.worst[1]}")
    report.add(f"suite/healthz-watchdog (worst {wd.worst[0]:.3f} s)", p, 0, ctx.scanner.mask)

    p = Problems()
    for e in ctx.memguard.events:
        p.fail(e)
    report.add(f"suite/memory-guard (peak RSS {ctx.memguard.peak[0]:.0f} MB during {ctx.memguard.peak[1]})", p, 0, ctx.scanner.mask)


def log_scan(ctx: Ctx, report: Report) -> None:
    """Case 13, over the logs of every `aos serve` the suite started (stdout and stderr)."""
    files = [f for s in [ctx.server, *ctx.extra_servers] for f in s.log_files if f.exists()]
    texts = {}
    documented = 0
    for f in files:
        t = strip_ansi(f.read_text(errors="replace"))
        # The first start prints the dev admin key once, by design (docs/operations.md).
        t, n = re.subn(r"(Created tenant `dev` with admin API key[^\n]*\n)\s*aos_[0-9a-f]{8}_[0-9a-f]{48}", r"\1  <documented first-start key>", t)
        documented += n
        texts[f] = t
    p = Problems()
    p.check(bool(files), "no server log was captured")
    for f, t in texts.items():
        finding = ctx.scanner.scan(t, f"server log {f.name}")
        if finding:
            p.fail(str(finding))
    p.note(f"{len(files)} log files, {sum(len(t) for t in texts.values())} characters")
    report.add("13-log-scan/no-secret-in-any-encoding", p, 0, ctx.scanner.mask)
    p = Problems()
    for key in set(filter(None, ctx.all_keys)):
        secret = key.rsplit("_", 1)[-1]
        for f, t in texts.items():
            if key in t or secret in t:
                p.fail(f"{f.name} holds API key {key[:12]}... ({'whole' if key in t else 'its secret part'})")
    p.note(f"{len(ctx.all_keys)} keys looked for; {documented} documented first-start key line(s) left out")
    report.add("13-log-scan/no-api-key", p, 0, ctx.scanner.mask)
    p = Problems()
    for marker in set(ctx.state["jq_markers"]):
        for f, t in texts.items():
            if marker in t:
                p.fail(f"{f.name} holds what a jq program wrote with debug/stderr/halt_error (or its source)")
    if not ctx.state["jq_markers"]:
        p.note("no jq program of cases 1-2 ran, nothing to look for")
    report.add("13-log-scan/no-jq-debug-output", p, 0, ctx.scanner.mask)
    panics = sum(t.count("panicked") for t in texts.values())
    if panics:
        print(f"note: the server logs mention `panicked` {panics} times (see {ctx.tmp / 'logs'})", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", action="append", default=[], help="run only cases whose name contains this (repeatable)")
    ap.add_argument("-x", action="append", default=[], help="leave out cases whose name contains this (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the case names and exit")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (data, logs) even when everything passed")
    ap.add_argument("--aos", help="the aos binary (default $AOS_BIN)")
    ap.add_argument("-v", action="store_true", help="print each case's notes (observed outcomes, timings)")
    args = ap.parse_args()

    def chosen(name: str) -> bool:
        return (not args.k or any(k in name for k in args.k)) and not any(x in name for x in args.x)

    plan = []
    for c in registry.ordered():
        if c.subcases is None:
            if chosen(c.name):
                plan.append((c, None))
        else:
            subs = [s for s in c.subcases if chosen(f"{c.name}/{s}")]
            if subs:
                plan.append((c, subs))
    if args.list:
        for c in registry.ordered():
            for n in c.full_names():
                print(("* " if chosen(n) else "  ") + n)
        return 0

    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="aos-hostile-"))
    report = Report(args.v)
    ctx = None
    ok = False

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        # A copy: other people may rebuild target/debug/aos while the suite runs, and the restart
        # must start the same binary.
        (tmp / "bin").mkdir()
        aos_bin = str(tmp / "bin" / "aos")
        shutil.copy2(find_binary(args), aos_bin)
        ctx = Ctx(args, tmp, aos_bin)
        total = sum(1 if s is None else len(s) for _, s in plan)
        if not total:
            raise Failed(f"no case matches -k {args.k} -x {args.x} (see --list)")
        print(f"hostile suite: {total} cases selected of {sum(len(c.full_names()) for c in registry.CASES)}; temp dir {tmp}", flush=True)
        setup(ctx)
        for c, subs in plan:
            run_case(ctx, c, subs, report)
        suite_checks(ctx, report)
        ctx.current_case = "(shutdown)"
        for t in (ctx.watchdog, ctx.memguard):
            t.stop_ev.set()
        ctx.server.stop()
        log_scan(ctx, report)
        ok = not report.failed
    except Failed as e:
        print(f"FAIL setup: {e}", flush=True)
        report.lines.append(("setup", Problems(), 0))
        report.lines[-1][1].fail(str(e))
    except KeyboardInterrupt as e:
        print(f"interrupted ({e})", flush=True)
    except Exception:
        print(f"FAIL the suite itself raised: {format_exc()}", flush=True)
    finally:
        if ctx is not None:
            for t in (ctx.watchdog, ctx.memguard, ctx.benign):
                if t is not None:
                    t.stop_ev.set()
            for s in [ctx.server, *getattr(ctx, "extra_servers", [])]:
                if s is not None:
                    s.stop(timeout=10)
            for s in (ctx.recv, ctx.echo, ctx.redir, ctx.far):
                if s is not None:
                    s.stop()
        harness.stop_all_procs()
    mask = ctx.scanner.mask if ctx else (lambda s: s)
    failed = report.failed
    if failed:
        print("\n== failures in detail")
        for name, p in failed:
            print(f"-- {name}")
            for item in p.items:
                print(f"   * {mask(item)[:1500]}")
    passed = sum(1 for _, p, _ in report.lines if not p)
    print(f"\nhostile suite: {passed} passed, {len(failed)} failed, in {time.time() - t0:.0f} s")
    if ok and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"(kept {tmp}: data dirs and server logs under logs/)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
