"""Type-checked (not run) by test_typing.py: the public API as a user's type checker sees it."""

from __future__ import annotations

from typing import List

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
    try:
        client.runs.submit(plan)
    except aos.ValidationError as e:
        assert_type(e.errors, List[aos.FieldError])
        assert_type(e.code, "str | None")


async def async_usage(client: aos.AsyncClient) -> None:
    run = await client.runs.submit_and_wait({"name": "p", "steps": []})
    assert_type(run, aos.RunView)
    async for summary in client.runs.list():
        assert_type(summary, aos.RunSummary)
    assert_type(await client.skills.list(), List[aos.SkillSpec])
    assert_type(await client.runs.verify(run.run_id), VerifyReport)
