"""Recovery suggestions and the review of recovery candidates through the SDK, against a real
`aos serve`: suggestions for a failure described by hand and for a stored failure of a real run,
ranked by their lower confidence bound and learning from recoveries; candidates listed page by
page, read, approved, rejected and retired, with a 409 ``CANDIDATE_STATE_CONFLICT`` for a decision
in the wrong state; the permissions (a viewer reads but may not decide, an operator decides, a
machine key may not read) and tenant isolation."""

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
ACTIONS = {
    "retry",
    "retry_after",
    "raise_timeout",
    "fallback",
    "continue",
    "refresh_credentials",
    "fix_input",
    "reduce_payload",
    "do_not_retry",
}
RETRY = RetryPolicy(max_attempts=4, initial_delay_ms=20, max_delay_ms=20, retry_on=["TRANSIENT"])
#: Recoveries observed this often (and with enough confidence) are proposed as candidates.
MIN_EVIDENCE = 3
UNKNOWN = "rc_0000000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AosServer]:
    """A server of this module's own: a candidate is shared by every suggestion of its kind of
    failure, so the decisions here would otherwise depend on what other modules did."""
    started, proc = start_server(tmp_path_factory)
    try:
        yield started
    finally:
        _stop(proc.pid, proc)


@pytest.fixture()
def client(server: AosServer) -> Iterator[aos.Client]:
    with server.client() as c:
        yield c


def now_ms() -> int:
    return int(time.time() * 1000)


def eventually(fn: Callable[[], Optional[T]], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)


def check_ranked(answer: aos.SuggestResponse) -> None:
    """Every suggestion is well-formed and they come best first (by the lower bound)."""
    assert answer.suggestions, answer
    lowers = [s.confidence.lower for s in answer.suggestions]
    assert lowers == sorted(lowers, reverse=True), lowers
    for s in answer.suggestions:
        assert isinstance(s, aos.RecoverySuggestion) and s.action in ACTIONS
        assert 0.0 <= s.confidence.lower <= s.confidence.mean <= 1.0, s.confidence
        assert isinstance(s.evidence, aos.EvidenceView) and s.evidence.successes <= s.evidence.attempts + 1e-9
        assert s.source in ("catalog", "history") and s.explanation
        assert s.patch is None or isinstance(s.patch, dict)
    assert answer.best is answer.suggestions[0]


def recover(client: aos.Client, url: str) -> None:
    """A run whose http_call step fails twice, then succeeds: retried with a short backoff."""
    run = client.runs.submit_and_wait(PlanBuilder("recovers").http_call("call", url, retry=RETRY).build(), timeout=30)
    assert run.succeeded and len(run.step("call").attempts) == 3, run


def proposed(client: aos.Client, message: str, code: str, http_status: int) -> str:
    """The candidate a suggestion for the failure described proposes (asserted to be there)."""
    answer = client.recovery.suggest(message, code=code, skill="http_call", http_status=http_status)
    check_ranked(answer)
    assert answer.candidates, f"the suggestion for {code} proposed no candidate: {answer}"
    return answer.candidates[0]


@pytest.fixture(scope="module")
def pending(server: AosServer, standin: StandIn) -> Dict[str, str]:
    """Two candidates, each a short-backoff retry that recovered http_call three times: one for
    503s (the stand-in's flaky endpoint), one for 502s (scripted answers); by status code."""
    key = "rc" + uuid.uuid4().hex[:8]
    with server.client() as client:
        for i in range(MIN_EVIDENCE):
            recover(client, f"{standin.url}/flaky/{key}-{i}")
            gateway = standin.script(f"{key}-502-{i}", [(502, {}, {"error": "bad gateway"})] * 2 + [(200, {}, {"ok": True})])
            recover(client, f"{gateway}/call")
        return {
            "503": proposed(client, f"upstream {key} answered 503", "HTTP_503", 503),
            "502": proposed(client, f"gateway {key} answered 502", "HTTP_502", 502),
        }


# ---- suggestions


def test_suggest_for_a_failure_described_by_hand(client: aos.Client) -> None:
    answer = client.recovery.suggest(
        "GET https://api.example.com/price answered 503", code="HTTP_503", skill="http_call", http_status=503
    )
    assert isinstance(answer, aos.SuggestResponse)
    m = answer.match
    assert isinstance(m, aos.FailureMatch)
    assert (m.matched, m.code, m.category, m.retryable) == (True, "HTTP_SERVICE_UNAVAILABLE", "TRANSIENT", True)
    assert m.match_type == "http_status" and len(m.signature) == 16 and 0 < m.confidence <= 1
    assert isinstance(answer.key, aos.FailureKey) and (answer.key.code, answer.key.skill) == ("HTTP_SERVICE_UNAVAILABLE", "http_call")
    check_ranked(answer)
    assert answer.suggestions[0].action in ("retry", "retry_after"), answer.suggestions[0]
    assert all(c.startswith("rc_") for c in answer.candidates)


def test_permanent_and_unknown_failures(client: aos.Client, unique: str) -> None:
    """A 400 that no retry fixes is not retried; a failure the catalog does not know is keyed by
    its signature."""
    bad = client.recovery.suggest("POST https://api.example.com/orders answered 400: missing field sku", http_status=400)
    check_ranked(bad)
    assert bad.match.matched and bad.match.retryable is False
    assert bad.suggestions[0].action in ("do_not_retry", "fix_input"), bad.suggestions[0]
    assert not bad.candidates, "no evidence, no candidate"
    odd = client.recovery.suggest(f"the flux capacitor {unique} overheated")
    assert not odd.match.matched and odd.match.code is None
    assert odd.key.code == f"sig:{odd.match.signature}" and odd.key.skill is None


def test_suggest_for_a_stored_failure_of_a_real_run(client: aos.Client, standin: StandIn) -> None:
    since = now_ms()
    plan = PlanBuilder("fails").http_call("fetch", f"{standin.url}/status/503", retry=RetryPolicy(max_attempts=1)).build()
    run = client.runs.submit_and_wait(plan, timeout=30)
    assert run.status == "failed"

    def attempt_record() -> Optional[aos.FailureRecord]:
        return next((f for f in client.failures.list(from_ms=since, kind="attempt") if f.run_id == run.run_id), None)

    record = eventually(attempt_record)
    answer = client.recovery.suggest(failure_id=record.id)
    assert answer.match.code == record.catalog_code == "HTTP_SERVICE_UNAVAILABLE"
    assert answer.match.signature == record.signature
    assert (answer.key.code, answer.key.skill) == ("HTTP_SERVICE_UNAVAILABLE", "http_call")
    check_ranked(answer)
    with pytest.raises(aos.NotFoundError):
        client.recovery.suggest(failure_id=record.id + "-missing")


def test_history_raises_the_confidence_of_what_worked(client: aos.Client, standin: StandIn, unique: str) -> None:
    """Retries that recovered 503s of http_call are evidence for retrying them: that suggestion
    comes from history, and its observations and confidence grow with each recovery."""

    def short_retry() -> aos.RecoverySuggestion:
        answer = client.recovery.suggest("upstream answered 503", code="HTTP_503", skill="http_call", http_status=503)
        return next(s for s in answer.suggestions if s.action == "retry" and s.params.get("backoff") == "short")

    recover(client, f"{standin.url}/flaky/{unique}-a")
    first = short_retry()
    assert first.source == "history" and first.evidence.observed >= 1 and first.evidence.last_seen_ms is not None
    assert first.evidence.successes == pytest.approx(first.evidence.attempts, rel=1e-3), "every retry recovered"
    assert first.patch is not None and "retry" in first.patch
    recover(client, f"{standin.url}/flaky/{unique}-b")
    later = short_retry()
    assert later.evidence.observed == first.evidence.observed + 1
    assert later.confidence.lower > first.confidence.lower and later.confidence.mean >= first.confidence.mean


def test_suggest_errors(client: aos.Client) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        client.recovery.suggest()
    with pytest.raises(ValueError, match="exactly one"):
        client.recovery.suggest("m", failure_id="f")
    with pytest.raises(ValueError, match="http_status"):
        client.recovery.suggest("m", http_status=600)
    with pytest.raises(aos.AosError) as err:
        client._execute(
            aos._ops.Call("POST", "/api/v1/recovery/suggest", lambda r: r.json(), body={"message": "m", "bogus": 1})
        )
    assert err.value.status in (400, 422)
    with pytest.raises(aos.ValidationError) as skill:
        client.recovery.suggest("m", skill="no_such_skill")
    assert skill.value.field == "skill"


# ---- candidates


def test_candidates_are_reviewed(client: aos.Client, server: AosServer, pending: Dict[str, str]) -> None:
    candidate = client.recovery.get(pending["503"])
    assert isinstance(candidate, aos.RecoveryCandidate) and candidate.id.startswith("rc_")
    assert (candidate.status, candidate.code, candidate.skill) == ("pending", "HTTP_SERVICE_UNAVAILABLE", "http_call")
    assert candidate.action == "retry" and candidate.params == {"backoff": "short"} and candidate.patch
    assert candidate.evidence.observed >= MIN_EVIDENCE and candidate.confidence.lower >= 0.6
    assert candidate.occurrences >= 1 and candidate.history == [] and candidate.source == "suggest"
    assert candidate.created_at_ms <= candidate.updated_at_ms
    assert candidate.examples and all(isinstance(e, aos.RecoveryExample) and e.message for e in candidate.examples)
    listed = client.recovery.candidates(status="pending").to_list()
    assert {pending["503"], pending["502"]} <= {c.id for c in listed} and all(c.status == "pending" for c in listed)
    assert [c.id for c in client.recovery.candidates(code="HTTP_BAD_GATEWAY", skill="http_call")] == [pending["502"]]

    me = client.whoami()
    approved = client.recovery.approve(candidate.id, note="retries fix it")
    assert approved.id == candidate.id and approved.status == "approved"
    step = approved.history[-1]
    assert isinstance(step, aos.Transition)
    assert (step.from_, step.to, step.actor, step.role, step.note) == ("pending", "approved", f"key:{me.id}", "admin", "retries fix it")
    assert step.to_dict()["from"] == "pending" and "from_" not in step.to_dict()
    assert client.recovery.get(candidate.id).history == approved.history
    with pytest.raises(aos.ConflictError) as again:
        client.recovery.approve(candidate.id)
    assert again.value.status == 409 and again.value.code == aos.ConflictError.CANDIDATE_STATE_CONFLICT
    with pytest.raises(aos.ConflictError):
        client.recovery.reject(candidate.id)
    assert candidate.id in {c.id for c in client.recovery.candidates(status="approved")}

    retired = client.recovery.retire(candidate.id)
    assert retired.status == "retired"
    assert [(h.from_, h.to) for h in retired.history] == [("pending", "approved"), ("approved", "retired")]
    assert retired.history[-1].note is None
    with pytest.raises(aos.ConflictError) as twice:
        client.recovery.retire(candidate.id)
    assert twice.value.code == "CANDIDATE_STATE_CONFLICT"

    with pytest.raises(aos.NotFoundError):
        client.recovery.get(UNKNOWN)
    with pytest.raises(aos.NotFoundError):
        client.recovery.approve(UNKNOWN)
    with pytest.raises(ValueError, match="note"):
        client.recovery.approve(pending["502"], note="x" * 1001)

    # Another tenant sees none of it.
    with aos.Client(server.url, server.other_key) as them:
        with pytest.raises(aos.NotFoundError):
            them.recovery.get(candidate.id)
        with pytest.raises(aos.NotFoundError):
            them.recovery.reject(pending["502"])
        assert not set(pending.values()) & {c.id for c in them.recovery.candidates()}


def test_who_may_read_and_decide(client: aos.Client, server: AosServer, pending: Dict[str, str], unique: str) -> None:
    """A viewer reads (example messages redacted) but may not decide; a machine key may not read;
    an operator decides; a rejected candidate can be neither approved nor retired."""
    target = pending["502"]
    keys = {role: client.keys.create(f"{unique}-{role}", role).key for role in ("operator", "viewer", "machine")}
    with aos.Client(server.url, keys["viewer"], max_retries=0) as viewer:
        seen = viewer.recovery.get(target)
        assert seen.id == target and seen.status == "pending"
        assert target in {c.id for c in viewer.recovery.candidates(status="pending")}
        assert viewer.recovery.suggest("upstream answered 503", http_status=503).suggestions
        with pytest.raises(aos.PermissionDeniedError) as denied:
            viewer.recovery.reject(target)
        assert denied.value.status == 403 and "recovery:review" in denied.value.message
        with pytest.raises(aos.PermissionDeniedError):
            viewer.recovery.approve(target)
    with aos.Client(server.url, keys["machine"], max_retries=0) as machine:
        with pytest.raises(aos.PermissionDeniedError):
            machine.recovery.candidates_page()
    assert client.recovery.get(target).status == "pending", "a refused decision changes nothing"
    with aos.Client(server.url, keys["operator"]) as operator:
        rejected = operator.recovery.reject(target, note="we queue instead")
    assert rejected.status == "rejected" and (rejected.history[-1].role, rejected.history[-1].note) == ("operator", "we queue instead")
    for decide in (client.recovery.approve, client.recovery.retire):
        with pytest.raises(aos.ConflictError):
            decide(target)


def test_candidates_across_pages(client: aos.Client, pending: Dict[str, str]) -> None:
    everything = client.recovery.candidates().to_list()
    assert set(pending.values()) <= {c.id for c in everything} and len({c.id for c in everything}) == len(everything)
    pager = client.recovery.candidates(limit=1)
    assert isinstance(pager, aos.RecoveryCandidatePager)
    pages = list(pager.pages())
    assert len(pages) >= 2 and all(isinstance(p, aos.RecoveryCandidateList) and len(p.candidates) == 1 for p in pages)
    assert all(p.next_cursor for p in pages[:-1]) and pages[-1].next_cursor is None
    assert [c.id for p in pages for c in p.candidates] == [c.id for c in everything]
    assert len(client.recovery.candidates(limit=1, max_items=1).to_list()) == 1
    first = client.recovery.candidates_page(limit=1)
    assert first.next_cursor and client.recovery.candidates_page(limit=1, cursor=first.next_cursor).candidates
    with pytest.raises(aos.AosError) as bad:
        client.recovery.candidates_page(cursor="not-a-cursor")
    assert bad.value.status in (400, 422) and bad.value.field == "cursor"


# ---- the async client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def aclient(server: AosServer) -> AsyncIterator[aos.AsyncClient]:
    async with aos.AsyncClient(server.url, server.api_key) as c:
        yield c


@pytest.mark.anyio
async def test_async_client_covers_recovery(aclient: aos.AsyncClient, pending: Dict[str, str]) -> None:
    answer = await aclient.recovery.suggest("upstream answered 503", code="HTTP_503", skill="http_call", http_status=503)
    check_ranked(answer)
    pager = aclient.recovery.candidates(limit=1)
    assert isinstance(pager, aos.AsyncRecoveryCandidatePager)
    ids = [c.id async for c in pager]
    assert set(pending.values()) <= set(ids)
    page = await aclient.recovery.candidates_page(status="pending", limit=200)
    assert all(c.status == "pending" for c in page.candidates)
    candidate = await aclient.recovery.get(ids[0])
    if candidate.status == "pending":
        assert (await aclient.recovery.reject(candidate.id, note="async")).status == "rejected"
    elif candidate.status == "approved":
        assert (await aclient.recovery.retire(candidate.id)).status == "retired"
    with pytest.raises(aos.ConflictError):
        await aclient.recovery.approve(candidate.id)
    with pytest.raises(aos.NotFoundError):
        await aclient.recovery.retire(UNKNOWN)
