#!/usr/bin/env bash
# The quickstart path of docs/quickstart.md, end to end and unattended: build and start AOS, install
# the Python SDK into a fresh virtualenv, run the BTC → Slack demo. Used to measure the cold path and
# to record docs/quickstart/quickstart.cast. This machine has no internet, so a local stand-in plays
# the price API and Slack (with internet, leave PRICE_URL unset and point SLACK_WEBHOOK_URL at Slack).
# usage: docs/quickstart/quickstart.sh WORKDIR   (WORKDIR: a fresh clone of the repository)
set -euo pipefail
work=$(cd "$1" && pwd)
cd "$work"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
t0=$(date +%s)

# Local stand-ins for the price API and the Slack webhook (prints what "Slack" receives).
python3 - <<'PY' &
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"bitcoin": {"usd": 43210.5}}).encode()
        self.send_response(200); self.send_header("content-type", "application/json"); self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("content-length", 0)))
        print("slack received:", data.decode(), flush=True)
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", 18765), H).serve_forever()
PY
stub=$!
trap 'kill $stub ${serve:-} 2>/dev/null || true' EXIT

say "cargo run --release -p aos-cli -- serve &"
export AOS_HTTP_ALLOW_HOSTS=127.0.0.1   # lets http_call reach the local stand-ins
cargo run -q --release -p aos-cli -- serve > serve.log 2>&1 &
serve=$!
for _ in $(seq 1800); do grep -q "listening on" serve.log 2>/dev/null && break; sleep 0.2; done
cat serve.log
t_serve=$(date +%s)

say "python3 -m venv .venv && .venv/bin/pip install ./sdks/python"
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check ./sdks/python
t_sdk=$(date +%s)

say "AOS_API_KEY=\$(cat .aos/admin.key) PRICE_URL=... SLACK_WEBHOOK_URL=... .venv/bin/python examples/btc_price_slack.py"
AOS_API_KEY=$(cat .aos/admin.key) PRICE_URL=http://127.0.0.1:18765/price SLACK_WEBHOOK_URL=http://127.0.0.1:18765/slack \
  .venv/bin/python examples/btc_price_slack.py
t_end=$(date +%s)

say "cargo run -q --release -p aos-cli -- runs list"
AOS_API_KEY=$(cat .aos/admin.key) cargo run -q --release -p aos-cli -- runs list

printf '\nbuild + start: %ss, SDK install: %ss, demo: %ss, total: %ss\n' $((t_serve - t0)) $((t_sdk - t_serve)) $((t_end - t_sdk)) $((t_end - t0))
