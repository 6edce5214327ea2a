"""Access control through the SDK, against a real `aos serve`: who am I, API keys of every role
(create, list, rotate, revoke), permissions as typed 403s, the audit log across pages, 422s that
name the field, per-key rate limits (typed 429 with its headers, and the client's retry of
reads honouring ``Retry-After``), and people signing in with an OpenID Connect token (``token=``)."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, get_args

import httpx
import pytest

import aos
from aos.models import Role
from conftest import DOCS, AosServer, _stop, start_server

pytestmark = pytest.mark.contract

ROLES: List[Role] = list(get_args(Role))
OPENAPI = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))
#: Every permission the document names (each operation's security scope).
SCOPES = sorted(
    {scope for item in OPENAPI["paths"].values() for op in item.values() for req in op.get("security", []) for scopes in req.values() for scope in scopes}
)


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture()
def admin(aos_server: AosServer) -> Iterator[aos.Client]:
    with aos_server.client() as c:
        yield c


def test_whoami_as_the_bootstrap_admin(admin: aos.Client) -> None:
    me = admin.whoami()
    assert isinstance(me, aos.WhoAmI)
    assert (me.tenant, me.role, me.kind) == ("dev", "admin", "api_key")
    assert admin.config.api_key is not None and admin.config.api_key.startswith(f"aos_{me.id}_")
    assert sorted(me.permissions) == SCOPES, "an admin holds every permission the document names"


def test_keys_of_every_role_and_whoami_as_each(admin: aos.Client, aos_server: AosServer, unique: str) -> None:
    creator = admin.whoami()
    before = now_ms()
    created: Dict[str, aos.CreatedKey] = {}
    for role in ROLES:
        new = admin.keys.create(f"{unique}-{role}", role, expires_in_days=7 if role == "machine" else None)
        assert isinstance(new, aos.CreatedKey) and isinstance(new.record, aos.ApiKeyRecord)
        rec = new.record
        assert (rec.role, rec.name, rec.prefix) == (role, f"{unique}-{role}", f"aos_{rec.key_id}")
        assert new.key.startswith(rec.prefix + "_") and new.key not in repr(new)
        assert rec.created_by == f"key:{creator.id}" and before <= rec.created_at_ms <= now_ms()
        assert rec.revoked_at_ms is None and rec.rotated_from is None
        created[role] = new
    machine = created["machine"].record
    assert machine.expires_at_ms is not None
    assert abs(machine.expires_at_ms - (machine.created_at_ms + 7 * 86_400_000)) < 5_000
    assert created["viewer"].record.expires_at_ms is None

    for role, new in created.items():
        with aos.Client(aos_server.url, new.key) as c:
            me = c.whoami()
            assert (me.tenant, me.role, me.kind, me.id, me.name) == ("dev", role, "api_key", new.record.key_id, f"{unique}-{role}")
            assert me.expires_at_ms == new.record.expires_at_ms
            assert set(me.permissions) <= set(SCOPES) and me.can("profile:read")
            # The permissions whoami reports are the ones the API enforces.
            if me.can("keys:manage"):
                assert any(k.key_id == me.id for k in c.keys.list())
            else:
                with pytest.raises(aos.PermissionDeniedError):
                    c.keys.list()
    assert [r for r in ROLES if "keys:manage" in _perms(aos_server, created[r].key)] == ["admin"]
    assert not set(_perms(aos_server, created["viewer"].key)) & {"runs:write", "secrets:write", "metrics:read", "audit:read"}

    listed = admin.keys.list()
    assert all(isinstance(k, aos.ApiKeyRecord) for k in listed)
    mine = [k for k in listed if k.name.startswith(unique)]
    assert [k.key_id for k in mine] == [created[r].record.key_id for r in reversed(ROLES)], "newest first"
    assert [k.created_at_ms for k in listed] == sorted((k.created_at_ms for k in listed), reverse=True)


def _perms(server: AosServer, key: str) -> List[str]:
    with aos.Client(server.url, key) as c:
        return c.whoami().permissions


def test_a_viewer_cannot_create_keys(admin: aos.Client, aos_server: AosServer, unique: str) -> None:
    viewer = admin.keys.create(f"{unique}-viewer", "viewer")
    with aos.Client(aos_server.url, viewer.key) as c:
        with pytest.raises(aos.PermissionDeniedError) as denied:
            c.keys.create(f"{unique}-escalate", "admin")
    # A fresh connection: `aos serve` closes the connection of a POST refused before its body was
    # read, without `Connection: close`, so a request reusing it may find it gone (reported).
    with aos.Client(aos_server.url, viewer.key) as c:
        with pytest.raises(aos.PermissionDeniedError):
            c.audit.list_page()
        assert c.whoami().role == "viewer"
    e = denied.value
    assert (e.status, e.code) == (403, "FORBIDDEN") and "keys:manage" in e.message and not e.retryable
    assert not any(k.name == f"{unique}-escalate" for k in admin.keys.list())


def test_rotation_retires_the_old_key(admin: aos.Client, aos_server: AosServer, unique: str) -> None:
    old = admin.keys.create(f"{unique}-ci", "machine", expires_in_days=30)
    new = admin.keys.rotate(old.record.key_id)
    assert isinstance(new, aos.CreatedKey) and new.key != old.key
    assert new.record.rotated_from == old.record.key_id and new.record.key_id != old.record.key_id
    assert (new.record.role, new.record.name, new.record.expires_at_ms) == ("machine", f"{unique}-ci", old.record.expires_at_ms)
    with aos.Client(aos_server.url, old.key, max_retries=0) as c:
        with pytest.raises(aos.AuthenticationError) as refused:
            c.whoami()
    assert (refused.value.status, refused.value.code) == (401, "UNAUTHENTICATED")
    with aos.Client(aos_server.url, new.key) as c:
        assert c.whoami().id == new.record.key_id
    with pytest.raises(aos.ConflictError) as again:
        admin.keys.rotate(old.record.key_id)
    assert again.value.code == aos.ConflictError.KEY_INACTIVE and not again.value.retryable
    listed = {k.key_id: k for k in admin.keys.list()}
    assert listed[old.record.key_id].revoked and not listed[new.record.key_id].revoked


def test_revocation(admin: aos.Client, aos_server: AosServer, unique: str) -> None:
    key = admin.keys.create(f"{unique}-dev", "developer")
    with aos.Client(aos_server.url, key.key) as c:
        assert c.whoami().role == "developer"
        revoked = admin.keys.revoke(key.record.key_id)
        assert isinstance(revoked, aos.ApiKeyRecord) and revoked.revoked and revoked.revoked_at_ms is not None
        with pytest.raises(aos.AuthenticationError):
            c.whoami()
        with pytest.raises(aos.AuthenticationError):
            c.skills.list()
    # Revoking again changes nothing.
    assert admin.keys.revoke(key.record.key_id).revoked_at_ms == revoked.revoked_at_ms
    assert next(k for k in admin.keys.list() if k.key_id == key.record.key_id).revoked_at_ms == revoked.revoked_at_ms
    with pytest.raises(aos.NotFoundError):
        admin.keys.revoke("00000000")
    with pytest.raises(aos.NotFoundError):
        admin.keys.rotate("00000000")


def test_bad_input_names_the_field(admin: aos.Client) -> None:
    for name in ("   ", "x" * 65, "tab\tname"):
        with pytest.raises(aos.ValidationError) as bad:
            admin.keys.create(name, "viewer")
        assert (bad.value.status, bad.value.code, bad.value.field) == (422, "INVALID_FIELD", "name")
        assert bad.value.errors[0].field == "name"
    with pytest.raises(aos.ValidationError) as bad_role:
        admin.keys.create("ok", "root")  # type: ignore[arg-type]
    assert (bad_role.value.code, bad_role.value.field) == ("INVALID_FIELD", "role")
    assert "admin" in bad_role.value.message, "the message lists the roles"
    with pytest.raises(ValueError, match="expires_in_days"):
        admin.keys.create("ok", "viewer", expires_in_days=0)
    with pytest.raises(aos.BadRequestError) as bad_range:
        admin.audit.list_page(from_ms=now_ms(), to_ms=now_ms() - 60_000)
    assert (bad_range.value.status, bad_range.value.code, bad_range.value.field) == (400, "INVALID_QUERY", "from")
    with pytest.raises(aos.ValidationError) as bad_cursor:
        admin.audit.list_page(cursor="not-a-cursor")
    assert (bad_cursor.value.code, bad_cursor.value.field) == ("INVALID_CURSOR", "cursor")


def test_audit_log_across_pages_newest_first(admin: aos.Client, aos_server: AosServer, unique: str) -> None:
    since = now_ms()
    me = admin.whoami()
    made = [admin.keys.create(f"{unique}-{i}", "machine").record.key_id for i in range(5)]
    viewer = admin.keys.create(f"{unique}-viewer", "viewer")
    with aos.Client(aos_server.url, viewer.key) as c, pytest.raises(aos.PermissionDeniedError):
        c.keys.list()
    admin.keys.revoke(made[0])

    pager = admin.audit.list(from_ms=since, action="key.created", limit=2)
    assert isinstance(pager, aos.AuditPager)
    pages = list(pager.pages())
    assert len(pages) >= 3 and all(isinstance(p, aos.AuditList) and len(p.events) <= 2 for p in pages)
    assert all(p.next_cursor for p in pages[:-1])
    events = [e for p in pages for e in p.events]
    assert events == list(pager), "iterating yields the pages' events"
    assert all(isinstance(e, aos.AuditEvent) and e.action == "key.created" for e in events)
    assert [e.at_ms for e in events] == sorted((e.at_ms for e in events), reverse=True), "newest first"
    ours = [e.target for e in events if e.target in {f"key:{k}" for k in made}]
    assert ours == [f"key:{k}" for k in reversed(made)]
    first = next(e for e in events if e.target == f"key:{made[0]}")
    assert (first.actor, first.role, first.detail["name"], first.detail["role"]) == (f"key:{me.id}", "admin", f"{unique}-0", "machine")
    assert len(list(admin.audit.list(from_ms=since, action="key.created", limit=2, max_items=3))) == 3

    # One page by hand, following next_cursor.
    page = admin.audit.list_page(from_ms=since, limit=1)
    assert len(page.events) == 1 and page.next_cursor
    nxt = admin.audit.list_page(from_ms=since, to_ms=now_ms(), limit=1, cursor=page.next_cursor)
    assert nxt.events[0].at_ms <= page.events[0].at_ms

    everything = list(admin.audit.list(from_ms=since))
    actions = {e.action for e in everything}
    assert {"key.created", "key.revoked", "permission.denied"} <= actions
    denied = next(e for e in everything if e.action == "permission.denied" and e.actor == f"key:{viewer.record.key_id}")
    assert (denied.role, denied.target, denied.detail["permission"]) == ("viewer", "GET /api/v1/keys", "keys:manage")
    # Tenants see only their own log and keys.
    with aos.Client(aos_server.url, aos_server.other_key) as other:
        assert not any(e.target in {f"key:{k}" for k in made} for e in other.audit.list(from_ms=since))
        assert not any(k.name.startswith(unique) for k in other.keys.list())


def test_token_is_sent_as_the_bearer_credential(aos_server: AosServer, admin: aos.Client, unique: str) -> None:
    """``token=`` (an identity provider's JWT) and ``api_key=`` are sent the same way; the API tells
    them apart by their form, so an API key given as ``token`` works too."""
    key = admin.keys.create(f"{unique}-tok", "operator")
    with aos.Client(aos_server.url, token=key.key) as c:
        assert c.whoami().role == "operator"
    with aos.Client(aos_server.url, token="eyJhbGciOiJSUzI1NiJ9.e30.c2ln", max_retries=0) as c:
        with pytest.raises(aos.AuthenticationError) as refused:
            c.whoami()
    assert "identity-provider tokens" in refused.value.message, refused.value.message


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_client_covers_access(aos_server: AosServer, unique: str) -> None:
    since = now_ms()
    async with aos.AsyncClient(aos_server.url, aos_server.api_key) as c:
        me = await c.whoami()
        assert me.role == "admin"
        new = await c.keys.create(f"{unique}-async", "developer", expires_in_days=1)
        assert any(k.key_id == new.record.key_id for k in await c.keys.list())
        rotated = await c.keys.rotate(new.record.key_id)
        assert rotated.record.rotated_from == new.record.key_id
        assert (await c.keys.revoke(rotated.record.key_id)).revoked
        pager = c.audit.list(from_ms=since, action="key.rotated", limit=1)
        assert isinstance(pager, aos.AsyncAuditPager)
        rotations = [e async for e in pager]
        assert f"key:{new.record.key_id}" in [e.target for e in rotations]
        assert (await c.audit.list_page(action="key.revoked", limit=1)).events[0].target == f"key:{rotated.record.key_id}"
        async with aos.AsyncClient(aos_server.url, new.key, max_retries=0) as old:
            with pytest.raises(aos.AuthenticationError):
                await old.whoami()


# ---- rate limits: a server allowing 60 requests a minute per key, in bursts of 2


class Recorder:
    """Records every answer an httpx client gets (status and time), to see the SDK's retries."""

    def __init__(self) -> None:
        self.answers: List[Any] = []

    def __call__(self, response: httpx.Response) -> None:
        self.answers.append((response.status_code, time.monotonic()))

    def client(self) -> httpx.Client:
        return httpx.Client(event_hooks={"response": [self]})

    @property
    def statuses(self) -> List[int]:
        return [s for s, _ in self.answers]


def spend_burst(server: AosServer, key: str) -> aos.RateLimitError:
    """Makes requests with ``key`` until one is refused, and returns the refusal."""
    with aos.Client(server.url, key, max_retries=0) as c:
        for _ in range(10):
            try:
                c.whoami()
            except aos.RateLimitError as e:
                return e
    raise AssertionError("no request was rate limited")


def test_rate_limited_requests_get_a_typed_error(limited_server: AosServer) -> None:
    with aos.Client(limited_server.url, limited_server.api_key, max_retries=0) as c:
        time.sleep(2.1)  # a full bucket
        c.whoami()
        c.whoami()
        with pytest.raises(aos.RateLimitError) as limited:
            c.whoami()
    e = limited.value
    assert (e.status, e.code) == (429, "RATE_LIMITED") and e.retryable
    assert e.retry_after is not None and 1.0 <= e.retry_after <= 2.0
    assert (e.limit, e.remaining) == (60, 0)
    assert e.reset is not None and 1.0 <= e.reset <= 2.0
    assert "429 RATE_LIMITED" in str(e)


def test_reads_are_retried_after_retry_after(limited_server: AosServer) -> None:
    refusal = spend_burst(limited_server, limited_server.api_key)
    assert refusal.retry_after is not None
    rec = Recorder()
    with aos.Client(limited_server.url, limited_server.api_key, http_client=rec.client(), max_retries=3) as c:
        started = time.monotonic()
        assert c.whoami().role == "admin"
    assert rec.statuses[0] == 429 and rec.statuses[-1] == 200, rec.statuses
    # Each retry waited at least the Retry-After of the refusal before it (1 s here).
    for (status, at), (_, then) in zip(rec.answers, rec.answers[1:]):
        assert status == 429 and then - at >= 0.95, rec.answers
    assert time.monotonic() - started >= 0.95


def test_unsafe_requests_are_not_retried(limited_server: AosServer, unique: str) -> None:
    spend_burst(limited_server, limited_server.api_key)
    rec = Recorder()
    with aos.Client(limited_server.url, limited_server.api_key, http_client=rec.client(), max_retries=3) as c:
        with pytest.raises(aos.RateLimitError) as limited:
            c.keys.create(f"{unique}-limited", "viewer")
    assert rec.statuses == [429], "a key creation is not repeated"
    assert limited.value.limit == 60 and limited.value.retry_after is not None


def test_limits_are_per_key_and_audited(limited_server: AosServer, unique: str) -> None:
    time.sleep(2.1)
    with aos.Client(limited_server.url, limited_server.api_key, max_retries=3) as admin:
        me = admin.whoami()
        other = admin.keys.create(f"{unique}-other", "viewer")
    spend_burst(limited_server, limited_server.api_key)
    with aos.Client(limited_server.url, other.key, max_retries=0) as c:
        assert c.whoami().role == "viewer", "another key has its own budget"
    time.sleep(1.1)
    with aos.Client(limited_server.url, limited_server.api_key, max_retries=3) as admin:
        events = admin.audit.list_page(action="rate_limited").events
    assert events and events[0].actor == f"key:{me.id}" and events[0].detail["limit_per_minute"] == 60


# ---- people with an OpenID Connect token: a real RS256 JWT (signed with the `openssl` CLI), checked
# by the server against a JWKS served here


class IdentityProvider:
    """An RSA signing key and a JWKS endpoint on 127.0.0.1, issuing JWTs as an identity provider does."""

    KID = "sdk-test-key"
    AUDIENCE = "sdk-test-client"

    def __init__(self, workdir: Path) -> None:
        self.key = workdir / "idp.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(self.key)],
                       check=True, capture_output=True)
        out = subprocess.run(["openssl", "rsa", "-in", str(self.key), "-noout", "-modulus"], check=True, capture_output=True, text=True)
        modulus = bytes.fromhex(out.stdout.strip().split("=", 1)[1])
        jwks = {"keys": [{"kty": "RSA", "kid": self.KID, "alg": "RS256", "use": "sig", "n": _b64(modulus), "e": _b64((65537).to_bytes(3, "big"))}]}
        body = json.dumps(jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        head = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.KID}).encode())
        payload = {"iss": self.issuer, "aud": self.AUDIENCE, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex,
                   "custom:tenant": "dev", **claims}
        signing_input = f"{head}.{_b64(json.dumps(payload).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return f"{signing_input}.{_b64(sig)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    provider = IdentityProvider(tmp_path_factory.mktemp("idp"))
    yield provider
    provider.server.shutdown()


@pytest.fixture(scope="module")
def oidc_server(tmp_path_factory: pytest.TempPathFactory, idp: IdentityProvider) -> Iterator[AosServer]:
    server, proc = start_server(tmp_path_factory, {"AOS_OIDC_ISSUER": idp.issuer, "AOS_OIDC_AUDIENCE": idp.AUDIENCE})
    try:
        yield server
    finally:
        _stop(proc.pid, proc)


def test_an_oidc_token_is_a_user_with_the_role_of_its_group(oidc_server: AosServer, idp: IdentityProvider) -> None:
    token = idp.token(sub="user-1", email="dev@example.com", **{"cognito:groups": ["developer"]})
    with aos.Client(oidc_server.url, token=token) as c:
        me = c.whoami()
        assert (me.tenant, me.role, me.kind, me.id, me.name) == ("dev", "developer", "user", "user-1", "dev@example.com")
        assert me.expires_at_ms is not None and me.expires_at_ms > now_ms()
        with pytest.raises(aos.PermissionDeniedError):
            c.keys.list()
    admin_token = idp.token(sub="admin-1", **{"cognito:groups": ["viewer", "admin"]})
    with aos.Client(oidc_server.url, token=admin_token) as admin:
        assert admin.whoami().role == "admin", "the strongest of the user's groups"
        made = admin.keys.create("made-by-a-person", "machine")
        assert made.record.created_by == "user:admin-1"
        assert any(e.actor == "user:admin-1" for e in admin.audit.list(action="login"))


def test_refused_oidc_tokens(oidc_server: AosServer, idp: IdentityProvider) -> None:
    now = int(time.time())
    expired = idp.token(sub="u", exp=now - 3600, iat=now - 7200, **{"cognito:groups": ["admin"]})
    with aos.Client(oidc_server.url, token=expired, max_retries=0) as c:
        with pytest.raises(aos.AuthenticationError) as refused:
            c.whoami()
    assert refused.value.code == "UNAUTHENTICATED" and "expired" in refused.value.message
    with aos.Client(oidc_server.url, token=idp.token(sub="u", **{"cognito:groups": ["sales"]}), max_retries=0) as c:
        with pytest.raises(aos.PermissionDeniedError) as no_role:
            c.whoami()
    assert no_role.value.code == "FORBIDDEN"
