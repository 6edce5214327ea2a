"""Every operation of docs/openapi.json has an SDK method, and every SDK method maps to an operation.

The mapping is explicit: ``aos._ops.OPERATIONS`` (operationId -> method, path, SDK method),
``UNLISTED_OPERATIONS`` (routes the document does not list: /healthz, the document itself) and
``HELPERS`` (SDK methods built on an operation, without a route of their own). Both clients are
checked, and every public method of the clients and their resources must appear in the mapping.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Dict, Set, Tuple

import pytest

import aos
from aos import _ops
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


RESOURCES = ("runs", "skills", "workflows", "secrets")


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


def test_unlisted_operations_are_really_unlisted() -> None:
    listed = {(m, p) for m, p in openapi_operations().values()}
    for name, (method, path, _) in _ops.UNLISTED_OPERATIONS.items():
        assert (method, path) not in listed, f"{name} is in docs/openapi.json now: move it to OPERATIONS"


def test_every_mapped_method_exists(sdk_client: Any) -> None:
    targets = [m for _, _, m in _ops.OPERATIONS.values()] + [m for _, _, m in _ops.UNLISTED_OPERATIONS.values()]
    targets += list(_ops.HELPERS)
    for dotted in targets:
        method = resolve(sdk_client, dotted)
        assert callable(method), f"{type(sdk_client).__name__}.{dotted} is not callable"
    for helper, op_id in _ops.HELPERS.items():
        assert op_id in _ops.OPERATIONS, f"helper {helper} names unknown operation {op_id}"


def test_every_sdk_method_is_mapped(sdk_client: Any) -> None:
    mapped = {m for _, _, m in _ops.OPERATIONS.values()}
    mapped |= {m for _, _, m in _ops.UNLISTED_OPERATIONS.values()}
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
        # runs.list returns an async pager (iterated with `async for`), everything else is awaited.
        assert is_async == (dotted != "runs.list"), dotted
    sync.close()


def test_operations_send_what_openapi_describes() -> None:
    """Each operation's Call uses the documented method and a path matching the template."""
    import re

    calls = {
        "submit_run": _ops.submit_run({"name": "p", "steps": []}),
        "list_runs": _ops.list_runs(),
        "get_run": _ops.get_run("r_1"),
        "cancel_run": _ops.cancel_run("r_1"),
        "replay_run": _ops.replay_run("r_1"),
        "simulate_plan": _ops.simulate_plan({"name": "p", "steps": []}),
        "list_skills": _ops.list_skills(),
        "get_skill": _ops.get_skill("http_call"),
        "create_workflow": _ops.create_workflow("w", {"name": "p", "steps": []}),
        "list_workflows": _ops.list_workflows(),
        "get_workflow": _ops.get_workflow("w"),
        "put_secret": _ops.put_secret("S", "v"),
        "list_secrets": _ops.list_secrets(),
    }
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
        has_body = "requestBody" in op
        assert (call.body is not _ops.Call.__dataclass_fields__["body"].default) == has_body, op_id
