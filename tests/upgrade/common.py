"""What tests/upgrade/make_fixture.py (old binary) and tests/upgrade/run.py (new binary) share: an
`aos serve` process stopped by PID, a small JSON client, and the digest of a run that must read back
identically after an upgrade. Python 3 standard library only."""

import http.client
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple


class Failed(Exception):
    """A check failed; the message says what and where."""


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


class Server:
    """One `aos serve` on a data dir, on a free port. Its stdout and stderr go to files in `logdir`
    (stdout may hold a first-start admin key: never print it whole)."""

    def __init__(self, binary: str, data_dir: Path, logdir: Path, name: str, args: List[str], env: Dict[str, str]):
        self.binary, self.data_dir, self.logdir, self.name = binary, data_dir, logdir, name
        self.args, self.env = args, env
        self.proc: Optional[subprocess.Popen] = None
        self.base = ""
        self.starts = 0
        self.stdout = self.stderr = Path()

    def start(self, timeout: float = 60) -> float:
        """Starts the server and waits for `AOS listening on`; returns the seconds it took."""
        self.starts += 1
        self.stdout = self.logdir / f"{self.name}.{self.starts}.stdout"
        self.stderr = self.logdir / f"{self.name}.{self.starts}.stderr"
        cmd = [self.binary, "serve", "--port", "0", "--data-dir", str(self.data_dir), *self.args]
        t0 = time.time()
        with open(self.stdout, "wb") as o, open(self.stderr, "wb") as e:
            self.proc = subprocess.Popen(cmd, stdout=o, stderr=e, stdin=subprocess.DEVNULL, env={**os.environ, **self.env})
        while time.time() < t0 + timeout:
            m = re.search(r"AOS listening on (\S+)", self.stdout.read_text(errors="replace"))
            if m:
                self.base = m.group(1)
                return time.time() - t0
            if self.proc.poll() is not None:
                raise Failed(f"{self.name}: `aos serve` exited with {self.proc.returncode} before listening:\n{self.log_tail()}")
            time.sleep(0.02)
        raise Failed(f"{self.name}: `aos serve` did not print `AOS listening on` within {timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float = 35) -> Optional[int]:
        """SIGTERM by PID, then SIGKILL after `timeout`. Returns the exit code."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return None if self.proc is None else self.proc.returncode

    def log_tail(self, n: int = 3000) -> str:
        text = strip_ansi(self.stderr.read_text(errors="replace")) if self.stderr.exists() else ""
        return f"--- {self.stderr.name} (end) ---\n{text[-n:]}"


class Resp:
    def __init__(self, status: int, body: bytes):
        self.status = status
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if self.text else None
        except ValueError:
            self.json = None

    @property
    def code(self) -> Optional[str]:
        e = self.json.get("error") if isinstance(self.json, dict) else None
        return e.get("code") if isinstance(e, dict) else None


class Api:
    """JSON over HTTP to one server with one bearer key."""

    def __init__(self, base: str, key: Optional[str]):
        u = urllib.parse.urlparse(base)
        self.host, self.port, self.key = u.hostname, u.port, key

    def call(self, method: str, path: str, body: Any = None, query: Optional[Dict[str, Any]] = None, timeout: float = 40) -> Resp:
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            return Resp(r.status, r.read())
        finally:
            conn.close()

    def ok(self, method: str, path: str, body: Any = None, query: Optional[Dict[str, Any]] = None, expect: Tuple[int, ...] = (200,)) -> Any:
        r = self.call(method, path, body, query)
        if r.status not in expect:
            raise Failed(f"{method} {path} answered {r.status}, expected {'/'.join(map(str, expect))}: {r.text[:600]}")
        return r.json

    def wait_run(self, run_id: str, deadline: float) -> Dict[str, Any]:
        """The run once it has finished (long polls until `deadline`, a time.time() value)."""
        while True:
            left = deadline - time.time()
            view = self.ok("GET", f"/api/v1/runs/{run_id}", query={"wait_ms": int(max(1, min(left, 25)) * 1000)})
            if view.get("status") in ("succeeded", "failed", "cancelled"):
                return view
            if time.time() >= deadline:
                raise Failed(f"run {run_id} did not finish in time: status {view.get('status')}, steps "
                             + json.dumps({s.get('step_id'): s.get('status') for s in view.get('step_details', [])}))

    def submit(self, body: Dict[str, Any]) -> str:
        return self.ok("POST", "/api/v1/runs", body, expect=(202,))["run_id"]

    def failures(self, query: Dict[str, Any]) -> List[Dict[str, Any]]:
        out, q = [], {**query, "limit": 200}
        while True:
            page = self.ok("GET", "/api/v1/failures", query=q)
            out += page.get("failures", [])
            if not page.get("next_cursor"):
                return out
            q = {**q, "cursor": page["next_cursor"]}

    def run_ids(self) -> List[str]:
        out, q = [], {"limit": 200}
        while True:
            page = self.ok("GET", "/api/v1/runs", query=q)
            out += [r["run_id"] for r in page.get("runs", [])]
            if not page.get("next_cursor"):
                return out
            q = {**q, "cursor": page["next_cursor"]}


def err_code(e: Any) -> Optional[str]:
    return e.get("code") if isinstance(e, dict) else None


def digest(view: Dict[str, Any]) -> Dict[str, Any]:
    """What of a finished run must read back identically after an upgrade: status, error, seed,
    cost, trace root, every step's status, attempt count, output and error, and every attempt's
    hashes and result. Fields a release adds are not part of it."""
    steps = {}
    attempts = []
    for s in view.get("step_details", []):
        steps[s["step_id"]] = {
            "status": s.get("status"),
            "attempt": s.get("attempt"),
            "output": s.get("output"),
            "error_code": err_code(s.get("error")),
        }
        for a in s.get("attempts", []):
            outcome = a.get("outcome") or {}
            attempts.append({
                "step_id": a.get("step_id"),
                "attempt": a.get("attempt"),
                "skill": a.get("skill"),
                "fallback": a.get("fallback"),
                "input_hash": a.get("input_hash"),
                "output_hash": a.get("output_hash"),
                "ok": outcome.get("ok"),
                "error_code": err_code(outcome.get("error")),
            })
    return {
        "status": view.get("status"),
        "error_code": err_code(view.get("error")),
        "plan": view.get("plan"),
        "inputs": view.get("inputs"),
        "workflow": view.get("workflow"),
        "idempotency_key": view.get("idempotency_key"),
        "seed": view.get("seed"),
        "cost_usd": view.get("cost_usd"),
        "trace_root": view.get("trace_root"),
        "trace_len": len(view.get("trace") or []),
        "steps": steps,
        "attempts": attempts,
    }


def diff(expected: Any, actual: Any, path: str = "", allow_new: bool = True) -> List[str]:
    """The paths where two JSON values differ, each with both values (cut short). With `allow_new`,
    an object key only `actual` has is no difference: a release may add fields (a plan read back
    with a new defaulted field is still the same plan)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for k in sorted(set(expected) | set(actual)):
            if k not in actual:
                out.append(f"{path}.{k}: missing (was {json.dumps(expected[k])[:120]})")
            elif k not in expected:
                if not allow_new:
                    out.append(f"{path}.{k}: new (now {json.dumps(actual[k])[:120]})")
            else:
                out += diff(expected[k], actual[k], f"{path}.{k}", allow_new)
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        out = []
        if len(expected) != len(actual):
            out.append(f"{path}: {len(expected)} items, now {len(actual)}")
        for i, (e, a) in enumerate(zip(expected, actual)):
            out += diff(e, a, f"{path}[{i}]", allow_new)
        for i in range(len(expected), len(actual)):
            out.append(f"{path}[{i}]: new item {json.dumps(actual[i])[:200]}")
        for i in range(len(actual), len(expected)):
            out.append(f"{path}[{i}]: missing (was {json.dumps(expected[i])[:200]})")
        return out
    if expected != actual:
        return [f"{path or '.'}: was {json.dumps(expected)[:160]}, now {json.dumps(actual)[:160]}"]
    return []
