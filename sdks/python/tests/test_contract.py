"""Contract tests of the sync client against a real `aos serve` (no mocked HTTP).

Every operation is exercised on its success path and on its error paths; every answer is parsed
into the SDK's models, so a shape the models do not expect fails here too.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional, Set

import httpx
import pytest

import aos
from aos import PlanBuilder, ref_input, ref_secret, ref_step
from conftest import DOCS, AosServer
from standins import StandIn

pytestmark = pytest.mark.contract


def double_plan(name: str = "double") -> aos.Plan:
    return (
        PlanBuilder(name)
        .json_transform("a", 21, ". * 2")
        .json_transform("b", ref_step("a"), ". + 1", depends_on=["a"])
        .build()
    )


def now_ms() -> int:
    return int(time.time() * 1000)


# ---- health and the OpenAPI document


def test_health_and_openapi(client: aos.Client) -> None:
    health = client.health()
    assert isinstance(health, aos.Health) and health == aos.Health(status="ok")
    served = client.openapi()
    committed = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))
    assert served == committed, "the server's OpenAPI document differs from docs/openapi.json"


def test_health_and_openapi_need_no_key(aos_server: AosServer) -> None:
    with aos.Client(aos_server.url, "not-a-key") as c:
        assert c.health().status == "ok"
        assert c.openapi()["openapi"].startswith("3.")


# ---- authentication


def test_bad_key_is_an_authentication_error(aos_server: AosServer) -> None:
    with aos.Client(aos_server.url, "aos_deadbeef_" + "0" * 48) as c:
        with pytest.raises(aos.AuthenticationError) as err:
            c.skills.list()
    e = err.value
    assert e.status == 401 and e.code == "UNAUTHENTICATED" and e.message
    assert isinstance(e, aos.AosError)
    assert "401 UNAUTHENTICATED" in str(e)


def test_missing_key_is_an_authentication_error(aos_server: AosServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AOS_API_KEY", raising=False)
    monkeypatch.delenv("AOS_TOKEN", raising=False)
    with aos.Client(aos_server.url) as c:
        with pytest.raises(aos.AuthenticationError):
            c.runs.list_page()


def test_url_and_key_from_the_environment(aos_server: AosServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AOS_URL", aos_server.url + "/")
    monkeypatch.setenv("AOS_API_KEY", aos_server.api_key)
    with aos.Client() as c:
        assert c.base_url == aos_server.url
        assert {"http_call", "json_transform"} <= {s.id for s in c.skills.list()}


def test_token_argument_is_a_bearer_credential(aos_server: AosServer) -> None:
    with aos.Client(aos_server.url, token=aos_server.api_key) as c:
        assert c.secrets.list() is not None
    with pytest.raises(ValueError):
        aos.Client(aos_server.url, api_key="a", token="b")


def test_tenants_are_isolated(client: aos.Client, aos_server: AosServer) -> None:
    run = client.runs.submit_and_wait(double_plan("isolated"), timeout=30)
    with aos.Client(aos_server.url, aos_server.other_key) as other:
        with pytest.raises(aos.NotFoundError):
            other.runs.get(run.run_id)
        assert run.run_id not in {r.run_id for r in other.runs.list()}


# ---- runs: submit, get, wait


def test_submit_get_and_wait(client: aos.Client) -> None:
    submitted = client.runs.submit(double_plan(), seed=42)
    assert isinstance(submitted, aos.Submitted)
    assert submitted.run_id.startswith("r_") and len(submitted.run_id) == 34
    assert submitted.created is True
    assert submitted.status in ("queued", "running", "succeeded")
    run = client.wait_for_run(submitted.run_id, timeout=30)
    assert isinstance(run, aos.RunView)
    assert run.status == "succeeded" and run.succeeded and run.finished
    assert run.seed == 42
    assert run.output("a") == 42 and run.output("b") == 43
    assert [s.step_id for s in run.step_details] == ["a", "b"]
    assert run.steps["a"].status == "succeeded"
    a = run.step("a").attempts[0]
    assert isinstance(a, aos.AttemptRecord) and a.outcome.ok and a.outcome.output == 42
    assert a.input == {"data": 21, "expr": ". * 2"}
    assert [e.step_id for e in run.trace] == ["a", "b"]
    assert run.trace_root and len(run.trace_root) == 64
    assert run.started_at_ms and run.finished_at_ms and run.finished_at_ms >= run.started_at_ms
    assert run.cost_usd > 0
    # A plain get of a finished run gives the same run.
    again = client.runs.get(submitted.run_id)
    assert again.trace_root == run.trace_root and again.status == "succeeded"


def test_get_with_wait_ms_long_polls(client: aos.Client, standin: StandIn) -> None:
    plan = PlanBuilder("slow-poll").http_call("s", f"{standin.url}/slow?ms=800").build()
    submitted = client.runs.submit(plan)
    started = time.monotonic()
    run = client.runs.get(submitted.run_id, wait_ms=10_000)
    assert run.finished, "long polling answers once the run has finished"
    assert time.monotonic() - started < 9
    with pytest.raises(ValueError):
        client.runs.get(submitted.run_id, wait_ms=30_001)


def test_inputs_and_input_schema(client: aos.Client) -> None:
    plan = (
        PlanBuilder("with-inputs")
        .inputs(["n"], n={"type": "number"}, label={"type": "string"})
        .json_transform("calc", {"n": ref_input("n"), "text": "n={{ inputs.n }}"}, "{twice: (.n * 2), text}")
        .build()
    )
    run = client.runs.submit_and_wait(plan, inputs={"n": 3, "label": "x"}, timeout=30)
    assert run.succeeded, run.error
    assert run.inputs == {"n": 3, "label": "x"}
    assert run.output("calc") == {"twice": 6, "text": "n=3"}
    with pytest.raises(aos.ValidationError) as err:
        client.runs.submit(plan, inputs={"n": "three"})
    assert err.value.code == "RUN_INVALID_INPUTS" and err.value.status == 422


def test_unknown_skill_is_a_validation_error_with_the_field(client: aos.Client) -> None:
    plan = {"name": "bad", "steps": [{"id": "a", "skill": "nope"}]}
    with pytest.raises(aos.ValidationError) as err:
        client.runs.submit(plan)
    e = err.value
    assert e.status == 422
    assert e.code == "PLAN_UNKNOWN_SKILL"
    assert e.field == "steps[0].skill" and e.step_id == "a"
    assert "nope" in e.message
    assert len(e.errors) == 1
    first = e.errors[0]
    assert isinstance(first, aos.FieldError)
    assert (first.code, first.field, first.step_id) == ("PLAN_UNKNOWN_SKILL", "steps[0].skill", "a")


def test_every_problem_is_reported(client: aos.Client) -> None:
    plan = {
        "name": "many",
        "steps": [
            {"id": "a", "skill": "nope"},
            {"id": "b", "skill": "json_transform", "input": {"data": 1, "expr": "."}, "depends_on": ["zzz"]},
        ],
    }
    with pytest.raises(aos.ValidationError) as err:
        client.runs.submit(plan)
    codes = [e.code for e in err.value.errors]
    assert "PLAN_UNKNOWN_SKILL" in codes and "PLAN_UNKNOWN_DEPENDENCY" in codes
    assert "more problem" in err.value.message


def test_unknown_field_is_invalid_field(client: aos.Client) -> None:
    plan = {"name": "x", "steps": [{"id": "a", "skill": "json_transform", "bogus": 1}]}
    with pytest.raises(aos.ValidationError) as err:
        client.runs.submit(plan)
    assert err.value.code == "INVALID_FIELD"
    assert err.value.field and "steps[0]" in err.value.field
    assert err.value.errors and err.value.errors[0].code == "INVALID_FIELD"


def test_invalid_seed(client: aos.Client) -> None:
    with pytest.raises(aos.ValidationError) as err:
        client.runs.submit(double_plan(), seed=2**53)
    assert err.value.code == "INVALID_SEED"


def test_submit_needs_exactly_one_of_plan_and_workflow(client: aos.Client) -> None:
    with pytest.raises(ValueError):
        client.runs.submit()
    with pytest.raises(ValueError):
        client.runs.submit(double_plan(), workflow="w")


def test_idempotency_key(client: aos.Client, unique: str) -> None:
    first = client.runs.submit(double_plan("idem"), idempotency_key=unique)
    second = client.runs.submit(double_plan("idem"), idempotency_key=unique)
    assert first.created is True and second.created is False
    assert first.run_id == second.run_id
    assert client.runs.wait(first.run_id, 30).idempotency_key == unique
    with pytest.raises(aos.ValidationError) as err:
        client.runs.submit(double_plan(), idempotency_key="k" * 201)
    assert err.value.code == "INVALID_IDEMPOTENCY_KEY"


def test_get_unknown_run_is_not_found(client: aos.Client) -> None:
    with pytest.raises(aos.NotFoundError) as err:
        client.runs.get("r_" + "0" * 32)
    assert err.value.status == 404 and err.value.code == "NOT_FOUND"
    with pytest.raises(aos.NotFoundError):
        client.runs.get("r_" + "0" * 32, wait_ms=1000)


# ---- runs: list and pagination


def test_list_across_pages(client: aos.Client) -> None:
    since = now_ms()
    ids = [client.runs.submit(double_plan("paged")).run_id for _ in range(7)]
    for rid in ids:
        client.runs.wait(rid, 30)
    pager = client.runs.list(created_after=since, limit=2)
    pages = list(pager.pages())
    assert len(pages) >= 4, "7 runs in pages of 2"
    assert all(len(p.runs) <= 2 for p in pages)
    assert all(p.next_cursor for p in pages[:-1]) and pages[-1].next_cursor is None
    listed = [r for p in pages for r in p.runs]
    assert {r.run_id for r in listed} >= set(ids)
    assert len({r.run_id for r in listed}) == len(listed), "no run twice"
    # Iterating the pager yields the same runs, newest first.
    items = list(client.runs.list(created_after=since, limit=2))
    assert [r.run_id for r in items] == [r.run_id for r in listed]
    created = [r.created_at_ms for r in items]
    assert created == sorted(created, reverse=True)
    first = items[0]
    assert isinstance(first, aos.RunSummary) and first.plan_name == "paged" and first.status == "succeeded"
    assert first.finished_at_ms is not None
    # max_items stops early; list_page is one page.
    assert len(list(client.runs.list(created_after=since, limit=2, max_items=3))) == 3
    page = client.runs.list_page(created_after=since, limit=3)
    assert len(page.runs) == 3 and page.next_cursor
    nxt = client.runs.list_page(created_after=since, limit=3, cursor=page.next_cursor)
    assert not {r.run_id for r in nxt.runs} & {r.run_id for r in page.runs}


def test_list_filters(client: aos.Client, standin: StandIn) -> None:
    since = now_ms()
    ok = client.runs.submit_and_wait(double_plan("filter"), timeout=30)
    bad_plan = PlanBuilder("filter-bad").http_call("x", f"{standin.url}/status/404").build()
    bad = client.runs.submit_and_wait(bad_plan, timeout=30)
    assert bad.status == "failed"
    failed = list(client.runs.list(status="failed", created_after=since))
    assert [r.run_id for r in failed] == [bad.run_id]
    assert failed[0].error_code == "HTTP_404"
    succeeded = {r.run_id for r in client.runs.list(status="succeeded", created_after=since)}
    assert ok.run_id in succeeded and bad.run_id not in succeeded
    before = {r.run_id for r in client.runs.list(created_before=since - 1, created_after=since - 60_000)}
    assert ok.run_id not in before


def test_list_errors(client: aos.Client) -> None:
    # The SDK refuses page sizes outside 1-200 before sending, as the API would.
    for bad in (0, 201):
        with pytest.raises(ValueError, match="limit"):
            client.runs.list_page(limit=bad)
        with pytest.raises(ValueError, match="limit"):
            client.runs.list(limit=bad)
    assert len(client.runs.list_page(limit=200).runs) <= 200
    # The server agrees: sent anyway, they are 400 INVALID_QUERY naming the field.
    for bad in (0, 201):
        with pytest.raises(aos.BadRequestError) as err:
            client._execute(aos._ops.Call("GET", "/api/v1/runs", lambda r: None, params={"limit": bad}))  # type: ignore[attr-defined]
        assert err.value.status == 400 and err.value.code == "INVALID_QUERY" and err.value.field == "limit"
    with pytest.raises(aos.ValidationError) as verr:
        client.runs.list_page(cursor="i.not-a-cursor")
    assert verr.value.code == "INVALID_CURSOR"


# ---- runs: cancel and replay


def test_cancel_and_conflicts(client: aos.Client, standin: StandIn) -> None:
    plan = PlanBuilder("to-cancel").http_call("slow", f"{standin.url}/slow?ms=3000").build()
    submitted = client.runs.submit(plan)
    with pytest.raises(aos.ConflictError) as replay_err:
        client.runs.replay(submitted.run_id)
    e = replay_err.value
    assert e.status == 409 and e.code == "RUN_NOT_FINISHED" == aos.ConflictError.RUN_NOT_FINISHED
    assert not e.retryable and e.retry_after is None, "an unfinished run is not a concurrent update"
    assert "409 RUN_NOT_FINISHED" in str(e)
    result = client.runs.cancel(submitted.run_id)
    assert isinstance(result, aos.CancelResult)
    assert result.run_id == submitted.run_id and result.status == "cancelled"
    run = client.runs.get(submitted.run_id)
    assert run.status == "cancelled" and run.error is not None and run.error.code == "RUN_CANCELLED"
    assert run.error.category == "PERMANENT"
    assert run.cancel_requested is True
    with pytest.raises(aos.ConflictError) as cancel_err:
        client.runs.cancel(submitted.run_id)
    assert cancel_err.value.code == "RUN_ALREADY_FINISHED" == aos.ConflictError.RUN_ALREADY_FINISHED
    assert not cancel_err.value.retryable
    with pytest.raises(aos.NotFoundError):
        client.runs.cancel("r_" + "1" * 32)


def test_replay(client: aos.Client) -> None:
    run = client.runs.submit_and_wait(double_plan("replayed"), timeout=30)
    report = client.runs.replay(run.run_id)
    assert isinstance(report, aos.ReplayReport)
    assert report.parity is True and report.divergence is None
    assert report.reexecuted == 2 and report.recorded == 0
    assert report.trace_root == run.trace_root
    with pytest.raises(aos.NotFoundError):
        client.runs.replay("r_" + "2" * 32)


# ---- rerun and redrive


def test_rerun_and_redrive(client: aos.Client, aos_server: AosServer, standin: StandIn, unique: str) -> None:
    key = f"redrive-{unique}"
    plan = (
        PlanBuilder(f"redrive-{unique}")
        .http_call("notify", f"{standin.url}/slack/{key}", method="POST", body={"text": "once"})
        .http_call("fetch", f"{standin.url}/status/404", depends_on=["notify"], retry=1)
        .json_transform("usd", ref_step("fetch", "output.body"), ".bitcoin.usd", depends_on=["fetch"])
        .build()
    )
    failed = client.runs.submit_and_wait(plan, timeout=30)
    assert failed.status == "failed" and len(standin.slack_messages(key)) == 1

    patch = {"fetch": {"input": {"url": f"{standin.url}/price"}, "timeout_ms": 5000}}
    redriven = client.runs.redrive(failed.run_id, patch=patch, idempotency_key=key)
    assert isinstance(redriven, aos.RunView)
    assert redriven.redrive_of == failed.run_id
    assert redriven.seeded_steps == ["notify"] and redriven.patched_steps == ["fetch"]
    assert redriven.seed == failed.seed
    done = client.wait_for_run(redriven.run_id, timeout=30)
    assert done.status == "succeeded" and done.output("usd") == 43210.5
    assert len(standin.slack_messages(key)) == 1, "the kept POST was not sent again"
    assert done.step("notify").attempts[0].seeded_from == failed.run_id
    report = client.runs.replay(done.run_id)
    assert report.parity is True and report.seeded == 1 and report.trace_root == done.trace_root
    # The same key and request: the same new run.
    assert client.runs.redrive(failed.run_id, patch=patch, idempotency_key=key).run_id == redriven.run_id

    with pytest.raises(aos.ConflictError) as succeeded:
        client.runs.redrive(done.run_id)
    assert succeeded.value.code == "RUN_SUCCEEDED"
    with pytest.raises(aos.ValidationError) as unknown:
        client.runs.redrive(failed.run_id, patch={"nope": {"timeout_ms": 1000}})
    assert unknown.value.code == "PATCH_UNKNOWN_STEP" and unknown.value.field == "patch.nope"
    with pytest.raises(aos.ValidationError) as kept:
        client.runs.redrive(failed.run_id, patch={"notify": {"timeout_ms": 1000}})
    assert kept.value.code == "PATCH_STEP_SUCCEEDED"
    with aos.Client(aos_server.url, aos_server.other_key) as other:
        with pytest.raises(aos.NotFoundError):
            other.runs.redrive(failed.run_id)
        with pytest.raises(aos.NotFoundError):
            other.runs.rerun(failed.run_id)

    rerun = client.runs.rerun(failed.run_id, seed=9)
    assert rerun.rerun_of == failed.run_id and rerun.seed == 9
    assert client.wait_for_run(rerun.run_id, timeout=30).status == "failed"
    assert len(standin.slack_messages(key)) == 2, "a rerun runs every step again"


# ---- wait_for_run with progress


def test_wait_for_run_reports_progress(client: aos.Client, standin: StandIn, unique: str) -> None:
    plan = (
        PlanBuilder("progress")
        .http_call(
            "flaky",
            f"{standin.url}/flaky/{unique}",
            retry=aos.RetryPolicy(max_attempts=4, initial_delay_ms=700, max_delay_ms=700, retry_on=["TRANSIENT"]),
        )
        .json_transform("done", ref_step("flaky", "output.body.attempt"), ". * 10", depends_on=["flaky"])
        .build()
    )
    events: List[aos.ProgressEvent] = []
    submitted = client.runs.submit(plan, seed=7)
    run = client.wait_for_run(submitted.run_id, timeout=60, on_progress=events.append, poll_interval=0.1)
    assert run.succeeded, run.error
    assert run.output("done") == 30
    flaky = [e for e in events if e.step_id == "flaky"]
    assert flaky[0].previous_status is None, "the first observation has no previous status"
    assert flaky[-1].status == "succeeded" and flaky[-1].attempt == 3
    assert any(e.is_retry for e in flaky), f"a retry should be visible: {[str(e) for e in flaky]}"
    attempts = [e.attempt for e in flaky]
    assert attempts == sorted(attempts)
    # Each event is a change: no two consecutive events of a step repeat (status, attempt).
    for before, after in zip(flaky, flaky[1:]):
        assert (before.status, before.attempt) != (after.status, after.attempt)
        assert after.previous_status == before.status and after.previous_attempt == before.attempt
    run_events = [e for e in events if e.step_id is None]
    assert run_events[-1].status == "succeeded"
    assert events[-1].run.status == "succeeded"
    assert "step flaky" in str(flaky[-1])
    assert [a.outcome.ok for a in run.step("flaky").attempts] == [False, False, True]
    assert run.step("flaky").attempts[0].outcome.error.code == "HTTP_503"  # type: ignore[union-attr]


def test_wait_for_run_times_out(client: aos.Client, standin: StandIn) -> None:
    plan = PlanBuilder("slow-wait").http_call("s", f"{standin.url}/slow?ms=4000").build()
    submitted = client.runs.submit(plan)
    started = time.monotonic()
    with pytest.raises(aos.WaitTimeoutError) as err:
        client.runs.wait(submitted.run_id, timeout=0.6)
    assert time.monotonic() - started < 3
    assert err.value.run is not None and err.value.run.status in ("queued", "running")
    assert isinstance(err.value, TimeoutError)
    client.runs.cancel(submitted.run_id)


def test_wait_raise_on_failure(client: aos.Client, standin: StandIn) -> None:
    plan = PlanBuilder("fails").http_call("x", f"{standin.url}/status/404").build()
    with pytest.raises(aos.RunFailedError) as err:
        client.runs.submit_and_wait(plan, timeout=30, raise_on_failure=True)
    assert err.value.code == "HTTP_404"
    assert err.value.run.status == "failed"
    run = client.runs.submit_and_wait(plan, timeout=30)
    assert run.status == "failed" and run.error is not None
    assert run.error.category == "NOT_FOUND" and run.error.retryable is False
    step = run.step("x")
    assert step.status == "failed" and step.error is not None and step.error.code == "HTTP_404"


def test_fallback_condition_and_skips(client: aos.Client, standin: StandIn) -> None:
    plan = (
        PlanBuilder("triage")
        .http_call(
            "primary",
            f"{standin.url}/status/500",
            retry=1,
            on_error=aos.fallback("json_transform", {"data": {"source": "fallback"}, "expr": "."}),
        )
        .json_transform("when_true", ref_step("primary", "output.source"), ".", depends_on=["primary"],
                        condition='.steps.primary.output.source == "fallback"')
        .json_transform("when_false", 1, ".", depends_on=["primary"], condition=".steps.primary.output.source == 1")
        .json_transform("after_skip", ref_step("when_false"), ".", depends_on=["when_false"])
        .build()
    )
    run = client.runs.submit_and_wait(plan, timeout=30)
    assert run.succeeded, run.error
    primary = run.step("primary")
    assert primary.fallback is True and primary.skill == "json_transform"
    assert [(a.attempt, a.fallback, a.skill) for a in primary.attempts] == [(1, False, "http_call"), (2, True, "json_transform")]
    assert run.output("when_true") == "fallback"
    assert run.step("when_false").status == "skipped" and run.step("when_false").skip_reason == "condition is false"
    assert run.step("after_skip").status == "skipped"


# ---- simulation


def test_simulate(client: aos.Client) -> None:
    sim = client.simulate(double_plan("sim"))
    assert isinstance(sim, aos.Simulation)
    assert sim.feasible is True and sim.reasons == []
    assert [s.step_id for s in sim.steps] == ["a", "b"]
    assert all(s.source in ("history", "cost_model") for s in sim.steps)
    assert sim.budget_max_duration_ms == 900_000 and sim.budget_max_cost_usd is None
    tight = PlanBuilder("tight").budget(max_cost_usd=0.0).json_transform("a", 1, ".").build()
    sim2 = client.simulate(tight)
    assert sim2.feasible is False and sim2.reasons
    unlimited = PlanBuilder("unlimited").budget(max_duration_ms=None).json_transform("a", 1, ".").build()
    assert client.simulate(unlimited).budget_max_duration_ms is None
    with pytest.raises(aos.ValidationError) as err:
        client.simulate({"name": "bad", "steps": [{"id": "a", "skill": "nope"}]})
    assert err.value.code == "PLAN_UNKNOWN_SKILL"


# ---- skills


def test_skills(client: aos.Client) -> None:
    skills = client.skills.list()
    ids = [s.id for s in skills]
    assert ids == sorted(ids) and {"http_call", "json_transform", "kv_store", "webhook_send", "email_send", "slack_send", "fs"} <= set(ids)
    jt = client.skills.get("json_transform")
    assert isinstance(jt, aos.SkillSpec)
    assert jt.side_effects == "none" and jt.determinism == "deterministic"
    assert jt.default_timeout_ms == 5000
    assert isinstance(jt.cost_model, aos.CostModel) and jt.cost_model.usd_per_call > 0
    assert any(isinstance(f, aos.FailureMode) and f.code == "JQ_COMPILE_ERROR" for f in jt.failure_modes)
    http = client.skills.get("http_call")
    assert http.side_effects == "write" and http.determinism == "non_deterministic"
    with pytest.raises(aos.NotFoundError):
        client.skills.get("nope")


# ---- workflows


def test_workflows(client: aos.Client, unique: str) -> None:
    name = f"wf-{unique}"
    v1 = client.workflows.create(name, double_plan("wf-v1"))
    assert isinstance(v1, aos.Workflow) and v1.name == name and v1.version == 1
    assert v1.plan.name == "wf-v1" and v1.created_at_ms > 0
    v2 = client.workflows.create(name, double_plan("wf-v2"))
    assert v2.version == 2
    listed = [w for w in client.workflows.list() if w.name == name]
    assert [(w.version, w.plan.name) for w in listed] == [(1, "wf-v1"), (2, "wf-v2")]
    assert client.workflows.get(name).version == 2
    assert client.workflows.get(name, version=1).plan.name == "wf-v1"
    run = client.runs.submit_and_wait(workflow=name, version=1, timeout=30)
    assert run.succeeded and run.workflow == aos.WorkflowRef(name, 1)
    latest = client.runs.submit_and_wait(workflow=name, timeout=30)
    assert latest.workflow is not None and latest.workflow.version == 2
    summary = next(r for r in client.runs.list(max_items=20) if r.run_id == latest.run_id)
    assert summary.workflow == aos.WorkflowRef(name, 2)
    with pytest.raises(aos.NotFoundError):
        client.workflows.get(f"missing-{unique}")
    with pytest.raises(aos.NotFoundError):
        client.workflows.get(name, version=99)
    with pytest.raises(aos.ValidationError) as err:
        client.workflows.create("bad name!", double_plan())
    assert err.value.code == "INVALID_WORKFLOW_NAME"
    with pytest.raises(aos.ValidationError) as err2:
        client.runs.submit(workflow=f"missing-{unique}")
    assert err2.value.code == "WORKFLOW_NOT_FOUND"
    with pytest.raises(aos.ValidationError) as err3:
        client.workflows.create(name, {"name": "x", "steps": [{"id": "a", "skill": "nope"}]})
    assert err3.value.code == "PLAN_UNKNOWN_SKILL"


# ---- secrets


def test_secrets(client: aos.Client, standin: StandIn, unique: str) -> None:
    name = f"TOKEN_{unique.upper()}"
    assert client.secrets.put(name, "s3cret-value") is None
    assert name in client.secrets.list()
    client.secrets.put(name, "s3cret-value-2")  # replace
    assert client.secrets.list().count(name) == 1
    with pytest.raises(aos.ValidationError) as err:
        client.secrets.put("bad-name", "v")
    assert err.value.code == "INVALID_SECRET_NAME"
    plan = (
        PlanBuilder("secret-use")
        .http_call("echo", f"{standin.url}/echo", method="POST", headers={"authorization": "Bearer " + ref_secret(name)},
                   body={"hello": "world"})
        .build()
    )
    run = client.runs.submit_and_wait(plan, timeout=30)
    assert run.succeeded, run.error
    attempt = run.step("echo").attempts[0]
    # The record keeps the reference; the echoed value is redacted in the outcome.
    assert attempt.input["headers"]["authorization"] == "Bearer {{ secrets.%s }}" % name
    assert "s3cret-value-2" not in json.dumps(attempt.outcome.to_dict())
    assert "[REDACTED]" in json.dumps(attempt.outcome.to_dict())
    assert client.runs.verify(run.run_id).ok
    missing = PlanBuilder("missing-secret").http_call("x", standin.url, headers={"x": ref_secret("NOPE_" + unique.upper())}).build()
    with pytest.raises(aos.ValidationError) as err2:
        client.runs.submit(missing)
    assert err2.value.code == "PLAN_UNKNOWN_SECRET"


# ---- the raw HTTP details the SDK relies on


def test_error_envelope_shape(aos_server: AosServer) -> None:
    """The SDK's error mapping relies on this envelope on every error status."""
    r = httpx.get(aos_server.url + "/api/v1/runs/r_" + "3" * 32, headers={"authorization": "Bearer " + aos_server.api_key})
    body: Dict[str, Any] = r.json()
    assert r.status_code == 404
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    with aos.Client(aos_server.url, aos_server.api_key) as c:
        with pytest.raises(aos.MethodNotAllowedError):
            c._execute(aos._ops.Call("DELETE", "/api/v1/runs", lambda r: None))  # type: ignore[attr-defined]
        with pytest.raises(aos.NotFoundError) as err:
            c._execute(aos._ops.Call("GET", "/api/v1/nope", lambda r: None))  # type: ignore[attr-defined]
        assert err.value.code == "NOT_FOUND"


def test_unlimited_duration_survives_storage(client: aos.Client, unique: str) -> None:
    """``max_duration_ms: null`` (no limit) is stored and read back as null; absent is the default."""
    plan = PlanBuilder("unlimited").budget(max_duration_ms=None).json_transform("a", 1, ".").build()
    wf = client.workflows.create(f"unlimited-{unique}", plan)
    assert wf.plan.budget is not None and wf.plan.budget.max_duration_ms is None
    assert client.workflows.get(wf.name).plan.budget.max_duration_ms is None  # type: ignore[union-attr]
    run = client.runs.submit_and_wait(workflow=wf.name, timeout=30)
    assert run.succeeded and run.plan.budget is not None and run.plan.budget.max_duration_ms is None
    # A budget that does not mention the duration gets the 15-minute default, written out.
    partial = {"name": "partial", "budget": {"max_cost_usd": 1.0}, "steps": [{"id": "a", "skill": "json_transform",
                                                                            "input": {"data": 1, "expr": "."}}]}
    wf2 = client.workflows.create(f"partial-{unique}", partial)
    assert wf2.plan.budget == aos.Budget(max_cost_usd=1.0, max_duration_ms=aos.models.DEFAULT_MAX_DURATION_MS)
    raw = client._execute(aos._ops.Call("GET", f"/api/v1/workflows/partial-{unique}", lambda r: r.json()))  # type: ignore[attr-defined]
    assert raw["plan"]["budget"] == {"max_cost_usd": 1.0, "max_duration_ms": aos.models.DEFAULT_MAX_DURATION_MS}


def test_required_fields_are_always_present(client: aos.Client, standin: StandIn) -> None:
    """The fields the document now requires are in every answer, ``null`` where they have no value."""
    plan = PlanBuilder("required").http_call("x", f"{standin.url}/status/404").build()
    submitted = client.runs.submit(plan)
    raw: Dict[str, Any] = client._execute(aos._ops.get_run_raw(submitted.run_id, wait_ms=10_000))  # type: ignore[attr-defined]
    assert raw["status"] == "failed"
    assert raw["cancel_requested"] is False and isinstance(raw["trace"], list) and raw["trace"]
    assert "details" in raw["error"]
    for step in raw["step_details"]:
        for attempt in step["attempts"]:
            outcome = attempt["outcome"]
            assert outcome["ok"] is False and "details" in outcome["error"]
    run = aos.RunView.from_dict(raw)
    assert run.error is not None and run.error.code == "HTTP_404"
    assert run.cancel_requested is False and len(run.trace) == len(raw["trace"])


# ---- the failure catalog


def test_catalog_list_and_get(client: aos.Client) -> None:
    view = client.catalog.list()
    assert isinstance(view, aos.CatalogView)
    assert view.version >= 1 and len(view.digest) == 16 and int(view.digest, 16) >= 0
    assert len(view) == len(view.entries) > 50
    assert len(set(view.codes)) == len(view.codes), "entry codes are unique"
    assert all(isinstance(e, aos.CatalogEntry) and e.explanation and e.match for e in view)
    assert {"HTTP_NOT_FOUND", "HTTP_SERVICE_UNAVAILABLE", "STEP_TIMEOUT"} <= set(view.codes)
    # The digest is stable while the catalog is.
    assert client.catalog.list().digest == view.digest
    entry = client.catalog.get("HTTP_NOT_FOUND")
    assert entry == view.entry("HTTP_NOT_FOUND")
    assert entry.category == "NOT_FOUND" and entry.retryable is False and entry.generic is False
    assert 404 in entry.match["http_status"] and entry.suggestions
    assert client.catalog.get("HTTP_SERVICE_UNAVAILABLE").retryable is True


def test_catalog_get_unknown_code_is_not_found(client: aos.Client) -> None:
    with pytest.raises(aos.NotFoundError) as err:
        client.catalog.get("NO_SUCH_ENTRY")
    assert err.value.status == 404 and err.value.code == "NOT_FOUND" and "NO_SUCH_ENTRY" in err.value.message
    assert not err.value.retryable
    # The code is one path segment: a slash in it does not reach another route.
    with pytest.raises(aos.NotFoundError):
        client.catalog.get("match/x")
    with pytest.raises(ValueError):
        client.catalog.get("")


def test_match_a_503_is_transient_and_retryable(client: aos.Client) -> None:
    verdict = client.catalog.match("upstream answered 503 Service Unavailable")
    assert isinstance(verdict, aos.MatchResponse)
    assert verdict.matched and verdict.code == "HTTP_SERVICE_UNAVAILABLE"
    assert verdict.category == "TRANSIENT" and verdict.retryable is True
    assert verdict.recovery_mode is not None and verdict.recovery_mode.startswith("retry_")
    assert verdict.match_type == "pattern" and 0.4 <= verdict.confidence <= 0.9
    assert verdict.explanation and verdict.suggestions
    assert len(verdict.signature) == 16
    # Structured evidence (the status) decides with more confidence than the message.
    structured = client.catalog.match("upstream failed", code="HTTP_503", http_status=503, skill="http_call")
    assert structured.code == "HTTP_SERVICE_UNAVAILABLE" and structured.category == "TRANSIENT"
    assert structured.match_type in ("http_status", "structured_code") and structured.confidence >= 0.7
    # The entry's advice is the catalog entry's.
    entry = client.catalog.get("HTTP_SERVICE_UNAVAILABLE")
    assert (verdict.explanation, verdict.suggestions, verdict.severity) == (entry.explanation, entry.suggestions, entry.severity)
    # The skill only changes the signature.
    other_skill = client.catalog.match("upstream failed", code="HTTP_503", http_status=503, skill="json_transform")
    assert other_skill.code == structured.code and other_skill.signature != structured.signature
    assert client.catalog.match("upstream failed", code="HTTP_503", http_status=503, skill="http_call") == structured


def test_match_without_a_match(client: aos.Client) -> None:
    verdict = client.catalog.match("zq xv wibble")
    assert verdict.matched is False and verdict.match_type == "none" and verdict.confidence == 0.0
    assert (verdict.code, verdict.category, verdict.retryable, verdict.severity, verdict.recovery_mode) == (None,) * 5
    assert verdict.explanation is None and verdict.suggestions == []
    assert len(verdict.signature) == 16


def test_match_errors(client: aos.Client) -> None:
    # The SDK refuses statuses outside 100-599 before sending, as the API would.
    for bad in (99, 600):
        with pytest.raises(ValueError, match="http_status"):
            client.catalog.match("x", http_status=bad)
    # The server agrees: 400 INVALID_FIELD naming the field.
    raw = aos._ops.Call("POST", "/api/v1/catalog/match", lambda r: None, body={"message": "x", "http_status": 99})  # type: ignore[attr-defined]
    with pytest.raises(aos.BadRequestError) as err:
        client._execute(raw)  # type: ignore[attr-defined]
    assert err.value.code == "INVALID_FIELD" and err.value.field == "http_status"
    with pytest.raises(aos.BadRequestError) as too_long:
        client.catalog.match("x" * (64 * 1024 + 1))
    assert too_long.value.code == "INVALID_FIELD" and too_long.value.field == "message"
    # A body the schema does not allow (no message, an unknown field) is 422 INVALID_FIELD.
    for body in ({"code": "HTTP_503"}, {"message": "x", "bogus": 1}):
        with pytest.raises(aos.ValidationError) as invalid:
            client._execute(aos._ops.Call("POST", "/api/v1/catalog/match", lambda r: None, body=body))  # type: ignore[attr-defined]
        assert invalid.value.code == "INVALID_FIELD"


# ---- recorded failures


def eventually(check: Any, timeout: float = 15.0) -> Any:
    """Polls ``check`` until it returns something truthy (records are written as runs progress)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)


def test_a_failed_http_call_is_classified_and_recorded(client: aos.Client, standin: StandIn) -> None:
    since = now_ms()
    plan = PlanBuilder("failure-404").http_call("fetch", f"{standin.url}/status/404").build()
    run = client.runs.submit_and_wait(plan, timeout=30)
    assert run.status == "failed"
    # The run and its failed attempt carry the catalog's verdict.
    assert isinstance(run.failure, aos.FailureMatch)
    assert run.failure.matched and run.failure.code == "HTTP_NOT_FOUND" and run.failure.category == "NOT_FOUND"
    assert run.failure.retryable is False and run.failure.match_type == "http_status"
    attempt = run.step("fetch").attempts[0]
    assert attempt.failure is not None and attempt.failure.code == "HTTP_NOT_FOUND"
    assert attempt.failure.signature == run.failure.signature
    # The classification is not part of the trace.
    assert client.runs.verify(run.run_id).ok

    def records() -> List[aos.FailureRecord]:
        found = [f for f in client.failures.list(from_ms=since) if f.run_id == run.run_id]
        return found if {f.kind for f in found} >= {"attempt", "run"} else []

    mine = eventually(records)
    by_kind = {f.kind: f for f in mine}
    rec = by_kind["attempt"]
    assert isinstance(rec, aos.FailureRecord)
    assert (rec.step_id, rec.attempt, rec.skill, rec.code) == ("fetch", 1, "http_call", "HTTP_404")
    assert rec.matched and rec.catalog_code == "HTTP_NOT_FOUND" and rec.category == "NOT_FOUND"
    assert rec.match_type == "http_status" and rec.confidence == run.failure.confidence
    assert rec.signature == run.failure.signature and "404" in rec.message
    assert rec.recovery_attempted is False and rec.recovery_succeeded is None and rec.recovery_mode is None
    assert since <= rec.at_ms <= now_ms() and rec.expires_at > rec.at_ms // 1000
    assert by_kind["run"].code == "HTTP_404" and by_kind["run"].catalog_code == "HTTP_NOT_FOUND"
    # Newest first.
    listed = client.failures.list(from_ms=since).to_list()
    assert [f.at_ms for f in listed] == sorted((f.at_ms for f in listed), reverse=True)

    # Filters: by error code or catalog code, category, kind, matched, recovered.
    def ids(**filters: Any) -> Set[str]:
        filters.setdefault("from_ms", since)
        return {f.id for f in client.failures.list(**filters)}

    mine_ids = {f.id for f in mine}
    assert mine_ids <= ids(code="HTTP_404") and mine_ids <= ids(code="HTTP_NOT_FOUND")
    assert mine_ids <= ids(category="NOT_FOUND") and not mine_ids & ids(category="TRANSIENT")
    assert mine_ids <= ids(skill="http_call") and not mine_ids & ids(skill="json_transform")
    assert ids(kind="run") & mine_ids == {by_kind["run"].id}
    assert mine_ids <= ids(matched=True) and not mine_ids & ids(matched=False)
    assert not mine_ids & ids(recovered=True) and mine_ids <= ids(recovered=False)
    assert not mine_ids & ids(to_ms=since - 1, from_ms=since - 60_000)

    # Statistics see the same failures.
    stats = client.failures.stats(from_ms=since, code="HTTP_404")
    assert isinstance(stats, aos.FailureStats)
    assert stats.from_ms == since and stats.to_ms >= rec.at_ms and stats.bucket_ms == 3_600_000
    assert stats.total >= 2 and stats.matched == stats.total and stats.match_rate == 1.0
    assert stats.by_code == {"HTTP_404": stats.total}
    assert stats.by_catalog_code == {"HTTP_NOT_FOUND": stats.total} and stats.by_category == {"NOT_FOUND": stats.total}
    assert stats.by_kind.get("attempt", 0) >= 1 and stats.by_kind.get("run", 0) >= 1
    assert stats.by_skill.get("http_call", 0) >= 1
    assert sum(b.total for b in stats.buckets) == stats.total and not stats.truncated
    assert all(isinstance(b, aos.FailureBucket) for b in stats.buckets)
    assert stats.recovery.attempted == 0 and stats.recovery.success_rate is None


def test_failure_stats_agree_with_the_listing(client: aos.Client, standin: StandIn) -> None:
    """Over a closed range, the figures of ``stats`` are those of the records ``list`` returns."""
    since = now_ms()
    for path in ("status/404", "status/500"):
        client.runs.submit_and_wait(PlanBuilder("stats").http_call("x", f"{standin.url}/{path}").build(), timeout=30)
    eventually(lambda: len([f for f in client.failures.list(from_ms=since) if f.kind == "run"]) >= 2)
    time.sleep(0.3)
    until = now_ms()
    records = client.failures.list(from_ms=since, to_ms=until).to_list()
    stats = client.failures.stats(from_ms=since, to_ms=until, bucket_ms=1000)
    assert (stats.from_ms, stats.to_ms, stats.bucket_ms) == (since, until, 1000)
    assert stats.total == len(records) >= 4
    assert stats.matched == sum(f.matched for f in records)
    assert stats.match_rate == pytest.approx(stats.matched / stats.total)

    def count(key: Any) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for f in records:
            k = key(f)
            if k is not None:
                out[k] = out.get(k, 0) + 1
        return out

    assert stats.by_kind == count(lambda f: f.kind)
    assert stats.by_code == count(lambda f: f.code)
    assert stats.by_catalog_code == count(lambda f: f.catalog_code)
    assert stats.by_category == count(lambda f: f.category)
    assert stats.by_skill == count(lambda f: f.skill)
    assert len(stats.buckets) == (until - since) // 1000 + 1
    assert [b.start_ms for b in stats.buckets] == [since + i * 1000 for i in range(len(stats.buckets))]
    assert sum(b.total for b in stats.buckets) == stats.total
    kinds = client.failures.stats(from_ms=since, to_ms=until, kind="run")
    assert kinds.total == stats.by_kind["run"] and set(kinds.by_kind) == {"run"}


def test_recovered_failures(client: aos.Client, standin: StandIn, unique: str) -> None:
    """Failed attempts that a retry made good are recorded as recovered, and counted so."""
    since = now_ms()
    plan = PlanBuilder("recovered").http_call(
        "flaky", f"{standin.url}/flaky/{unique}",
        retry=aos.RetryPolicy(max_attempts=4, initial_delay_ms=50, max_delay_ms=50, retry_on=["TRANSIENT"]),
    ).build()
    run = client.runs.submit_and_wait(plan, timeout=30)
    assert run.succeeded and run.failure is None
    failed = [a for a in run.step("flaky").attempts if not a.outcome.ok]
    assert [a.failure.code for a in failed if a.failure] == ["HTTP_SERVICE_UNAVAILABLE"] * 2
    assert [a.failure for a in run.step("flaky").attempts if a.outcome.ok] == [None]

    def recovered() -> List[aos.FailureRecord]:
        found = [f for f in client.failures.list(from_ms=since, recovered=True) if f.run_id == run.run_id]
        return found if len(found) == 2 else []

    records = eventually(recovered)
    assert sorted(f.attempt for f in records) == [1, 2]
    for f in records:
        assert f.code == "HTTP_503" and f.catalog_code == "HTTP_SERVICE_UNAVAILABLE" and f.category == "TRANSIENT"
        assert f.recovery_attempted and f.recovery_succeeded is True
        assert f.recovery_mode is not None and f.recovery_mode.startswith("retry_")
        assert f.advised_recovery is not None
    stats = client.failures.stats(from_ms=since, code="HTTP_SERVICE_UNAVAILABLE")
    assert stats.recovery.attempted >= 2 and stats.recovery.succeeded >= 2
    assert stats.recovery.success_rate is not None and stats.recovery.success_rate > 0
    mode = records[0].recovery_mode
    assert mode is not None and stats.recovery_by_mode[mode].succeeded >= 2
    assert sum(b.recovered for b in stats.buckets) >= 2


def test_rejected_submissions_are_recorded(client: aos.Client, unique: str) -> None:
    since = now_ms()
    skill = f"nope_{unique}"
    with pytest.raises(aos.ValidationError):
        client.runs.submit({"name": "rejected", "steps": [{"id": "a", "skill": skill}]})

    def rejected() -> List[aos.FailureRecord]:
        return [f for f in client.failures.list(from_ms=since, kind="rejected") if f.skill == skill]

    (rec,) = eventually(rejected)
    assert rec.kind == "rejected" and rec.run_id is None and rec.attempt == 0
    assert rec.code == "PLAN_UNKNOWN_SKILL" and rec.category == "VALIDATION"
    assert rec.recovery_attempted is False and rec.recovery_succeeded is None


def test_failures_list_across_pages(client: aos.Client, standin: StandIn) -> None:
    since = now_ms()
    for _ in range(3):
        client.runs.submit_and_wait(PlanBuilder("paged-failures").http_call("x", f"{standin.url}/status/404").build(),
                                    timeout=30)
    eventually(lambda: len(client.failures.list(from_ms=since).to_list()) >= 6)
    until = now_ms()
    everything = client.failures.list(from_ms=since, to_ms=until, limit=200).to_list()
    pages = list(client.failures.list(from_ms=since, to_ms=until, limit=2).pages())
    assert len(pages) >= 3 and all(isinstance(p, aos.FailureList) and len(p.failures) <= 2 for p in pages)
    assert all(p.next_cursor for p in pages[:-1]) and pages[-1].next_cursor is None
    paged = [f for p in pages for f in p.failures]
    assert [f.id for f in paged] == [f.id for f in everything], "the same records, in the same order"
    assert len({f.id for f in paged}) == len(paged)
    assert [f.id for f in client.failures.list(from_ms=since, to_ms=until, limit=2)] == [f.id for f in everything]
    assert len(client.failures.list(from_ms=since, to_ms=until, limit=2, max_items=3).to_list()) == 3
    first = client.failures.list_page(from_ms=since, to_ms=until, limit=2)
    assert len(first.failures) == 2 and first.next_cursor
    second = client.failures.list_page(from_ms=since, to_ms=until, limit=2, cursor=first.next_cursor)
    assert [f.id for f in first.failures + second.failures] == [f.id for f in everything[:4]]


def test_failures_errors(client: aos.Client) -> None:
    for bad in (0, 201):
        with pytest.raises(ValueError, match="limit"):
            client.failures.list(limit=bad)
        with pytest.raises(ValueError, match="limit"):
            client.failures.list_page(limit=bad)
    with pytest.raises(ValueError, match="bucket_ms"):
        client.failures.stats(bucket_ms=0)
    # What only the server can judge: 400 INVALID_QUERY naming the parameter.
    cases = [
        (lambda: client.failures.list_page(from_ms=10, to_ms=5), "from"),
        (lambda: client.failures.list_page(from_ms=0, to_ms=400 * 86_400_000), "from"),
        (lambda: client.failures.list_page(category="BOGUS"), "category"),  # type: ignore[arg-type]
        (lambda: client.failures.list_page(kind="nope"), "kind"),  # type: ignore[arg-type]
        (lambda: client.failures.stats(from_ms=10, to_ms=5), "from"),
        (lambda: client.failures.stats(bucket_ms=1000), "bucket_ms"),  # 86 400 buckets in a day, over 1 000
    ]
    for call, field in cases:
        with pytest.raises(aos.BadRequestError) as err:
            call()
        assert err.value.status == 400 and err.value.code == "INVALID_QUERY" and err.value.field == field
    with pytest.raises(aos.ValidationError) as cursor:
        client.failures.list_page(cursor="not-a-cursor")
    assert cursor.value.status == 422 and cursor.value.code == "INVALID_CURSOR" and cursor.value.field == "cursor"


def test_failures_are_per_tenant(client: aos.Client, aos_server: AosServer, standin: StandIn) -> None:
    since = now_ms()
    run = client.runs.submit_and_wait(PlanBuilder("tenant-failure").http_call("x", f"{standin.url}/status/404").build(),
                                      timeout=30)
    eventually(lambda: [f for f in client.failures.list(from_ms=since) if f.run_id == run.run_id])
    with aos.Client(aos_server.url, aos_server.other_key) as other:
        assert run.run_id not in {f.run_id for f in other.failures.list(from_ms=since)}
        assert other.failures.stats(from_ms=since, code="HTTP_404").total == 0
        # The catalog is the same for every tenant.
        assert other.catalog.list().digest == client.catalog.list().digest
    with aos.Client(aos_server.url, "aos_deadbeef_" + "0" * 48) as bad:
        with pytest.raises(aos.AuthenticationError):
            bad.failures.stats()
        with pytest.raises(aos.AuthenticationError):
            bad.catalog.match("x")


# ---- metrics


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one series of a Prometheus text exposition (0 when it is absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series == name or series.startswith(name + "{"):
            found = dict(part.split("=", 1) for part in series[len(name) + 1 : -1].split(",") if "=" in part)
            if all(found.get(k) == json.dumps(v) for k, v in labels.items()):
                return float(value)
    return 0.0


def test_metrics_are_prometheus_text(client: aos.Client, standin: StandIn) -> None:
    before = client.metrics()
    plan = PlanBuilder("metrics-404").http_call("x", f"{standin.url}/status/404").build()
    assert client.runs.submit_and_wait(plan, timeout=30).status == "failed"
    failed_before = metric(before, "runs_total", status="failed")

    def counted() -> Optional[str]:
        text = client.metrics()
        return text if metric(text, "runs_total", status="failed") > failed_before else None

    after = eventually(counted)
    assert isinstance(after, str)
    assert "# TYPE runs_total counter" in after and "# TYPE step_duration_seconds histogram" in after
    hits = metric(after, "failure_match_hits_total", code="HTTP_NOT_FOUND", category="NOT_FOUND")
    assert hits >= metric(before, "failure_match_hits_total", code="HTTP_NOT_FOUND", category="NOT_FOUND") + 1
    assert metric(after, "step_duration_seconds_count", skill="http_call") >= 1


def test_metrics_need_a_key(aos_server: AosServer) -> None:
    with aos.Client(aos_server.url, "aos_deadbeef_" + "0" * 48) as bad:
        with pytest.raises(aos.AuthenticationError) as err:
            bad.metrics()
    assert err.value.status == 401 and err.value.code == "UNAUTHENTICATED"
    r = httpx.get(aos_server.url + "/metrics", headers={"authorization": "Bearer " + aos_server.api_key})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")


# ---- catalog candidates


def test_failure_candidates(client: aos.Client, standin: StandIn, unique: str) -> None:
    """Failures the catalog does not know (a status no entry covers) become candidates of the
    caller's tenant, computed on demand and then read page by page."""
    for _ in range(2):
        run = client.runs.submit_and_wait(PlanBuilder(f"cand-{unique}").http_call("x", f"{standin.url}/status/699").build(), timeout=30)
        assert run.status == "failed"
    report = client.failures.aggregate(days=1)
    assert isinstance(report, aos.CandidateReport) and report.window.days == 1 and report.low_confidence == 0.75
    odd = next(c for c in report.candidates if c.code == "HTTP_699")
    assert isinstance(odd, aos.FailureCandidate) and odd.count >= 2 and odd.unmatched >= 2 and odd.tenant_count is None
    assert odd.skills == ["http_call"] and odd.examples and isinstance(odd.suggested, aos.Suggestion)
    assert odd.first_seen_ms <= odd.last_seen_ms
    assert report.total == len(report.candidates)
    first = client.failures.candidates(limit=1)
    assert isinstance(first, aos.CandidatePage) and first.generated_at_ms == report.generated_at_ms
    assert first.total == report.total and len(first.candidates) == 1
    seen = [c.signature for c in first.candidates]
    cursor = first.next_cursor
    while cursor:
        page = client.failures.candidates(limit=1, cursor=cursor)
        seen += [c.signature for c in page.candidates]
        cursor = page.next_cursor
    assert seen == [c.signature for c in report.candidates]


def test_failure_candidates_errors(client: aos.Client) -> None:
    for bad in (0, 201):
        with pytest.raises(ValueError, match="limit"):
            client.failures.candidates(limit=bad)
    for bad_days in (0, 367):
        with pytest.raises(ValueError, match="days"):
            client.failures.aggregate(days=bad_days)
    with pytest.raises(aos.BadRequestError) as err:
        client.failures.aggregate(low_confidence=1.5)
    assert err.value.status == 400 and err.value.code == "INVALID_QUERY" and err.value.field == "low_confidence"
    with pytest.raises(aos.ValidationError) as verr:
        client.failures.candidates(cursor="zz")
    assert verr.value.code == "INVALID_CURSOR"
