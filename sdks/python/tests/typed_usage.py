"""Type-checked (not run) by test_typing.py: the public API as a user's type checker sees it."""

from __future__ import annotations

from typing import Dict, List

from typing_extensions import assert_type

import aos
from aos.trace import VerifyReport


def sync_usage(client: aos.Client) -> None:
    plan = aos.PlanBuilder("p").json_transform("a", 1, ".").build()
    assert_type(plan, aos.Plan)
    assert_type(client.runs.submit(plan), aos.Submitted)
    run = client.runs.get("r", wait_ms=100)
    assert_type(run, aos.RunView)
    assert_type(run.step_details[0].attempts[0].outcome, aos.Outcome)
    assert_type(run.error, "aos.StepError | None")
    for summary in client.runs.list(status="failed"):
        assert_type(summary, aos.RunSummary)
    for page in client.runs.list().pages():
        assert_type(page, aos.RunList)
    assert_type(client.runs.cancel("r"), aos.CancelResult)
    assert_type(client.runs.replay("r"), aos.ReplayReport)
    assert_type(client.runs.verify("r"), VerifyReport)
    assert_type(client.wait_for_run("r", 10, on_progress=lambda e: print(e.step_id)), aos.RunView)
    assert_type(client.simulate({"name": "p", "steps": []}), aos.Simulation)
    assert_type(client.skills.list(), List[aos.SkillSpec])
    assert_type(client.skills.get("http_call"), aos.SkillSpec)
    assert_type(client.workflows.create("w", plan), aos.Workflow)
    assert_type(client.workflows.list(), List[aos.Workflow])
    assert_type(client.workflows.get("w", version=1), aos.Workflow)
    assert_type(client.secrets.list(), List[str])
    client.secrets.put("A", "v")
    assert_type(client.health(), aos.Health)
    assert_type(client.health().status, str)
    try:
        client.runs.submit(plan)
    except aos.ValidationError as e:
        assert_type(e.errors, List[aos.FieldError])
        assert_type(e.code, "str | None")
    try:
        client.runs.cancel("r")
    except aos.ConflictError as c:
        assert_type(c.retryable, bool)
        assert_type(c.retry_after, "float | None")
        if c.code == aos.ConflictError.RUN_ALREADY_FINISHED:
            pass
    outcome = run.step_details[0].attempts[0].outcome
    assert_type(outcome.ok, bool)
    assert_type(run.failure, "aos.FailureMatch | None")
    assert_type(run.step_details[0].attempts[0].failure, "aos.FailureMatch | None")
    catalog = client.catalog.list()
    assert_type(catalog, aos.CatalogView)
    for entry in catalog:
        assert_type(entry, aos.CatalogEntry)
    assert_type(client.catalog.get("HTTP_NOT_FOUND").severity, aos.models.Severity)
    verdict = client.catalog.match("503 Service Unavailable", http_status=503)
    assert_type(verdict, aos.MatchResponse)
    assert_type(verdict.retryable, "bool | None")
    assert_type(verdict.category, "aos.models.Category | None")
    for record in client.failures.list(kind="attempt", category="TRANSIENT", matched=True):
        assert_type(record, aos.FailureRecord)
        assert_type(record.recovery_succeeded, "bool | None")
    for failure_page in client.failures.list().pages():
        assert_type(failure_page, aos.FailureList)
    assert_type(client.failures.list_page(cursor="c"), aos.FailureList)
    stats = client.failures.stats(from_ms=0, bucket_ms=60_000)
    assert_type(stats, aos.FailureStats)
    assert_type(stats.by_code, Dict[str, int])
    assert_type(stats.recovery_by_mode["fallback"].success_rate, "float | None")
    assert_type(client.metrics(), str)
    assert_type(run.trace, List[aos.TraceEntry])
    assert_type(run.cancel_requested, bool)
    me = client.whoami()
    assert_type(me, aos.WhoAmI)
    assert_type(me.role, aos.models.Role)
    assert_type(me.permissions, List[str])
    created = client.keys.create("ci", "machine", expires_in_days=30)
    assert_type(created, aos.CreatedKey)
    assert_type(created.key, str)
    assert_type(created.record.expires_at_ms, "int | None")
    assert_type(client.keys.list(), List[aos.ApiKeyRecord])
    assert_type(client.keys.revoke("k"), aos.ApiKeyRecord)
    assert_type(client.keys.rotate("k"), aos.CreatedKey)
    for event in client.audit.list(action="key.created", limit=10):
        assert_type(event, aos.AuditEvent)
        assert_type(event.action, aos.models.AuditAction)
    assert_type(client.audit.list_page(cursor="c"), aos.AuditList)
    try:
        client.whoami()
    except aos.RateLimitError as limited:
        assert_type(limited.retry_after, "float | None")
        assert_type(limited.limit, "int | None")
        assert_type(limited.remaining, "int | None")
        assert_type(limited.reset, "float | None")


async def async_usage(client: aos.AsyncClient) -> None:
    run = await client.runs.submit_and_wait({"name": "p", "steps": []})
    assert_type(run, aos.RunView)
    async for summary in client.runs.list():
        assert_type(summary, aos.RunSummary)
    assert_type(await client.skills.list(), List[aos.SkillSpec])
    assert_type(await client.runs.verify(run.run_id), VerifyReport)
    assert_type(await client.health(), aos.Health)
    assert_type(await client.catalog.list(), aos.CatalogView)
    assert_type(await client.catalog.get("HTTP_NOT_FOUND"), aos.CatalogEntry)
    assert_type(await client.catalog.match("boom"), aos.MatchResponse)
    async for record in client.failures.list(recovered=True):
        assert_type(record, aos.FailureRecord)
    assert_type(await client.failures.list_page(), aos.FailureList)
    assert_type(await client.failures.stats(kind="run"), aos.FailureStats)
    assert_type(await client.metrics(), str)
    assert_type(await client.whoami(), aos.WhoAmI)
    assert_type(await client.keys.create("ci", "viewer"), aos.CreatedKey)
    assert_type(await client.keys.list(), List[aos.ApiKeyRecord])
    async for event in client.audit.list():
        assert_type(event, aos.AuditEvent)
    assert_type(await client.audit.list_page(), aos.AuditList)
