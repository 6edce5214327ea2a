"""Client behaviour that `aos serve` cannot provoke on demand (429, 503 with Retry-After, 409
CONCURRENT_UPDATE, 403, 5xx), against scripted answers of the local stand-in HTTP server (real sockets, no mocking),
plus configuration from arguments and the environment."""

from __future__ import annotations

import email.utils
import time
from typing import Any, Dict

import pytest

import aos
from aos._http import ClientConfig, parse_retry_after
from standins import StandIn

SKILLS_OK = (200, {}, {"skills": []})


def err(status: int, code: str, headers: Dict[str, str] = {}, details: Any = None) -> Any:  # noqa: B006
    return (status, dict(headers), {"error": {"code": code, "message": f"{code} happened", "details": details or {}}})


def fast(url: str, **kwargs: Any) -> aos.Client:
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("backoff_max", 0.05)
    return aos.Client(url, "key", **kwargs)


def test_get_is_retried_on_503_honouring_retry_after(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(503, "STORAGE_UNAVAILABLE", {"Retry-After": "1"}), SKILLS_OK])
    with fast(url) as c:
        started = time.monotonic()
        assert c.skills.list() == []
        elapsed = time.monotonic() - started
    assert elapsed >= 1.0, "Retry-After: 1 was honoured"
    assert len(standin.script_hits[unique]) == 2


def test_get_is_retried_on_429_with_backoff(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(429, "RATE_LIMITED"), err(429, "RATE_LIMITED"), SKILLS_OK])
    with fast(url) as c:
        assert c.skills.list() == []
    hits = standin.script_hits[unique]
    assert len(hits) == 3
    assert hits[1].at - hits[0].at >= 0.005 and hits[2].at - hits[1].at >= 0.01, "exponential backoff"


def test_retries_are_bounded(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(503, "STORAGE_UNAVAILABLE")] * 10)
    with fast(url, max_retries=3) as c:
        with pytest.raises(aos.ServiceUnavailableError) as e:
            c.skills.list()
    assert e.value.status == 503 and e.value.code == "STORAGE_UNAVAILABLE"
    assert isinstance(e.value, aos.ServerError)
    assert len(standin.script_hits[unique]) == 4, "one request and three retries"


def test_retry_after_beyond_the_bound_is_not_waited_for(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(429, "RATE_LIMITED", {"Retry-After": "120"}), SKILLS_OK])
    with fast(url, max_retry_delay=5) as c:
        started = time.monotonic()
        with pytest.raises(aos.RateLimitError) as e:
            c.skills.list()
    assert time.monotonic() - started < 2
    assert e.value.retry_after == 120
    assert len(standin.script_hits[unique]) == 1


def test_post_without_idempotency_key_is_not_retried(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(503, "STORAGE_UNAVAILABLE")] * 3 + [SKILLS_OK])
    with fast(url) as c:
        with pytest.raises(aos.ServiceUnavailableError):
            c.runs.submit({"name": "p", "steps": []})
        with pytest.raises(aos.ServiceUnavailableError):
            c.runs.cancel("r_1")
        with pytest.raises(aos.ServiceUnavailableError):
            c.workflows.create("w", {"name": "p", "steps": []})
    assert len(standin.script_hits[unique]) == 3, "three calls, none repeated"


def test_post_with_idempotency_key_is_retried(standin: StandIn, unique: str) -> None:
    ok = (202, {}, {"run_id": "r_1", "status": "queued", "created": False})
    url = standin.script(unique, [err(503, "STORAGE_UNAVAILABLE"), err(429, "RATE_LIMITED"), ok])
    with fast(url) as c:
        s = c.runs.submit({"name": "p", "steps": []}, idempotency_key="order-42")
    assert s.run_id == "r_1"
    hits = standin.script_hits[unique]
    assert len(hits) == 3
    assert all(h.body["idempotency_key"] == "order-42" for h in hits)
    assert all(h.method == "POST" and h.path.endswith("/api/v1/runs") for h in hits)


def test_concurrent_update_is_retried_like_503(standin: StandIn, unique: str) -> None:
    """409 CONCURRENT_UPDATE (sent with Retry-After: 1) is retried for requests that are safe to repeat."""
    url = standin.script(unique, [err(409, "CONCURRENT_UPDATE", {"Retry-After": "1"}), SKILLS_OK])
    with fast(url) as c:
        started = time.monotonic()
        assert c.skills.list() == []
        assert time.monotonic() - started >= 1.0, "Retry-After: 1 was honoured"
    assert len(standin.script_hits[unique]) == 2
    ok = (202, {}, {"run_id": "r_1", "status": "queued", "created": False})
    url2 = standin.script(unique + "k", [err(409, "CONCURRENT_UPDATE", {"Retry-After": "0"}), ok])
    with fast(url2) as c:
        assert c.runs.submit({"name": "p", "steps": []}, idempotency_key="order-7").run_id == "r_1"
    assert len(standin.script_hits[unique + "k"]) == 2, "the idempotency key in use concurrently, then the run"


def test_concurrent_update_is_not_retried_for_unsafe_requests(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(409, "CONCURRENT_UPDATE", {"Retry-After": "1"})] * 3)
    with fast(url) as c:
        for call in (
            lambda: c.runs.cancel("r_1"),
            lambda: c.workflows.create("w", {"name": "p", "steps": []}),
            lambda: c.runs.submit({"name": "p", "steps": []}),
        ):
            with pytest.raises(aos.ConflictError) as e:
                call()
            assert e.value.code == aos.ConflictError.CONCURRENT_UPDATE
            assert e.value.retryable and e.value.retry_after == 1.0
    assert len(standin.script_hits[unique]) == 3, "three calls, none repeated"


def test_concurrent_update_retries_are_bounded(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(409, "CONCURRENT_UPDATE", {"Retry-After": "0"})] * 5)
    with fast(url, max_retries=2) as c:
        with pytest.raises(aos.ConflictError) as e:
            c.runs.get("r_1")
    assert e.value.code == "CONCURRENT_UPDATE" and e.value.status == 409
    assert len(standin.script_hits[unique]) == 3


@pytest.mark.parametrize("code", ["RUN_ALREADY_FINISHED", "RUN_NOT_FINISHED", "CONFLICT"])
def test_other_conflicts_are_not_retried(standin: StandIn, unique: str, code: str) -> None:
    # Replay is safe to repeat, but a run that has not finished does not finish by asking again.
    url = standin.script(unique, [err(409, code), SKILLS_OK])
    with fast(url) as c:
        with pytest.raises(aos.ConflictError) as e:
            c.runs.replay("r_1")
    assert e.value.code == code and not e.value.retryable and e.value.retry_after is None
    assert len(standin.script_hits[unique]) == 1


def test_retryable_and_retry_after_of_errors(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(503, "STORAGE_UNAVAILABLE", {"Retry-After": "1"}), err(404, "NOT_FOUND")])
    with fast(url, max_retries=0) as c:
        with pytest.raises(aos.ServiceUnavailableError) as unavailable:
            c.skills.list()
        with pytest.raises(aos.NotFoundError) as missing:
            c.skills.list()
    assert unavailable.value.retryable and unavailable.value.retry_after == 1.0
    assert not missing.value.retryable and missing.value.retry_after is None
    assert not aos.WaitTimeoutError("late").retryable


def test_other_errors_are_not_retried(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(500, "BOOM"), err(502, "BAD_GATEWAY"), SKILLS_OK])
    with fast(url) as c:
        with pytest.raises(aos.ServerError) as e:
            c.skills.list()
        assert e.value.status == 500 and not isinstance(e.value, aos.ServiceUnavailableError)
        with pytest.raises(aos.ServerError):
            c.skills.list()
    assert len(standin.script_hits[unique]) == 2


@pytest.mark.parametrize(
    "status,cls",
    [
        (400, aos.BadRequestError),
        (401, aos.AuthenticationError),
        (403, aos.PermissionDeniedError),
        (404, aos.NotFoundError),
        (405, aos.MethodNotAllowedError),
        (409, aos.ConflictError),
        (413, aos.PayloadTooLargeError),
        (415, aos.UnsupportedMediaTypeError),
        (422, aos.ValidationError),
        (429, aos.RateLimitError),
        (500, aos.ServerError),
        (503, aos.ServiceUnavailableError),
        (418, aos.AosError),
    ],
)
def test_status_maps_to_a_typed_error(standin: StandIn, unique: str, status: int, cls: type) -> None:
    url = standin.script(unique, [err(status, "SOME_CODE", details={"field": "x.y"})])
    with fast(url, max_retries=0) as c:
        with pytest.raises(cls) as e:
            c.skills.list()
    assert type(e.value) is cls
    assert e.value.status == status and e.value.code == "SOME_CODE"
    assert e.value.message == "SOME_CODE happened" and e.value.details == {"field": "x.y"}
    assert e.value.field == "x.y"
    assert e.value.method == "GET" and e.value.url and e.value.url.endswith("/api/v1/skills")


def test_non_json_error_body(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [(502, {"content-type": "text/plain"}, b"upstream is down")])
    with fast(url) as c:
        with pytest.raises(aos.ServerError) as e:
            c.skills.list()
    assert e.value.code is None and e.value.message == "upstream is down" and e.value.status == 502


def test_validation_error_lists_problems(standin: StandIn, unique: str) -> None:
    details = {
        "errors": [
            {"code": "PLAN_CYCLE", "message": "cycle", "step_id": "a", "field": "steps[0].depends_on"},
            {"code": "PLAN_UNKNOWN_SKILL", "message": "unknown", "step_id": "b", "field": "steps[1].skill"},
        ],
        "step_id": "a",
        "field": "steps[0].depends_on",
    }
    url = standin.script(unique, [err(422, "PLAN_CYCLE", details=details)])
    with fast(url) as c:
        with pytest.raises(aos.ValidationError) as e:
            c.simulate({"name": "p", "steps": []})
    assert [x.code for x in e.value.errors] == ["PLAN_CYCLE", "PLAN_UNKNOWN_SKILL"]
    assert e.value.errors[1].field == "steps[1].skill" and e.value.step_id == "a"


def test_connection_errors(unique: str) -> None:
    with aos.Client("http://127.0.0.1:9", "k", timeout=2) as c:
        with pytest.raises(aos.APIConnectionError) as e:
            c.health()
    assert e.value.status is None and e.value.code == "CONNECTION_ERROR"


def test_timeouts(standin: StandIn) -> None:
    with aos.Client(standin.url + "/slow?ms=2000#", "k", timeout=0.3) as c:
        with pytest.raises(aos.APITimeoutError):
            c._execute(aos._ops.Call("GET", "", lambda r: None))  # type: ignore[attr-defined]


def test_requests_carry_the_key_and_json(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [(204, {}, None), (200, {}, {"names": ["A"]})])
    with aos.Client(url, "aos_secret", headers={"x-extra": "1"}) as c:
        c.secrets.put("A", "v")
        assert c.secrets.list() == ["A"]
    put, get = standin.script_hits[unique]
    assert put.method == "PUT" and put.path.endswith("/api/v1/secrets/A")
    assert put.headers["authorization"] == "Bearer aos_secret"
    assert put.headers["content-type"] == "application/json" and put.body == {"value": "v"}
    assert put.headers["x-extra"] == "1" and put.headers["user-agent"].startswith("aos-sdk-python/")
    assert "content-type" not in get.headers


def test_path_parameters_are_escaped(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(404, "NOT_FOUND")])
    with fast(url) as c:
        with pytest.raises(aos.NotFoundError):
            c.workflows.get("a/b c", version=2)
    hit = standin.script_hits[unique][0]
    assert hit.path.endswith("/api/v1/workflows/a%2Fb%20c?version=2")


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AOS_URL", "http://example.invalid:1234/api/v1/")
    monkeypatch.setenv("AOS_API_KEY", "  from-env \n")
    cfg = aos.Client().config
    assert cfg.base_url == "http://example.invalid:1234" and cfg.api_key == "from-env"
    assert aos.Client("http://other", "arg").config.api_key == "arg"
    monkeypatch.delenv("AOS_API_KEY")
    monkeypatch.setenv("AOS_TOKEN", "tok")
    assert aos.Client().config.api_key == "tok"
    monkeypatch.delenv("AOS_TOKEN")
    monkeypatch.delenv("AOS_URL")
    c = aos.Client()
    assert c.config.base_url == "http://127.0.0.1:8080" and c.config.api_key is None
    assert "authorization" not in c.config.request_headers(True, False)


def test_backoff_policy() -> None:
    cfg = ClientConfig("http://x", None, max_retries=3, backoff_base=1.0, backoff_max=4.0, max_retry_delay=10)
    for retry, (lo, hi) in enumerate([(0.5, 1.0), (1.0, 2.0), (2.0, 4.0)]):
        d = cfg.backoff(retry, None)
        assert d is not None and lo <= d <= hi
    assert cfg.backoff(3, None) is None
    assert cfg.backoff(0, 7.0) == 7.0
    assert cfg.backoff(0, 11.0) is None


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None and parse_retry_after("") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    parsed = parse_retry_after(date, now=now)
    assert parsed is not None and 28 <= parsed <= 31


@pytest.mark.anyio
async def test_async_client_retries_too(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(503, "STORAGE_UNAVAILABLE", {"Retry-After": "0"}), SKILLS_OK])
    async with aos.AsyncClient(url, "k", backoff_base=0.01) as c:
        assert await c.skills.list() == []
    assert len(standin.script_hits[unique]) == 2
    url1 = standin.script(unique + "c", [err(409, "CONCURRENT_UPDATE", {"Retry-After": "0"}), SKILLS_OK,
                                         err(409, "CONCURRENT_UPDATE", {"Retry-After": "0"})])
    async with aos.AsyncClient(url1, "k", backoff_base=0.01) as c:
        assert await c.skills.list() == []
        with pytest.raises(aos.ConflictError) as conflict:
            await c.runs.cancel("r_1")
    assert conflict.value.code == "CONCURRENT_UPDATE" and conflict.value.retryable
    assert len(standin.script_hits[unique + "c"]) == 3
    url2 = standin.script(unique + "b", [err(403, "FORBIDDEN")])
    async with aos.AsyncClient(url2, "k") as c:
        with pytest.raises(aos.PermissionDeniedError) as e:
            await c.secrets.put("A", "v")
    assert e.value.code == "FORBIDDEN"


def failure(n: int) -> Dict[str, Any]:
    return {"id": f"f{n}", "kind": "attempt", "run_id": "r_1", "step_id": "a", "attempt": n, "skill": "http_call",
            "code": "HTTP_503", "message": "503", "signature": "0" * 16, "matched": True,
            "catalog_code": "HTTP_SERVICE_UNAVAILABLE", "confidence": 0.93, "match_type": "http_status",
            "category": "TRANSIENT", "recovery_attempted": False, "recovery_succeeded": None, "at_ms": 1000 - n,
            "expires_at": 9}


def test_failure_pager_follows_short_and_empty_pages(standin: StandIn, unique: str) -> None:
    """A failure page may be short, even empty, and still have a next page: the pager keeps going."""
    pages = [
        (200, {}, {"failures": [failure(1)], "next_cursor": "c1"}),
        (200, {}, {"failures": [], "next_cursor": "c2"}),
        (200, {}, {"failures": [failure(2), failure(3)]}),
    ]
    url = standin.script(unique, pages * 2)
    with fast(url) as c:
        got = [f.id for f in c.failures.list(from_ms=5, to_ms=10, matched=True, kind="attempt", limit=2)]
        assert got == ["f1", "f2", "f3"]
        assert [f.id for f in c.failures.list(max_items=1)] == ["f1"]
    hits = standin.script_hits[unique]
    assert len(hits) == 4, "three pages, then one: max_items stops before asking for more"
    assert hits[0].path.endswith("/api/v1/failures?from=5&to=10&matched=true&kind=attempt&limit=2")
    assert hits[1].path.endswith("&cursor=c1") and hits[2].path.endswith("&cursor=c2")
    assert "from=5&to=10&matched=true&kind=attempt&limit=2" in hits[2].path, "the same parameters on every page"


def test_failure_pager_stops_on_a_repeated_cursor(standin: StandIn, unique: str) -> None:
    page = (200, {}, {"failures": [], "next_cursor": "same"})
    url = standin.script(unique, [page, page, page])
    with fast(url) as c:
        with pytest.raises(aos.AosError) as e:
            list(c.failures.list())
    assert e.value.code == "PAGINATION_STUCK" and len(standin.script_hits[unique]) == 2


def test_match_is_retried_like_a_read(standin: StandIn, unique: str) -> None:
    """Classifying records nothing, so a 503 or 429 is retried although it is a POST."""
    verdict = {"matched": False, "code": None, "category": None, "retryable": None, "severity": None,
               "recovery_mode": None, "confidence": 0.0, "match_type": "none", "signature": "0" * 16,
               "explanation": None, "suggestions": []}
    url = standin.script(unique, [err(503, "STORAGE_UNAVAILABLE"), err(429, "RATE_LIMITED"), (200, {}, verdict)])
    with fast(url) as c:
        assert c.catalog.match("boom", code="X_1", http_status=418).matched is False
    hits = standin.script_hits[unique]
    assert len(hits) == 3 and all(h.method == "POST" for h in hits)
    assert hits[0].path.endswith("/api/v1/catalog/match")
    assert hits[0].body == {"message": "boom", "code": "X_1", "http_status": 418}, "absent fields are not sent"


def test_metrics_are_text_and_their_errors_typed(standin: StandIn, unique: str) -> None:
    exposition = b"# TYPE runs_total counter\nruns_total{status=\"failed\"} 3\n"
    url = standin.script(unique, [
        (200, {"content-type": "text/plain; version=0.0.4; charset=utf-8"}, exposition),
        err(403, "FORBIDDEN"),
        err(404, "NOT_FOUND"),
    ])
    with fast(url) as c:
        assert c.metrics() == exposition.decode()
        with pytest.raises(aos.PermissionDeniedError) as forbidden:
            c.metrics()
        with pytest.raises(aos.NotFoundError) as missing:
            c.metrics()
    assert forbidden.value.code == "FORBIDDEN" and missing.value.code == "NOT_FOUND"
    first = standin.script_hits[unique][0]
    assert first.path.endswith("/metrics") and first.headers["authorization"] == "Bearer key"
    assert first.headers["accept"].startswith("text/plain")


def test_catalog_codes_are_escaped(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [err(404, "NOT_FOUND")])
    with fast(url) as c:
        with pytest.raises(aos.NotFoundError):
            c.catalog.get("A/B C")
    assert standin.script_hits[unique][0].path.endswith("/api/v1/catalog/A%2FB%20C")


@pytest.mark.anyio
async def test_async_failure_pager_and_metrics(standin: StandIn, unique: str) -> None:
    url = standin.script(unique, [
        (200, {}, {"failures": [failure(1)], "next_cursor": "c1"}),
        (200, {}, {"failures": [], "next_cursor": "c2"}),
        (200, {}, {"failures": [failure(2)]}),
        (200, {"content-type": "text/plain"}, b"up 1\n"),
    ])
    async with aos.AsyncClient(url, "k", backoff_base=0.01) as c:
        assert [f.id async for f in c.failures.list(recovered=False)] == ["f1", "f2"]
        assert await c.metrics() == "up 1\n"
    assert standin.script_hits[unique][0].path.endswith("/api/v1/failures?recovered=false")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"



