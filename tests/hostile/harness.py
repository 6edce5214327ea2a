"""The hostile suite's machinery: the `aos serve` process, an API client that hands every response
to the leak scanner, the /healthz watchdog, the memory guard, the other tenant's benign load, and
small helpers for plans and runs. Standard library only."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import traceback
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import leaks

# --- What the fixes are expected to provide (guesses where the brief left it open) -------------
# The HTTP server's header read timeout, in ms (case 8). Set low for the suite.
HEADER_TIMEOUT_ENV = os.environ.get("HOSTILE_HEADER_TIMEOUT_ENV", "AOS_HEADER_TIMEOUT_MS")
HEADER_TIMEOUT_MS = 2000
# A /healthz answer slower than this fails the suite.
HEALTHZ_MAX_S = 1.0
# The memory guard kills `aos serve` (and fails the suite) above this resident size, or when the
# machine's available memory falls below MIN_AVAILABLE_MB: other engineers share the machine.
MAX_RSS_MB = int(os.environ.get("HOSTILE_MAX_RSS_MB", "3072"))
MIN_AVAILABLE_MB = int(os.environ.get("HOSTILE_MIN_AVAILABLE_MB", "1536"))


class Failed(Exception):
    """A setup step failed: the suite cannot go on."""


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    return free_port()


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


# --- Processes -------------------------------------------------------------------------------

PROCS: List[subprocess.Popen] = []


def stop_all_procs() -> None:
    """Stops every process the suite started, by PID: SIGTERM, then SIGKILL after 10 s."""
    for p in reversed(PROCS):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + 10
    for p in reversed(PROCS):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class AosServer:
    """One `aos serve` on a data dir. Every start logs to its own files `<name>.<n>.stdout` and
    `.stderr` in `logdir`; the suite scans them all at the end."""

    def __init__(self, binary: str, data_dir: Path, logdir: Path, name: str, env: Dict[str, str], extra_args: Iterable[str] = ()):
        self.binary, self.data_dir, self.logdir, self.name = binary, data_dir, logdir, name
        self.env, self.extra_args = env, list(extra_args)
        self.proc: Optional[subprocess.Popen] = None
        self.base = ""
        self.starts = 0
        self.listen_at = 0.0
        self.log_files: List[Path] = []

    @property
    def host_port(self) -> Tuple[str, int]:
        u = urllib.parse.urlparse(self.base)
        return u.hostname, u.port

    def start(self, timeout: float = 60, expect_listen: bool = True) -> bool:
        """Starts the server and waits for `AOS listening on`. Returns whether it listens; when
        `expect_listen` is false, also returns (False) as soon as the process exits."""
        self.starts += 1
        out = self.logdir / f"{self.name}.{self.starts}.stdout"
        err = self.logdir / f"{self.name}.{self.starts}.stderr"
        self.log_files += [out, err]
        cmd = [self.binary, "serve", "--port", "0", "--data-dir", str(self.data_dir), *self.extra_args]
        with open(out, "wb") as o, open(err, "wb") as e:
            self.proc = subprocess.Popen(cmd, stdout=o, stderr=e, env={**os.environ, **self.env}, stdin=subprocess.DEVNULL)
        PROCS.append(self.proc)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(r"AOS listening on (\S+)", out.read_text(errors="replace"))
            if m:
                self.listen_at = time.time()
                self.base = m.group(1)
                return True
            if self.proc.poll() is not None:
                if expect_listen:
                    raise Failed(f"aos serve exited with {self.proc.returncode} before listening:\n{self.tail()}")
                return False
            time.sleep(0.02)
        if expect_listen:
            raise Failed(f"aos serve did not print `AOS listening on` within {timeout} s:\n{self.tail()}")
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_description(self) -> str:
        if self.proc is None or self.proc.returncode is None:
            return "running"
        rc = self.proc.returncode
        if rc < 0:
            try:
                return f"killed by {signal.Signals(-rc).name}"
            except ValueError:
                return f"killed by signal {-rc}"
        return f"exit code {rc}"

    def kill9(self) -> None:
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float = 35) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_mb(self) -> Optional[float]:
        if not self.alive():
            return None
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def tail(self, n: int = 3000) -> str:
        """The end of the last start's stderr (the log; stdout may hold the first-start key)."""
        parts = []
        for f in self.log_files[-1:]:
            if f.exists():
                parts.append(f"--- {f.name} ---\n{strip_ansi(f.read_text(errors='replace'))[-n:]}")
        return "\n".join(parts)

    def log_text(self) -> str:
        return "\n".join(f.read_text(errors="replace") for f in self.log_files if f.exists())


# --- HTTP -------------------------------------------------------------------------------------

class Resp:
    def __init__(self, status: int, headers: Dict[str, str], body: bytes, elapsed: float, error: Optional[str] = None):
        self.status, self.headers, self.body, self.elapsed, self.error = status, headers, body, elapsed, error
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if self.text else None
        except (ValueError, RecursionError):
            self.json = None

    @property
    def code(self) -> Optional[str]:
        e = self.json.get("error") if isinstance(self.json, dict) else None
        return e.get("code") if isinstance(e, dict) else None

    @property
    def enveloped(self) -> bool:
        """Whether the body is the documented error envelope `{"error": {"code", "message", "details"}}`."""
        e = self.json.get("error") if isinstance(self.json, dict) else None
        return isinstance(e, dict) and isinstance(e.get("code"), str) and isinstance(e.get("message"), str) and "details" in e

    def fields(self) -> List[str]:
        """Every field the error names: `details.field` and each `details.errors[].field`."""
        e = self.json.get("error") if isinstance(self.json, dict) else None
        d = e.get("details") if isinstance(e, dict) else None
        if not isinstance(d, dict):
            return []
        out = [d["field"]] if isinstance(d.get("field"), str) and d.get("field") else []
        for item in d.get("errors") or []:
            if isinstance(item, dict) and isinstance(item.get("field"), str) and item["field"]:
                out.append(item["field"])
        return out

    def codes(self) -> List[str]:
        """The envelope's code and every `details.errors[].code`."""
        out = [self.code] if self.code else []
        e = self.json.get("error") if isinstance(self.json, dict) else None
        d = e.get("details") if isinstance(e, dict) else None
        if isinstance(d, dict):
            out += [x.get("code") for x in d.get("errors") or [] if isinstance(x, dict) and x.get("code")]
        return out

    def brief(self, n: int = 300) -> str:
        if self.error:
            return f"no answer ({self.error}) after {self.elapsed:.2f} s"
        t = self.text if len(self.text) <= n else self.text[:n] + f"... ({len(self.body)} bytes)"
        return f"{self.status} {t}"


def http_request(host: str, port: int, method: str, path: str, body: Optional[bytes] = None,
                 headers: Optional[Dict[str, str]] = None, timeout: float = 30) -> Resp:
    """One request on a fresh connection (closed after). Transport errors are answers with status
    0, never exceptions, so that cases report them as findings."""
    t0 = time.time()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        hs = {"connection": "close", **(headers or {})}
        if body is not None:
            hs.setdefault("content-length", str(len(body)))
        for k, v in hs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body is not None:
            conn.send(body)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data, time.time() - t0)
    except (OSError, http.client.HTTPException) as e:
        return Resp(0, {}, b"", time.time() - t0, error=f"{type(e).__name__}: {e}")
    finally:
        conn.close()


def raw_exchange(host: str, port: int, data: bytes, timeout: float = 10) -> Tuple[bytes, float, Optional[str]]:
    """Sends `data` as is and reads until the server closes (or the timeout). Returns what came
    back, the time taken and a transport error if any."""
    t0 = time.time()
    buf = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(data)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if b"\r\n\r\n" in buf:
                    head, _, rest = buf.partition(b"\r\n\r\n")
                    m = re.search(rb"content-length:\s*(\d+)", head, re.I)
                    if m and len(rest) >= int(m.group(1)):
                        break
        return buf, time.time() - t0, None
    except OSError as e:
        return buf, time.time() - t0, f"{type(e).__name__}: {e}"


def parse_raw(buf: bytes) -> Resp:
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0] if lines else b"")
    if not m:
        return Resp(0, {}, buf, 0, error=f"not an HTTP response: {buf[:80]!r}")
    headers = {}
    for l in lines[1:]:
        k, _, v = l.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return Resp(int(m.group(1)), headers, body, 0)


class Api:
    """The API as one principal. Every response body goes through the leak scanner."""

    def __init__(self, ctx: "Ctx", role: str, key: Optional[str]):
        self.ctx, self.role, self.key = ctx, role, key

    def request(self, method: str, path: str, body=None, raw: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
                timeout: float = 30, content_type: str = "application/json") -> Resp:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hs = dict(headers or {})
        if self.key:
            hs.setdefault("authorization", f"Bearer {self.key}")
        if data is not None and content_type:
            hs.setdefault("content-type", content_type)
        host, port = self.ctx.server.host_port
        r = http_request(host, port, method, path, data, hs, timeout)
        self.ctx.scanner.scan(r.body, f"{self.role} {method} {path[:100]} -> {r.status}")
        for k, v in r.headers.items():
            self.ctx.scanner.scan(f"{k}: {v}", f"{self.role} {method} {path[:100]} -> {r.status} (header {k})")
        return r

    def get(self, path: str, **kw) -> Resp:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> Resp:
        return self.request("POST", path, body, **kw)

    def submit(self, plan: dict, inputs: Optional[dict] = None, timeout: float = 30, **extra) -> Resp:
        body = {"plan": plan, **extra}
        if inputs is not None:
            body["inputs"] = inputs
        return self.post("/api/v1/runs", body, timeout=timeout)

    def run(self, run_id: str, wait_ms: int = 0, timeout: float = 30) -> Resp:
        q = f"?wait_ms={wait_ms}" if wait_ms else ""
        return self.get(f"/api/v1/runs/{run_id}{q}", timeout=wait_ms / 1000 + timeout)


FINAL = ("succeeded", "failed", "cancelled")


def wait_runs(api: Api, run_ids: Iterable[str], timeout: float) -> Dict[str, Optional[dict]]:
    """Polls until every run is final or `timeout` passes. Returns run id -> last view (None when
    it could not be read); views of unfinished runs are returned as they were."""
    views: Dict[str, Optional[dict]] = {r: None for r in run_ids}
    pending = set(views)
    deadline = time.time() + timeout
    while pending:
        for rid in list(pending):
            r = api.run(rid)
            if r.status == 200 and isinstance(r.json, dict):
                views[rid] = r.json
                if r.json.get("status") in FINAL:
                    pending.discard(rid)
        if not pending or time.time() > deadline:
            break
        time.sleep(0.25)
    return views


def step_state(view: Optional[dict], step_id: str) -> dict:
    return ((view or {}).get("steps") or {}).get(step_id) or {}


def step_attempts(view: Optional[dict], step_id: str) -> List[dict]:
    for d in (view or {}).get("step_details") or []:
        if d.get("step_id") == step_id:
            return d.get("attempts") or []
    return []


def step_code(view: Optional[dict], step_id: str) -> Optional[str]:
    return (step_state(view, step_id).get("error") or {}).get("code")


def jq_step(step_id: str, expr: str, data=None, **extra) -> dict:
    return {"id": step_id, "skill": "json_transform", "input": {"data": data if data is not None else {}, "expr": expr}, **extra}


def http_step(step_id: str, url: str, **inp) -> dict:
    extra = {k: inp.pop(k) for k in ("depends_on", "retry", "on_error", "condition", "timeout_ms") if k in inp}
    return {"id": step_id, "skill": "http_call", "input": {"url": url, **inp}, **extra}


ONCE = {"max_attempts": 1}


# --- Problems ---------------------------------------------------------------------------------

class Problems:
    """What a case found wrong (empty: it passed), and notes worth printing either way."""

    def __init__(self):
        self.items: List[str] = []
        self.notes: List[str] = []

    def check(self, ok: bool, msg) -> bool:
        if not ok:
            self.items.append(msg() if callable(msg) else msg)
        return ok

    def fail(self, msg: str) -> None:
        self.items.append(msg)

    def note(self, msg: str) -> None:
        self.notes.append(msg)

    def __bool__(self) -> bool:
        return bool(self.items)


# --- Monitors ---------------------------------------------------------------------------------

class Watchdog(threading.Thread):
    """GET /healthz every 200 ms on a fresh connection for the whole suite. An answer slower than
    1 s, or none, is a violation, attributed to the case running at the time."""

    def __init__(self, ctx: "Ctx"):
        super().__init__(name="watchdog", daemon=True)
        self.ctx = ctx
        self.stop_ev = threading.Event()
        self.samples = 0
        self.worst = (0.0, "")
        self.violations: List[Tuple[float, float, str, str]] = []  # (at, latency, what, case)
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop_ev.wait(0.2):
            if self.ctx.monitors_paused.is_set() or not self.ctx.server.alive():
                continue
            host, port = self.ctx.server.host_port
            r = http_request(host, port, "GET", "/healthz", timeout=5)
            if self.ctx.monitors_paused.is_set():
                continue  # the server was taken down on purpose meanwhile
            with self.lock:
                self.samples += 1
                case = self.ctx.current_case
                if r.elapsed > self.worst[0]:
                    self.worst = (r.elapsed, case)
                if r.status != 200 or r.elapsed > HEALTHZ_MAX_S:
                    if not self.ctx.server.alive():
                        continue  # a crash: reported as such by the runner
                    what = f"{r.elapsed:.2f} s" if r.status == 200 else f"{r.brief(80)}"
                    self.violations.append((time.time(), r.elapsed, what, case))

    def since(self, n: int) -> List[Tuple[float, float, str, str]]:
        with self.lock:
            return self.violations[n:]


class MemGuard(threading.Thread):
    """Kills `aos serve` with SIGKILL when its RSS passes MAX_RSS_MB or the machine runs low on
    memory, so a program that escapes the jq limits cannot take the shared machine down."""

    def __init__(self, ctx: "Ctx"):
        super().__init__(name="memguard", daemon=True)
        self.ctx = ctx
        self.stop_ev = threading.Event()
        self.peak = (0.0, "")
        self.events: List[str] = []
        self.lock = threading.Lock()

    @staticmethod
    def available_mb() -> Optional[float]:
        try:
            for line in open("/proc/meminfo"):
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def run(self) -> None:
        while not self.stop_ev.wait(0.1):
            for server in list(self.ctx.guarded):
                rss = server.rss_mb()
                if rss is None:
                    continue
                if rss > self.peak[0]:
                    self.peak = (rss, self.ctx.current_case)
                avail = self.available_mb()
                if rss > MAX_RSS_MB or (avail is not None and avail < MIN_AVAILABLE_MB):
                    server.kill9()
                    with self.lock:
                        self.events.append(f"memory guard killed aos serve ({server.name}) during {self.ctx.current_case}: "
                                           f"RSS {rss:.0f} MB (limit {MAX_RSS_MB}), machine available {avail:.0f} MB")

    def since(self, n: int) -> List[str]:
        with self.lock:
            return self.events[n:]


class BenignLoad(threading.Thread):
    """The other tenant's ordinary work: a small run (an http_call GET of the receiver, a jq
    transform, a condition) submitted every 1.5 s for the whole suite, and each run followed
    until it is final. Pauses while the server is down on purpose."""

    PERIOD = 1.5

    def __init__(self, ctx: "Ctx"):
        super().__init__(name="benign", daemon=True)
        self.ctx = ctx
        self.stop_submitting = threading.Event()
        self.stop_ev = threading.Event()
        self.runs: Dict[str, dict] = {}  # run_id -> {"submitted": t, "view": ..., "restart_gap": bool}
        self.errors: List[str] = []
        self.lock = threading.Lock()
        self.n = 0

    def plan(self) -> dict:
        self.n += 1
        return {"name": "benign-other-tenant", "steps": [
            http_step("get", f"{self.ctx.recv.base}/benign/{self.n}", retry={"max_attempts": 3, "initial_delay_ms": 100, "max_delay_ms": 500}),
            jq_step("calc", "{ok: .ok, n: (21 * 2)}", "{{ steps.get.output.body }}", depends_on=["get"]),
            jq_step("check", ".n", "{{ steps.calc.output }}", depends_on=["calc"], condition=".steps.calc.output.n == 42"),
        ]}

    def submit_one(self) -> Optional[str]:
        r = self.ctx.api("other").submit(self.plan(), {}, timeout=10)
        if r.status == 202 and isinstance(r.json, dict):
            with self.lock:
                self.runs[r.json["run_id"]] = {"submitted": time.time(), "view": None, "restarts": self.ctx.server.starts, "case": self.ctx.current_case}
            return r.json["run_id"]
        if not self.ctx.monitors_paused.is_set() and self.ctx.server.alive():
            with self.lock:
                self.errors.append(f"submission during {self.ctx.current_case}: {r.brief(200)}")
        return None

    def poll(self) -> None:
        api = self.ctx.api("other")
        with self.lock:
            pending = [rid for rid, st in self.runs.items() if not st["view"] or st["view"].get("status") not in FINAL]
        for rid in pending:
            if self.ctx.monitors_paused.is_set() or not self.ctx.server.alive():
                return
            r = api.run(rid, timeout=10)
            if r.status == 200 and isinstance(r.json, dict):
                with self.lock:
                    self.runs[rid]["view"] = r.json
                    if r.json.get("status") in FINAL and "seen_final" not in self.runs[rid]:
                        self.runs[rid]["seen_final"] = time.time()

    def run(self) -> None:
        last = 0.0
        while not self.stop_ev.wait(0.25):
            if self.ctx.monitors_paused.is_set() or not self.ctx.server.alive():
                continue
            try:
                if not self.stop_submitting.is_set() and time.time() - last >= self.PERIOD:
                    last = time.time()
                    self.submit_one()
                self.poll()
            except Exception as e:  # never let the thread die silently
                with self.lock:
                    self.errors.append(f"benign load: {type(e).__name__}: {e}")

    def finish(self, timeout: float) -> None:
        self.stop_submitting.set()
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                pending = [rid for rid, st in self.runs.items() if not st["view"] or st["view"].get("status") not in FINAL]
            if not pending:
                break
            time.sleep(0.3)
        self.stop_ev.set()


# --- Context ----------------------------------------------------------------------------------

class Ctx:
    """Everything a case may use."""

    def __init__(self, args, tmp: Path, aos_bin: str):
        self.args, self.tmp, self.aos_bin = args, tmp, aos_bin
        self.scanner = leaks.LeakScanner()
        self.server: AosServer = None  # type: ignore
        self.guarded: List[AosServer] = []
        self.extra_servers: List[AosServer] = []
        self.keys: Dict[str, str] = {}
        self.all_keys: List[str] = []  # every API key the suite saw (for the log scan)
        self.secrets: Dict[str, str] = {}
        self.monitors_paused = threading.Event()
        self.current_case = "(setup)"
        self.state: Dict[str, object] = {"final_runs": [], "jq_markers": []}
        self.recv = self.echo = self.redir = self.far = None
        self.watchdog: Optional[Watchdog] = None
        self.memguard: Optional[MemGuard] = None
        self.benign: Optional[BenignLoad] = None
        self.scanned_requests: Dict[int, int] = {}

    def api(self, role: str, key: Optional[str] = None) -> Api:
        return Api(self, role, key if key is not None else self.keys.get(role))

    def anon(self) -> Api:
        return Api(self, "anonymous", None)

    @contextmanager
    def server_down_on_purpose(self):
        self.monitors_paused.set()
        try:
            yield
        finally:
            self.monitors_paused.clear()

    def remember_final(self, run_id: str, status: str, step_id: Optional[str], code: Optional[str], case: str) -> None:
        """A run that is final now and must be exactly so after the restart."""
        if status not in FINAL:
            return
        self.state["final_runs"].append((run_id, status, step_id, code, case))  # type: ignore

    def scan_local_servers(self) -> None:
        """Hands every request the local servers received since the last call to the scanner,
        except where a plan sent a secret on purpose (the echo server, the redirector, and
        `/on-purpose/` paths of the receiver)."""
        for server in (self.recv, self.far):
            if server is None:
                continue
            reqs = server.received()
            start = self.scanned_requests.get(id(server), 0)
            for r in reqs[start:]:
                if not r.path.startswith("/on-purpose/"):
                    self.scanner.scan(r.text(), f"{server.name} :{server.port} received {r.method} {r.path[:80]}")
            self.scanned_requests[id(server)] = len(reqs)


def format_exc() -> str:
    lines = traceback.format_exc().strip().splitlines()
    return " | ".join(lines[-4:])


def stream_request(host: str, port: int, head: bytes, chunks: Iterable[bytes], timeout: float = 10) -> Resp:
    """Sends `head`, then `chunks` one by one, watching for an early answer between them (a server
    may refuse a body before reading all of it). Returns the parsed answer (status 0 when none
    came back)."""
    import select
    t0 = time.time()
    buf = b""
    err = None
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(head)
            for c in chunks:
                r, _, _ = select.select([s], [], [], 0)
                if r:
                    break
                try:
                    s.sendall(c)
                except OSError as e:
                    err = f"{type(e).__name__}: {e}"
                    break
            try:
                s.settimeout(timeout)
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                    if b"\r\n\r\n" in buf:
                        h, _, rest = buf.partition(b"\r\n\r\n")
                        m = re.search(rb"content-length:\s*(\d+)", h, re.I)
                        if (m and len(rest) >= int(m.group(1))) or (b"chunked" in h.lower() and rest.endswith(b"0\r\n\r\n")):
                            break
            except OSError as e:
                err = err or f"{type(e).__name__}: {e}"
    except OSError as e:
        err = f"{type(e).__name__}: {e}"
    if not buf:
        return Resp(0, {}, b"", time.time() - t0, error=err or "no answer")
    r = parse_raw(buf)
    r.elapsed = time.time() - t0
    return r


def steps_summary(view: Optional[dict], n: int = 400) -> str:
    """`id: status CODE (message)` for every step of a run view, for failure messages."""
    if not view:
        return "(no view)"
    parts = []
    for sid, st in (view.get("steps") or {}).items():
        e = st.get("error") or {}
        parts.append(f"{sid}: {st.get('status')}" + (f" {e.get('code')} ({str(e.get('message', ''))[:120]})" if e else ""))
    out = f"run {view.get('status')}; " + "; ".join(parts)
    return out[:n]
