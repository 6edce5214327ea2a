# GENERATED from async_client.py by scripts/generate_sync_client.py: do not edit. Change
# async_client.py (or the generator's rules) and regenerate, in sdks/python, with
#     python scripts/generate_sync_client.py
# tests/test_generated.py fails while this file is stale.
"""The synchronous client."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Generic, Iterator, List, Mapping, Optional, TypeVar

import httpx

from . import _ops
from ._http import (
    Call,
    ClientConfig,
    ProgressCallback,
    ProgressTracker,
    T,
    error_from_response,
    retry_delay,
    wait_chunk_ms,
)
from ._primitives import notify, sleep
from .errors import APIConnectionError, APITimeoutError, AosError, RunFailedError, WaitTimeoutError
from .models import (
    ApiKeyRecord,
    AuditAction,
    AuditEvent,
    AuditList,
    CancelResult,
    CatalogEntry,
    CatalogView,
    Category,
    CreatedKey,
    FailureKind,
    FailureList,
    FailureRecord,
    FailureStats,
    CandidatePage,
    CandidateReport,
    CandidateStatus,
    DriftReport,
    Health,
    MatchResponse,
    ApprovalMode,
    Policy,
    RecoveryCandidate,
    RecoveryCandidateList,
    RecoverySettingsView,
    ReplayReport,
    Role,
    RunList,
    RunStatus,
    RunSummary,
    RunView,
    Simulation,
    SkillSpec,
    Submitted,
    SuggestResponse,
    WhoAmI,
    Workflow,
)
from .plan import PlanLike
from .trace import VerifyReport, verify_run

__all__ = ["AuditPager", "Client", "FailurePager", "Pager", "RecoveryCandidatePager", "RunPager"]

PageT = TypeVar("PageT")
ItemT = TypeVar("ItemT")


class Pager(Generic[PageT, ItemT]):
    """The items of a cursor-paginated listing, across pages. Iterate it for the items, or call
    :meth:`pages` for the pages. Each iteration starts from the first page; ``max_items`` stops
    after that many items."""

    def __init__(
        self,
        fetch: Callable[[Optional[str]], PageT],
        items: Callable[[PageT], List[ItemT]],
        next_cursor: Callable[[PageT], Optional[str]],
        max_items: Optional[int],
    ) -> None:
        self._fetch = fetch
        self._items = items
        self._next_cursor = next_cursor
        self._max_items = max_items

    def pages(self) -> Iterator[PageT]:
        cursor: Optional[str] = None
        while True:
            page = self._fetch(cursor)
            yield page
            nxt = self._next_cursor(page)
            if not nxt:
                return
            if nxt == cursor:
                raise AosError("the API returned the same cursor twice", code="PAGINATION_STUCK")
            cursor = nxt

    def __iter__(self) -> Iterator[ItemT]:
        count = 0
        for page in self.pages():
            for item in self._items(page):
                if self._max_items is not None and count >= self._max_items:
                    return
                count += 1
                yield item
            if self._max_items is not None and count >= self._max_items:
                return

    def to_list(self) -> List[ItemT]:
        return [item for item in self]


class RunPager(Pager[RunList, RunSummary]):
    """The runs of a listing, across pages. Iterate it for :class:`RunSummary` items, or call
    :meth:`pages` for the :class:`RunList` pages. Each iteration starts from the first page."""

    def __init__(self, runs: "Runs", params: Dict[str, Any], max_items: Optional[int]) -> None:
        super().__init__(
            lambda cursor: runs.list_page(cursor=cursor, **params),
            lambda page: page.runs,
            lambda page: page.next_cursor,
            max_items,
        )


class FailurePager(Pager[FailureList, FailureRecord]):
    """The failure records of a listing, newest first, across pages. Iterate it for
    :class:`FailureRecord` items, or call :meth:`pages` for the :class:`FailureList` pages (a page
    may be short, even empty, and still be followed by another)."""

    def __init__(self, failures: "Failures", params: Dict[str, Any], max_items: Optional[int]) -> None:
        super().__init__(
            lambda cursor: failures.list_page(cursor=cursor, **params),
            lambda page: page.failures,
            lambda page: page.next_cursor,
            max_items,
        )


class AuditPager(Pager[AuditList, AuditEvent]):
    """The events of the audit log, newest first, across pages. Iterate it for :class:`AuditEvent`
    items, or call :meth:`pages` for the :class:`AuditList` pages. Without ``to_ms``, each
    iteration fixes the end of the range at the time it starts, so that its pages agree."""

    def __init__(self, audit: "Audit", params: Dict[str, Any], max_items: Optional[int]) -> None:
        pinned: Dict[str, Any] = {}

        def fetch(cursor: Optional[str]) -> AuditList:
            if cursor is None:
                pinned["to_ms"] = params.get("to_ms") if params.get("to_ms") is not None else int(time.time() * 1000)
            return audit.list_page(cursor=cursor, **{**params, "to_ms": pinned["to_ms"]})

        super().__init__(fetch, lambda page: page.events, lambda page: page.next_cursor, max_items)


class RecoveryCandidatePager(Pager[RecoveryCandidateList, RecoveryCandidate]):
    """The recovery candidates of a listing, across pages. Iterate it for
    :class:`RecoveryCandidate` items, or call :meth:`pages` for the :class:`RecoveryCandidateList`
    pages."""

    def __init__(self, recovery: "Recovery", params: Dict[str, Any], max_items: Optional[int]) -> None:
        super().__init__(
            lambda cursor: recovery.candidates_page(cursor=cursor, **params),
            lambda page: page.candidates,
            lambda page: page.next_cursor,
            max_items,
        )


class _Resource:
    def __init__(self, client: "Client") -> None:
        self._client = client


class Runs(_Resource):
    """``client.runs``: submit, read, list, wait for, cancel, replay and verify runs."""

    def submit(
        self,
        plan: Optional[PlanLike] = None,
        *,
        workflow: Optional[str] = None,
        version: Optional[int] = None,
        inputs: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        seed: Optional[int] = None,
    ) -> Submitted:
        """Start a run of an inline ``plan`` or a saved ``workflow`` (``POST /api/v1/runs``).

        A submission with an ``idempotency_key`` is retried on 429, 503 and 409
        ``CONCURRENT_UPDATE``; without one it is not.
        """
        return self._client._execute(
            _ops.submit_run(
                plan, workflow=workflow, version=version, inputs=inputs, idempotency_key=idempotency_key, seed=seed
            )
        )

    def get(self, run_id: str, *, wait_ms: Optional[int] = None) -> RunView:
        """A run's whole execution context (``GET /api/v1/runs/{id}``). ``wait_ms`` (at most
        30000) long-polls: the answer comes when the run finishes or the time is up."""
        return self._client._execute(_ops.get_run(run_id, wait_ms))

    def list(
        self,
        *,
        status: Optional[RunStatus] = None,
        created_after: Optional[int] = None,
        created_before: Optional[int] = None,
        limit: Optional[int] = None,
        max_items: Optional[int] = None,
    ) -> RunPager:
        """Runs, newest first, across every page (``GET /api/v1/runs``). ``limit`` is the page
        size (1-200, else ``ValueError``); ``max_items`` stops after that many runs."""
        _ops.check_limit(limit)
        params = {"status": status, "created_after": created_after, "created_before": created_before, "limit": limit}
        return RunPager(self, params, max_items)

    def list_page(
        self,
        *,
        status: Optional[RunStatus] = None,
        created_after: Optional[int] = None,
        created_before: Optional[int] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> RunList:
        """One page of runs; pass its ``next_cursor`` as ``cursor`` for the next."""
        return self._client._execute(
            _ops.list_runs(
                status=status, created_after=created_after, created_before=created_before, limit=limit, cursor=cursor
            )
        )

    def cancel(self, run_id: str) -> CancelResult:
        """Cancel an unfinished run. :class:`~aos.errors.ConflictError` with code
        ``RUN_ALREADY_FINISHED`` when it has finished (``CONCURRENT_UPDATE`` when it changed too fast
        to cancel: nothing happened, try again; a cancel is not retried automatically)."""
        return self._client._execute(_ops.cancel_run(run_id))

    def replay(self, run_id: str) -> ReplayReport:
        """Replay a finished run on the server and report parity. :class:`~aos.errors.ConflictError`
        with code ``RUN_NOT_FINISHED`` when the run has not finished."""
        return self._client._execute(_ops.replay_run(run_id))

    def rerun(self, run_id: str, *, idempotency_key: Optional[str] = None, seed: Optional[int] = None) -> RunView:
        """A new run of the run's plan (as submitted) and inputs, linked to it by ``rerun_of``
        (``POST /api/v1/runs/{id}/rerun``); every step executes again, with a fresh seed unless
        ``seed`` is given. With an ``idempotency_key``, asking again returns the same new run."""
        return self._client._execute(_ops.rerun_run(run_id, idempotency_key=idempotency_key, seed=seed))

    def redrive(
        self,
        run_id: str,
        *,
        patch: Optional[Mapping[str, Mapping[str, Any]]] = None,
        idempotency_key: Optional[str] = None,
    ) -> RunView:
        """A new run of a failed or cancelled run, linked by ``redrive_of``
        (``POST /api/v1/runs/{id}/redrive``): the succeeded steps keep their recorded outputs and
        are not executed again (``seeded_steps``); every other step restarts, changed by ``patch``
        (step fields by step id, ``None`` removes one). :class:`~aos.errors.ConflictError`
        (``RUN_NOT_FINISHED``, ``RUN_SUCCEEDED``) when the run cannot be redriven;
        :class:`~aos.errors.ValidationError` (``PATCH_UNKNOWN_STEP``, ``PATCH_STEP_SUCCEEDED``, ...)
        naming the field of a bad patch."""
        return self._client._execute(_ops.redrive_run(run_id, patch=patch, idempotency_key=idempotency_key))

    def wait(
        self,
        run_id: str,
        timeout: Optional[float] = 300.0,
        *,
        on_progress: Optional[ProgressCallback] = None,
        poll_interval: float = 0.25,
        raise_on_failure: bool = False,
    ) -> RunView:
        """Wait until the run finishes, long-polling ``GET /api/v1/runs/{id}?wait_ms=``.

        ``on_progress`` is called with a :class:`~aos.ProgressEvent` for every change of a step's
        status or attempt and of the run's status. The API's long poll answers only when the run
        finishes, so with a callback the run is read every ``poll_interval`` seconds (changes that
        come and go between two reads are not seen); without one each request waits up to 30 s.
        Raises :class:`~aos.errors.WaitTimeoutError`
        after ``timeout`` seconds (``None``: no limit) and, with ``raise_on_failure``,
        :class:`~aos.errors.RunFailedError` when the run finished without succeeding.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        tracker = ProgressTracker()
        first = True
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            # With a progress callback the first read is immediate, to report the starting state.
            wait_ms = 0 if first and on_progress is not None else wait_chunk_ms(remaining, on_progress is not None, poll_interval)
            first = False
            run = self.get(run_id, wait_ms=wait_ms or None)
            for event in tracker.update(run):
                notify(on_progress, event)
            if run.finished:
                if raise_on_failure and not run.succeeded:
                    raise RunFailedError(run)
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeoutError(f"run {run_id} did not finish within {timeout} s (status {run.status})", run)

    def submit_and_wait(
        self,
        plan: Optional[PlanLike] = None,
        *,
        workflow: Optional[str] = None,
        version: Optional[int] = None,
        inputs: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        seed: Optional[int] = None,
        timeout: Optional[float] = 300.0,
        on_progress: Optional[ProgressCallback] = None,
        poll_interval: float = 0.25,
        raise_on_failure: bool = False,
    ) -> RunView:
        """:meth:`submit`, then :meth:`wait`."""
        submitted = self.submit(
            plan, workflow=workflow, version=version, inputs=inputs, idempotency_key=idempotency_key, seed=seed
        )
        return self.wait(
            submitted.run_id,
            timeout,
            on_progress=on_progress,
            poll_interval=poll_interval,
            raise_on_failure=raise_on_failure,
        )

    def verify(self, run_id: str, *, wait: Optional[float] = None) -> VerifyReport:
        """Recompute a finished run's trace root locally and compare it with the server's.

        Reads the run (waiting up to ``wait`` seconds for it to finish) and checks it with
        :func:`aos.trace.verify_run` on the exact JSON the API returned.
        """
        if wait:
            self.wait(run_id, wait)
        data = self._client._execute(_ops.get_run_raw(run_id))
        return verify_run(data)


class Skills(_Resource):
    """``client.skills``."""

    def list(self) -> List[SkillSpec]:
        """Every skill of the deployment, sorted by id."""
        return self._client._execute(_ops.list_skills())

    def get(self, skill_id: str) -> SkillSpec:
        """One skill's self-description."""
        return self._client._execute(_ops.get_skill(skill_id))


class Workflows(_Resource):
    """``client.workflows``."""

    def create(self, name: str, plan: PlanLike) -> Workflow:
        """Save ``plan`` as the next version of the workflow ``name``."""
        return self._client._execute(_ops.create_workflow(name, plan))

    def list(self) -> List[Workflow]:
        """Every version of every workflow, by name then version."""
        return self._client._execute(_ops.list_workflows())

    def get(self, name: str, *, version: Optional[int] = None) -> Workflow:
        """One version of a workflow (the latest by default)."""
        return self._client._execute(_ops.get_workflow(name, version))


class Secrets(_Resource):
    """``client.secrets``. Values are write-only."""

    def put(self, name: str, value: str) -> None:
        """Create or replace a secret."""
        self._client._execute(_ops.put_secret(name, value))

    def list(self) -> List[str]:
        """The names of the tenant's secrets, sorted."""
        return self._client._execute(_ops.list_secrets())


class Catalog(_Resource):
    """``client.catalog``: the failure catalog, and classifying a failure with it."""

    def list(self) -> CatalogView:
        """The catalog in force (``GET /api/v1/catalog``): its ``version``, ``digest`` and
        ``entries``. Iterating the answer yields the entries."""
        return self._client._execute(_ops.get_catalog())

    def get(self, code: str) -> CatalogEntry:
        """One entry by its code, e.g. ``HTTP_NOT_FOUND``. :class:`~aos.errors.NotFoundError` for
        an unknown code."""
        return self._client._execute(_ops.get_catalog_entry(code))

    def match(
        self,
        message: str,
        code: Optional[str] = None,
        skill: Optional[str] = None,
        http_status: Optional[int] = None,
    ) -> MatchResponse:
        """Classify a failure (``POST /api/v1/catalog/match``): the entry it matches, how sure the
        match is, and what to do about it. ``code`` is the error code (``HTTP_503``), ``skill`` the
        skill that failed (it only enters the signature), ``http_status`` 100 to 599 (else
        ``ValueError``). Nothing is recorded, so the request is retried like a read."""
        return self._client._execute(_ops.match_failure(message, code=code, skill=skill, http_status=http_status))


class Failures(_Resource):
    """``client.failures``: the tenant's recorded failures and their statistics.

    Times are ms since the epoch. ``code`` is an error code (``HTTP_503``) or a catalog entry code
    (``HTTP_SERVICE_UNAVAILABLE``); ``category``, ``skill`` and ``kind`` (``attempt``, ``step``,
    ``run``, ``rejected``) filter too. A range spans at most 366 days; bad parameters are
    :class:`~aos.errors.BadRequestError` (``INVALID_QUERY``, naming the parameter in ``field``).
    """

    def list(
        self,
        *,
        from_ms: Optional[int] = None,
        to_ms: Optional[int] = None,
        code: Optional[str] = None,
        category: Optional[Category] = None,
        skill: Optional[str] = None,
        matched: Optional[bool] = None,
        recovered: Optional[bool] = None,
        kind: Optional[FailureKind] = None,
        limit: Optional[int] = None,
        max_items: Optional[int] = None,
    ) -> FailurePager:
        """Failure records, newest first, across every page (``GET /api/v1/failures``).

        ``to_ms`` defaults to now and ``from_ms`` to seven days before ``to_ms``; without ``to_ms``
        each page's request takes "now" afresh, so pass it to pin the range of a long iteration.
        ``matched`` keeps the failures the catalog matched (or, false, did not); ``recovered`` those
        whose recovery succeeded (or, false, all others). ``limit`` is the page size (1-200, else
        ``ValueError``); ``max_items`` stops after that many records.
        """
        _ops.check_limit(limit)
        params = {
            "from_ms": from_ms,
            "to_ms": to_ms,
            "code": code,
            "category": category,
            "skill": skill,
            "matched": matched,
            "recovered": recovered,
            "kind": kind,
            "limit": limit,
        }
        return FailurePager(self, params, max_items)

    def list_page(
        self,
        *,
        from_ms: Optional[int] = None,
        to_ms: Optional[int] = None,
        code: Optional[str] = None,
        category: Optional[Category] = None,
        skill: Optional[str] = None,
        matched: Optional[bool] = None,
        recovered: Optional[bool] = None,
        kind: Optional[FailureKind] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> FailureList:
        """One page of failure records; pass its ``next_cursor`` as ``cursor``, with the same other
        parameters, for the next. :class:`~aos.errors.ValidationError` ``INVALID_CURSOR`` for a
        cursor that is not valid."""
        return self._client._execute(
            _ops.list_failures(
                from_ms=from_ms,
                to_ms=to_ms,
                code=code,
                category=category,
                skill=skill,
                matched=matched,
                recovered=recovered,
                kind=kind,
                limit=limit,
                cursor=cursor,
            )
        )

    def stats(
        self,
        *,
        from_ms: Optional[int] = None,
        to_ms: Optional[int] = None,
        bucket_ms: Optional[int] = None,
        code: Optional[str] = None,
        category: Optional[Category] = None,
        skill: Optional[str] = None,
        kind: Optional[FailureKind] = None,
    ) -> FailureStats:
        """Statistics of the tenant's failures (``GET /api/v1/failures/stats``): totals, match rate,
        counts by kind, code, catalog entry, category and skill, recovery success per mode, and a
        time series. ``to_ms`` defaults to now, ``from_ms`` to 24 hours before; ``bucket_ms`` (at
        least 1, at most 1000 buckets in the range) defaults to an hour, or a thousandth of a longer
        range."""
        return self._client._execute(
            _ops.get_failure_stats(
                from_ms=from_ms, to_ms=to_ms, bucket_ms=bucket_ms, code=code, category=category, skill=skill, kind=kind
            )
        )

    def candidates(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> CandidatePage:
        """One page of the tenant's latest catalog candidates (``GET /api/v1/failures/candidates``),
        most frequent first; pass ``next_cursor`` as ``cursor`` for the next. ``generated_at_ms`` is
        ``None`` before the first aggregation."""
        return self._client._execute(_ops.list_failure_candidates(limit=limit, cursor=cursor))

    def aggregate(self, *, days: Optional[int] = None, low_confidence: Optional[float] = None) -> CandidateReport:
        """Run the failure aggregation now (``POST /api/v1/failures/aggregate``; admin and operator
        keys) and return the tenant's whole result: its unmatched and low-confidence failures of the
        last ``days`` (1 to 366, default 7) grouped into catalog candidates."""
        return self._client._execute(_ops.aggregate_failures(days=days, low_confidence=low_confidence))

    def drift(self) -> DriftReport:
        """Failure drift (``GET /api/v1/failures/drift``), evaluated now: per (skill, failure code),
        the share of the skill's attempts that failed that way in the last day against the seven
        days before (a one-sided two-proportion z-test), the highest ``z`` first. ``drifting``
        counts the pairs that drift."""
        return self._client._execute(_ops.get_failure_drift())


class Recovery(_Resource):
    """``client.recovery``: ranked recovery suggestions for a failure, and the review of the
    recovery candidates they propose.

    Suggestions and candidates need the ``recovery:read`` permission (every role but ``machine``);
    decisions (``approve``, ``reject``, ``retire``) need ``recovery:review`` (admin and operator;
    others get :class:`~aos.errors.PermissionDeniedError`).
    """

    def suggest(
        self,
        message: Optional[str] = None,
        *,
        failure_id: Optional[str] = None,
        code: Optional[str] = None,
        skill: Optional[str] = None,
        http_status: Optional[int] = None,
        details: Optional[Mapping[str, Any]] = None,
    ) -> SuggestResponse:
        """What to do about a failure (``POST /api/v1/recovery/suggest``), best first: either a
        stored failure record (``failure_id``, e.g. a :class:`FailureRecord`'s ``id``) or one
        described by ``message`` with its ``code`` (``HTTP_503``), ``skill``, ``http_status`` (100
        to 599, else ``ValueError``) and ``details``. Give exactly one of ``message`` and
        ``failure_id`` (else ``ValueError``). Each suggestion carries its confidence (posterior mean
        and 5% lower bound), the evidence behind it and the patch to the failing step; the answer's
        ``candidates`` are the recovery candidates the call created or updated. Not retried: the
        call counts occurrences of candidates."""
        return self._client._execute(
            _ops.suggest_recovery(
                failure_id=failure_id, message=message, code=code, skill=skill, http_status=http_status, details=details
            )
        )

    def candidates(
        self,
        *,
        status: Optional[CandidateStatus] = None,
        code: Optional[str] = None,
        skill: Optional[str] = None,
        limit: Optional[int] = None,
        max_items: Optional[int] = None,
    ) -> RecoveryCandidatePager:
        """Recovery candidates across every page (``GET /api/v1/recovery/candidates``), filtered by
        ``status`` (``pending``, ``approved``, ``rejected``, ``retired``), ``code`` (a catalog code,
        or ``sig:<signature>``) and ``skill``. ``limit`` is the page size (1-200, else
        ``ValueError``); ``max_items`` stops after that many candidates."""
        _ops.check_limit(limit)
        params = {"status": status, "code": code, "skill": skill, "limit": limit}
        return RecoveryCandidatePager(self, params, max_items)

    def candidates_page(
        self,
        *,
        status: Optional[CandidateStatus] = None,
        code: Optional[str] = None,
        skill: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> RecoveryCandidateList:
        """One page of recovery candidates; pass its ``next_cursor`` as ``cursor``, with the same
        other parameters, for the next."""
        return self._client._execute(
            _ops.list_recovery_candidates(status=status, code=code, skill=skill, limit=limit, cursor=cursor)
        )

    def get(self, candidate_id: str) -> RecoveryCandidate:
        """One recovery candidate, with its examples and the history of decisions on it.
        :class:`~aos.errors.NotFoundError` for an unknown id (or another tenant's)."""
        return self._client._execute(_ops.get_recovery_candidate(candidate_id))

    def approve(self, candidate_id: str, note: Optional[str] = None) -> RecoveryCandidate:
        """Approve a ``pending`` candidate, with an optional ``note`` (at most 1000 characters, else
        ``ValueError``) kept in its history and the audit log. :class:`~aos.errors.ConflictError`
        ``CANDIDATE_STATE_CONFLICT`` when it is not pending."""
        return self._client._execute(_ops.decide_recovery_candidate(candidate_id, "approve", note))

    def reject(self, candidate_id: str, note: Optional[str] = None) -> RecoveryCandidate:
        """Reject a ``pending`` candidate; :class:`~aos.errors.ConflictError`
        ``CANDIDATE_STATE_CONFLICT`` when it is not pending."""
        return self._client._execute(_ops.decide_recovery_candidate(candidate_id, "reject", note))

    def retire(self, candidate_id: str, note: Optional[str] = None) -> RecoveryCandidate:
        """Retire an ``approved`` candidate; :class:`~aos.errors.ConflictError`
        ``CANDIDATE_STATE_CONFLICT`` when it is not approved."""
        return self._client._execute(_ops.decide_recovery_candidate(candidate_id, "retire", note))

    def settings(self) -> RecoverySettingsView:
        """The tenant's automatic approval of recovery candidates (``GET /api/v1/recovery/settings``):
        ``mode`` ``off`` (people decide; the default), ``shadow`` (candidates past the thresholds
        become shadow policies: runs record what they would change) or ``active`` (approved by the
        server and applied), and the thresholds ``min_lower`` and ``min_evidence``."""
        return self._client._execute(_ops.get_recovery_settings())

    def put_settings(
        self,
        settings: Optional[RecoverySettingsView] = None,
        *,
        mode: Optional[ApprovalMode] = None,
        min_lower: Optional[float] = None,
        min_evidence: Optional[int] = None,
        drift_webhook_url: Optional[str] = None,
        drift_webhook_secret: Optional[str] = None,
    ) -> RecoverySettingsView:
        """Change the automatic approval (``PUT /api/v1/recovery/settings``; ``recovery:review``:
        admin and operator; audited) and return the settings now in force. Give a whole
        :class:`RecoverySettingsView` (it replaces the settings: a webhook it leaves out is removed),
        or the fields to change as keywords (they override those of ``settings``); without
        ``settings``, the fields not given keep their current values (read first with
        :meth:`settings`). ``min_lower`` must be from 0.5 to 0.99 and ``min_evidence`` from 1 to
        1000000 (else ``ValueError``)."""
        if settings is None:
            settings = self.settings()
        merged = RecoverySettingsView(
            mode=settings.mode if mode is None else mode,
            min_lower=settings.min_lower if min_lower is None else min_lower,
            min_evidence=settings.min_evidence if min_evidence is None else min_evidence,
            drift_webhook_url=settings.drift_webhook_url if drift_webhook_url is None else drift_webhook_url,
            drift_webhook_secret=settings.drift_webhook_secret if drift_webhook_secret is None else drift_webhook_secret,
        )
        return self._client._execute(_ops.put_recovery_settings(merged))


class Policies(_Resource):
    """``client.policies``: the tenant's recovery policies, approved candidates that the server
    compiles into the plans of new runs (a run records each change in ``applied_policies``; a plan
    opts out with ``policies="off"``).

    Reading needs ``recovery:read`` (every role but ``machine``); :meth:`disable` needs
    ``recovery:review`` (admin and operator; others get :class:`~aos.errors.PermissionDeniedError`).
    """

    def list(self) -> List[Policy]:
        """Every policy of the tenant (``GET /api/v1/policies``), in id order, each with the
        outcomes of the steps it changed in the last 7 days."""
        return self._client._execute(_ops.list_policies())

    def get(self, policy_id: str) -> Policy:
        """One policy with its history and outcomes. :class:`~aos.errors.NotFoundError` for an
        unknown id (or another tenant's)."""
        return self._client._execute(_ops.get_policy(policy_id))

    def disable(self, policy_id: str, note: Optional[str] = None) -> Policy:
        """Disable a policy (``active``, ``shadow`` or ``suspended``): runs submitted from then on
        no longer take it. ``note`` (at most 1000 characters, else ``ValueError``) is kept in its
        history and the audit log. :class:`~aos.errors.ConflictError` ``POLICY_STATE_CONFLICT``
        when it is already disabled."""
        return self._client._execute(_ops.disable_policy(policy_id, note))


class Keys(_Resource):
    """``client.keys``: the tenant's API keys (the ``keys:manage`` permission: admins only; other
    roles get :class:`~aos.errors.PermissionDeniedError`)."""

    def create(self, name: str, role: Role, expires_in_days: Optional[int] = None) -> CreatedKey:
        """Create a key for ``role`` in the caller's tenant. ``name`` (1 to 64 printable
        characters) says what it is for; ``expires_in_days`` (1 to 3650, else ``ValueError``)
        makes it expire. The answer's ``key`` is the secret, shown this once; ``record`` describes
        it. Not retried (a repetition would create a second key)."""
        return self._client._execute(_ops.create_key(name, role, expires_in_days))

    def list(self) -> List[ApiKeyRecord]:
        """Every key of the tenant, newest first, revoked and expired ones included (never their
        secrets)."""
        return self._client._execute(_ops.list_keys())

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key: it stops working at once (:class:`~aos.errors.AuthenticationError`) and
        stays listed with ``revoked_at_ms``. Revoking it again changes nothing;
        :class:`~aos.errors.NotFoundError` for an unknown key."""
        return self._client._execute(_ops.revoke_key(key_id))

    def rotate(self, key_id: str) -> CreatedKey:
        """Replace a key with a new one of the same role, name and expiry, and revoke the old one.
        :class:`~aos.errors.ConflictError` ``KEY_INACTIVE`` when the key is already revoked or
        expired."""
        return self._client._execute(_ops.rotate_key(key_id))


class Audit(_Resource):
    """``client.audit``: the tenant's audit log (the ``audit:read`` permission: admins only): key
    creations, rotations and revocations, permission denials, logins and rate-limit refusals.

    Times are ms since the epoch; ``to_ms`` defaults to now and ``from_ms`` to 30 days before it.
    """

    def list(
        self,
        *,
        from_ms: Optional[int] = None,
        to_ms: Optional[int] = None,
        action: Optional[AuditAction] = None,
        limit: Optional[int] = None,
        max_items: Optional[int] = None,
    ) -> AuditPager:
        """Audit events, newest first, across every page. ``action`` keeps one kind of event;
        ``limit`` is the page size (1-500, else ``ValueError``); ``max_items`` stops after that
        many events."""
        _ops.check_audit_limit(limit)
        params = {"from_ms": from_ms, "to_ms": to_ms, "action": action, "limit": limit}
        return AuditPager(self, params, max_items)

    def list_page(
        self,
        *,
        from_ms: Optional[int] = None,
        to_ms: Optional[int] = None,
        action: Optional[AuditAction] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> AuditList:
        """One page of audit events, newest first; pass its ``next_cursor`` as ``cursor``, with the
        same other parameters, for the next. :class:`~aos.errors.ValidationError` ``INVALID_QUERY``
        (field ``from``) when ``from_ms`` is after ``to_ms``, ``INVALID_CURSOR`` for a cursor that
        is not valid."""
        return self._client._execute(
            _ops.list_audit(from_ms=from_ms, to_ms=to_ms, action=action, limit=limit, cursor=cursor)
        )


class Client:
    """A synchronous AOS client.

    Args:
        base_url: the API's base URL; default ``$AOS_URL``, else ``http://127.0.0.1:8080``.
        api_key: an AOS API key (``aos_...``), sent as a bearer token; default ``$AOS_API_KEY`` (or
            ``$AOS_TOKEN``).
        token: an OpenID Connect token from the deployment's identity provider (a JWT; the API
            takes the tenant and role from its claims), in place of ``api_key``. Both are sent the
            same way; give one of them.
        timeout: seconds per request (long polls get their wait on top).
        max_retries: retries of a request answered 429, 503 or 409 ``CONCURRENT_UPDATE`` (only
            requests that are safe to repeat: reads, ``PUT``, replay, simulation, and submissions
            with an idempotency key).
        max_retry_delay: the longest single wait between retries; a ``Retry-After`` asking for
            more is not waited for and the error is raised.
        backoff_base, backoff_max: exponential backoff (with jitter) when there is no
            ``Retry-After``.
        headers: extra headers for every request.
        http_client: an ``httpx.Client`` to use (the caller closes it).
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        token: Optional[str] = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        max_retry_delay: float = 30.0,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        self.config = ClientConfig.resolve(
            base_url,
            api_key,
            token,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_delay=max_retry_delay,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            headers=headers,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self.runs = Runs(self)
        self.skills = Skills(self)
        self.workflows = Workflows(self)
        self.secrets = Secrets(self)
        self.catalog = Catalog(self)
        self.failures = Failures(self)
        self.recovery = Recovery(self)
        self.policies = Policies(self)
        self.keys = Keys(self)
        self.audit = Audit(self)

    @property
    def base_url(self) -> str:
        return self.config.base_url

    def __repr__(self) -> str:
        return f"Client(base_url={self.config.base_url!r})"

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # ---- operations outside a resource

    def simulate(self, plan: PlanLike) -> Simulation:
        """Validate a plan and estimate its cost, latency and risk without running it."""
        return self._execute(_ops.simulate_plan(plan))

    def health(self) -> Health:
        """``GET /healthz``: ``Health(status="ok")`` when the server is up. Needs no key."""
        return self._execute(_ops.health())

    def openapi(self) -> Dict[str, Any]:
        """The server's OpenAPI document. Needs no key."""
        return self._execute(_ops.openapi())

    def metrics(self) -> str:
        """``GET /metrics``: the deployment's metrics in the Prometheus text format, as text
        (``aos serve``'s process counters, or on AWS the totals of every function). Needs a key
        whose role has ``MetricsRead`` (admin, operator, machine; else
        :class:`~aos.errors.PermissionDeniedError`); :class:`~aos.errors.NotFoundError` from an API
        function that serves no metrics."""
        return self._execute(_ops.get_metrics())

    def whoami(self) -> WhoAmI:
        """``GET /api/v1/whoami``: the caller as the API sees it: tenant, role, kind (``api_key``
        or ``user``), id, name, expiry and the permissions (OpenAPI scopes) the role holds. Every
        role may call it."""
        return self._execute(_ops.whoami())

    def wait_for_run(
        self,
        run_id: str,
        timeout: Optional[float] = 300.0,
        *,
        on_progress: Optional[ProgressCallback] = None,
        poll_interval: float = 0.25,
        raise_on_failure: bool = False,
    ) -> RunView:
        """Same as :meth:`Runs.wait`."""
        return self.runs.wait(
            run_id, timeout, on_progress=on_progress, poll_interval=poll_interval, raise_on_failure=raise_on_failure
        )

    def verify_run(self, run_id: str, *, wait: Optional[float] = None) -> VerifyReport:
        """Same as :meth:`Runs.verify`."""
        return self.runs.verify(run_id, wait=wait)

    # ---- transport

    def _execute(self, call: Call[T]) -> T:
        retry = 0
        kwargs = call.request_kwargs(self.config)
        while True:
            try:
                response = self._http.request(**kwargs)
            except httpx.TimeoutException as e:
                raise APITimeoutError(
                    f"{call.method} {kwargs['url']} timed out: {e}", code="TIMEOUT", method=call.method, url=kwargs["url"]
                ) from e
            except httpx.TransportError as e:
                raise APIConnectionError(
                    f"{call.method} {kwargs['url']} failed: {e}",
                    code="CONNECTION_ERROR",
                    method=call.method,
                    url=kwargs["url"],
                ) from e
            if response.status_code < 400:
                return call.parse(response)
            error = error_from_response(response)
            delay = retry_delay(call, error, retry, self.config)
            if delay is None:
                raise error
            response.close()
            sleep(delay)
            retry += 1
