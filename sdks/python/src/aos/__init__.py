"""AOS Python SDK: run plans of skills deterministically, with failures as data.

>>> import aos
>>> client = aos.Client()                       # $AOS_URL and $AOS_API_KEY
>>> plan = (aos.PlanBuilder("double")
...         .json_transform("a", 21, ". * 2")
...         .build())
>>> run = client.runs.submit_and_wait(plan)     # doctest: +SKIP
>>> run.output("a")                             # doctest: +SKIP
42
>>> client.runs.verify(run.run_id).ok           # doctest: +SKIP
True
"""

from . import models, trace
from ._http import ProgressEvent
from ._version import __version__
from .async_client import AsyncClient, AsyncFailurePager, AsyncPager, AsyncRunPager
from .client import Client, FailurePager, Pager, RunPager
from .errors import (
    AosError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RunFailedError,
    ServerError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
    ValidationError,
    WaitTimeoutError,
)
from .models import (
    AttemptRecord,
    Budget,
    CancelResult,
    CatalogEntry,
    CatalogView,
    CostModel,
    Divergence,
    FailureBucket,
    FailureList,
    FailureMatch,
    FailureMode,
    FailureRecord,
    FailureStats,
    FieldError,
    Health,
    MatchResponse,
    OnError,
    Outcome,
    Plan,
    RecoveryStats,
    ReplayReport,
    RetryPolicy,
    Run,
    RunList,
    RunSummary,
    RunView,
    Simulation,
    SkillSpec,
    Step,
    StepError,
    StepEstimate,
    StepState,
    StepView,
    Submitted,
    TraceEntry,
    Workflow,
    WorkflowRef,
)
from .plan import PlanBuildError, PlanBuilder, fallback, ref_input, ref_secret, ref_step
from .trace import VerifyReport, verify_run

__all__ = [
    "__version__",
    # clients
    "Client",
    "AsyncClient",
    "Pager",
    "AsyncPager",
    "RunPager",
    "AsyncRunPager",
    "FailurePager",
    "AsyncFailurePager",
    "ProgressEvent",
    # plans
    "PlanBuilder",
    "PlanBuildError",
    "ref_input",
    "ref_step",
    "ref_secret",
    "fallback",
    # verification
    "verify_run",
    "VerifyReport",
    "trace",
    # models
    "models",
    "AttemptRecord",
    "Budget",
    "CancelResult",
    "CatalogEntry",
    "CatalogView",
    "CostModel",
    "Divergence",
    "FailureBucket",
    "FailureList",
    "FailureMatch",
    "FailureMode",
    "FailureRecord",
    "FailureStats",
    "FieldError",
    "Health",
    "MatchResponse",
    "OnError",
    "Outcome",
    "Plan",
    "RecoveryStats",
    "ReplayReport",
    "RetryPolicy",
    "Run",
    "RunList",
    "RunSummary",
    "RunView",
    "Simulation",
    "SkillSpec",
    "Step",
    "StepError",
    "StepEstimate",
    "StepState",
    "StepView",
    "Submitted",
    "TraceEntry",
    "Workflow",
    "WorkflowRef",
    # errors
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
]
