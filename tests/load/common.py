"""Shared machinery of the load and soak scripts: one `aos serve` on a free port and a fresh data
dir (started and stopped by PID), a local HTTP target that counts each call by its Idempotency-Key
(`<run_id>/<step_id>/<attempt>`, which `http_call` sends on every POST), a keep-alive API client,
the five-step plan, and /proc sampling of the server. Standard library only."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[2]


def aos_binary() -> str:
    """$AOS_BIN, else the workspace's debug build."""
    path = os.environ.get("AOS_BIN") or str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "aos")
    if not os.access(path, os.X_OK):
        raise SystemExit(f"no aos binary at {path}: build it (cargo build -p aos-cli --bin aos) or set AOS_BIN")
    return path


class Server:
    """`aos serve --port 0` on a fresh data dir, rate limits off (the load is one key)."""

    def __init__(self, binary: str, extra_env: Optional[Dict[str, str]] = None):
        self.tmp = tempfile.TemporaryDirectory(prefix="aos-load-")
        self.data_dir = Path(self.tmp.name) / "data"
        self.log = Path(self.tmp.name) / "serve.log"
        env = {
            **os.environ,
            "AOS_HTTP_ALLOW_HOSTS": "127.0.0.1",
            "AOS_RATE_LIMIT_PER_MINUTE": "0",
            "AOS_LOG": "warn",
            **(extra_env or {}),
        }
        self.out = open(self.log, "wb")
        cmd = [binary, "serve", "--port", "0", "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            m = re.search(r"AOS listening on http://([\d.]+):(\d+)", self.log.read_text(errors="replace"))
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                break
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"aos serve did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        self.key = (self.data_dir / "admin.key").read_text().strip()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        self.tmp.cleanup()

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]


class Api:
    """One keep-alive connection per thread; reconnects once when the server closed it."""

    def __init__(self, server: Server, timeout: float = 60):
        self.server, self.timeout = server, timeout
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection(self.server.host, self.server.port, timeout=self.timeout)
            self.local.conn = c
        return c

    def request(self, method: str, path: str, body=None) -> Tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"authorization": f"Bearer {self.server.key}", "content-type": "application/json"}
        for attempt in (1, 2):
            c = self._conn()
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                raw = r.read()
                if r.getheader("connection", "").lower() == "close":
                    c.close()
                    self.local.conn = None
                text = raw.decode(errors="replace")
                try:
                    return r.status, json.loads(text) if text else None
                except ValueError:
                    return r.status, text
            except (ConnectionError, http.client.HTTPException, OSError):
                c.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class Target:
    """A local HTTP target: `POST /hook` answers 200 and counts the call under its
    Idempotency-Key header."""

    def __init__(self):
        self.calls: Counter = Counter()
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                key = self.headers.get("idempotency-key", "")
                with target.lock:
                    target.calls[key] += 1
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def per_run(self) -> Counter:
        """Calls per run id (the key's first part)."""
        with self.lock:
            out: Counter = Counter()
            for key, n in self.calls.items():
                out[key.split("/")[0]] += n
            return out

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def plan(target_url: str) -> dict:
    """Five steps: the hello-transform shape, a POST to the target whose call is counted, and two
    transforms after it."""
    return {
        "name": "load-five-steps",
        "steps": [
            {"id": "totals", "skill": "json_transform",
             "input": {"data": "{{ inputs.orders }}", "expr": "map({sku, total: (.qty * .price)})"}},
            {"id": "summary", "skill": "json_transform", "depends_on": ["totals"],
             "input": {"data": "{{ steps.totals.output }}", "expr": "{orders: length, revenue: (map(.total) | add)}"}},
            {"id": "notify", "skill": "http_call", "depends_on": ["summary"],
             "input": {"url": target_url, "method": "POST", "body": "{{ steps.summary.output }}", "timeout_ms": 10000}},
            {"id": "status", "skill": "json_transform", "depends_on": ["notify"],
             "input": {"data": "{{ steps.notify.output }}", "expr": "{status}"}},
            {"id": "done", "skill": "json_transform", "depends_on": ["status", "summary"],
             "input": {"data": {"s": "{{ steps.status.output }}", "r": "{{ steps.summary.output }}"}, "expr": "{ok: (.s.status == 200), revenue: .r.revenue}"}},
        ],
    }


INPUTS = {"orders": [{"sku": "a", "qty": 2, "price": 3.5}, {"sku": "b", "qty": 1, "price": 10}]}

TERMINAL = {"succeeded", "failed", "cancelled"}


def list_runs(api: Api) -> Dict[str, str]:
    """Every run the API lists, run id → status (all pages)."""
    out: Dict[str, str] = {}
    cursor = None
    while True:
        path = "/api/v1/runs?limit=200" + (f"&cursor={cursor}" if cursor else "")
        status, body = api.request("GET", path)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {body}")
        for r in body["runs"]:
            if r["run_id"] in out:
                raise AssertionError(f"run {r['run_id']} listed twice")
            out[r["run_id"]] = r["status"]
        cursor = body.get("next_cursor")
        if not cursor:
            return out


class Submissions:
    """Submits the five-step plan against `target`, from any number of threads, each with its own
    idempotency key (`<prefix>-<i>`: a client retry after a dropped connection returns the same run
    instead of making a second one). Keeps the accepted run ids by submission, the refusals and
    the latencies."""

    def __init__(self, api: "Api", target: "Target", prefix: str):
        self.api, self.prefix = api, prefix
        self.body = {"plan": plan(target.url), "inputs": INPUTS}
        self.accepted: Dict[int, str] = {}
        self.refused: List[Tuple[int, int, object]] = []
        self.latencies: List[float] = []
        self.lock = threading.Lock()

    def submit(self, i: int) -> None:
        started = time.perf_counter()
        status, answer = self.api.request("POST", "/api/v1/runs", {**self.body, "idempotency_key": f"{self.prefix}-{i}"})
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies.append(elapsed)
            if status == 202:
                self.accepted[i] = answer["run_id"]
            else:
                self.refused.append((i, status, answer))

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def latency_ms(self) -> str:
        return f"p50 {percentile(self.latencies, 50) * 1000:.0f} ms, p99 {percentile(self.latencies, 99) * 1000:.0f} ms"


def wait_finished(api: "Api", ids: set, timeout: float, poll: float) -> Dict[str, str]:
    """Lists the runs until every one of `ids` is terminal and returns the listing (run id →
    status); an AssertionError after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        listed = list_runs(api)
        pending = [r for r in ids if listed.get(r) not in TERMINAL]
        if not pending:
            return listed
        if time.time() > deadline:
            raise AssertionError(f"{len(pending)} runs not finished after {timeout:.0f} s, e.g. {pending[:3]}: {[listed.get(r) for r in pending[:3]]}")
        time.sleep(poll)


def statuses(listed: Dict[str, str], ids: set) -> Dict[str, int]:
    """How many of `ids` ended in each status."""
    out: Dict[str, int] = {}
    for r in ids:
        out[listed[r]] = out.get(listed[r], 0) + 1
    return out


def metric(api: Api, name: str, labels: str) -> Optional[float]:
    status, text = api.request("GET", "/metrics")
    if status != 200:
        raise AssertionError(f"GET /metrics: {status}")
    for line in str(text).splitlines():
        if line.startswith(name + "{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def proc_sample(pid: int) -> Tuple[float, int, int]:
    """(VmRSS in MiB, open file descriptors, threads) of a process, from /proc."""
    rss_kb, threads = 0, 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kb / 1024, fds, threads


def percentile(values: List[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
