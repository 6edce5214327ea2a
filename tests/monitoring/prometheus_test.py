#!/usr/bin/env python3
"""End to end: a real Prometheus scrapes a real `aos serve` while the acceptance traffic runs, and
the values read back through Prometheus's HTTP API are the ones the traffic must produce. Then every
PromQL query of the Grafana dashboard (infra/grafana/aos-failures.json) runs against it, and the
alert rules (infra/prometheus/aos-alerts.yml) and the SLO rules (aos-slo.yml) are loaded and evaluated
by it without errors; the API's own counters (http_requests_total) count the traffic's submissions,
and the SLIs' recording rules answer with the traffic's ratios (docs/slo.md).

Starts, by PID and on free ports, in a temp dir: `aos-target` (local failing endpoints),
`aos serve` (fresh data dir) and Debian's `prometheus` (scraping every second with the admin key as
bearer credentials file). Stops all three at the end. Fails loudly when a binary is missing.

usage: python3 tests/monitoring/prometheus_test.py
  AOS_BIN          the aos binary (default $CARGO_TARGET_DIR/debug/aos, else target/debug/aos)
  AOS_TARGET_BIN   the aos-target binary (default next to AOS_BIN)
  PROMETHEUS_BIN   default: prometheus on PATH (tests/stack/prometheus.sh installs it)
Standard library only.
"""

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "acceptance"))
import traffic  # noqa: E402

DASHBOARD = ROOT / "infra" / "grafana" / "aos-failures.json"
ALERTS = ROOT / "infra" / "prometheus" / "aos-alerts.yml"
SLO_RULES = ROOT / "infra" / "prometheus" / "aos-slo.yml"
JOB = "aos"
SCRAPE_S = 1
# Panels whose query may legitimately return nothing after the traffic (by title).
MAY_BE_EMPTY = {
    # The aggregation job sets failure_aggregation_last_success_timestamp_seconds once it has run.
    "Failure aggregation age",
}
# Grafana's variables as this test substitutes them (a $ left over fails the test).
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m", "${job}": JOB, "$job": JOB}


class Failed(Exception):
    pass


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def binary(env: str, default: Path) -> str:
    path = os.environ.get(env) or str(default)
    resolved = shutil.which(path) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
    if not resolved:
        raise Failed(f"{env}: `{path}` is not an executable (build with `cargo build -p aos-cli -p aos-testkit`, "
                     f"install Prometheus with tests/stack/prometheus.sh)")
    return resolved


class Procs:
    """The processes this test started, stopped by PID."""

    def __init__(self, tmp: Path):
        self.tmp, self.procs = tmp, []

    def start(self, name: str, cmd, env=None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=self.tmp)
        self.procs.append((name, p))
        return p

    def wait_line(self, name: str, prefix: str, timeout: float = 30) -> str:
        """The rest of the first log line of `name` starting with `prefix`."""
        deadline, proc = time.time() + timeout, dict(self.procs)[name]
        while time.time() < deadline:
            for line in (self.tmp / f"{name}.log").read_text(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix):].split()[0]
            if proc.poll() is not None:
                raise Failed(f"{name} exited with {proc.returncode}: {self.log(name)}")
            time.sleep(0.05)
        raise Failed(f"{name} did not print `{prefix}` within {timeout} s: {self.log(name)}")

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def stop_all(self) -> None:
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class Prom:
    def __init__(self, base: str):
        self.base = base

    def get(self, path: str, **params) -> dict:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
        if body.get("status") != "success":
            raise Failed(f"GET {path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, q: str) -> list:
        data = self.get("/api/v1/query", query=q)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def value(self, q: str) -> float:
        """The single value of `q`; 0 when it has no series."""
        r = self.query(q)
        if len(r) > 1:
            raise Failed(f"{q}: {len(r)} series, expected one: {r}")
        return float(r[0]["value"][1]) if r else 0.0

    def wait(self, what: str, cond, timeout: float = 20):
        deadline, last = time.time() + timeout, None
        while time.time() < deadline:
            try:
                last = cond()
                if last:
                    return last
            except Failed as e:
                last = e
            time.sleep(0.2)
        raise Failed(f"timed out waiting for {what} (last: {last})")


def labels(**kv: str) -> str:
    return "{" + ",".join([f'job="{JOB}"'] + [f'{k}="{v}"' for k, v in kv.items()]) + "}"


def check_values(prom: Prom, e: "traffic.Expected", passes: int, problems: list) -> None:
    def expect(q: str, want: float) -> None:
        got = prom.value(q)
        if got != want:
            problems.append(f"{q} = {got}, expected {want}")

    for status, n in e.runs.items():
        expect(f"runs_total{labels(status=status)}", passes * n)
    for (code, category), n in e.hits.items():
        expect(f"failure_match_hits_total{labels(code=code, category=category)}", passes * n)
    codes = {s["metric"]["code"] for s in prom.query(f"failure_match_hits_total{labels()}")}
    if codes != {c for c, _ in e.hits}:
        problems.append(f"hit codes in Prometheus {sorted(codes)} != expected {sorted(c for c, _ in e.hits)}")
    for skill, n in e.misses.items():
        expect(f"failure_match_misses_total{labels(skill=skill)}", passes * n)
    for (mode, code), n in e.recovery_attempts.items():
        expect(f"recovery_attempts_total{labels(mode=mode, code=code)}", passes * n)
    for (mode, code), n in e.recovery_success.items():
        expect(f"recovery_success_total{labels(mode=mode, code=code)}", passes * n)
    for skill, n in e.steps.items():
        expect(f"step_duration_seconds_count{labels(skill=skill)}", passes * n)
        expect(f'step_duration_seconds_bucket{labels(skill=skill, le="+Inf")}', passes * n)
    # The HTTP timeouts (200 ms) are above the 0.1 s bucket; everything else of the mix is local and fast.
    timeouts = passes * e.hits[("HTTP_TIMEOUT", "TRANSIENT")]
    fast = prom.value(f'step_duration_seconds_bucket{labels(skill="http_call", le="0.1")}')
    slow = prom.value(f'step_duration_seconds_bucket{labels(skill="http_call", le="+Inf")}') - fast
    if slow < timeouts:
        problems.append(f"http_call attempts above 0.1 s: {slow}, expected at least the {timeouts} timeouts")
    p95 = prom.value(f'histogram_quantile(0.95, sum by (le) (rate(step_duration_seconds_bucket{labels(skill="http_call")}[1m])))')
    if not (math.isfinite(p95) and p95 > 0):
        problems.append(f"p95 of http_call from the histogram is {p95}")


def panel_queries(dashboard: dict):
    """(panel title, refId, PromQL with the variables substituted) for every target of every panel."""
    def walk(panels):
        for p in panels:
            yield p
            yield from walk(p.get("panels", []))

    for p in walk(dashboard["panels"]):
        for t in p.get("targets", []):
            expr = t["expr"]
            for k in sorted(VARIABLES, key=len, reverse=True):
                expr = expr.replace(k, VARIABLES[k])
            yield p["title"], t["refId"], expr


def check_dashboard(prom: Prom, e: "traffic.Expected", problems: list) -> int:
    dashboard = json.loads(DASHBOARD.read_text())
    n = 0
    for title, ref, expr in panel_queries(dashboard):
        n += 1
        if "$" in expr:
            problems.append(f"panel `{title}` {ref}: unknown variable left in {expr}")
            continue
        try:
            result = prom.query(expr)
        except Failed as err:
            problems.append(f"panel `{title}` {ref}: {err}")
            continue
        values = [float(s["value"][1]) for s in result]
        if title in MAY_BE_EMPTY:
            continue
        if not result:
            problems.append(f"panel `{title}` {ref}: no data for {expr}")
        elif not all(math.isfinite(v) for v in values):
            problems.append(f"panel `{title}` {ref}: non-finite values {values} for {expr}")
    # The stat's match rate is the traffic's: over the window, pass 2's hits over pass 2's failures.
    rate_expr = next(x for t, _, x in panel_queries(dashboard) if t == "Catalog match rate")
    want = sum(e.hits.values()) / (sum(e.hits.values()) + sum(e.misses.values()))
    got = prom.value(rate_expr)
    if abs(got - want) > 0.01:
        problems.append(f"dashboard match rate {got:.4f}, expected {want:.4f}")
    return n


def check_rules(prom: Prom, problems: list) -> int:
    def evaluated():
        groups = prom.get("/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r.get("lastEvaluation", "").startswith("20") and r.get("health") != "unknown" for r in rules) else None

    rules = prom.wait("the alert rules to be evaluated", evaluated)
    names = {r["name"] for r in rules}
    want = set(re.findall(r"^\s*- (?:alert|record): (\S+)", ALERTS.read_text() + SLO_RULES.read_text(), re.M))
    if names != want:
        problems.append(f"Prometheus loaded rules {sorted(names)}, the file has {sorted(want)}")
    for r in rules:
        if r.get("health") != "ok" or r.get("lastError"):
            problems.append(f"rule {r['name']}: health {r.get('health')}: {r.get('lastError')}")
    return len(rules)


def check_slis(prom: Prom, e: "traffic.Expected", passes: int, problems: list) -> None:
    """The API's counters count every submission by status, and each SLI's recording rule (the
    5-minute window) answers for the job with the traffic's ratio (docs/slo.md)."""
    rejected = e.runs.get("rejected", 0)
    for code, n in (("202", sum(e.runs.values()) - rejected), ("422", rejected)):
        q = f'http_requests_total{labels(route="/api/v1/runs", method="POST", code=code)}'
        if prom.value(q) != passes * n:
            problems.append(f"{q} = {prom.value(q)}, expected {passes * n}")
    finished = sum(n for s, n in e.runs.items() if s in ("succeeded", "failed"))
    unmatched = sum(e.misses.values()) / (sum(e.hits.values()) + sum(e.misses.values()))
    # (rule, expected ratio, tolerance): rate() extrapolates each series over the window on its own.
    for rule, want, tol in (
        ("job:aos_api_errors:ratio_rate5m", 0.0, 0.0),  # the traffic meets no 5xx
        ("job:aos_runs_failed:ratio_rate5m", e.runs.get("failed", 0) / finished, 0.05),
        ("job:aos_failures_unmatched:ratio_rate5m", unmatched, 0.05),
        ("job:aos_api_slow:ratio_rate5m", None, None),  # timing-dependent: a ratio, not a value
    ):
        result = prom.query(f"{rule}{labels()}")
        got = float(result[0]["value"][1]) if len(result) == 1 else math.nan
        if not result:
            problems.append(f"{rule}: no data for job {JOB}")
        elif not (math.isfinite(got) and 0 <= got <= 1):
            problems.append(f"{rule} = {got}, expected a ratio")
        elif want is not None and abs(got - want) > tol:
            problems.append(f"{rule} = {got:.4f}, expected {want:.4f}")


def main() -> int:
    t0 = time.time()
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    aos = binary("AOS_BIN", target_dir / "debug" / "aos")
    aos_target = binary("AOS_TARGET_BIN", Path(aos).parent / "aos-target")
    prometheus = binary("PROMETHEUS_BIN", Path("prometheus"))
    tmp = Path(tempfile.mkdtemp(prefix="aos-prom-"))
    procs = Procs(tmp)
    ok = False
    try:
        procs.start("target", [aos_target])
        target = procs.wait_line("target", "AOS target listening on ")
        procs.start("aos", [aos, "serve", "--port", "0", "--data-dir", str(tmp / "data")],
                    env={"AOS_HTTP_ALLOW_HOSTS": "127.0.0.1", "AOS_LOG": "warn"})
        base = procs.wait_line("aos", "AOS listening on ")
        key_file = tmp / "data" / "admin.key"
        host_port = urllib.parse.urlparse(base).netloc

        prom_port = free_port()
        (tmp / "prometheus.yml").write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
            "rule_files": [str(ALERTS), str(SLO_RULES)],
            "scrape_configs": [{
                "job_name": JOB,
                "metrics_path": "/metrics",
                "scrape_interval": f"{SCRAPE_S}s",
                "scrape_timeout": f"{SCRAPE_S}s",
                "authorization": {"type": "Bearer", "credentials_file": str(key_file)},
                "static_configs": [{"targets": [host_port]}],
            }],
        }, indent=2))
        procs.start("prometheus", [prometheus, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"])
        prom = Prom(f"http://127.0.0.1:{prom_port}")

        def ready():
            if dict(procs.procs)["prometheus"].poll() is not None:
                raise Failed(f"prometheus exited: {procs.log('prometheus')}")
            try:
                with urllib.request.urlopen(prom.base + "/-/ready", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        prom.wait("Prometheus to be ready", ready, timeout=30)
        prom.wait("a successful scrape of aos serve", lambda: prom.value(f"up{labels()}") == 1.0)
        print(f"prometheus {prom.base} scraping {base} every {SCRAPE_S} s (ready after {time.time() - t0:.1f} s)")

        api = traffic.Api(base, key_file.read_text().strip())
        e = traffic.expected()
        # Two passes with a scrape between them, so that rates and increases have something to show.
        for n in (1, 2):
            res = traffic.drive(api, target)
            if res.failures:
                raise Failed(f"traffic pass {n}: " + "; ".join(res.failures))
            want = n * sum(e.runs.values())
            prom.wait(f"Prometheus to see pass {n}", lambda: prom.value(f"sum(runs_total{labels()})") == want)
        time.sleep(SCRAPE_S + 0.5)  # one more sample of the final values

        problems: list = []
        check_values(prom, e, 2, problems)
        panels = check_dashboard(prom, e, problems)
        rules = check_rules(prom, problems)
        check_slis(prom, e, 2, problems)
        if problems:
            raise Failed("\n  " + "\n  ".join(problems))
        print(f"prometheus test: values match the traffic ({2 * sum(e.runs.values())} runs), {panels} dashboard queries answered, "
              f"{rules} alert rules evaluated healthy, in {time.time() - t0:.1f} s")
        ok = True
        return 0
    except Failed as err:
        print(f"prometheus test FAILED: {err}", file=sys.stderr)
        for name, _ in procs.procs:
            print(f"--- {name} log (tail) ---\n{procs.log(name)}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"(kept {tmp})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
