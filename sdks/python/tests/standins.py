"""A small local HTTP server the tests start: stand-ins for the outside world that ``http_call``
reaches (a price API, a flaky endpoint, a Slack webhook, ...) and scripted answers for the SDK's
own retry tests. It listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

PRICE = {"bitcoin": {"usd": 43210.5}}


@dataclass
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)


# One scripted answer: (status, headers, JSON body or None).
Answer = Tuple[int, Dict[str, str], Any]


class StandIn:
    """Routes:

    * ``GET /price`` -> ``{"bitcoin": {"usd": 43210.5}}``
    * ``GET /flaky/<key>`` -> 503 for the first two requests of each key, then 200
      ``{"ok": true, "attempt": n}``
    * ``POST /slack`` and ``POST /slack/<key>`` -> records the JSON body, answers ``ok``
    * ``GET /slow?ms=N`` -> answers after N ms
    * ``GET /status/<code>`` -> answers that status
    * ``ANY /echo`` -> echoes method, headers and body
    * ``ANY /script/<key>/...`` -> pops the next scripted answer of ``key`` (see :meth:`script`)
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: List[Recorded] = []
        self.slack: Dict[str, List[Any]] = {}
        self.flaky_counts: Dict[str, int] = {}
        self.scripts: Dict[str, List[Answer]] = {}
        self.script_hits: Dict[str, List[Recorded]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin", daemon=True)

    def start(self) -> "StandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, key: str, answers: List[Answer]) -> str:
        """Program the answers of ``/script/<key>/...``; returns that base URL."""
        with self.lock:
            self.scripts[key] = list(answers)
            self.script_hits[key] = []
        return f"{self.url}/script/{key}"

    def slack_messages(self, key: str = "") -> List[Any]:
        with self.lock:
            return list(self.slack.get(key, []))

    def _handler(self) -> type:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _body(self) -> Any:
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                if not raw:
                    return None
                try:
                    return json.loads(raw)
                except ValueError:
                    return raw.decode("utf-8", "replace")

            def _send(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
                data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                self.send_response(status)
                hdrs = {"content-type": "application/json"}
                hdrs.update(headers or {})
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if data and self.command != "HEAD":
                    self.wfile.write(data)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                path = parts.path
                body = self._body()
                rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with standin.lock:
                    standin.requests.append(rec)
                segs = [s for s in path.split("/") if s]
                if path == "/price":
                    return self._send(200, PRICE)
                if segs[:1] == ["flaky"]:
                    key = "/".join(segs[1:])
                    with standin.lock:
                        n = standin.flaky_counts.get(key, 0) + 1
                        standin.flaky_counts[key] = n
                    if n <= 2:
                        return self._send(503, {"error": "temporarily unavailable", "attempt": n})
                    return self._send(200, {"ok": True, "attempt": n})
                if segs[:1] == ["slack"]:
                    key = "/".join(segs[1:])
                    with standin.lock:
                        standin.slack.setdefault(key, []).append(body)
                    return self._send(200, b"ok", {"content-type": "text/plain"})
                if path == "/slow":
                    ms = int(parse_qs(parts.query).get("ms", ["1000"])[0])
                    time.sleep(ms / 1000)
                    return self._send(200, {"slept_ms": ms})
                if segs[:1] == ["status"] and len(segs) == 2:
                    return self._send(int(segs[1]), {"status": int(segs[1])})
                if path == "/echo":
                    return self._send(200, {"method": self.command, "headers": rec.headers, "body": body})
                if segs[:1] == ["script"] and len(segs) >= 2:
                    key = segs[1]
                    with standin.lock:
                        standin.script_hits.setdefault(key, []).append(rec)
                        queue = standin.scripts.get(key) or []
                        answer = queue.pop(0) if queue else (599, {}, {"error": "script exhausted"})
                    status, headers, payload = answer
                    return self._send(status, payload, headers)
                return self._send(404, {"error": "no such stand-in route", "path": path})

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        return Handler
