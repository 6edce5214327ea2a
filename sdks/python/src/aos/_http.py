"""What the sync and async clients share: configuration, request building, error mapping, retry
decisions and run-progress tracking. Nothing here does I/O."""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Tuple, TypeVar

import httpx

from ._version import __version__
from .errors import RETRY_CODES, RETRY_STATUSES, AosError, error_for_status
from .models import RunView, StepView

__all__ = ["ClientConfig", "Call", "ProgressEvent", "ProgressCallback", "RETRY_CODES", "RETRY_STATUSES"]

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8080"
#: The longest ``wait_ms`` the API accepts (``GET /api/v1/runs/{id}``).
MAX_WAIT_MS = 30_000
#: The page sizes (``limit``) the API accepts (``GET /api/v1/runs``, ``GET /api/v1/failures``).
MIN_PAGE_LIMIT = 1
MAX_PAGE_LIMIT = 200
#: The largest page of ``GET /api/v1/audit``.
MAX_AUDIT_LIMIT = 500
#: The expiries (days) ``POST /api/v1/keys`` accepts.
MIN_KEY_DAYS = 1
MAX_KEY_DAYS = 3650
#: The HTTP statuses ``POST /api/v1/catalog/match`` accepts.
MIN_HTTP_STATUS = 100
MAX_HTTP_STATUS = 599
#: The narrowest time-series bucket ``GET /api/v1/failures/stats`` accepts (ms).
MIN_BUCKET_MS = 1000


class _NoBody:
    def __repr__(self) -> str:  # pragma: no cover
        return "NO_BODY"


NO_BODY: Any = _NoBody()


@dataclass
class ClientConfig:
    """Resolved client settings."""

    base_url: str
    api_key: Optional[str]
    timeout: float = 30.0
    max_retries: int = 2
    max_retry_delay: float = 30.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    headers: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def resolve(
        cls,
        base_url: Optional[str],
        api_key: Optional[str],
        token: Optional[str],
        *,
        timeout: float,
        max_retries: int,
        max_retry_delay: float,
        backoff_base: float,
        backoff_max: float,
        headers: Optional[Mapping[str, str]],
    ) -> "ClientConfig":
        if api_key is not None and token is not None:
            raise ValueError("give either api_key or token, not both (both are sent as a bearer token)")
        url = base_url or os.environ.get("AOS_URL") or DEFAULT_URL
        url = url.rstrip("/")
        if url.endswith("/api/v1"):
            url = url[: -len("/api/v1")]
        key = api_key if api_key is not None else token
        if key is None:
            key = os.environ.get("AOS_API_KEY") or os.environ.get("AOS_TOKEN") or None
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        return cls(
            base_url=url,
            api_key=key.strip() if key else None,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_delay=max_retry_delay,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            headers=dict(headers or {}),
        )

    def request_headers(self, authenticated: bool, has_body: bool, accept: str = "application/json") -> Dict[str, str]:
        h = {"accept": accept, "user-agent": f"aos-sdk-python/{__version__}"}
        h.update(self.headers)
        if authenticated and self.api_key:
            h["authorization"] = f"Bearer {self.api_key}"
        if has_body:
            h["content-type"] = "application/json"
        return h

    def backoff(self, retry: int, retry_after: Optional[float]) -> Optional[float]:
        """Seconds to wait before retry number ``retry + 1``, or ``None`` to give up.

        Exponential backoff with equal jitter, at least the answer's ``Retry-After``; gives up after
        ``max_retries`` retries or when ``Retry-After`` asks for more than ``max_retry_delay``.
        """
        if retry >= self.max_retries:
            return None
        if retry_after is not None and retry_after > self.max_retry_delay:
            return None
        base = min(self.backoff_max, self.backoff_base * (2.0**retry))
        delay = base / 2 + random.random() * base / 2
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_retry_delay)


@dataclass
class Call(Generic[T]):
    """One API operation, ready to send: built by ``_ops``, executed by a client."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Optional[Dict[str, Any]] = None
    body: Any = NO_BODY
    #: Safe to repeat on 429, 503 and 409 ``CONCURRENT_UPDATE``: idempotent, or carrying an
    #: idempotency key.
    retryable: bool = False
    #: Seconds added to the client's timeout (long polling).
    extra_timeout: float = 0.0
    authenticated: bool = True
    #: The ``accept`` header: JSON, except for ``GET /metrics`` (errors are JSON either way).
    accept: str = "application/json"

    def request_kwargs(self, cfg: ClientConfig) -> Dict[str, Any]:
        has_body = self.body is not NO_BODY
        kwargs: Dict[str, Any] = {
            "method": self.method,
            "url": cfg.base_url + self.path,
            "headers": cfg.request_headers(self.authenticated, has_body, self.accept),
            "timeout": cfg.timeout + self.extra_timeout,
        }
        if self.params:
            kwargs["params"] = {k: _param(v) for k, v in self.params.items() if v is not None}
        if has_body:
            kwargs["content"] = json.dumps(self.body, allow_nan=False, ensure_ascii=False).encode("utf-8")
        return kwargs


def _param(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date. ``None`` when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:  # pragma: no cover - older Pythons
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def error_from_response(response: httpx.Response) -> AosError:
    """The typed exception for an error answer, from the API's error envelope."""
    code: Optional[str] = None
    details: Any = None
    message = ""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        err = payload["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = str(err.get("message") or "")
        details = err.get("details")
    if not message:
        message = response.text.strip()[:500] or response.reason_phrase or f"HTTP {response.status_code}"
    cls = error_for_status(response.status_code)
    return cls(
        message,
        code=code,
        status=response.status_code,
        details=details if isinstance(details, Mapping) else None,
        method=response.request.method if response.request is not None else None,
        url=str(response.request.url) if response.request is not None else None,
        headers={k.lower(): v for k, v in response.headers.items()},
    )


def retry_delay(call: "Call[Any]", error: AosError, retry: int, cfg: ClientConfig) -> Optional[float]:
    """Seconds to wait before repeating ``call`` after ``error``, or ``None`` to raise it.

    Only a request that is safe to repeat is retried, and only on an error the API marks as worth
    retrying (429, 503, 409 ``CONCURRENT_UPDATE``); the wait honours ``Retry-After``.
    """
    if not call.retryable or not error.retryable:
        return None
    return cfg.backoff(retry, error.retry_after)


# --------------------------------------------------------------------------------------------
# Progress of a run


@dataclass
class ProgressEvent:
    """A change seen while waiting for a run.

    ``step_id`` names the step whose status or attempt changed; it is ``None`` for a change of the
    run's own status. The first observation of each step is reported with ``previous_status``
    ``None``. ``run`` is the whole run as seen at that moment.
    """

    run_id: str
    step_id: Optional[str]
    status: str
    previous_status: Optional[str]
    attempt: int
    previous_attempt: Optional[int]
    run: RunView

    @property
    def step(self) -> Optional[StepView]:
        if self.step_id is None:
            return None
        return self.run.step(self.step_id)

    @property
    def is_retry(self) -> bool:
        """A new attempt of a step that had already been attempted."""
        return self.previous_attempt is not None and self.attempt > self.previous_attempt > 0

    def __str__(self) -> str:
        who = f"step {self.step_id}" if self.step_id else "run"
        was = f"{self.previous_status} -> " if self.previous_status and self.previous_status != self.status else ""
        text = f"{who}: {was}{self.status}"
        if self.step_id and self.attempt:
            text += f" (attempt {self.attempt})"
        return text


ProgressCallback = Callable[[ProgressEvent], Any]


class ProgressTracker:
    """Compares successive views of a run and reports each change once."""

    def __init__(self) -> None:
        self._steps: Dict[str, Tuple[str, int]] = {}
        self._run_status: Optional[str] = None

    def update(self, run: RunView) -> List[ProgressEvent]:
        events: List[ProgressEvent] = []
        for s in run.step_details:
            now = (s.status, s.attempt)
            before = self._steps.get(s.step_id)
            if before != now:
                events.append(
                    ProgressEvent(
                        run_id=run.run_id,
                        step_id=s.step_id,
                        status=s.status,
                        previous_status=before[0] if before else None,
                        attempt=s.attempt,
                        previous_attempt=before[1] if before else None,
                        run=run,
                    )
                )
                self._steps[s.step_id] = now
        if run.status != self._run_status:
            events.append(
                ProgressEvent(
                    run_id=run.run_id,
                    step_id=None,
                    status=run.status,
                    previous_status=self._run_status,
                    attempt=0,
                    previous_attempt=None,
                    run=run,
                )
            )
            self._run_status = run.status
        return events


def wait_chunk_ms(remaining: Optional[float], with_progress: bool, poll_interval: float) -> int:
    """The ``wait_ms`` of the next long poll.

    The API's long poll answers when the run finishes or the time is up; it does not answer on a
    step change. With a progress callback the SDK therefore polls every ``poll_interval`` seconds;
    without one it waits as long as the API allows.
    """
    chunk = poll_interval if with_progress else MAX_WAIT_MS / 1000
    if remaining is not None:
        chunk = min(chunk, remaining)
    return max(0, min(MAX_WAIT_MS, int(chunk * 1000)))
