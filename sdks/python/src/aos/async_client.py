"""The asynchronous client: the same operations as :class:`aos.Client`, awaited."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Generic, List, Mapping, Optional, TypeVar

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
    Health,
    MatchResponse,
    ReplayReport,
    Role,
    RunList,
    RunStatus,
    RunSummary,
    RunView,
    Simulation,
    SkillSpec,
    Submitted,
    WhoAmI,
    Workflow,
)
from .plan import PlanLike
from .trace import VerifyReport, verify_run

__all__ = ["AsyncAuditPager", "AsyncClient", "AsyncFailurePager", "AsyncPager", "AsyncRunPager"]

PageT = TypeVar("PageT")
ItemT = TypeVar("ItemT")


class AsyncPager(Generic[PageT, ItemT]):
    """The items of a cursor-paginated listing, across pages: ``async for item in pager``, or
    ``async for page in pager.pages()``. Each iteration starts from the first page."""

    def __init__(
        self,
        fetch: Callable[[Optional[str]], Awaitable[PageT]],
        items: Callable[[PageT], List[ItemT]],
        next_cursor: Callable[[PageT], Optional[str]],
        max_items: Optional[int],
    ) -> None:
        self._fetch = fetch
        self._items = items
        self._next_cursor = next_cursor
        self._max_items = max_items

    async def pages(self) -> AsyncIterator[PageT]:
        cursor: Optional[str] = None
        while True:
            page = await self._fetch(cursor)
            yield page
            nxt = self._next_cursor(page)
            if not nxt:
                return
            if nxt == cursor:
                raise AosError("the API returned the same cursor twice", code="PAGINATION_STUCK")
            cursor = nxt

    async def _iterate(self) -> AsyncIterator[ItemT]:
        count = 0
        async for page in self.pages():
            for item in self._items(page):
                if self._max_items is not None and count >= self._max_items:
                    return
                count += 1
                yield item
            if self._max_items is not None and count >= self._max_items:
                return

    def __aiter__(self) -> AsyncIterator[ItemT]:
        return self._iterate()

    async def to_list(self) -> List[ItemT]:
        return [item async for item in self]


class AsyncRunPager(AsyncPager[RunList, RunSummary]):
    """The runs of a listing, across pages: ``async for run in client.runs.list(): ...``."""

    def __init__(self, runs: "AsyncRuns", params: Dict[str, Any], max_items: Optional[int]) -> None:
        super().__init__(
            lambda cursor: runs.list_page(cursor=cursor, **params),
            lambda page: page.runs,
            lambda page: page.next_cursor,
            max_items,
        )


class AsyncFailurePager(AsyncPager[FailureList, FailureRecord]):
    """The failure records of a listing, newest first, across pages:
    ``async for record in client.failures.list(): ...``."""

    def __init__(self, failures: "AsyncFailures", params: Dict[str, Any], max_items: Optional[int]) -> None:
        super().__init__(
            lambda cursor: failures.list_page(cursor=cursor, **params),
            lambda page: page.failures,
            lambda page: page.next_cursor,
            max_items,
        )


class AsyncAuditPager(AsyncPager[AuditList, AuditEvent]):
    """The events of the audit log, newest first, across pages:
    ``async for event in client.audit.list(): ...``. Without ``to_ms``, each iteration fixes the
    end of the range at the time it starts."""

    def __init__(self, audit: "AsyncAudit", params: Dict[str, Any], max_items: Optional[int]) -> None:
        pinned: Dict[str, Any] = {}

        def fetch(cursor: Optional[str]) -> Awaitable[AuditList]:
            if cursor is None:
                pinned["to_ms"] = params.get("to_ms") if params.get("to_ms") is not None else int(time.time() * 1000)
            return audit.list_page(cursor=cursor, **{**params, "to_ms": pinned["to_ms"]})

        super().__init__(fetch, lambda page: page.events, lambda page: page.next_cursor, max_items)


class _Resource:
    def __init__(self, client: "AsyncClient") -> None:
        self._client = client


class AsyncRuns(_Resource):
    """``client.runs`` of :class:`AsyncClient`."""

    async def submit(
        self,
        plan: Optional[PlanLike] = None,
        *,
        workflow: Optional[str] = None,
        version: Optional[int] = None,
        inputs: Optional[Mapping[str, Any]] = None,
        idempotency_key: Optional[str] = None,
        seed: Optional[int] = None,
    ) -> Submitted:
        return await self._client._execute(
            _ops.submit_run(
                plan, workflow=workflow, version=version, inputs=inputs, idempotency_key=idempotency_key, seed=seed
            )
        )

    async def get(self, run_id: str, *, wait_ms: Optional[int] = None) -> RunView:
        return await self._client._execute(_ops.get_run(run_id, wait_ms))

    def list(
        self,
        *,
        status: Optional[RunStatus] = None,
        created_after: Optional[int] = None,
        created_before: Optional[int] = None,
        limit: Optional[int] = None,
        max_items: Optional[int] = None,
    ) -> AsyncRunPager:
        _ops.check_limit(limit)
        params = {"status": status, "created_after": created_after, "created_before": created_before, "limit": limit}
        return AsyncRunPager(self, params, max_items)

    async def list_page(
        self,
        *,
        status: Optional[RunStatus] = None,
        created_after: Optional[int] = None,
        created_before: Optional[int] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> RunList:
        return await self._client._execute(
            _ops.list_runs(
                status=status, created_after=created_after, created_before=created_before, limit=limit, cursor=cursor
            )
        )

    async def cancel(self, run_id: str) -> CancelResult:
        return await self._client._execute(_ops.cancel_run(run_id))

    async def replay(self, run_id: str) -> ReplayReport:
        return await self._client._execute(_ops.replay_run(run_id))

    async def wait(
        self,
        run_id: str,
        timeout: Optional[float] = 300.0,
        *,
        on_progress: Optional[ProgressCallback] = None,
        poll_interval: float = 0.25,
        raise_on_failure: bool = False,
    ) -> RunView:
        """See :meth:`aos.client.Runs.wait`. ``on_progress`` may be a plain function or return an
        awaitable, which is awaited."""
        deadline = None if timeout is None else time.monotonic() + timeout
        tracker = ProgressTracker(None)
        first = True
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            # With a progress callback the first read is immediate, to report the starting state.
            wait_ms = 0 if first and on_progress is not None else wait_chunk_ms(remaining, on_progress is not None, poll_interval)
            first = False
            run = await self.get(run_id, wait_ms=wait_ms or None)
            for event in tracker.update(run):
                if on_progress is not None:
                    result = on_progress(event)
                    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                        await result
            if run.finished:
                if raise_on_failure and not run.succeeded:
                    raise RunFailedError(run)
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeoutError(f"run {run_id} did not finish within {timeout} s (status {run.status})", run)

    async def submit_and_wait(
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
        submitted = await self.submit(
            plan, workflow=workflow, version=version, inputs=inputs, idempotency_key=idempotency_key, seed=seed
        )
        return await self.wait(
            submitted.run_id,
            timeout,
            on_progress=on_progress,
            poll_interval=poll_interval,
            raise_on_failure=raise_on_failure,
        )

    async def verify(self, run_id: str, *, wait: Optional[float] = None) -> VerifyReport:
        if wait:
            await self.wait(run_id, wait)
        data = await self._client._execute(_ops.get_run_raw(run_id))
        return verify_run(data)


class AsyncSkills(_Resource):
    async def list(self) -> List[SkillSpec]:
        return await self._client._execute(_ops.list_skills())

    async def get(self, skill_id: str) -> SkillSpec:
        return await self._client._execute(_ops.get_skill(skill_id))


class AsyncWorkflows(_Resource):
    async def create(self, name: str, plan: PlanLike) -> Workflow:
        return await self._client._execute(_ops.create_workflow(name, plan))

    async def list(self) -> List[Workflow]:
        return await self._client._execute(_ops.list_workflows())

    async def get(self, name: str, *, version: Optional[int] = None) -> Workflow:
        return await self._client._execute(_ops.get_workflow(name, version))


class AsyncSecrets(_Resource):
    async def put(self, name: str, value: str) -> None:
        await self._client._execute(_ops.put_secret(name, value))

    async def list(self) -> List[str]:
        return await self._client._execute(_ops.list_secrets())


class AsyncCatalog(_Resource):
    """``client.catalog`` of :class:`AsyncClient`; see :class:`aos.client.Catalog`."""

    async def list(self) -> CatalogView:
        return await self._client._execute(_ops.get_catalog())

    async def get(self, code: str) -> CatalogEntry:
        return await self._client._execute(_ops.get_catalog_entry(code))

    async def match(
        self,
        message: str,
        code: Optional[str] = None,
        skill: Optional[str] = None,
        http_status: Optional[int] = None,
    ) -> MatchResponse:
        return await self._client._execute(
            _ops.match_failure(message, code=code, skill=skill, http_status=http_status)
        )


class AsyncFailures(_Resource):
    """``client.failures`` of :class:`AsyncClient`; see :class:`aos.client.Failures`."""

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
    ) -> AsyncFailurePager:
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
        return AsyncFailurePager(self, params, max_items)

    async def list_page(
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
        return await self._client._execute(
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

    async def stats(
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
        return await self._client._execute(
            _ops.get_failure_stats(
                from_ms=from_ms, to_ms=to_ms, bucket_ms=bucket_ms, code=code, category=category, skill=skill, kind=kind
            )
        )

    async def candidates(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> CandidatePage:
        """One page of the tenant's latest catalog candidates (``GET /api/v1/failures/candidates``),
        most frequent first; pass ``next_cursor`` as ``cursor`` for the next. ``generated_at_ms`` is
        ``None`` before the first aggregation."""
        return await self._client._execute(_ops.list_failure_candidates(limit=limit, cursor=cursor))

    async def aggregate(self, *, days: Optional[int] = None, low_confidence: Optional[float] = None) -> CandidateReport:
        """Run the failure aggregation now (``POST /api/v1/failures/aggregate``; admin and operator
        keys) and return the tenant's whole result: its unmatched and low-confidence failures of the
        last ``days`` (1 to 366, default 7) grouped into catalog candidates."""
        return await self._client._execute(_ops.aggregate_failures(days=days, low_confidence=low_confidence))


class AsyncKeys(_Resource):
    """``client.keys`` of :class:`AsyncClient` (see :class:`aos.client.Keys`)."""

    async def create(self, name: str, role: Role, expires_in_days: Optional[int] = None) -> CreatedKey:
        return await self._client._execute(_ops.create_key(name, role, expires_in_days))

    async def list(self) -> List[ApiKeyRecord]:
        return await self._client._execute(_ops.list_keys())

    async def revoke(self, key_id: str) -> ApiKeyRecord:
        return await self._client._execute(_ops.revoke_key(key_id))

    async def rotate(self, key_id: str) -> CreatedKey:
        return await self._client._execute(_ops.rotate_key(key_id))


class AsyncAudit(_Resource):
    """``client.audit`` of :class:`AsyncClient` (see :class:`aos.client.Audit`)."""

    def list(
        self,
        *,
        from_ms: Optional[int] = None,
        to_ms: Optional[int] = None,
        action: Optional[AuditAction] = None,
        limit: Optional[int] = None,
        max_items: Optional[int] = None,
    ) -> AsyncAuditPager:
        """Audit events, newest first, across every page: ``async for event in ...``."""
        _ops.check_audit_limit(limit)
        params = {"from_ms": from_ms, "to_ms": to_ms, "action": action, "limit": limit}
        return AsyncAuditPager(self, params, max_items)

    async def list_page(
        self,
        *,
        from_ms: Optional[int] = None,
        to_ms: Optional[int] = None,
        action: Optional[AuditAction] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> AuditList:
        return await self._client._execute(
            _ops.list_audit(from_ms=from_ms, to_ms=to_ms, action=action, limit=limit, cursor=cursor)
        )


class AsyncClient:
    """An asynchronous AOS client; the arguments are those of :class:`aos.Client`
    (``http_client`` is an ``httpx.AsyncClient``)."""

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
        http_client: Optional[httpx.AsyncClient] = None,
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
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self.runs = AsyncRuns(self)
        self.skills = AsyncSkills(self)
        self.workflows = AsyncWorkflows(self)
        self.secrets = AsyncSecrets(self)
        self.catalog = AsyncCatalog(self)
        self.failures = AsyncFailures(self)
        self.keys = AsyncKeys(self)
        self.audit = AsyncAudit(self)

    @property
    def base_url(self) -> str:
        return self.config.base_url

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.config.base_url!r})"

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def simulate(self, plan: PlanLike) -> Simulation:
        return await self._execute(_ops.simulate_plan(plan))

    async def health(self) -> Health:
        return await self._execute(_ops.health())

    async def openapi(self) -> Dict[str, Any]:
        return await self._execute(_ops.openapi())

    async def metrics(self) -> str:
        """See :meth:`aos.Client.metrics`."""
        return await self._execute(_ops.get_metrics())

    async def whoami(self) -> WhoAmI:
        """Same as :meth:`aos.Client.whoami`."""
        return await self._execute(_ops.whoami())

    async def wait_for_run(
        self,
        run_id: str,
        timeout: Optional[float] = 300.0,
        *,
        on_progress: Optional[ProgressCallback] = None,
        poll_interval: float = 0.25,
        raise_on_failure: bool = False,
    ) -> RunView:
        return await self.runs.wait(
            run_id, timeout, on_progress=on_progress, poll_interval=poll_interval, raise_on_failure=raise_on_failure
        )

    async def verify_run(self, run_id: str, *, wait: Optional[float] = None) -> VerifyReport:
        return await self.runs.verify(run_id, wait=wait)

    async def _execute(self, call: Call[T]) -> T:
        retry = 0
        kwargs = call.request_kwargs(self.config)
        while True:
            try:
                response = await self._http.request(**kwargs)
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
            await response.aclose()
            await asyncio.sleep(delay)
            retry += 1
