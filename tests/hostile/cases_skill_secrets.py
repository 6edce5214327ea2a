"""Case 14h: the credentials of slack_send, email_send and webhook_send (a Slack webhook URL and bot
token, an SMTP URL with its password, a webhook signing key) never come back — not in an output, a
run or failure record, the log or the metrics — after runs that use them, succeeding and failing.

The case runs its own `aos serve` at `AOS_LOG=debug` (so the log holds everything a debugging
operator would see; the final log scan, case 13, reads it) with real servers of each protocol on
loopback (tests/stack/protocol_slack.py, protocol_smtp.py requiring the password,
protocol_receiver.py verifying the signatures). Every value is registered with the leak scanner in
every encoding before it is set, so every answer of that server (run views, replay reports, failure
lists, statistics and candidates, the audit, /metrics) is scanned as it arrives; the stored records
(every item and queued message of its database: runs, attempts, failure records, markers) are
scanned after it stopped. The explicit checks make sure the test was not vacuous: each credential
was used, each failure is the one intended."""

import base64
import os
import secrets as pysecrets
import sqlite3
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path

import harness
from harness import ONCE, AosServer, Api, closed_port, http_request, step_code, step_state, wait_runs
from registry import case

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "tests" / "stack"


class _Shim:
    """Enough of a Ctx for an Api aimed at the case's own server (every answer still scanned)."""

    def __init__(self, server, scanner):
        self.server, self.scanner = server, scanner


def protocols_python() -> str:
    env = Path(os.environ.get("AOS_TEST_ENV") or ROOT / ".test-env")
    python = env / "protocols" / "bin" / "python"
    if not python.exists():
        raise harness.Failed(f"{python} is missing: run `bash tests/stack/python-env.sh protocols`")
    return str(python)


def start_standin(python: str, script: str, *args: str) -> tuple:
    """(process, address) of a stand-in that prints `listening on <address>` once it accepts."""
    proc = subprocess.Popen([python, str(STACK / script), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    harness.PROCS.append(proc)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        raise harness.Failed(f"{script} did not start: {line!r}")
    return proc, line[len("listening on "):]


def received(base: str) -> list:
    """What an HTTP stand-in recorded (read past the scanner: it holds the credentials on purpose)."""
    u = urllib.parse.urlparse(base)
    r = http_request(u.hostname, u.port, "GET", "/_received")
    return r.json if r.status == 200 and isinstance(r.json, list) else []


def rand(n: int = 24) -> str:
    return pysecrets.token_hex(n // 2)


@case("14h-skill-credentials-never-leak", 147)
def skill_credentials(ctx, p):
    python = protocols_python()
    token, wrong_token = f"xoxb-{rand()}", f"xoxb-{rand()}"
    slack, slack_base = start_standin(sys.executable, "protocol_slack.py", "--token", token, "--channel", "C0AOS1")
    user, password = f"u{rand(8)}", f"p+&=%/:@ {rand()}"
    mail_out = ctx.tmp / f"14h-mail-{uuid.uuid4().hex[:6]}.jsonl"
    smtp, smtp_addr = start_standin(python, "protocol_smtp.py", "--out", str(mail_out), "--auth", f"{user}:{password}")
    key_raw = os.urandom(24)
    key = "whsec_" + base64.b64encode(key_raw).decode()
    recv, recv_base = start_standin(python, "protocol_receiver.py", "--webhook-secret", key)
    server = None
    try:
        slack_port, closed = slack_base.rsplit(":", 1)[1], closed_port()
        q = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
        hook = lambda port, k: f"http://127.0.0.1:{port}/services/T{rand(8)}/B{rand(8)}/{k}"  # noqa: E731
        smtp_url = lambda addr, u, pw: f"smtp://{q(u)}:{q(pw)}@{addr}?tls=none&from=alerts@aos.example"  # noqa: E731
        bad_key = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        creds = {
            "H_SLACK_HOOK": hook(slack_port, rand()),
            "H_SLACK_HOOK_500": hook(slack_port, "fail-500-internal_error"),
            "H_SLACK_HOOK_GONE": hook(slack_port, "fail-404-no_service"),
            "H_SLACK_HOOK_CLOSED": hook(closed, rand()),
            "H_SLACK_TOKEN": token,
            "H_SLACK_TOKEN_WRONG": wrong_token,
            "H_SMTP": smtp_url(smtp_addr, user, password),
            "H_SMTP_WRONG_PW": smtp_url(smtp_addr, user, f"w{rand()}"),
            "H_SMTP_CLOSED": smtp_url(f"127.0.0.1:{closed_port()}", f"c{rand(8)}", f"c{rand()}"),
            "H_WEBHOOK_KEY": key,
            "H_WEBHOOK_KEY_WRONG": bad_key,
            "H_WEBHOOK_KEY_INVALID": f"whsec_!!{rand()}!!",
        }
        for name, value in creds.items():
            # The scheme, host and port of a local URL are shared with every other local URL.
            public = [value.split("/services/")[0] + "/services/"] if "/services/" in value else []
            ctx.scanner.add(name, value, public=public)
        ctx.scanner.add("H_SMTP_PASSWORD", password)
        ctx.scanner.add("H_SMTP_USER_PASSWORD_B64", base64.b64encode(f"\0{user}\0{password}".encode()).decode())
        ctx.scanner.add("H_WEBHOOK_KEY_BYTES_HEX", key_raw.hex())
        ctx.scanner.add("H_WEBHOOK_KEY_B64", key[len("whsec_"):])

        env = {**ctx.server.env, "AOS_LOG": "debug", "AOS_SLACK_API_URL": f"{slack_base}/api"}
        server = AosServer(ctx.aos_bin, ctx.tmp / "data-14h", ctx.tmp / "logs", "skill-credentials", env)
        ctx.extra_servers.append(server)
        ctx.guarded.append(server)
        server.start()
        admin_key = (server.data_dir / "admin.key").read_text().strip()
        ctx.all_keys.append(admin_key)
        admin = Api(_Shim(server, ctx.scanner), "14h-admin", admin_key)
        r = admin.post("/api/v1/keys", {"name": "14h-viewer", "role": "viewer"})
        if not p.check(r.status == 201, f"creating a viewer key: {r.brief()}"):
            return
        ctx.all_keys.append(r.json["key"])
        viewer = Api(_Shim(server, ctx.scanner), "14h-viewer", r.json["key"])
        for name, value in creds.items():
            r = admin.request("PUT", f"/api/v1/secrets/{name}", {"value": value})
            if not p.check(r.status == 204, f"PUT {name}: {r.brief()}"):
                return

        slack_step = lambda i, **inp: {"id": i, "skill": "slack_send", "input": {"text": f"14h {i}", **inp}, "retry": ONCE,  # noqa: E731
                                       "on_error": {"action": "continue"}}
        mail_step = lambda i, conn, to="ana@example.com": {"id": i, "skill": "email_send", "retry": ONCE,  # noqa: E731
                                                           "on_error": {"action": "continue"},
                                                           "input": {"to": [to], "subject": f"14h {i}", "text": "t", "html": "<p>h</p>",
                                                                     "connection": conn}}
        hook_step = lambda i, url, secret: {"id": i, "skill": "webhook_send", "retry": ONCE,  # noqa: E731
                                            "on_error": {"action": "continue"},
                                            "input": {"url": url, "payload": {"step": i}, "secret": secret}}
        expected = {
            "slack-hook": (slack_step("slack-hook", webhook="H_SLACK_HOOK"), None),
            "slack-hook-500": (slack_step("slack-hook-500", webhook="H_SLACK_HOOK_500"), "SLACK_SERVER_ERROR"),
            "slack-hook-gone": (slack_step("slack-hook-gone", webhook="H_SLACK_HOOK_GONE"), "SLACK_WEBHOOK_NO_SERVICE"),
            "slack-hook-closed": (slack_step("slack-hook-closed", webhook="H_SLACK_HOOK_CLOSED"), "HTTP_CONNECT_ERROR"),
            "slack-token": (slack_step("slack-token", token="H_SLACK_TOKEN", channel="C0AOS1"), None),
            "slack-token-wrong": (slack_step("slack-token-wrong", token="H_SLACK_TOKEN_WRONG", channel="C0AOS1"), "SLACK_INVALID_AUTH"),
            "slack-channel": (slack_step("slack-channel", token="H_SLACK_TOKEN", channel="C_NOPE"), "SLACK_CHANNEL_NOT_FOUND"),
            "mail": (mail_step("mail", "H_SMTP"), None),
            "mail-wrong-pw": (mail_step("mail-wrong-pw", "H_SMTP_WRONG_PW"), "EMAIL_AUTH_FAILED"),
            "mail-rejected": (mail_step("mail-rejected", "H_SMTP", "reject550@example.com"), "EMAIL_RECIPIENT_REJECTED"),
            "mail-closed": (mail_step("mail-closed", "H_SMTP_CLOSED"), "EMAIL_CONNECT_ERROR"),
            "hook": (hook_step("hook", f"{recv_base}/hook/14h", "H_WEBHOOK_KEY"), None),
            "hook-scanned": (hook_step("hook-scanned", f"{ctx.recv.base}/hook/14h-{uuid.uuid4().hex[:8]}", "H_WEBHOOK_KEY"), None),
            "hook-500": (hook_step("hook-500", f"{recv_base}/status/500", "H_WEBHOOK_KEY"), "HTTP_500"),
            "hook-wrong-key": (hook_step("hook-wrong-key", f"{recv_base}/hook/14h-wrong", "H_WEBHOOK_KEY_WRONG"), "HTTP_401"),
            "hook-invalid-key": (hook_step("hook-invalid-key", f"{recv_base}/hook/14h-invalid", "H_WEBHOOK_KEY_INVALID"), "WEBHOOK_SECRET_INVALID"),
            "hook-closed": (hook_step("hook-closed", f"http://127.0.0.1:{closed_port()}/hook", "H_WEBHOOK_KEY"), "HTTP_CONNECT_ERROR"),
        }
        # One run of every step (each failure continues), and one run that fails on a credential.
        ids = []
        r = admin.submit({"name": "14h-all", "steps": [step for step, _ in expected.values()]}, {})
        if p.check(r.status == 202, f"14h-all: {r.brief(300)}"):
            ids.append(r.json["run_id"])
        r = admin.submit({"name": "14h-abort", "steps": [{**mail_step("abort", "H_SMTP_WRONG_PW"), "on_error": {"action": "abort"}}]}, {})
        if p.check(r.status == 202, f"14h-abort: {r.brief(300)}"):
            ids.append(r.json["run_id"])
        views = wait_runs(admin, ids, 90)
        view = views.get(ids[0]) if ids else None
        for step_id, (_, code) in expected.items():
            st = step_state(view, step_id)
            if code is None:
                p.check(st.get("status") == "succeeded", f"{step_id}: expected success, got {st.get('status')} {step_code(view, step_id)}")
            else:
                p.check(step_code(view, step_id) == code, f"{step_id}: expected {code}, got {st.get('status')} {step_code(view, step_id)}")
        abort = views.get(ids[-1]) if len(ids) > 1 else None
        p.check((abort or {}).get("status") == "failed" and step_code(abort, "abort") == "EMAIL_AUTH_FAILED",
                f"14h-abort: expected a failed run (EMAIL_AUTH_FAILED), got {(abort or {}).get('status')} {step_code(abort, 'abort')}")

        # Not vacuous: every credential reached the server it is for.
        posts = received(slack_base)
        p.check(any(x["path"].startswith("/services/") and x["status"] == 200 for x in posts), "the Slack webhook post never arrived")
        p.check(any(x["path"] == "/api/chat.postMessage" and x["headers"].get("authorization") == f"Bearer {token}"
                    and (x.get("json") or {}).get("channel") == "C0AOS1" for x in posts), "chat.postMessage never carried the token")
        mails = [line for line in mail_out.read_text().splitlines()] if mail_out.exists() else []
        p.check(len(mails) == 1 and '"authenticated": true' in mails[0], f"the SMTP server accepted {len(mails)} authenticated message(s), expected 1")
        hooks = received(recv_base)
        p.check(any(h["path"] == "/hook/14h" and h["verified"] for h in hooks), "no webhook verified with the signing key")
        p.check(any(h["path"] == "/hook/14h-wrong" and not h["verified"] for h in hooks), "the webhook signed with the wrong key was not refused")

        # Every read surface, as the admin (raw views) and as a viewer; the scanner reads each answer.
        for api in (admin, viewer):
            for rid in ids:
                api.run(rid)
                api.post(f"/api/v1/runs/{rid}/replay")
            api.get("/api/v1/runs?limit=200")
            for qs in ("", "&kind=attempt", "&kind=run", "&kind=step", "&matched=false"):
                api.get(f"/api/v1/failures?limit=200{qs}")
            api.get("/api/v1/failures/stats")
            api.get("/api/v1/failures/candidates?limit=200")
            api.get("/api/v1/recovery/candidates?limit=200")
            api.get("/api/v1/secrets")
        admin.post("/api/v1/failures/aggregate?days=1")
        admin.get("/api/v1/failures/candidates?limit=200")
        failures = (admin.get("/api/v1/failures?limit=200").json or {}).get("failures") or []
        p.check(len(failures) >= len([c for _, c in expected.values() if c]), f"only {len(failures)} failure records")
        for f in failures:
            admin.post("/api/v1/recovery/suggest", {"failure_id": f["id"]})
        admin.get("/api/v1/audit?limit=500")
        metrics = admin.get("/metrics")
        p.check(metrics.status == 200 and "failure_match_hits_total" in metrics.text, f"/metrics: {metrics.brief(200)}")
    finally:
        if server is not None:
            server.stop()
            if server in ctx.guarded:
                ctx.guarded.remove(server)
        for proc in (slack, smtp, recv):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    # The stored records, read once the server stopped: every item (runs, attempts, failure records,
    # audit, markers) and queued message; only the secrets table holds the values, by design.
    db = server.data_dir / "aos.db"
    if p.check(db.exists(), f"no database at {db}"):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            n = 0
            for table, cols in (("items", "pk, sk, data"), ("messages", "queue, body")):
                for row in conn.execute(f"SELECT {cols} FROM {table}"):
                    n += 1
                    text = "\n".join(str(c) for c in row)
                    finding = ctx.scanner.scan(text, f"14h stored {table} row {row[0][:60]} {row[1][:60] if table == 'items' else ''}")
                    if finding:
                        p.fail(f"secret in a stored record: {finding}")
            p.note(f"{n} stored rows scanned")
        finally:
            conn.close()
    # The log, here already (case 13 scans it again with every other log).
    for f in server.log_files:
        if f.exists():
            finding = ctx.scanner.scan(harness.strip_ansi(f.read_text(errors="replace")), f"14h server log {f.name}")
            if finding:
                p.fail(f"secret in the log: {finding}")
    p.check(any(f.exists() and "DEBUG" in f.read_text(errors="replace") for f in server.log_files), "the debug log was not captured")
