"""Recovery policies and automatic approval through the SDK, against a real `aos serve`: the
settings read, changed (a field at a time or whole) and audited; an approved candidate listed and
read as an active policy; a run of a plan without retry settings, whose step met the failure in an
earlier run, compiled with it (``applied_policies``) unless the plan opts out
(``policies="off"``), its outcome counted; the
policy disabled (then a 409 ``POLICY_STATE_CONFLICT``); a viewer may read but neither change the
settings nor disable (403); another tenant sees nothing."""

from __future__ import annotations

import time
import uuid
from typing import AsyncIterator, Callable, Dict, Iterator, Optional, TypeVar

import pytest

import aos
from aos import PlanBuilder, RetryPolicy
from conftest import AosServer, _stop, start_server
from standins import StandIn

pytestmark = pytest.mark.contract

T = TypeVar("T")
RETRY = RetryPolicy(max_attempts=4, initial_delay_ms=20, max_delay_ms=20, retry_on=["TRANSIENT"])
UNKNOWN = "pol_0000000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AosServer]:
    """A server of this module's own: settings and policies belong to the whole tenant."""
    started, proc = start_server(tmp_path_factory)
    try:
        yield started
    finally:
        _stop(proc.pid, proc)


@pytest.fixture()
def client(server: AosServer) -> Iterator[aos.Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def viewer_key(server: AosServer) -> str:
    with server.client() as c:
        return c.keys.create("policies-viewer", "viewer").key


def eventually(fn: Callable[[], Optional[T]], timeout: float = 15.0, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(interval)


@pytest.fixture(scope="module")
def policy(server: AosServer, standin: StandIn) -> Dict[str, str]:
    """An approved candidate: three runs whose 503s a short-backoff retry recovered, a suggestion
    that proposes retrying, and its approval. The candidate's and the policy's ids."""
    key = "pol" + uuid.uuid4().hex[:8]
    with server.client() as client:
        for i in range(3):
            plan = PlanBuilder("teaches").http_call("call", f"{standin.url}/flaky/{key}-{i}", retry=RETRY).build()
            assert client.runs.submit_and_wait(plan, timeout=30).succeeded
        answer = client.recovery.suggest(f"upstream {key} answered 503", code="HTTP_503", skill="http_call", http_status=503)
        assert answer.candidates, f"no candidate proposed: {answer}"
        candidate = answer.candidates[0]
        assert client.recovery.approve(candidate, note="retries fix it").status == "approved"
        return {"candidate": candidate, "policy": "pol_" + candidate[len("rc_"):]}


def fragile(url: str, **options: object) -> aos.Plan:
    """A plan whose step has no retry settings of its own."""
    return PlanBuilder("fragile", **options).http_call("get", url).build()  # type: ignore[arg-type]


def meets_the_failure(client: aos.Client, standin: StandIn) -> None:
    """A run of the fragile plan whose step fails for good with a 503: policies for that failure
    apply to the step in later runs of the plan."""
    plan = PlanBuilder("fragile").http_call("get", f"{standin.url}/status/503", retry=RetryPolicy(max_attempts=1)).build()
    assert client.runs.submit_and_wait(plan, timeout=30).status == "failed"


# ---- settings


def test_settings_round_trip_and_audit(client: aos.Client) -> None:
    assert client.recovery.settings() == aos.RecoverySettingsView(mode="off", min_lower=0.8, min_evidence=10)
    one = client.recovery.put_settings(min_evidence=3)
    assert one == aos.RecoverySettingsView("off", 0.8, 3), "the other fields keep their values"
    whole = client.recovery.put_settings(aos.RecoverySettingsView("shadow", 0.7, 5))
    assert whole == client.recovery.settings() == aos.RecoverySettingsView("shadow", 0.7, 5)
    hooked = client.recovery.put_settings(drift_webhook_url="https://hooks.example.com/drift")
    assert hooked.drift_webhook_url == "https://hooks.example.com/drift" and hooked.drift_webhook_secret is None
    assert client.recovery.put_settings(mode="off", min_lower=0.65).drift_webhook_url == hooked.drift_webhook_url, "kept"
    mixed = client.recovery.put_settings(aos.RecoverySettingsView("shadow", 0.7, 5), mode="off", min_lower=0.65)
    assert mixed == client.recovery.settings() == aos.RecoverySettingsView("off", 0.65, 5), "a whole view replaces"
    events = client.audit.list(action="recovery.settings").to_list()
    assert [e.detail["mode"] for e in events] == ["off", "off", "shadow", "shadow", "off"], "each change audited, newest first"
    assert events[0].detail["min_lower"] == 0.65 and events[0].actor.startswith("key:") and events[0].role == "admin"

    for bad in ({"min_lower": 0.3}, {"min_lower": 1.0}, {"min_evidence": 0}, {"min_evidence": True}, {"mode": "sometimes"}):
        with pytest.raises(ValueError):
            client.recovery.put_settings(**bad)  # type: ignore[arg-type,unused-ignore]
    with pytest.raises(aos.ValidationError) as refused:
        client._execute(
            aos._ops.Call("PUT", "/api/v1/recovery/settings", lambda r: r.json(),
                          body={"mode": "off", "min_lower": 0.3, "min_evidence": 3})
        )
    assert refused.value.status == 422 and refused.value.field == "min_lower"
    assert client.recovery.settings().min_lower == 0.65, "a refused change changes nothing"


def test_a_viewer_reads_the_settings_but_may_not_change_them(server: AosServer, viewer_key: str) -> None:
    with aos.Client(server.url, viewer_key, max_retries=0) as viewer:
        assert viewer.recovery.settings().mode == "off"
        with pytest.raises(aos.PermissionDeniedError) as denied:
            viewer.recovery.put_settings(mode="active")
        assert denied.value.status == 403 and "recovery:review" in denied.value.message
    with server.client() as client:
        assert client.recovery.settings().mode == "off"


# ---- policies


def test_an_approved_candidate_becomes_an_active_policy(client: aos.Client, policy: Dict[str, str]) -> None:
    listed = client.policies.list()
    assert [p.id for p in listed] == [policy["policy"]]
    p = client.policies.get(policy["policy"])
    assert isinstance(p, aos.Policy) and p == listed[0]
    assert (p.status, p.candidate_id, p.skill, p.code, p.target) == (
        "active", policy["candidate"], "http_call", "HTTP_SERVICE_UNAVAILABLE", None
    )
    assert p.in_force and p.action == "retry" and p.params == {"backoff": "short"}
    assert p.patch["retry"]["max_attempts"] >= 2 and p.approved_lower >= 0.6
    assert isinstance(p.approved_evidence, aos.EvidenceView) and p.approved_evidence.observed >= 3
    assert p.created_at_ms <= p.updated_at_ms
    (created,) = p.history
    assert isinstance(created, aos.PolicyEvent)
    assert (created.from_, created.to, created.note) == (None, "active", "retries fix it")
    assert created.actor == f"key:{client.whoami().id}"
    assert created.to_dict()["from"] is None
    assert isinstance(p.outcomes, aos.PolicyOutcomes)
    with pytest.raises(aos.NotFoundError):
        client.policies.get(UNKNOWN)


def test_runs_take_the_policy_unless_their_plan_opts_out(client: aos.Client, standin: StandIn, policy: Dict[str, str]) -> None:
    before = client.policies.get(policy["policy"]).outcomes
    meets_the_failure(client, standin)
    counter = iter(range(1000))

    def patched() -> Optional[aos.RunView]:
        run = client.runs.submit_and_wait(fragile(f"{standin.url}/flaky/{uuid.uuid4().hex}-{next(counter)}"), timeout=30)
        return run if run.applied_policies else None

    run = eventually(patched, interval=0.5)  # the server reuses a tenant's policies for up to 5 s
    assert run.succeeded
    (applied,) = run.applied_policies
    assert isinstance(applied, aos.AppliedPolicy)
    assert (applied.policy_id, applied.step_id, applied.replaced) == (policy["policy"], "get", {"retry": None})
    retry = run.plan.step("get").retry
    assert retry is not None and retry.max_attempts == applied.patch["retry"]["max_attempts"], "the run's plan is the compiled one"
    assert run.shadow_policies == []
    remembered = run.previous_failures["get"]
    assert isinstance(remembered, aos.PreviousFailure) and remembered.code == "HTTP_SERVICE_UNAVAILABLE"
    assert remembered.skill == "http_call" and remembered.run_id.startswith("r_")

    opted_out = client.runs.submit_and_wait(fragile(f"{standin.url}/flaky/{uuid.uuid4().hex}", policies="off"), timeout=30)
    assert opted_out.applied_policies == [] and opted_out.plan.policies == "off"
    assert opted_out.plan.step("get").retry is None

    def counted() -> Optional[aos.PolicyOutcomes]:
        o = client.policies.get(policy["policy"]).outcomes
        return o if o.steps > before.steps else None

    outcomes = eventually(counted)
    assert outcomes.succeeded >= before.succeeded + 1 and outcomes.success_rate is not None


def test_a_viewer_reads_policies_but_may_not_disable_them(server: AosServer, viewer_key: str, policy: Dict[str, str]) -> None:
    with aos.Client(server.url, viewer_key, max_retries=0) as viewer:
        assert policy["policy"] in {p.id for p in viewer.policies.list()}
        assert viewer.policies.get(policy["policy"]).status == "active"
        with pytest.raises(aos.PermissionDeniedError) as denied:
            viewer.policies.disable(policy["policy"])
        assert denied.value.status == 403
    with aos.Client(server.url, server.other_key) as them:
        assert them.policies.list() == []
        with pytest.raises(aos.NotFoundError):
            them.policies.get(policy["policy"])
        with pytest.raises(aos.NotFoundError):
            them.policies.disable(policy["policy"])
    with server.client() as client:
        assert client.policies.get(policy["policy"]).status == "active", "a refused disable changes nothing"


def test_disable_then_conflict(client: aos.Client, standin: StandIn, policy: Dict[str, str]) -> None:
    with pytest.raises(ValueError, match="note"):
        client.policies.disable(policy["policy"], note="x" * 1001)
    disabled = client.policies.disable(policy["policy"], note="enough")
    assert disabled.status == "disabled" and not disabled.in_force
    last = disabled.history[-1]
    assert (last.from_, last.to, last.note) == ("active", "disabled", "enough")
    assert client.policies.get(policy["policy"]).history == disabled.history
    with pytest.raises(aos.ConflictError) as again:
        client.policies.disable(policy["policy"])
    assert again.value.status == 409 and again.value.code == aos.ConflictError.POLICY_STATE_CONFLICT
    with pytest.raises(aos.NotFoundError):
        client.policies.disable(UNKNOWN)
    events = client.audit.list(action="policy.disabled").to_list()
    assert events and events[0].target == f"policy:{policy['policy']}"

    def unpatched() -> Optional[aos.RunView]:
        run = client.runs.submit_and_wait(fragile(f"{standin.url}/flaky/{uuid.uuid4().hex}"), timeout=30)
        return run if not run.applied_policies else None

    eventually(unpatched, interval=0.5)


# ---- the async client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def aclient(server: AosServer) -> AsyncIterator[aos.AsyncClient]:
    async with aos.AsyncClient(server.url, server.api_key) as c:
        yield c


@pytest.mark.anyio
async def test_async_client_covers_policies(aclient: aos.AsyncClient, policy: Dict[str, str]) -> None:
    settings = await aclient.recovery.settings()
    assert isinstance(settings, aos.RecoverySettingsView)
    assert await aclient.recovery.put_settings(min_evidence=settings.min_evidence) == settings
    policies = await aclient.policies.list()
    assert policy["policy"] in {p.id for p in policies}
    one = await aclient.policies.get(policy["policy"])
    if one.status != "disabled":
        one = await aclient.policies.disable(one.id, note="async")
    assert one.status == "disabled"
    with pytest.raises(aos.ConflictError):
        await aclient.policies.disable(one.id)


def test_failure_drift_is_evaluated_on_demand(client: aos.Client) -> None:
    report = client.failures.drift()
    assert isinstance(report, aos.DriftReport)
    assert report.baseline_from_ms < report.current_from_ms <= report.evaluated_at_ms
    assert report.drifting == sum(1 for i in report.items if i.drifting)
    for item in report.items:
        assert isinstance(item.current, aos.WindowRate) and item.current.failures <= item.current.attempts or item.current.attempts == 0


def test_plan_builder_sets_the_policy_mode() -> None:
    base = PlanBuilder("p").json_transform("a", 1, ".")
    assert "policies" not in base.build().to_dict(), "the server's default (on) is left out"
    assert base.policies("override").build().to_dict()["policies"] == "override"
    assert PlanBuilder("p", policies="off").json_transform("a", 1, ".").build().policies == "off"
    with pytest.raises(aos.PlanBuildError, match="policies"):
        PlanBuilder("p", policies="sometimes")  # type: ignore[arg-type]
