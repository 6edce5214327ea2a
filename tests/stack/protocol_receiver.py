#!/usr/bin/env python3
"""Local stand-ins for the services the skills talk to, for tests. Every request is recorded and
can be read back; nothing here is a mock of AOS itself.

Webhooks: every POST is verified with the Standard Webhooks reference library (`standardwebhooks`)
and the key given with --webhook-secret; a request that fails verification is answered 401.

  POST /hook/...           verify, answer 200 {"received": <webhook-id>}
  POST /status/<code>      verify, answer <code> (429 and 503 with Retry-After: 7)
  GET  /_received          every request so far: [{method, path, headers, body, verified, error}]
  POST /_verify?index=N&shift=S
                           verify request N again as if S seconds had passed since it arrived
                           (a replay): {"ok": bool, "error": str}
  POST /_reset             forget the requests

usage: protocol_receiver.py [--port 0] [--webhook-secret whsec_...]
Prints `listening on http://127.0.0.1:PORT` once it accepts connections. Needs the `protocols`
test env (tests/stack/python-env.sh protocols)."""

import argparse
import json
import sys
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import standardwebhooks.webhooks as swh
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOCK = threading.Lock()
RECEIVED = []
REAL_DATETIME = swh.datetime


def shifted_datetime(seconds: float):
    """The library's clock moved forward by `seconds` (it reads `datetime.now` at verification)."""
    class Shifted(REAL_DATETIME):
        @classmethod
        def now(cls, tz=None):
            return REAL_DATETIME.now(tz) + timedelta(seconds=seconds)
    return Shifted


def verify(secret: str, body: bytes, headers: dict, shift: float = 0.0):
    with LOCK:
        swh.datetime = shifted_datetime(shift) if shift else REAL_DATETIME
        try:
            Webhook(secret).verify(body, headers)
            return True, ""
        except (WebhookVerificationError, ValueError) as e:
            return False, str(e)
        finally:
            swh.datetime = REAL_DATETIME


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    secret = ""

    def log_message(self, *args):
        pass

    def answer(self, status: int, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_received":
            with LOCK:
                return self.answer(200, RECEIVED)
        self.answer(404, {"error": "not found"})

    def do_POST(self):
        url = urlparse(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        if url.path == "/_reset":
            with LOCK:
                RECEIVED.clear()
            return self.answer(200, {})
        if url.path == "/_verify":
            q = parse_qs(url.query)
            with LOCK:
                rec = RECEIVED[int(q["index"][0])]
            ok, err = verify(self.secret, rec["body"].encode(), rec["headers"], float(q.get("shift", ["0"])[0]))
            return self.answer(200, {"ok": ok, "error": err})
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok, err = verify(self.secret, body, headers)
        with LOCK:
            RECEIVED.append({"method": "POST", "path": self.path, "headers": headers, "body": body.decode(errors="replace"),
                             "verified": ok, "error": err, "at": datetime.now().timestamp()})
        if not ok:
            return self.answer(401, {"error": f"signature: {err}"})
        if url.path.startswith("/status/"):
            code = int(url.path.split("/")[2])
            extra = {"retry-after": "7"} if code in (429, 503) else {}
            if 300 <= code < 400:
                extra["location"] = "/hook/redirected"
            return self.answer(code, {"error": f"status {code}"}, extra)
        self.answer(200, {"received": headers.get("webhook-id")})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--webhook-secret", default="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    args = ap.parse_args()
    Handler.secret = args.webhook_secret
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
