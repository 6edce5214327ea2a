"""Fixtures: a real ``aos serve`` (session scope) and the local stand-in HTTP server.

The server binary comes from ``$AOS_BIN``, else ``$CARGO_TARGET_DIR/debug/aos``, else
``~/.cache/aos-target/debug/aos``, else ``<repo>/target/debug/aos``. A missing binary fails every
test that needs the server, loudly; nothing is skipped.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from standins import StandIn  # noqa: E402

import aos  # noqa: E402

SDK_DIR = Path(__file__).resolve().parents[1]
REPO = SDK_DIR.parents[1]
DOCS = REPO / "docs"
VECTORS = Path(os.environ.get("AOS_VECTORS_DIR") or REPO / "tests" / "vectors")
EXAMPLES = REPO / "examples"


def aos_binary() -> Path:
    explicit = os.environ.get("AOS_BIN")
    if explicit:
        return Path(explicit)
    candidates: List[Path] = []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "debug" / "aos")
    candidates.append(Path.home() / ".cache" / "aos-target" / "debug" / "aos")
    candidates.append(REPO / "target" / "debug" / "aos")
    for c in candidates:
        if c.exists():
            return c
    return candidates[0]


@dataclass
class AosServer:
    url: str
    api_key: str
    other_key: str
    data_dir: Path
    pid: int
    log: Path

    def client(self, **kwargs: object) -> aos.Client:
        return aos.Client(self.url, self.api_key, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def standin() -> Iterator[StandIn]:
    s = StandIn().start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def aos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AosServer]:
    server, proc = start_server(tmp_path_factory)
    try:
        yield server
    finally:
        _stop(proc.pid, proc)


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AosServer]:
    """A second `aos serve` with a tight rate limit: 60 requests a minute per key, bursts of 2."""
    server, proc = start_server(
        tmp_path_factory, {"AOS_RATE_LIMIT_PER_MINUTE": "60", "AOS_RATE_LIMIT_BURST": "2"}
    )
    try:
        yield server
    finally:
        _stop(proc.pid, proc)


def start_server(
    tmp_path_factory: pytest.TempPathFactory, extra_env: Optional[Dict[str, str]] = None
) -> Tuple[AosServer, "subprocess.Popen[bytes]"]:
    """Start `aos serve` on a free port with a fresh data directory; ``extra_env`` adds to (or
    overrides) its environment. The caller stops it with ``_stop``."""
    binary = aos_binary()
    if not binary.exists() or not os.access(binary, os.X_OK):
        raise RuntimeError(
            f"the aos binary is missing at {binary}: set AOS_BIN, or build it with "
            "`CARGO_TARGET_DIR=~/.cache/aos-target cargo build -p aos-cli`"
        )
    data_dir = tmp_path_factory.mktemp("aos-data")
    log = data_dir.parent / f"aos-serve-{data_dir.name}.log"
    env = dict(os.environ)
    env.update(
        {
            "AOS_HTTP_ALLOW_HOSTS": "127.0.0.1",
            "AOS_EXTRA_TENANTS": "other",
            "AOS_DURABILITY": "relaxed",
            "AOS_LOG": env.get("AOS_LOG", "warn"),
        }
    )
    for var in ("AOS_URL", "AOS_API_KEY", "AOS_PORT", "AOS_HOST", "AOS_DATA_DIR", "AOS_RATE_LIMIT_PER_MINUTE", "AOS_RATE_LIMIT_BURST"):
        env.pop(var, None)
    env.update(extra_env or {})
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [str(binary), "serve", "--port", "0", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw.decode("utf-8", "replace"))
        lines.put(None)

    threading.Thread(target=pump, name="aos-serve-stdout", daemon=True).start()
    url = None
    deadline = time.monotonic() + 60
    seen: List[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        if line is None:
            break
        seen.append(line)
        m = re.search(r"AOS listening on (http://\S+)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        _stop(proc.pid, proc)
        raise RuntimeError(
            f"aos serve did not start: stdout {''.join(seen)!r}, log {log.read_text(errors='replace')[-2000:]!r}"
        )
    server = AosServer(
        url=url,
        api_key=(data_dir / "admin.key").read_text().strip(),
        other_key=(data_dir / "other.key").read_text().strip(),
        data_dir=data_dir,
        pid=proc.pid,
        log=log,
    )
    return server, proc


def _stop(pid: int, proc: "subprocess.Popen[bytes]") -> None:
    """Stop the server by its PID: SIGTERM (graceful drain), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture()
def client(aos_server: AosServer) -> Iterator[aos.Client]:
    with aos_server.client() as c:
        yield c


@pytest.fixture()
def unique() -> str:
    """A short unique token for names and stand-in keys of one test."""
    return "t" + uuid.uuid4().hex[:12]
