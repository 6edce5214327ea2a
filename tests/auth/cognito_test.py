#!/usr/bin/env python3
"""People log in through Cognito and AOS enforces who they are, end to end.

Real components only: moto server's Cognito (AOS_TEST_MOTO_URL, started by tests/run.sh) issues real
RS256 tokens; `aos serve` (AOS_BIN) verifies them against moto's JWKS with the real Cognito issuer
string; `aos login` signs in over the cognito-idp JSON API and `aos whoami` uses the stored token.
Forged tokens are signed with moto's own private key (public, shipped inside moto) so that each one
differs from a valid token in exactly one way. Key rotation (and ES256) runs against a JWKS served by
a small HTTP server of this test. Finally the servers' logs are scanned for every token used.

Run with the moto venv's python:  $AOS_TEST_ENV/moto/bin/python tests/auth/cognito_test.py
"""

import base64
import gzip
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import boto3
import moto.cognitoidp
from joserfc import jwk, jwt

MOTO = os.environ.get("AOS_TEST_MOTO_URL") or sys.exit("AOS_TEST_MOTO_URL is not set: tests/run.sh starts moto server and sets it")
AOS_BIN = os.environ.get("AOS_BIN") or sys.exit("AOS_BIN is not set: the aos binary to test")
REGION = "us-east-1"
PASSWORD = "Corr3ct-Horse-Battery!"
ROLES = ["admin", "operator", "developer", "viewer", "machine"]

tmp = tempfile.TemporaryDirectory(prefix="aos-cognito-")
used_tokens = []  # every token sent anywhere: none may appear in a server log
servers = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# ---------------------------------------------------------------- HTTP helpers

def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        used_tokens.append(token)
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text) if text else None
    except json.JSONDecodeError:
        return status, text


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# ---------------------------------------------------------------- aos serve

class Serve:
    def __init__(self, name, args, env=None):
        self.dir = os.path.join(tmp.name, name)
        self.log_path = os.path.join(tmp.name, f"{name}.log")
        self.log = open(self.log_path, "w")
        e = dict(os.environ, AOS_RATE_LIMIT_PER_MINUTE="0", AOS_LOG="debug", AOS_HTTP_ALLOW_HOSTS="127.0.0.1")
        for k in [k for k in e if k.startswith("AOS_OIDC_")]:
            del e[k]
        e.update(env or {})
        self.proc = subprocess.Popen([AOS_BIN, "serve", "--port", "0", "--data-dir", self.dir, *args],
                                     stdout=subprocess.PIPE, stderr=self.log, env=e, text=True)
        servers.append(self)
        deadline = time.time() + 30
        self.base = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.log.write(line)
            m = re.match(r"AOS listening on (http://\S+)", line)
            if m:
                self.base = m.group(1)
                break
        check(self.base, f"aos serve ({name}) did not start; log: {open(self.log_path).read()[-2000:]}")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.log.write(line)

    def __call__(self, method, path, token=None, body=None):
        return call(self.base, method, path, token, body)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def aos_cli(*args, stdin=None, env=None):
    e = dict(os.environ, XDG_CONFIG_HOME=os.path.join(tmp.name, "config"))
    for k in ("AOS_API_KEY", "AOS_URL", "AOS_PASSWORD"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([AOS_BIN, *args], input=stdin, capture_output=True, text=True, env=e, timeout=60, cwd=tmp.name)


# ---------------------------------------------------------------- the user pool

def setup_pool():
    idp = boto3.client("cognito-idp", endpoint_url=MOTO, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
    pool = idp.create_user_pool(PoolName=f"aos-{os.getpid()}", Schema=[{"Name": "tenant", "AttributeDataType": "String", "Mutable": True}])["UserPool"]["Id"]
    flows = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="aos-cli", ExplicitAuthFlows=flows, GenerateSecret=False)["UserPoolClient"]["ClientId"]
    other_client = idp.create_user_pool_client(UserPoolId=pool, ClientName="another-app", ExplicitAuthFlows=flows, GenerateSecret=False)["UserPoolClient"]["ClientId"]
    for g in ROLES + ["aos-operator", "staff"]:
        idp.create_group(UserPoolId=pool, GroupName=g)
    users = {
        # user: (tenant or None, groups)
        "alice": ("acme", ["admin"]),
        "oscar": ("acme", ["operator"]),
        "dora": ("acme", ["developer"]),
        "vera": ("acme", ["viewer"]),
        "max": ("acme", ["machine"]),
        "pat": ("acme", ["aos-operator", "viewer"]),  # prefixed group name; the strongest role wins
        "bob": ("globex", ["admin"]),
        "bea": ("globex", ["developer"]),
        "nina": ("acme", ["staff"]),  # in the pool, in no AOS group
        "tom": (None, ["developer"]),  # no tenant attribute
    }
    for name, (tenant, groups) in users.items():
        attrs = [{"Name": "email", "Value": f"{name}@example.com"}]
        if tenant:
            attrs.append({"Name": "custom:tenant", "Value": tenant})
        idp.admin_create_user(UserPoolId=pool, Username=name, UserAttributes=attrs, MessageAction="SUPPRESS", TemporaryPassword="Temp-Passw0rd!")
        idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD, Permanent=True)
        for g in groups:
            idp.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName=g)
    return idp, pool, client, other_client, users


def login(idp, client, user, pool=None):
    """ID and access token of `user`; ADMIN_USER_PASSWORD_AUTH when `pool` is given."""
    if pool:
        r = idp.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_USER_PASSWORD_AUTH", AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    else:
        r = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    res = r["AuthenticationResult"]
    return res["IdToken"], res["AccessToken"]


# ---------------------------------------------------------------- the tests

def test_cli_login(pool, client, serve):
    """`aos login` against moto's Cognito, then `aos whoami` with the stored token."""
    r = aos_cli("login", "--region", REGION, "--client-id", client, "--username", "dora", "--endpoint", MOTO, "--password-stdin", stdin="wrong-password\n")
    check(r.returncode != 0 and "NotAuthorized" in r.stderr, f"a wrong password is refused by Cognito: {r.returncode} {r.stderr}")
    r = aos_cli("login", "--region", REGION, "--client-id", client, "--username", "dora", "--endpoint", MOTO, "--password-stdin", "--url", serve.base, stdin=PASSWORD + "\n")
    check(r.returncode == 0, f"aos login: {r.stdout} {r.stderr}")
    check("logged in as dora" in r.stdout, r.stdout)
    path = os.path.join(tmp.name, "config", "aos", "credentials.json")
    check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, f"credentials mode {oct(os.stat(path).st_mode)}")
    check(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700, "credentials dir mode")
    creds = json.load(open(path))
    used_tokens.append(creds["token"])
    check(PASSWORD not in open(path).read(), "the password is not stored")
    check(abs(creds["expires_at_ms"] - claims_of(creds["token"])["exp"] * 1000) < 1000, "expiry stored")
    # The stored token (and the URL given at login) are used by the other commands.
    r = aos_cli("whoami", "--json")
    check(r.returncode == 0, f"aos whoami: {r.stderr}")
    me = json.loads(r.stdout)
    check((me["tenant"], me["role"], me["kind"], me["name"]) == ("acme", "developer", "user", "dora"), me)
    r = aos_cli("whoami")
    check("role: developer" in r.stdout and "tenant acme" in r.stdout, r.stdout)
    r = aos_cli("runs", "list", "--json")
    check(r.returncode == 0, r.stderr)
    # A developer may not manage keys: the CLI says so with the API's code.
    r = aos_cli("keys", "list")
    check(r.returncode == 1 and "403 Forbidden FORBIDDEN" in r.stderr and "keys:manage" in r.stderr, r.stderr)
    # An expired stored login is refused before any request, with a clear message.
    creds["expires_at_ms"] = int(time.time() * 1000) - 120_000
    with open(path, "w") as f:
        json.dump(creds, f)
    r = aos_cli("whoami")
    check(r.returncode == 1 and "expired" in r.stderr and "aos login" in r.stderr, r.stderr)
    r = aos_cli("logout")
    check(r.returncode == 0 and not os.path.exists(path), r.stdout + r.stderr)
    r = aos_cli("logout")
    check("not logged in" in r.stdout, r.stdout)


def test_roles_tenants_and_matrix(serve, tokens, users):
    # whoami: tenant, role and kind from the token.
    for user, (tenant, groups) in users.items():
        if tenant is None or user == "nina":
            continue
        status, me = serve("GET", "/api/v1/whoami", tokens[user][0])
        role = "operator" if user == "pat" else groups[0]
        check(status == 200 and (me["tenant"], me["role"], me["kind"], me["name"]) == (tenant, role, "user", user), f"whoami {user}: {status} {me}")
        check(me["id"] == claims_of(tokens[user][0])["sub"], me)
    # The matrix: each role gets its routes and 403 elsewhere (all in tenant acme).
    plan = {"name": "matrix", "steps": [{"id": "t", "skill": "json_transform", "input": {"data": {"a": 1}, "expr": ".a"}}]}
    routes = [
        ("GET", "/api/v1/runs", None, {"admin", "operator", "developer", "viewer", "machine"}, 200),
        ("POST", "/api/v1/runs", {"plan": plan, "inputs": {}}, {"admin", "operator", "developer", "machine"}, 202),
        ("POST", "/api/v1/workflows", {"name": "wf-matrix", "plan": plan}, {"admin", "operator", "developer", "machine"}, 201),
        ("PUT", "/api/v1/secrets/MATRIX", {"value": "v"}, {"admin", "operator", "developer"}, 204),
        ("GET", "/api/v1/secrets", None, {"admin", "operator", "developer", "viewer", "machine"}, 200),
        ("GET", "/metrics", None, {"admin", "operator", "machine"}, 200),
        ("GET", "/api/v1/keys", None, {"admin"}, 200),
        ("GET", "/api/v1/audit", None, {"admin"}, 200),
    ]
    who = {"admin": "alice", "operator": "oscar", "developer": "dora", "viewer": "vera", "machine": "max"}
    table = []
    for method, path, body, holders, ok in routes:
        row = []
        for role in ROLES:
            status, b = serve(method, path, tokens[who[role]][0], body)
            want = ok if role in holders else 403
            check(status == want, f"{method} {path} as {role}: want {want}, got {status} {b}")
            if status == 403:
                check(b["error"]["code"] == "FORBIDDEN" and f"role {role} lacks" in b["error"]["message"], b)
            row.append(status)
        table.append((f"{method} {path}", row))
    print("  matrix (" + " ".join(ROLES) + "):")
    for name, row in table:
        print(f"    {name:<28} {row}")
    # Tenant isolation: globex users see nothing of acme's run.
    status, run = serve("POST", "/api/v1/runs", tokens["alice"][0], {"plan": plan, "inputs": {}})
    check(status == 202, run)
    run_id = run["run_id"]
    check(serve("GET", f"/api/v1/runs/{run_id}", tokens["vera"][0])[0] == 200, "same tenant sees the run")
    for user in ("bob", "bea"):
        status, b = serve("GET", f"/api/v1/runs/{run_id}", tokens[user][0])
        check(status == 404 and b["error"]["code"] == "NOT_FOUND", f"{user} (globex) reading acme's run: {status} {b}")
        status, lst = serve("GET", "/api/v1/runs", tokens[user][0])
        check(status == 200 and run_id not in json.dumps(lst), f"{user} lists acme's run: {lst}")
    status, b = serve("POST", f"/api/v1/runs/{run_id}/cancel", tokens["bob"][0], {})
    check(status == 404, f"bob cancels acme's run: {status} {b}")
    # In the pool but in no AOS group: authenticated, entitled to nothing.
    status, b = serve("GET", "/api/v1/whoami", tokens["nina"][0])
    check(status == 403 and b["error"]["code"] == "FORBIDDEN" and "cognito:groups" in b["error"]["message"], f"nina: {status} {b}")
    # No tenant claim: refused without a default tenant.
    status, b = serve("GET", "/api/v1/whoami", tokens["tom"][0])
    check(status == 401 and b["error"]["code"] == "UNAUTHENTICATED" and "custom:tenant" in b["error"]["message"], f"tom: {status} {b}")
    # An access token carries `client_id`, not `aud` (accepted for the audience), but Cognito puts
    # no custom attributes in it: without a default tenant it names no tenant.
    status, b = serve("GET", "/api/v1/whoami", tokens["alice"][1])
    check(status == 401 and "no tenant" in b["error"]["message"], f"alice's access token: {status} {b}")
    return run_id


def test_rejections(serve, pool, client, tokens, other_client_token):
    private = jwk.RSAKey.import_key(json.load(gzip.open(os.path.join(os.path.dirname(moto.cognitoidp.__file__), "resources", "jwks-private.json.gz"))))
    base_claims = claims_of(tokens["alice"][0])
    now = int(time.time())

    def forge(header=None, **changes):
        claims = dict(base_claims, iat=now, auth_time=now, exp=now + 600, jti=f"forged-{len(used_tokens)}")
        claims.update(changes)
        return jwt.encode(dict({"alg": "RS256", "kid": "dummy"}, **(header or {})), claims, private)

    # The forging itself is sound: a token made like Cognito's with moto's key is accepted.
    status, me = serve("GET", "/api/v1/whoami", forge())
    check(status == 200 and me["role"] == "admin" and me["tenant"] == "acme", f"control token: {status} {me}")
    vera = tokens["vera"][0]
    h, p, sig = vera.split(".")
    promoted = dict(claims_of(vera), **{"cognito:groups": ["admin"]})
    tampered = f"{h}.{b64(json.dumps(promoted).encode())}.{sig}"
    public_pem = private.as_pem(private=False)
    hs_head, hs_body = b64(json.dumps({"alg": "HS256", "kid": "dummy", "typ": "JWT"}).encode()), b64(json.dumps(dict(base_claims, exp=now + 600)).encode())
    hs256 = f"{hs_head}.{hs_body}." + b64(hmac.new(public_pem, f"{hs_head}.{hs_body}".encode(), hashlib.sha256).digest())
    none = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + b64(json.dumps(dict(base_claims, exp=now + 600)).encode()) + "."
    cases = [
        ("expired", forge(iat=now - 7200, auth_time=now - 7200, exp=now - 3600), "expired"),
        ("tampered payload (viewer -> admin)", tampered, "signature"),
        ("wrong audience (forged)", forge(aud="someone-elses-client"), "audience"),
        ("wrong audience (another app client of the pool)", other_client_token, "audience"),
        ("wrong issuer", forge(iss=f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_Evil0000"), "issuer"),
        ("unknown kid", forge(header={"kid": "rotated-away"}), "rotated-away"),
        ("alg none", none, "none"),
        ("HS256 keyed with the public key", hs256, "HS256"),
        ("not yet valid", forge(nbf=now + 3600), "not valid yet"),
    ]
    for name, token, reason in cases:
        status, b = serve("GET", "/api/v1/whoami", token)
        check(status == 401 and b["error"]["code"] == "UNAUTHENTICATED" and reason in b["error"]["message"], f"{name}: {status} {b}")
        print(f"  refused ({name}): {b['error']['message']}")


def test_default_tenant(pool, client, tokens, jwks_url, issuer):
    serve = Serve("default-tenant", ["--oidc-issuer", issuer, "--oidc-audience", client, "--oidc-jwks-url", jwks_url, "--oidc-default-tenant", "shared"])
    status, me = serve("GET", "/api/v1/whoami", tokens["tom"][0])
    check(status == 200 and (me["tenant"], me["role"]) == ("shared", "developer"), f"tom with a default tenant: {status} {me}")
    # The access token: audience from `client_id`, role from its `cognito:groups`, tenant the default.
    status, me = serve("GET", "/api/v1/whoami", tokens["alice"][1])
    check(status == 200 and (me["tenant"], me["role"], me["kind"]) == ("shared", "admin", "user"), f"alice's access token: {status} {me}")
    # A token that names its tenant keeps it.
    status, me = serve("GET", "/api/v1/whoami", tokens["bob"][0])
    check(status == 200 and me["tenant"] == "globex", me)
    serve.stop()


class Jwks(http.server.BaseHTTPRequestHandler):
    keys = []
    fetches = 0

    def do_GET(self):
        Jwks.fetches += 1
        body = json.dumps({"keys": Jwks.keys}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_key_rotation():
    """A provider rotates from an RSA key to an EC key: AOS refetches its JWKS on the unknown kid."""
    rsa = jwk.RSAKey.generate_key(2048, parameters={"kid": "rsa-2025"})
    ec = jwk.ECKey.generate_key("P-256", parameters={"kid": "ec-2026"})
    Jwks.keys = [dict(rsa.as_dict(private=False), alg="RS256", use="sig")]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    issuer = "https://idp.aos-test.example"
    serve = Serve("rotation", ["--oidc-issuer", issuer, "--oidc-audience", "aos-local", "--oidc-jwks-url", f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json",
                               "--oidc-groups-claim", "groups", "--oidc-tenant-claim", "org", "--oidc-jwks-refetch-seconds", "1"])
    now = int(time.time())

    def token(key, alg, sub):
        claims = {"iss": issuer, "aud": "aos-local", "sub": sub, "exp": now + 600, "iat": now, "jti": f"jti-{sub}", "org": "acme", "groups": ["aos-viewer"], "email": f"{sub}@example.com"}
        return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)

    old, new = token(rsa, "RS256", "u-old"), token(ec, "ES256", "u-new")
    status, me = serve("GET", "/api/v1/whoami", old)
    check(status == 200 and (me["role"], me["tenant"]) == ("viewer", "acme"), f"RS256 before rotation: {status} {me}")
    status, b = serve("GET", "/api/v1/whoami", new)
    check(status == 401 and "ec-2026" in b["error"]["message"], f"ES256 key not published yet: {status} {b}")
    fetches = Jwks.fetches
    Jwks.keys = [dict(ec.as_dict(private=False), alg="ES256", use="sig")]  # rotated: the RSA key is retired
    time.sleep(1.2)
    status, me = serve("GET", "/api/v1/whoami", new)
    check(status == 200 and me["name"] == "u-new@example.com", f"ES256 after rotation: {status} {me}")
    check(Jwks.fetches == fetches + 1, f"one refetch for the new kid ({Jwks.fetches - fetches})")
    status, me = serve("GET", "/api/v1/whoami", new)
    check(status == 200 and Jwks.fetches == fetches + 1, "the new key is cached")
    status, b = serve("GET", "/api/v1/whoami", old)
    check(status == 401 and "rsa-2025" in b["error"]["message"], f"the retired key stops working: {status} {b}")
    # A flood of unknown kids does not turn into a flood of JWKS requests.
    before = Jwks.fetches
    for i in range(5):
        forged = jwt.encode({"alg": "ES256", "kid": f"nope-{i}"}, {"iss": issuer, "aud": "aos-local", "sub": "x", "exp": now + 600}, ec)
        check(serve("GET", "/api/v1/whoami", forged)[0] == 401, "unknown kid")
    check(Jwks.fetches - before <= 1, f"{Jwks.fetches - before} fetches for 5 unknown kids")
    for t in (old, new):
        used_tokens.append(t)
    serve.stop()
    httpd.shutdown()


def test_audit(serve, tokens, users):
    status, audit = serve("GET", "/api/v1/audit?action=login&limit=500", tokens["alice"][0])
    check(status == 200, audit)
    logins = audit["events"]
    subs = {claims_of(tokens[u][0])["sub"]: u for u, (t, _) in users.items() if t == "acme" and u != "nina"}
    seen = {e["actor"].removeprefix("user:") for e in logins}
    for sub, user in subs.items():
        check(sub in seen, f"no login event for {user}: {logins}")
    check(all(e["action"] == "login" and e["target"] == "session" for e in logins), logins)
    # One event per session (token id), however many requests it made.
    sessions = [e for e in logins if e["actor"] == f"user:{claims_of(tokens['dora'][0])['sub']}"]
    check(len(sessions) == 2, f"dora: one session of her own login, one of `aos login`: {sessions}")
    status, other = serve("GET", "/api/v1/audit?action=login", tokens["bob"][0])
    bob_subs = {claims_of(tokens[u][0])["sub"] for u in ("bob", "bea")}
    check(status == 200 and {e["actor"].removeprefix("user:") for e in other["events"]} <= bob_subs, f"globex's audit shows only globex: {other}")
    status, denied = serve("GET", "/api/v1/audit?action=permission.denied", tokens["alice"][0])
    check(any(e["target"] == "GET /api/v1/audit" and e["role"] == "viewer" for e in denied["events"]), f"denials audited: {denied}")
    print(f"  audit: {len(logins)} login events in tenant acme, {len(denied['events'])} denials")


def scan_logs():
    for s in servers:
        s.stop()
    checked = 0
    for s in servers:
        text = open(s.log_path).read()
        check("aos serve started" in text, f"{s.log_path} holds the server's log")
        for t in set(used_tokens):
            # Whole token, or its signature on its own.
            for needle in (t, t.rsplit(".", 1)[-1]):
                if len(needle) >= 16:
                    check(needle not in text, f"{s.log_path} holds a token used in the test ({needle[:12]}…)")
                    checked += 1
    print(f"  log scan: {len(set(used_tokens))} tokens, {len(servers)} server logs, {checked} checks")


def main():
    started = time.time()
    idp, pool, client, other_client, users = setup_pool()
    issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{pool}"
    jwks_url = f"{MOTO}/{pool}/.well-known/jwks.json"
    check(urllib.request.urlopen(jwks_url).status == 200, "moto serves the pool's JWKS")
    tokens = {u: login(idp, client, u, pool if u == "max" else None) for u in users}
    other_client_token = login(idp, other_client, "alice")[0]
    check(claims_of(tokens["alice"][0])["iss"] == issuer and claims_of(tokens["alice"][0])["custom:tenant"] == "acme", "moto's ID token")
    serve = Serve("main", ["--oidc-issuer", issuer, "--oidc-audience", client, "--oidc-jwks-url", jwks_url])
    steps = [
        ("aos login / whoami / logout (CLI)", lambda: test_cli_login(pool, client, serve)),
        ("whoami, role x route matrix, tenants, groups", lambda: test_roles_tenants_and_matrix(serve, tokens, users)),
        ("forged and foreign tokens are refused", lambda: test_rejections(serve, pool, client, tokens, other_client_token)),
        ("default tenant and access tokens", lambda: test_default_tenant(pool, client, tokens, jwks_url, issuer)),
        ("JWKS key rotation (RS256 -> ES256)", test_key_rotation),
        ("audit log of logins", lambda: test_audit(serve, tokens, users)),
        ("server logs hold no token", scan_logs),
    ]
    for name, fn in steps:
        t = time.time()
        fn()
        print(f"ok  {name} ({time.time() - t:.1f} s)")
    print(f"cognito test passed in {time.time() - started:.1f} s")


if __name__ == "__main__":
    try:
        main()
    finally:
        for s in servers:
            if s.proc.poll() is None:
                s.proc.kill()
