"""Every operation of docs/openapi.json has an SDK method, and every SDK method maps to an operation.

The mapping is explicit: ``aos._ops.OPERATIONS`` (operationId -> method, path, SDK method; the
public routes ``/healthz`` and the document itself included) and ``HELPERS`` (SDK methods built on
an operation, without a route of their own). Both clients are checked, and every public method of
the clients and their resources must appear in the mapping. What each operation sends is checked
against the document too: method, path, query parameters and their bounds, body, and whether it
carries the key (``security``); and every error status an operation documents maps to a typed error.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Dict, Set, Tuple

import pytest

import aos
from aos import _ops
from aos._http import MAX_HTTP_STATUS, MAX_PAGE_LIMIT, MAX_WAIT_MS, MIN_BUCKET_MS, MIN_HTTP_STATUS, MIN_PAGE_LIMIT
from conftest import DOCS

OPENAPI = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))


def openapi_operations() -> Dict[str, Tuple[str, str]]:
    out: Dict[str, Tuple[str, str]] = {}
    for path, item in OPENAPI["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete", "head", "options"):
                assert "operationId" in op, f"{method.upper()} {path} has no operationId"
                out[op["operationId"]] = (method.upper(), path)
    return out


RESOURCES = ("runs", "skills", "workflows", "secrets", "catalog", "failures", "recovery", "policies", "keys", "audit")
#: Methods of AsyncClient that return an async pager (iterated with ``async for``) instead of a
#: coroutine.
ASYNC_PAGERS = {"runs.list", "failures.list", "audit.list", "recovery.candidates"}


def resolve(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def public_methods(client: Any) -> Set[str]:
    """Every public method of a client and of its resources, as dotted names."""
    names: Set[str] = set()
    for name, member in inspect.getmembers(type(client)):
        if name.startswith("_") or not callable(member) or isinstance(member, type):
            continue
        if name in ("close", "aclose"):
            continue
        names.add(name)
    for res in RESOURCES:
        for name, member in inspect.getmembers(type(getattr(client, res))):
            if not name.startswith("_") and callable(member):
                names.add(f"{res}.{name}")
    return names


@pytest.fixture(scope="module", params=["Client", "AsyncClient"])
def sdk_client(request: pytest.FixtureRequest) -> Any:
    cls = getattr(aos, request.param)
    return cls("http://127.0.0.1:9", "aos_00000000_" + "0" * 48)


def test_every_openapi_operation_is_mapped() -> None:
    spec = openapi_operations()
    missing = sorted(set(spec) - set(_ops.OPERATIONS))
    assert not missing, f"operations of docs/openapi.json without an SDK method: {missing}"


def test_every_mapped_operation_exists_in_openapi() -> None:
    spec = openapi_operations()
    stale = sorted(set(_ops.OPERATIONS) - set(spec))
    assert not stale, f"SDK operations that docs/openapi.json no longer has: {stale}"
    for op_id, (method, path, _) in _ops.OPERATIONS.items():
        assert spec[op_id] == (method, path), f"{op_id}: SDK says {method} {path}, OpenAPI says {spec[op_id]}"


def test_every_mapped_method_exists(sdk_client: Any) -> None:
    targets = [m for _, _, m in _ops.OPERATIONS.values()]
    targets += list(_ops.HELPERS)
    for dotted in targets:
        method = resolve(sdk_client, dotted)
        assert callable(method), f"{type(sdk_client).__name__}.{dotted} is not callable"
    for helper, op_id in _ops.HELPERS.items():
        assert op_id in _ops.OPERATIONS, f"helper {helper} names unknown operation {op_id}"


def test_every_sdk_method_is_mapped(sdk_client: Any) -> None:
    mapped = {m for _, _, m in _ops.OPERATIONS.values()}
    mapped |= set(_ops.HELPERS)
    unmapped = sorted(public_methods(sdk_client) - mapped)
    assert not unmapped, f"{type(sdk_client).__name__} methods missing from the operation mapping: {unmapped}"


def test_sync_and_async_clients_have_the_same_methods() -> None:
    sync = aos.Client("http://127.0.0.1:9", "k")
    asyn = aos.AsyncClient("http://127.0.0.1:9", "k")
    assert public_methods(sync) == public_methods(asyn)
    for dotted in public_methods(sync):
        s = inspect.signature(resolve(sync, dotted))
        a = inspect.signature(resolve(asyn, dotted))
        assert list(s.parameters) == list(a.parameters), dotted
        is_async = inspect.iscoroutinefunction(resolve(asyn, dotted))
        # The listings return an async pager (iterated with `async for`), everything else is awaited.
        assert is_async == (dotted not in ASYNC_PAGERS), dotted
    sync.close()


def sample_calls() -> Dict[str, _ops.Call[Any]]:
    """One Call per operation, as the SDK builds it."""
    return {
        "submit_run": _ops.submit_run({"name": "p", "steps": []}),
        "list_runs": _ops.list_runs(),
        "get_run": _ops.get_run("r_1"),
        "cancel_run": _ops.cancel_run("r_1"),
        "replay_run": _ops.replay_run("r_1"),
        "rerun_run": _ops.rerun_run("r_1", idempotency_key="k", seed=1),
        "redrive_run": _ops.redrive_run("r_1", patch={"a": {"timeout_ms": 1000}}, idempotency_key="k"),
        "simulate_plan": _ops.simulate_plan({"name": "p", "steps": []}),
        "list_skills": _ops.list_skills(),
        "get_skill": _ops.get_skill("http_call"),
        "create_workflow": _ops.create_workflow("w", {"name": "p", "steps": []}),
        "list_workflows": _ops.list_workflows(),
        "get_workflow": _ops.get_workflow("w"),
        "put_secret": _ops.put_secret("S", "v"),
        "list_secrets": _ops.list_secrets(),
        "get_catalog": _ops.get_catalog(),
        "get_catalog_entry": _ops.get_catalog_entry("HTTP_NOT_FOUND"),
        "match_failure": _ops.match_failure("boom", code="HTTP_503", skill="http_call", http_status=503),
        # Every parameter given, so that each query parameter's name is checked against the document.
        "list_failures": _ops.list_failures(
            from_ms=1, to_ms=2, code="HTTP_503", category="TRANSIENT", skill="http_call", matched=True,
            recovered=False, kind="attempt", limit=10, cursor="c",
        ),
        "get_failure_stats": _ops.get_failure_stats(
            from_ms=1, to_ms=2, bucket_ms=1000, code="HTTP_503", category="TRANSIENT", skill="http_call", kind="run"
        ),
        "list_failure_candidates": _ops.list_failure_candidates(limit=10, cursor="c"),
        "aggregate_failures": _ops.aggregate_failures(days=7, low_confidence=0.75),
        "get_failure_drift": _ops.get_failure_drift(),
        "get_metrics": _ops.get_metrics(),
        "whoami": _ops.whoami(),
        "create_key": _ops.create_key("ci", "machine", expires_in_days=30),
        "list_keys": _ops.list_keys(),
        "revoke_key": _ops.revoke_key("0a1b2c3d"),
        "rotate_key": _ops.rotate_key("0a1b2c3d"),
        "list_audit": _ops.list_audit(from_ms=1, to_ms=2, action="key.created", limit=10, cursor="c"),
        "suggest_recovery": _ops.suggest_recovery(message="boom", code="HTTP_503", skill="http_call", http_status=503),
        "list_recovery_candidates": _ops.list_recovery_candidates(
            status="pending", code="HTTP_SERVICE_UNAVAILABLE", skill="http_call", limit=10, cursor="c"
        ),
        "get_recovery_candidate": _ops.get_recovery_candidate("rc_0123456789abcdef"),
        "approve_recovery_candidate": _ops.decide_recovery_candidate("rc_0123456789abcdef", "approve", "ok"),
        "reject_recovery_candidate": _ops.decide_recovery_candidate("rc_0123456789abcdef", "reject"),
        "retire_recovery_candidate": _ops.decide_recovery_candidate("rc_0123456789abcdef", "retire"),
        "get_recovery_settings": _ops.get_recovery_settings(),
        "put_recovery_settings": _ops.put_recovery_settings(aos.RecoverySettingsView("active", 0.8, 10)),
        "list_policies": _ops.list_policies(),
        "get_policy": _ops.get_policy("pol_0123456789abcdef"),
        "disable_policy": _ops.disable_policy("pol_0123456789abcdef", "enough"),
        "healthz": _ops.health(),
        "openapi_document": _ops.openapi(),
    }


def operation(op_id: str) -> Dict[str, Any]:
    method, path = openapi_operations()[op_id]
    return OPENAPI["paths"][path][method.lower()]  # type: ignore[no-any-return]


def test_operations_send_what_openapi_describes() -> None:
    """Each operation's Call uses the documented method and a path matching the template."""
    import re

    calls = sample_calls()
    assert set(calls) == set(_ops.OPERATIONS)
    spec = openapi_operations()
    for op_id, call in calls.items():
        method, template = spec[op_id]
        assert call.method == method, op_id
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        assert re.match(pattern, call.path), (op_id, call.path, template)
        op = OPENAPI["paths"][template][method.lower()]
        documented = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        assert set(call.params or {}) <= documented, (op_id, call.params, documented)
        if op_id in (
            "list_failures",
            "get_failure_stats",
            "list_audit",
            "list_failure_candidates",
            "aggregate_failures",
            "list_recovery_candidates",
        ):
            assert set(call.params or {}) == documented, f"{op_id}: the SDK sends {sorted(call.params or {})}"
        has_body = "requestBody" in op
        assert (call.body is not _ops.Call.__dataclass_fields__["body"].default) == has_body, op_id


def test_the_key_is_sent_exactly_where_the_document_asks_for_it() -> None:
    """Operations without ``security`` (``/healthz``, the document) are called without a key."""
    schemes = set(OPENAPI["components"]["securitySchemes"])
    public = set()
    for op_id, call in sample_calls().items():
        security = operation(op_id).get("security", OPENAPI.get("security"))
        if security:
            assert {name for req in security for name in req} <= schemes, op_id
        else:
            public.add(op_id)
        assert call.authenticated == bool(security), f"{op_id}: security {security}, SDK authenticated={call.authenticated}"
    assert public == {"healthz", "openapi_document"}


def test_every_documented_error_status_has_a_typed_error() -> None:
    """Each 4xx/5xx an operation documents raises its own subclass of AosError, never the bare base."""
    seen = set()
    for op_id in _ops.OPERATIONS:
        op = operation(op_id)
        for status in op["responses"]:
            if status[0] in "45":
                cls = aos.errors.error_for_status(int(status))
                assert cls is not aos.AosError, f"{op_id}: {status} has no typed error"
                seen.add(int(status))
        if op.get("security"):
            assert {"401", "403", "503"} <= set(op["responses"]), f"{op_id}: authenticated, documents {sorted(op['responses'])}"
        if "requestBody" in op:
            assert {"400", "413", "415", "422"} <= set(op["responses"]), f"{op_id}: takes a body, documents {sorted(op['responses'])}"
    assert {401, 403, 409, 503} <= seen
    assert aos.errors.error_for_status(409) is aos.ConflictError
    # Any authenticated operation may be answered 429 RATE_LIMITED (the document does not list it
    # per operation): it has its typed error too.
    assert aos.errors.error_for_status(429) is aos.RateLimitError


def test_query_bounds_match_the_document() -> None:
    """The SDK refuses, before sending, the values of ``limit`` and ``wait_ms`` that the API would."""
    limit = next(p for p in operation("list_runs")["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (MIN_PAGE_LIMIT, MAX_PAGE_LIMIT)
    wait = next(p for p in operation("get_run")["parameters"] if p["name"] == "wait_ms")["schema"]
    assert (wait["minimum"], wait["maximum"]) == (0, MAX_WAIT_MS)
    for ok in (MIN_PAGE_LIMIT, MAX_PAGE_LIMIT):
        assert _ops.list_runs(limit=ok).params["limit"] == ok  # type: ignore[index]
    for bad in (MIN_PAGE_LIMIT - 1, MAX_PAGE_LIMIT + 1):
        with pytest.raises(ValueError, match="limit"):
            _ops.list_runs(limit=bad)
    for ok in (0, MAX_WAIT_MS):
        _ops.get_run("r_1", wait_ms=ok)
    for bad in (-1, MAX_WAIT_MS + 1):
        with pytest.raises(ValueError, match="wait_ms"):
            _ops.get_run("r_1", wait_ms=bad)


def test_failure_and_catalog_bounds_match_the_document() -> None:
    """The SDK refuses, before sending, what the document's bounds exclude: page sizes of failure
    listings, ``bucket_ms`` below its minimum, and HTTP statuses a match request cannot carry."""
    limit = next(p for p in operation("list_failures")["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (MIN_PAGE_LIMIT, MAX_PAGE_LIMIT)
    for bad in (MIN_PAGE_LIMIT - 1, MAX_PAGE_LIMIT + 1):
        with pytest.raises(ValueError, match="limit"):
            _ops.list_failures(limit=bad)
    bucket = next(p for p in operation("get_failure_stats")["parameters"] if p["name"] == "bucket_ms")["schema"]
    assert bucket["minimum"] == MIN_BUCKET_MS
    with pytest.raises(ValueError, match="bucket_ms"):
        _ops.get_failure_stats(bucket_ms=MIN_BUCKET_MS - 1)
    status = OPENAPI["components"]["schemas"]["MatchRequest"]["properties"]["http_status"]
    assert (status["minimum"], status["maximum"]) == (MIN_HTTP_STATUS, MAX_HTTP_STATUS)
    for ok in (MIN_HTTP_STATUS, MAX_HTTP_STATUS):
        assert _ops.match_failure("m", http_status=ok).body["http_status"] == ok
    for bad in (MIN_HTTP_STATUS - 1, MAX_HTTP_STATUS + 1, True):
        with pytest.raises(ValueError, match="http_status"):
            _ops.match_failure("m", http_status=bad)
    with pytest.raises(TypeError):
        _ops.match_failure(None)  # type: ignore[arg-type]


def test_access_bounds_match_the_document() -> None:
    """The SDK refuses, before sending, audit page sizes and key expiries the API would refuse; the
    role and action literals are the document's enums; every scope the document names is one the
    SDK knows to be an admin's (admins hold every permission)."""
    from aos._http import MAX_AUDIT_LIMIT, MAX_KEY_DAYS, MIN_KEY_DAYS

    limit = next(p for p in operation("list_audit")["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (MIN_PAGE_LIMIT, MAX_AUDIT_LIMIT)
    for ok in (MIN_PAGE_LIMIT, MAX_AUDIT_LIMIT):
        assert _ops.list_audit(limit=ok).params["limit"] == ok  # type: ignore[index]
    for bad in (MIN_PAGE_LIMIT - 1, MAX_AUDIT_LIMIT + 1):
        with pytest.raises(ValueError, match="limit"):
            _ops.list_audit(limit=bad)
        with pytest.raises(ValueError, match="limit"):
            aos.Client("http://127.0.0.1:9", "k").audit.list(limit=bad)
    days = OPENAPI["components"]["schemas"]["CreateKey"]["properties"]["expires_in_days"]
    assert (days["minimum"], days["maximum"]) == (MIN_KEY_DAYS, MAX_KEY_DAYS)
    for ok in (MIN_KEY_DAYS, MAX_KEY_DAYS):
        assert _ops.create_key("k", "viewer", ok).body == {"name": "k", "role": "viewer", "expires_in_days": ok}
    for bad in (MIN_KEY_DAYS - 1, MAX_KEY_DAYS + 1, True):
        with pytest.raises(ValueError, match="expires_in_days"):
            _ops.create_key("k", "viewer", bad)
    assert _ops.create_key("k", "admin").body == {"name": "k", "role": "admin"}
    assert _ops.revoke_key("a/b").path == "/api/v1/keys/a%2Fb"


def test_query_values_are_sent_as_the_api_reads_them() -> None:
    """Booleans as ``true``/``false``, the time range as ``from``/``to``, absent filters left out."""
    cfg = aos._http.ClientConfig("http://x", "k")
    call = _ops.list_failures(from_ms=5, matched=False, recovered=True, kind="run")
    assert call.request_kwargs(cfg)["params"] == {"from": "5", "matched": "false", "recovered": "true", "kind": "run"}
    assert _ops.get_failure_stats().request_kwargs(cfg).get("params", {}) == {}


def test_metrics_are_asked_for_as_text() -> None:
    """``/metrics`` answers Prometheus text (errors are JSON), every other operation JSON."""
    content = operation("get_metrics")["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]
    cfg = aos._http.ClientConfig("http://x", "k")
    for op_id, call in sample_calls().items():
        accept = call.request_kwargs(cfg)["headers"]["accept"]
        if op_id == "get_metrics":
            assert accept.startswith("text/plain") and "application/json" in accept
        else:
            assert accept == "application/json", op_id


def test_recovery_bounds_match_the_document() -> None:
    """The SDK refuses, before sending, what the recovery routes would: a suggestion for both or
    neither of a failure id and a message, an HTTP status out of range, candidate page sizes out of
    1-200, and a decision note over 1000 characters."""
    limit = next(p for p in operation("list_recovery_candidates")["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (MIN_PAGE_LIMIT, MAX_PAGE_LIMIT)
    for bad in (MIN_PAGE_LIMIT - 1, MAX_PAGE_LIMIT + 1):
        with pytest.raises(ValueError, match="limit"):
            _ops.list_recovery_candidates(limit=bad)
        with pytest.raises(ValueError, match="limit"):
            aos.Client("http://127.0.0.1:9", "k").recovery.candidates(limit=bad)
    with pytest.raises(ValueError, match="exactly one"):
        _ops.suggest_recovery()
    with pytest.raises(ValueError, match="exactly one"):
        _ops.suggest_recovery(failure_id="f", message="m")
    with pytest.raises(ValueError, match="message"):
        _ops.suggest_recovery(failure_id="f", code="HTTP_503")
    for bad in (MIN_HTTP_STATUS - 1, MAX_HTTP_STATUS + 1, True):
        with pytest.raises(ValueError, match="http_status"):
            _ops.suggest_recovery(message="m", http_status=bad)
    assert _ops.suggest_recovery(failure_id="f").body == {"failure_id": "f"}
    assert _ops.suggest_recovery(message="m", details={"status": 503}).body == {"message": "m", "details": {"status": 503}}
    assert not _ops.suggest_recovery(message="m").retryable, "a suggestion counts candidate occurrences"
    note = OPENAPI["components"]["schemas"]["DecisionNote"]["properties"]["note"]
    assert note.get("maxLength") == _ops.MAX_NOTE_CHARS
    assert _ops.decide_recovery_candidate("rc_1", "approve", "x" * _ops.MAX_NOTE_CHARS).body == {"note": "x" * 1000}
    with pytest.raises(ValueError, match="note"):
        _ops.decide_recovery_candidate("rc_1", "approve", "x" * (_ops.MAX_NOTE_CHARS + 1))
    assert _ops.decide_recovery_candidate("rc_1", "retire").body == {}
    assert _ops.get_recovery_candidate("rc/1").path == "/api/v1/recovery/candidates/rc%2F1"
