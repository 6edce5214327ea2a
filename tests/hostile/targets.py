"""The suite's own HTTP servers, each on a free loopback port in a thread of this process:

- `Recorder`: records every request (method, path, headers, body) and answers 200 JSON. The
  webhook receiver, and the far side of the redirect tests. Paths under `/on-purpose/` are
  requests a plan sends a secret to deliberately; the leak scan leaves those out.
- `Echo`: answers with the secret it was sent (the `Authorization: Bearer` value and `X-Special`)
  in every encoding `leaks.encodings` knows, in the body and in headers. `/echo-fail/...` does the
  same with status 300 (a failure no catalog entry knows, so it becomes a catalog candidate).
  `/literal` answers a body holding the text `{{ secrets.LEAKME }}`.
- `Redirector`: answers every request with a redirect (status and target chosen by the path) to
  another origin, and records what it got.
"""

import base64
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Tuple

import leaks


class Request:
    def __init__(self, method: str, path: str, headers: List[Tuple[str, str]], body: bytes):
        self.method, self.path, self.headers, self.body, self.at = method, path, headers, body, time.time()

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def text(self) -> str:
        """Everything received, as one text (for scanning)."""
        hs = "\n".join(f"{k}: {v}" for k, v in self.headers)
        return f"{self.method} {self.path}\n{hs}\n\n{self.body.decode('utf-8', 'replace')}"


class _Server:
    name = "server"

    def __init__(self):
        self.requests: List[Request] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _handle(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                req = Request(self.command, self.path, list(self.headers.items()), body)
                with outer._lock:
                    outer.requests.append(req)
                status, headers, payload = outer.respond(req)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=f"{self.name}-{self.port}", daemon=True)
        self.thread.start()

    def respond(self, req: Request) -> Tuple[int, List[Tuple[str, str]], bytes]:
        return 200, [("content-type", "application/json")], b'{"ok":true}'

    def received(self, prefix: str = "") -> List[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Recorder(_Server):
    name = "recorder"


ECHOED = ("raw", "upper", "lower", "base64", "base64-nopad", "base64url", "base64url-nopad", "hex", "HEX", "percent", "json")


class Echo(_Server):
    name = "echo"

    def respond(self, req: Request):
        if req.path.startswith("/literal"):
            return 200, [("content-type", "application/json")], json.dumps({"text": "{{ secrets.LEAKME }}", "note": "a template, not a secret"}).encode()
        secrets = {}
        auth = req.header("authorization") or ""
        if auth.lower().startswith("bearer "):
            secrets["bearer"] = auth[7:]
        if req.header("x-special"):
            secrets["special"] = req.header("x-special")
        body: Dict[str, object] = {}
        headers = [("content-type", "application/json")]
        for name, value in secrets.items():
            # The encodings of the brief: raw, upper- and lower-cased, base64 and URL-safe base64
            # with and without padding, hex, percent-encoded, JSON-escaped. (The scanner looks for
            # more, everywhere.)
            body[name] = {label: text for label, text in leaks.encodings(value) if label in ECHOED}
            body[name]["embedded_b64"] = base64.b64encode(f"Bearer {value}!".encode()).decode()
            body[name]["embedded_text"] = f"token={value};"
            headers.append((f"x-echo-{name}-b64", base64.b64encode(value.encode()).decode()))
            headers.append((f"x-echo-{name}-hex", value.encode().hex()))
            headers.append((f"x-echo-{name}-upper", urllib.parse.quote(value.upper(), safe="")))
        if req.path.startswith("/echo-fail"):
            # An unusual status: no catalog entry knows it, so the failure becomes a candidate,
            # with the body in its details. Plain text, one `name.form: text` a line, so each
            # form is in the body exactly as listed (not escaped once more as JSON would).
            lines = [f"{name}.{label}: {text}" for name, forms in body.items() for label, text in forms.items()]
            return 300, [("content-type", "text/plain")] + headers[1:], "\n".join(lines).encode()
        return 200, headers, json.dumps(body).encode()


class Redirector(_Server):
    """Answers every request with a redirect. The path is `/<status>/<target>/<label>[?...]`:
    the status (a 3xx), the key of a base URL in `targets` (set after construction), and a label;
    the redirect goes to `<targets[target]>/landed/<label>`, without the query."""

    name = "redirector"

    def __init__(self):
        self.targets: Dict[str, str] = {}
        super().__init__()

    def respond(self, req: Request):
        parts = req.path.split("?", 1)[0].lstrip("/").split("/")
        status = int(parts[0]) if parts and parts[0].isdigit() and 300 <= int(parts[0]) < 400 else 302
        base = self.targets.get(parts[1] if len(parts) > 1 else "", next(iter(self.targets.values()), ""))
        label = parts[2] if len(parts) > 2 else "x"
        return status, [("location", f"{base}/landed/{label}"), ("content-type", "text/plain")], b"moved"
