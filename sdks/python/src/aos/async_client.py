"""The asynchronous client: the same operations as :class:`aos.Client`, awaited."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional

import httpx

from . import _ops
from ._http import (
    RETRY_STATUSES,
    Call,
    ClientConfig,
    ProgressCallback,
    ProgressTracker,
    T,
    error_from_response,
    retry_after_of,
    wait_chunk_ms,
)
from .errors import APIConnectionError, APITimeoutError, AosError, RunFailedError, WaitTimeoutError
from .models import (
    CancelResult,
    ReplayReport,
    RunList,
    RunStatus,
    RunSummary,
    RunView,
    Simulation,
    SkillSpec,
    Submitted,
    Workflow,
)
from .plan import PlanLike
from .trace import VerifyReport, verify_run

__all__ = ["AsyncClient", "AsyncRunPager"]


class AsyncRunPager:
    """The runs of a listing, across pages: ``async for run in client.runs.list(): ...``."""

    def __init__(self, runs: "AsyncRuns", params: Dict[str, Any], max_items: Optional[int]) -> None:
        self._runs = runs
        self._params = params
        self._max_items = max_items

    async def pages(self) -> AsyncIterator[RunList]:
        cursor: Optional[str] = None
        while True:
            page = await self._runs.list_page(cursor=cursor, **self._params)
            yield page
            if not page.next_cursor:
                return
            if page.next_cursor == cursor:
                raise AosError("the API returned the same cursor twice", code="PAGINATION_STUCK")
            cursor = page.next_cursor

    async def _items(self) -> AsyncIterator[RunSummary]:
        count = 0
        async for page in self.pages():
            for run in page.runs:
                if self._max_items is not None and count >= self._max_items:
                    return
                count += 1
                yield run
            if self._max_items is not None and count >= self._max_items:
                return

    def __aiter__(self) -> AsyncIterator[RunSummary]:
        return self._items()

    async def to_list(self) -> List[RunSummary]:
        return [run async for run in self]


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

    async def health(self) -> Dict[str, Any]:
        return await self._execute(_ops.health())

    async def openapi(self) -> Dict[str, Any]:
        return await self._execute(_ops.openapi())

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
            if call.retryable and response.status_code in RETRY_STATUSES:
                delay = self.config.backoff(retry, retry_after_of(response))
                if delay is not None:
                    await response.aclose()
                    await asyncio.sleep(delay)
                    retry += 1
                    continue
            raise error_from_response(response)
