"""Contract tests of AsyncClient against a real `aos serve`: every operation, awaited."""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator, List

import pytest

import aos
from aos import PlanBuilder, ref_step
from conftest import AosServer
from standins import StandIn

pytestmark = [pytest.mark.contract, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def aclient(aos_server: AosServer) -> AsyncIterator[aos.AsyncClient]:
    async with aos.AsyncClient(aos_server.url, aos_server.api_key) as c:
        yield c


def plan(name: str = "async") -> aos.Plan:
    return (
        PlanBuilder(name)
        .json_transform("a", 21, ". * 2")
        .json_transform("b", ref_step("a"), ". + 1", depends_on=["a"])
        .build()
    )


async def test_health_openapi_skills(aclient: aos.AsyncClient) -> None:
    assert await aclient.health() == aos.Health(status="ok")
    assert "paths" in await aclient.openapi()
    skills = await aclient.skills.list()
    ids = [s.id for s in skills]
    assert ids == sorted(ids) and {"http_call", "json_transform", "kv_store", "webhook_send", "email_send", "slack_send", "fs"} <= set(ids)
    assert (await aclient.skills.get("http_call")).id == "http_call"
    with pytest.raises(aos.NotFoundError):
        await aclient.skills.get("nope")


async def test_runs_lifecycle(aclient: aos.AsyncClient, standin: StandIn, unique: str) -> None:
    since = int(time.time() * 1000)
    submitted = await aclient.runs.submit(plan(), seed=3, idempotency_key=unique)
    assert submitted.created
    events: List[aos.ProgressEvent] = []

    async def on_progress(e: aos.ProgressEvent) -> None:
        await asyncio.sleep(0)
        events.append(e)

    run = await aclient.wait_for_run(submitted.run_id, timeout=30, on_progress=on_progress)
    assert run.succeeded and run.output("b") == 43
    assert events and events[-1].step_id is None and events[-1].status == "succeeded"
    assert (await aclient.runs.get(submitted.run_id)).trace_root == run.trace_root
    report = await aclient.runs.replay(submitted.run_id)
    assert report.parity and report.trace_root == run.trace_root
    assert (await aclient.runs.verify(submitted.run_id)).ok
    assert (await aclient.verify_run(submitted.run_id)).ok

    more = [await aclient.runs.submit(plan("async-page")) for _ in range(4)]
    for s in more:
        await aclient.runs.wait(s.run_id, 30)
    seen = [r.run_id async for r in aclient.runs.list(created_after=since, limit=2)]
    assert set(seen) >= {s.run_id for s in more} | {submitted.run_id}
    pages = [p async for p in aclient.runs.list(created_after=since, limit=2).pages()]
    assert len(pages) >= 3
    assert len(await aclient.runs.list(created_after=since, limit=2, max_items=3).to_list()) == 3
    page = await aclient.runs.list_page(created_after=since, limit=1)
    assert len(page.runs) == 1 and page.next_cursor

    slow = await aclient.runs.submit(PlanBuilder("async-slow").http_call("s", f"{standin.url}/slow?ms=3000").build())
    with pytest.raises(aos.WaitTimeoutError):
        await aclient.runs.wait(slow.run_id, timeout=0.3)
    cancelled = await aclient.runs.cancel(slow.run_id)
    assert cancelled.status == "cancelled"
    with pytest.raises(aos.ConflictError) as conflict:
        await aclient.runs.cancel(slow.run_id)
    assert conflict.value.code == "RUN_ALREADY_FINISHED" and not conflict.value.retryable
    slow2 = await aclient.runs.submit(PlanBuilder("async-slow2").http_call("s", f"{standin.url}/slow?ms=3000").build())
    with pytest.raises(aos.ConflictError) as not_finished:
        await aclient.runs.replay(slow2.run_id)
    assert not_finished.value.code == "RUN_NOT_FINISHED"
    await aclient.runs.cancel(slow2.run_id)

    failing = PlanBuilder("async-fail").http_call("x", f"{standin.url}/status/404").build()
    with pytest.raises(aos.RunFailedError):
        await aclient.runs.submit_and_wait(failing, timeout=30, raise_on_failure=True)


async def test_errors(aclient: aos.AsyncClient, aos_server: AosServer) -> None:
    with pytest.raises(aos.ValidationError) as err:
        await aclient.runs.submit({"name": "x", "steps": [{"id": "a", "skill": "nope"}]})
    assert err.value.code == "PLAN_UNKNOWN_SKILL" and err.value.field == "steps[0].skill"
    with pytest.raises(aos.NotFoundError):
        await aclient.runs.get("r_" + "0" * 32)
    with pytest.raises(ValueError, match="limit"):
        await aclient.runs.list_page(limit=500)
    with pytest.raises(ValueError, match="limit"):
        aclient.runs.list(limit=0)
    with pytest.raises(aos.BadRequestError) as bad_query:
        await aclient._execute(aos._ops.Call("GET", "/api/v1/runs", lambda r: None, params={"limit": 500}))  # type: ignore[attr-defined]
    assert bad_query.value.code == "INVALID_QUERY" and bad_query.value.field == "limit"
    async with aos.AsyncClient(aos_server.url, "bad") as bad:
        with pytest.raises(aos.AuthenticationError):
            await bad.secrets.list()


async def test_simulate_workflows_secrets(aclient: aos.AsyncClient, unique: str) -> None:
    sim = await aclient.simulate(plan())
    assert sim.feasible and len(sim.steps) == 2
    name = f"async-{unique}"
    wf = await aclient.workflows.create(name, plan())
    assert wf.version == 1
    assert (await aclient.workflows.get(name)).version == 1
    assert (await aclient.workflows.get(name, version=1)).name == name
    assert name in {w.name for w in await aclient.workflows.list()}
    run = await aclient.runs.submit_and_wait(workflow=name, timeout=30)
    assert run.succeeded and run.workflow is not None and run.workflow.name == name
    secret = f"ASYNC_{unique.upper()}"
    await aclient.secrets.put(secret, "value")
    assert secret in await aclient.secrets.list()


async def test_catalog_failures_and_metrics(aclient: aos.AsyncClient, standin: StandIn) -> None:
    view = await aclient.catalog.list()
    assert isinstance(view, aos.CatalogView) and "HTTP_NOT_FOUND" in view.codes
    entry = await aclient.catalog.get("HTTP_NOT_FOUND")
    assert entry == view.entry("HTTP_NOT_FOUND")
    with pytest.raises(aos.NotFoundError):
        await aclient.catalog.get("NO_SUCH_ENTRY")
    verdict = await aclient.catalog.match("upstream answered 503 Service Unavailable", http_status=503)
    assert verdict.code == "HTTP_SERVICE_UNAVAILABLE" and verdict.category == "TRANSIENT" and verdict.retryable
    with pytest.raises(ValueError, match="http_status"):
        await aclient.catalog.match("x", http_status=700)

    since = int(time.time() * 1000)
    failing = PlanBuilder("async-failures").http_call("x", f"{standin.url}/status/404").build()
    run = await aclient.runs.submit_and_wait(failing, timeout=30)
    assert run.failure is not None and run.failure.code == "HTTP_NOT_FOUND"
    assert run.step("x").attempts[0].failure == run.failure
    mine: List[aos.FailureRecord] = []
    deadline = time.monotonic() + 15
    while len(mine) < 2 and time.monotonic() < deadline:
        mine = [f async for f in aclient.failures.list(from_ms=since, limit=1) if f.run_id == run.run_id]
        await asyncio.sleep(0.1)
    assert sorted(f.kind for f in mine) == ["attempt", "run"]
    assert all(f.catalog_code == "HTTP_NOT_FOUND" and f.code == "HTTP_404" for f in mine)
    pages = [p async for p in aclient.failures.list(from_ms=since, limit=1).pages()]
    assert len(pages) >= 2 and all(len(p.failures) <= 1 for p in pages)
    assert len(await aclient.failures.list(from_ms=since, max_items=1).to_list()) == 1
    page = await aclient.failures.list_page(from_ms=since, kind="run")
    assert run.run_id in {f.run_id for f in page.failures}
    with pytest.raises(aos.ValidationError) as bad_cursor:
        await aclient.failures.list_page(cursor="zz")
    assert bad_cursor.value.code == "INVALID_CURSOR"
    with pytest.raises(ValueError, match="limit"):
        aclient.failures.list(limit=0)
    stats = await aclient.failures.stats(from_ms=since, code="HTTP_NOT_FOUND")
    assert stats.total >= 2 and stats.by_catalog_code["HTTP_NOT_FOUND"] == stats.total
    with pytest.raises(aos.BadRequestError) as bad_range:
        await aclient.failures.stats(from_ms=10, to_ms=5)
    assert bad_range.value.code == "INVALID_QUERY" and bad_range.value.field == "from"
    # Catalog candidates: the 404 is well known, so only a lower bar makes it one.
    report = await aclient.failures.aggregate(days=1, low_confidence=1.0)
    assert isinstance(report, aos.CandidateReport) and any(c.code == "HTTP_404" for c in report.candidates)
    first = await aclient.failures.candidates(limit=1)
    assert isinstance(first, aos.CandidatePage) and first.total == report.total and first.generated_at_ms == report.generated_at_ms
    with pytest.raises(ValueError, match="days"):
        await aclient.failures.aggregate(days=0)

    text = await aclient.metrics()
    assert "# TYPE runs_total counter" in text and 'failure_match_hits_total{code="HTTP_NOT_FOUND"' in text
