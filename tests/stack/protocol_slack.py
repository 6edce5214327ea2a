#!/usr/bin/env python3
"""A local Slack for tests: the incoming-webhook and chat.postMessage answer semantics, recorded so a
test can assert what Slack would have received. Standard library only.

Incoming webhooks (POST /services/<team>/<bot>/<key>) answer as Slack's do: `200 ok`, or a status
with the error as plain text — 400 `invalid_payload` (not a JSON object), 400 `no_text` (neither
text nor blocks), 400 `invalid_blocks` (blocks not a list of typed objects), 404 `no_service`
(a path that is no hook). A key `fail-<status>-<error>` answers that status and error; a key
`ratelimited` answers 429 with `Retry-After: 3`.

chat.postMessage (POST /api/chat.postMessage) answers 200 with `{"ok": false, "error": ...}` as the
Web API does: `not_authed` (no bearer token), `invalid_auth` (not the --token given),
`channel_not_found` (a channel not given with --channel), `no_text`, `invalid_blocks`, `msg_too_long`
(text over 40,000 characters); the channel `C_ARCHIVED` is `is_archived`, `C_NOTIN` `not_in_channel`;
`C_RATE` answers 429 with `Retry-After: 2`. Success: `{"ok": true, "channel", "ts", "message"}`, with
the `missing_charset` warning when the content type names no charset, as Slack adds it.

  GET  /_received   every request so far: [{path, headers, body, json, status, answer}]
  POST /_reset      forget them

usage: protocol_slack.py [--port 0] [--token xoxb-...] [--channel C0AOS1 ...]
Prints `listening on http://127.0.0.1:PORT` once it accepts connections."""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RECEIVED = []
TS = [0]
BLOCK_TYPES = {"section", "header", "divider", "context", "image", "actions", "rich_text", "markdown", "input", "video", "file"}


def message_error(msg):
    """Slack's own checks of a message, in the order it reports them."""
    if not isinstance(msg, dict):
        return "invalid_payload"
    text, blocks = msg.get("text"), msg.get("blocks")
    if blocks is not None and (not isinstance(blocks, list)
                               or any(not isinstance(b, dict) or b.get("type") not in BLOCK_TYPES for b in blocks)
                               or len(blocks) > 50):
        return "invalid_blocks"
    if not (isinstance(text, str) and text.strip()) and not blocks:
        return "no_text"
    if isinstance(text, str) and len(text) > 40000:
        return "msg_too_long"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token = ""
    channels = set()

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=None, record=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        # Recorded before answering, so a client that has its answer finds its request recorded.
        if record is not None:
            record.update(status=status, answer=data.decode(errors="replace"))
            with LOCK:
                RECEIVED.append(record)
        self.send_response(status)
        ctype = "text/html" if isinstance(body, bytes) else "application/json; charset=utf-8"
        self.send_header("content-type", ctype)
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
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/_reset":
            with LOCK:
                RECEIVED.clear()
            return self.answer(200, {})
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            msg = json.loads(body)
        except ValueError:
            msg = None
        rec = {"path": self.path, "headers": headers, "body": body.decode(errors="replace"), "json": msg, "at": time.time()}
        if self.path.startswith("/services/"):
            return self.webhook(msg, rec)
        if self.path == "/api/chat.postMessage":
            return self.post_message(msg, headers, rec)
        self.answer(404, b"no_service", record=rec)

    def webhook(self, msg, rec):
        parts = self.path.split("/")
        if len(parts) != 5 or not all(parts[2:]):
            return self.answer(404, b"no_service", record=rec)
        key = parts[4]
        if key == "ratelimited":
            return self.answer(429, b"rate_limited", {"retry-after": "3"}, record=rec)
        if key.startswith("fail-"):
            _, status, error = key.split("-", 2)
            return self.answer(int(status), error.encode(), record=rec)
        error = message_error(msg)
        if error:
            return self.answer(404 if error == "channel_not_found" else 400, error.encode(), record=rec)
        self.answer(200, b"ok", record=rec)

    def post_message(self, msg, headers, rec):
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return self.answer(200, {"ok": False, "error": "not_authed"}, record=rec)
        if auth[len("Bearer "):] != self.token:
            return self.answer(200, {"ok": False, "error": "invalid_auth"}, record=rec)
        if not isinstance(msg, dict):
            return self.answer(200, {"ok": False, "error": "invalid_json"}, record=rec)
        channel = msg.get("channel")
        if channel == "C_RATE":
            return self.answer(429, {"ok": False, "error": "ratelimited"}, {"retry-after": "2"}, record=rec)
        special = {"C_ARCHIVED": "is_archived", "C_NOTIN": "not_in_channel"}
        if channel in special:
            return self.answer(200, {"ok": False, "error": special[channel]}, record=rec)
        if channel not in self.channels:
            return self.answer(200, {"ok": False, "error": "channel_not_found"}, record=rec)
        error = message_error(msg)
        if error:
            return self.answer(200, {"ok": False, "error": error}, record=rec)
        with LOCK:
            TS[0] += 1
            ts = f"{int(time.time())}.{TS[0]:06d}"
        out = {"ok": True, "channel": channel, "ts": ts, "message": {"type": "message", "text": msg.get("text", ""), "ts": ts}}
        if "charset" not in headers.get("content-type", ""):
            out["warning"] = "missing_charset"
            out["response_metadata"] = {"warnings": ["missing_charset"]}
        self.answer(200, out, record=rec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="xoxb-0000-test-token")
    ap.add_argument("--channel", action="append", default=[])
    args = ap.parse_args()
    Handler.token = args.token
    Handler.channels = set(args.channel or ["C0AOS1"])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
