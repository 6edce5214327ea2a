"""Typed exceptions. Every API error carries the API's ``code``, ``message``, HTTP ``status`` and
``details``; the class follows the HTTP status (and :class:`ValidationError` adds the list of
problems of a 422). Within a status, ``code`` tells the cases apart: a 409 is
``RUN_ALREADY_FINISHED``, ``RUN_NOT_FINISHED`` or ``CONCURRENT_UPDATE``, for example.

Failures of a run's steps are not exceptions: they are data inside the run (``run.error``, each
step's ``error`` and each attempt's ``outcome``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Type

from .models import FieldError

if TYPE_CHECKING:  # pragma: no cover
    from .models import RunView

__all__ = [
    "AosError",
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RunFailedError",
    "ServerError",
    "ServiceUnavailableError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "WaitTimeoutError",
    "RETRY_CODES",
    "RETRY_STATUSES",
    "error_for_status",
]

#: HTTP statuses the API answers for trouble that retrying can fix: rate limiting (429) and
#: temporary unavailability (503 ``STORAGE_UNAVAILABLE``).
RETRY_STATUSES = frozenset({429, 503})
#: Error codes of other statuses that the API marks as worth retrying: 409 ``CONCURRENT_UPDATE``.
RETRY_CODES = frozenset({"CONCURRENT_UPDATE"})


class AosError(Exception):
    """Base class of every error the SDK raises.

    Attributes:
        message: what went wrong, for people.
        code: the API's machine-readable code (``PLAN_UNKNOWN_SKILL``, ``NOT_FOUND``, ...), or an
            SDK code for errors that did not come from the API (``CONNECTION_ERROR``, ...).
        status: the HTTP status, ``None`` when there was no HTTP answer.
        details: the API's ``details`` object (``{}`` when it has none).
        method, url: the request that failed, when there was one.
        headers: the answer's headers, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = None,
        details: Optional[Mapping[str, Any]] = None,
        method: Optional[str] = None,
        url: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details: Dict[str, Any] = dict(details) if isinstance(details, Mapping) else {}
        self.method = method
        self.url = url
        self.headers: Dict[str, str] = dict(headers or {})

    @property
    def field(self) -> Optional[str]:
        """The field the API named (``details.field``), e.g. ``steps[0].skill``."""
        value = self.details.get("field")
        return value if isinstance(value, str) else None

    @property
    def step_id(self) -> Optional[str]:
        """The step the API named (``details.step_id``)."""
        value = self.details.get("step_id")
        return value if isinstance(value, str) else None

    @property
    def retry_after(self) -> Optional[float]:
        """The answer's ``Retry-After`` in seconds, when it had one (the API sends it with 429
        ``RATE_LIMITED``, 503 ``STORAGE_UNAVAILABLE`` and 409 ``CONCURRENT_UPDATE``)."""
        from ._http import parse_retry_after

        return parse_retry_after(self.headers.get("retry-after"))

    @property
    def retryable(self) -> bool:
        """True when the API says that repeating the request can succeed: 429, 503 and 409
        ``CONCURRENT_UPDATE``. The clients retry these themselves for requests that are safe to
        repeat; this is what is left after those retries, or from a request that is not."""
        if self.status is None:
            return False
        return self.status in RETRY_STATUSES or (self.status == 409 and self.code in RETRY_CODES)

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.field:
            text += f" (field {self.field})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class APIConnectionError(AosError):
    """The request did not get an HTTP answer (connection refused, reset, DNS, ...)."""


class APITimeoutError(APIConnectionError):
    """The request timed out before an answer arrived."""


class BadRequestError(AosError):
    """400: malformed JSON (``INVALID_JSON``) or query (``INVALID_QUERY``)."""


class AuthenticationError(AosError):
    """401 ``UNAUTHENTICATED``: no credential, or one that is not valid: an unknown, revoked (or
    rotated) or expired API key, or an identity-provider token that failed verification."""


class PermissionDeniedError(AosError):
    """403 ``FORBIDDEN``: the caller's role lacks the operation's permission (its OpenAPI security
    scope, e.g. ``keys:manage``; :meth:`aos.Client.whoami` lists the caller's), or a verified user's
    token maps to no role."""


class NotFoundError(AosError):
    """404 ``NOT_FOUND``: no such run, workflow (or version), skill, or route."""


class MethodNotAllowedError(AosError):
    """405 ``METHOD_NOT_ALLOWED``."""


class ConflictError(AosError):
    """409: the resource's state does not allow the operation, or a concurrent change got in the way.

    ``code`` tells which:

    * ``RUN_ALREADY_FINISHED`` — cancelling a run that has finished;
    * ``RUN_NOT_FINISHED`` — replaying a run that has not finished;
    * ``KEY_INACTIVE`` — rotating an API key that is revoked or expired;
    * ``CANDIDATE_STATE_CONFLICT`` — a decision on a recovery candidate in the wrong state
      (approving or rejecting one that is not pending, retiring one that is not approved);
    * ``POLICY_STATE_CONFLICT`` — disabling a recovery policy that is already disabled;
    * ``POLICY_LIMIT`` — approving a candidate when the tenant already holds 500 policies (disable
      or retire some first);
    * ``CONCURRENT_UPDATE`` — a concurrent change (the same idempotency key in use by a concurrent
      submission, a workflow saved concurrently, a run changing too fast to cancel). Nothing was
      written and the answer carries ``Retry-After: 1``: :attr:`retryable` is true, and the clients
      retry it themselves for requests that are safe to repeat.
    """

    RUN_ALREADY_FINISHED = "RUN_ALREADY_FINISHED"
    RUN_NOT_FINISHED = "RUN_NOT_FINISHED"
    KEY_INACTIVE = "KEY_INACTIVE"
    CANDIDATE_STATE_CONFLICT = "CANDIDATE_STATE_CONFLICT"
    POLICY_STATE_CONFLICT = "POLICY_STATE_CONFLICT"
    POLICY_LIMIT = "POLICY_LIMIT"
    CONCURRENT_UPDATE = "CONCURRENT_UPDATE"


class PayloadTooLargeError(AosError):
    """413 ``BODY_TOO_LARGE``: the body exceeds 1 MiB."""


class UnsupportedMediaTypeError(AosError):
    """415 ``UNSUPPORTED_MEDIA_TYPE``."""


class ValidationError(AosError):
    """422: the request is well-formed JSON but not acceptable.

    ``errors`` lists every problem the API reported (``details.errors``), each with ``code``,
    ``message`` and, where they apply, ``step_id`` and ``field``. ``code``, ``field`` and
    ``step_id`` of the exception repeat the first problem. Errors such as ``INVALID_FIELD`` report
    one problem without a list; ``errors`` then holds that one problem.
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        raw = self.details.get("errors")
        errors: List[FieldError] = []
        if isinstance(raw, list):
            for item in raw:
                if isinstance(item, Mapping) and "code" in item and "message" in item:
                    errors.append(FieldError.from_dict(item))
        if not errors and self.code:
            errors.append(FieldError(code=self.code, message=message, step_id=self.step_id, field=self.field))
        self.errors: List[FieldError] = errors


class RateLimitError(AosError):
    """429 ``RATE_LIMITED``: the caller's request budget is spent (limits are per API key or user).

    ``retry_after`` is the answer's ``Retry-After`` in seconds; ``limit``, ``remaining`` and
    ``reset`` come from its ``X-RateLimit-Limit`` (requests a minute), ``X-RateLimit-Remaining``
    and ``X-RateLimit-Reset`` (seconds until a request is allowed again) headers. The clients retry
    requests that are safe to repeat after ``Retry-After`` themselves (``max_retries``); this is
    what is left after those retries, or from a request that is not safe to repeat.
    """

    def _int_header(self, name: str) -> Optional[int]:
        value = self.headers.get(name)
        try:
            return int(value.strip()) if value is not None else None
        except ValueError:
            return None

    @property
    def limit(self) -> Optional[int]:
        """Requests a minute the caller may make (``X-RateLimit-Limit``)."""
        return self._int_header("x-ratelimit-limit")

    @property
    def remaining(self) -> Optional[int]:
        """Requests left in the current burst (``X-RateLimit-Remaining``), 0 when limited."""
        return self._int_header("x-ratelimit-remaining")

    @property
    def reset(self) -> Optional[float]:
        """Seconds until the next request is allowed (``X-RateLimit-Reset``)."""
        value = self._int_header("x-ratelimit-reset")
        return float(value) if value is not None else None


class ServerError(AosError):
    """5xx."""


class ServiceUnavailableError(ServerError):
    """503 ``STORAGE_UNAVAILABLE`` (sent with ``Retry-After: 1``): retry later."""


class WaitTimeoutError(AosError, TimeoutError):
    """:meth:`wait_for_run` gave up before the run finished. ``run`` is the run as last seen."""

    def __init__(self, message: str, run: Optional["RunView"] = None) -> None:
        super().__init__(message, code="WAIT_TIMEOUT")
        self.run = run


class RunFailedError(AosError):
    """A waited-for run finished without succeeding (only with ``raise_on_failure=True``).

    ``code`` and ``details`` are the run's error; ``run`` is the finished run.
    """

    def __init__(self, run: "RunView") -> None:
        err = run.error
        message = f"run {run.run_id} {run.status}"
        if err is not None:
            message += f": {err.code}: {err.message}"
        super().__init__(
            message,
            code=err.code if err else None,
            details=err.details if err is not None and isinstance(err.details, Mapping) else None,
        )
        self.run = run


_BY_STATUS: Dict[int, Type[AosError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_for_status(status: int) -> Type[AosError]:
    """The exception class for an HTTP error status."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    return AosError
