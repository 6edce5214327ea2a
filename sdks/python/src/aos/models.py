"""Typed models of the AOS API, one dataclass per schema of ``docs/openapi.json``.

Every model maps to the OpenAPI schema named in its ``__schema__`` attribute; the SDK's test suite
checks each model's fields, required fields, nullability and types against that schema, so a change
of the API that the SDK does not follow fails the tests.

Models are built from the API's JSON with :meth:`Model.from_dict` (unknown fields are ignored, so a
newer server does not break an older SDK; a missing required field is a ``ValueError``) and turned
back into JSON with :meth:`Model.to_dict` (optional fields that are ``None`` are left out, as the
server does; required fields, such as ``StepError.details``, are always written, ``null`` included).

Values that the API types as any JSON (the schema ``{}``: step and attempt inputs, outcome and step
outputs, ``StepError.details``, ``Divergence.expected`` / ``actual``, a fallback's input) are kept as
the plain Python values :func:`json.loads` produces (:data:`JSON`), ``None`` for ``null`` included.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import (
    Any,
    ClassVar,
    Dict,
    FrozenSet,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

__all__ = [
    "ActionKind",
    "ApiKeyRecord",
    "AggregationWindow",
    "AppliedPolicy",
    "ApprovalMode",
    "AttemptRecord",
    "AuditAction",
    "AuditEvent",
    "AuditList",
    "Budget",
    "CancelResult",
    "CandidateExample",
    "CandidatePage",
    "CandidateReport",
    "CandidatesHead",
    "CandidateSource",
    "CandidateStatus",
    "CatalogEntry",
    "CatalogView",
    "Category",
    "Confidence",
    "CostModel",
    "CreateKey",
    "CreatedKey",
    "CreateWorkflow",
    "DecisionNote",
    "Determinism",
    "DEFAULT_MAX_DURATION_MS",
    "Divergence",
    "DriftItem",
    "DriftReport",
    "ENUMS",
    "ErrorBody",
    "ErrorDetail",
    "EvidenceView",
    "FailureBucket",
    "FailureCandidate",
    "FailureKey",
    "FailureKind",
    "FailureList",
    "FailureMatch",
    "FailureMode",
    "FailureRecord",
    "FailureStats",
    "FieldError",
    "Health",
    "JSON",
    "KeyList",
    "MatchRequest",
    "MatchResponse",
    "MatchType",
    "Model",
    "MODELS",
    "OkFalse",
    "OkTrue",
    "OnError",
    "OnErrorAction",
    "Outcome",
    "Plan",
    "Policy",
    "PolicyEvent",
    "PolicyList",
    "PolicyMode",
    "PolicyOutcomes",
    "PolicyStatus",
    "PreviousFailure",
    "PrincipalKind",
    "PutSecret",
    "RecoveryCandidate",
    "RecoveryCandidateList",
    "RecoveryExample",
    "RecoveryMode",
    "RecoverySettingsView",
    "RecoveryStats",
    "RecoverySuggestion",
    "ReplayReport",
    "RetryPolicy",
    "Role",
    "Run",
    "RunList",
    "RunStatus",
    "RunSummary",
    "RunView",
    "SecretNames",
    "Severity",
    "SideEffects",
    "SimulateRequest",
    "Simulation",
    "SkillList",
    "SkillSpec",
    "Step",
    "StepError",
    "StepEstimate",
    "StepState",
    "StepStatus",
    "StepView",
    "SubmitRun",
    "Submitted",
    "SuggestForFailure",
    "SuggestForMessage",
    "Suggestion",
    "SuggestionSource",
    "SuggestRequest",
    "SuggestResponse",
    "TERMINAL_RUN_STATUSES",
    "TERMINAL_STEP_STATUSES",
    "TraceEntry",
    "Transition",
    "WhoAmI",
    "WindowRate",
    "Workflow",
    "WorkflowList",
    "WorkflowRef",
]

#: Any JSON value, as :func:`json.loads` returns it.
JSON = Any

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]
Category = Literal[
    "TRANSIENT",
    "RATE_LIMIT",
    "AUTH",
    "VALIDATION",
    "NOT_FOUND",
    "CONFLICT",
    "RESOURCE",
    "SECURITY",
    "PERMANENT",
]
SideEffects = Literal["none", "read", "write"]
Determinism = Literal["deterministic", "non_deterministic"]
OnErrorAction = Literal["abort", "continue", "fallback"]
#: Which failure a failure record is about: a failed attempt, a step that failed before an attempt,
#: a failed or cancelled run, or a submission refused with 422.
FailureKind = Literal["attempt", "step", "run", "rejected"]
#: The kind of evidence that decided a catalog match (``none`` when nothing matched).
MatchType = Literal["structured_code", "http_status", "aws_code", "smtp_code", "os_error", "pattern", "inferred", "none"]
#: What the failure catalog advises doing about a failure (and, on a failure record, the recovery
#: that was carried out).
RecoveryMode = Literal[
    "retry_exponential",
    "retry_after",
    "retry_immediate",
    "fallback",
    "refresh_credentials",
    "reduce_payload",
    "skip",
    "abort",
    "escalate",
]
Severity = Literal["low", "medium", "high", "critical"]
#: The ``ok`` of a successful outcome: the boolean schema with the single value ``true``.
OkTrue = Literal[True]
#: The ``ok`` of a failed outcome: the boolean schema with the single value ``false``.
OkFalse = Literal[False]

#: The roles a key or a user acts with, most capable first (``docs/rbac.md`` has the permission
#: matrix): ``admin`` everything, keys and the audit log included; ``operator`` runs and metrics;
#: ``developer`` plans, workflows and runs with raw inputs and outputs; ``viewer`` reads (sensitive
#: fields redacted); ``machine`` SDK and CI keys (runs, workflows, metrics).
Role = Literal["admin", "operator", "developer", "viewer", "machine"]
#: Who holds a credential: a machine with an API key, or a person with an identity provider's token.
PrincipalKind = Literal["api_key", "user"]
#: What an audit record is about.
AuditAction = Literal[
    "key.created",
    "key.rotated",
    "key.revoked",
    "permission.denied",
    "login",
    "rate_limited",
    "recovery.approved",
    "recovery.rejected",
    "recovery.retired",
    "recovery.shadowed",
    "recovery.settings",
    "policy.disabled",
    "policy.suspended",
    "policy.reactivated",
]
#: What a recovery suggestion proposes to do about a failure.
ActionKind = Literal[
    "retry",
    "retry_after",
    "raise_timeout",
    "fallback",
    "continue",
    "refresh_credentials",
    "fix_input",
    "reduce_payload",
    "do_not_retry",
]
#: Where a suggestion's confidence comes from: the catalog's prior alone, or observed recoveries.
SuggestionSource = Literal["catalog", "history"]
#: The review state of a recovery candidate: ``pending`` until a person approves or rejects it;
#: an ``approved`` one may later be ``retired``.
CandidateStatus = Literal["pending", "approved", "rejected", "retired"]
#: What proposed a recovery candidate: a suggest call, or the nightly aggregation.
CandidateSource = Literal["suggest", "aggregation"]
#: How a plan takes the tenant's recovery policies: ``on`` (they fill in the step settings the plan
#: leaves unset; the default), ``off`` (none applies), ``override`` (they replace the plan's own too).
PolicyMode = Literal["on", "off", "override"]
#: A recovery policy's state: ``active`` (applied to runs), ``shadow`` (runs only record what it
#: would change), ``disabled`` (by a person), ``suspended`` (by the regression guard).
PolicyStatus = Literal["active", "shadow", "disabled", "suspended"]
#: The tenant's automatic approval of recovery candidates: ``off`` (people decide), ``shadow``
#: (candidates past the thresholds become shadow policies) or ``active`` (approved and applied).
ApprovalMode = Literal["off", "shadow", "active"]

#: Run statuses after which a run never changes again.
TERMINAL_RUN_STATUSES: FrozenSet[str] = frozenset({"succeeded", "failed", "cancelled"})
#: Step statuses after which a step never changes again.
TERMINAL_STEP_STATUSES: FrozenSet[str] = frozenset({"succeeded", "failed", "skipped", "cancelled"})

#: The duration budget a plan gets when its budget does not mention ``max_duration_ms``.
DEFAULT_MAX_DURATION_MS = 900_000

M = TypeVar("M", bound="Model")

_HINTS: Dict[type, Dict[str, Any]] = {}


def _hints(cls: type) -> Dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _load(tp: Any, value: Any) -> Any:
    """Convert a JSON value to the Python type ``tp`` (models, lists and maps of models)."""
    if value is None or tp is Any:
        return value
    origin = get_origin(tp)
    if origin is Union:
        args = [a for a in get_args(tp) if a is not type(None)]
        return _load(args[0], value) if len(args) == 1 else value
    if origin is list and isinstance(value, list):
        (item,) = get_args(tp)
        return [_load(item, v) for v in value]
    if origin is dict and isinstance(value, dict):
        _, item = get_args(tp)
        return {k: _load(item, v) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Model) and isinstance(value, Mapping):
        return tp.from_dict(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


class Model:
    """Base of every API model: conversion from and to the API's JSON."""

    #: The name of the schema in ``docs/openapi.json`` this model mirrors (``None``: not in it).
    __schema__: ClassVar[Optional[str]] = None
    #: Optional fields written as ``null`` when ``None`` instead of being left out.
    _keep_null: ClassVar[FrozenSet[str]] = frozenset()
    #: Fields left out when they are empty (lists and maps).
    _omit_empty: ClassVar[FrozenSet[str]] = frozenset()
    #: Fields whose JSON name is not a Python identifier (``from``), by field name.
    _json_names: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def from_dict(cls: Type[M], data: Mapping[str, Any]) -> M:
        """Build the model from the API's JSON object. Unknown fields are ignored."""
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__}.from_dict expects a JSON object, got {type(data).__name__}")
        hints = _hints(cls)
        kwargs: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            key = cls._json_names.get(f.name, f.name)
            if key in data:
                kwargs[f.name] = _load(hints[f.name], data[key])
        missing = [
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.name not in kwargs
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ValueError(f"{cls.__name__}: missing required field(s) {', '.join(missing)}")
        return cls(**kwargs)

    def to_dict(self) -> Dict[str, Any]:
        """The model as the API's JSON object."""
        out: Dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            optional = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            if value is None and optional and f.name not in self._keep_null:
                continue
            if f.name in self._omit_empty and (value == [] or value == {}):
                continue
            out[self._json_names.get(f.name, f.name)] = _dump(value)
        return out


# --------------------------------------------------------------------------------------------
# Plans


@dataclass
class RetryPolicy(Model):
    """Retries of one step: exponential backoff with deterministic jitter."""

    __schema__ = "RetryPolicy"

    #: Total attempts including the first (1 = no retry), 1 to 20.
    max_attempts: int
    initial_delay_ms: int = 200
    max_delay_ms: int = 10_000
    multiplier: float = 2.0
    #: Categories that retry; when ``None`` an error retries when it says it is retryable.
    retry_on: Optional[List[Category]] = None


@dataclass
class OnError(Model):
    """What a step's final failure does to the run: ``abort``, ``continue`` or ``fallback``."""

    __schema__ = "OnError"

    action: OnErrorAction = "abort"
    #: The fallback skill (``fallback`` only).
    skill: Optional[str] = None
    #: The fallback's input (``fallback`` only); templated like a step input.
    input: JSON = None

    @classmethod
    def abort(cls) -> "OnError":
        return cls("abort")

    @classmethod
    def continue_(cls) -> "OnError":
        return cls("continue")

    @classmethod
    def fallback(cls, skill: str, input: JSON = None) -> "OnError":
        return cls("fallback", skill=skill, input=input)

    def to_dict(self) -> Dict[str, Any]:
        if self.action == "fallback":
            out: Dict[str, Any] = {"action": "fallback", "skill": self.skill}
            if self.input is not None:
                out["input"] = self.input
            return out
        return {"action": self.action}


@dataclass
class Budget(Model):
    """Per-run limits.

    ``max_duration_ms`` defaults to 15 minutes, as on the server (where an absent field means the
    default); ``None`` lifts the limit and is sent as an explicit ``null``. The server always writes
    the field back, so a stored plan (a workflow, a run's plan) keeps ``None`` as ``None``.
    """

    __schema__ = "Budget"
    _keep_null = frozenset({"max_duration_ms"})

    max_cost_usd: Optional[float] = None
    max_duration_ms: Optional[int] = DEFAULT_MAX_DURATION_MS


@dataclass
class Step(Model):
    """One step of a plan: a skill invocation with its input and policies."""

    __schema__ = "Step"
    _omit_empty = frozenset({"depends_on"})

    id: str
    skill: str
    input: JSON = None
    depends_on: List[str] = field(default_factory=list)
    condition: Optional[str] = None
    on_error: Optional[OnError] = None
    retry: Optional[RetryPolicy] = None
    timeout_ms: Optional[int] = None


@dataclass
class Plan(Model):
    """A plan: a named DAG of steps. Build one with :class:`aos.PlanBuilder` or from a dict."""

    __schema__ = "Plan"

    name: str
    steps: List[Step]
    #: A JSON Schema for the run's inputs: an object, or a boolean (``True`` accepts any inputs).
    input_schema: Optional[Union[Dict[str, Any], bool]] = None
    budget: Optional[Budget] = None
    #: How the tenant's recovery policies apply to this plan; ``None`` is the server's default,
    #: ``on``. ``off`` opts out; ``override`` lets policies replace the plan's own settings.
    policies: Optional[PolicyMode] = None
    #: ``$schema`` of a plan file (docs/plan.schema.json), for editors. The server accepts and drops
    #: it: never stored or hashed, so it does not change the plan.
    schema: Optional[str] = None

    _json_names = {"schema": "$schema"}

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


# --------------------------------------------------------------------------------------------
# Outcomes and errors


@dataclass
class StepError(Model):
    """A structured step failure.

    ``details`` is always present in the API's JSON and may be any JSON value: structured context
    (status, headers, ``retry_after_ms``, ...), or ``None`` when the error has none.
    """

    __schema__ = "StepError"

    code: str
    category: Category
    message: str
    retryable: bool
    details: JSON


@dataclass
class Outcome(Model):
    """The result of one attempt: ``ok`` with an ``output``, or not ``ok`` with an ``error``.

    ``ok`` is the discriminator of the API's two variants (:data:`OkTrue` / :data:`OkFalse`): the
    ``output`` (any JSON) of a successful attempt, the ``error`` of a failed one.
    """

    __schema__ = "Outcome"

    ok: bool
    output: JSON = None
    error: Optional[StepError] = None

    def __post_init__(self) -> None:
        if not isinstance(self.ok, bool):
            raise ValueError(f"Outcome: ok must be true or false, got {self.ok!r}")

    def to_dict(self) -> Dict[str, Any]:
        if self.ok:
            return {"ok": True, "output": self.output}
        if self.error is None:
            raise ValueError("a failed outcome needs an error")
        return {"ok": False, "error": self.error.to_dict()}


@dataclass
class TraceEntry(Model):
    """The hashed part of one attempt (no timings)."""

    __schema__ = "TraceEntry"

    step_id: str
    attempt: int
    skill: str
    input_hash: str
    output_hash: str
    ok: bool


@dataclass
class FailureMatch(Model):
    """The failure catalog's verdict on one failure: ``failure`` of a failed attempt and of a failed
    run.

    ``code`` is the matching catalog entry (e.g. ``HTTP_NOT_FOUND``); it and the entry's
    ``category``, ``retryable``, ``severity`` and ``recovery_mode`` are ``None`` when nothing matched
    (``matched`` false, ``match_type`` ``none``, ``confidence`` 0). ``signature`` groups recurring
    failures. Not part of any hash: replay and trace verification ignore it.
    """

    __schema__ = "FailureMatch"

    matched: bool
    #: 0 when nothing matched; structured evidence (codes, statuses) scores 0.7 to 0.98, message
    #: patterns 0.4 to 0.9.
    confidence: float
    match_type: MatchType
    #: Stable grouping key (skill, code, normalized message): 16 hex digits.
    signature: str
    code: Optional[str] = None
    category: Optional[Category] = None
    retryable: Optional[bool] = None
    severity: Optional[Severity] = None
    recovery_mode: Optional[RecoveryMode] = None


@dataclass
class AttemptRecord(Model):
    """One attempt of one step: input, outcome, hashes, cost and timing; a failed attempt also has
    ``failure``, its classification by the failure catalog (not part of the trace)."""

    __schema__ = "AttemptRecord"

    step_id: str
    attempt: int
    skill: str
    fallback: bool
    input: JSON
    input_hash: str
    output_hash: str
    outcome: Outcome
    started_at_ms: int
    finished_at_ms: int
    duration_ms: int
    cost_usd: float
    failure: Optional[FailureMatch] = None
    #: Bytes of the serialized outcome, counted against the run's output limit.
    output_bytes: int = 0
    #: Set on an attempt a redrive copied from an earlier run: the run that executed it (not
    #: executed again, its cost not counted again, replay feeds its record).
    seeded_from: Optional[str] = None


# --------------------------------------------------------------------------------------------
# Runs


@dataclass
class StepState(Model):
    """A step's state inside a run."""

    __schema__ = "StepState"

    status: StepStatus
    #: The current (or last) attempt number, 0 before the first dispatch.
    attempt: int
    skill: str
    fallback: bool
    dispatched_at_ms: Optional[int] = None
    due_at_ms: Optional[int] = None
    skip_reason: Optional[str] = None
    error: Optional[StepError] = None


@dataclass
class StepView(Model):
    """One step of a run's execution context: its state, its output and every attempt."""

    __schema__ = "StepView"

    step_id: str
    status: StepStatus
    attempt: int
    skill: str
    fallback: bool
    attempts: List[AttemptRecord]
    dispatched_at_ms: Optional[int] = None
    due_at_ms: Optional[int] = None
    skip_reason: Optional[str] = None
    error: Optional[StepError] = None
    #: The output of the step's final successful attempt.
    output: JSON = None


@dataclass
class WorkflowRef(Model):
    """The saved workflow a run was started from."""

    __schema__ = "WorkflowRef"

    name: str
    version: int


@dataclass
class Run(Model):
    """The run record."""

    __schema__ = "Run"
    _omit_empty = frozenset({"applied_policies", "shadow_policies", "previous_failures", "seeded_steps", "patched_steps"})

    run_id: str
    plan: Plan
    inputs: Dict[str, Any]
    seed: int
    status: RunStatus
    created_at_ms: int
    steps: Dict[str, StepState]
    cost_usd: float
    cancel_requested: bool
    #: The hashed trace, fixed when the run finishes.
    trace: List[TraceEntry]
    started_at_ms: Optional[int] = None
    finished_at_ms: Optional[int] = None
    workflow: Optional[WorkflowRef] = None
    idempotency_key: Optional[str] = None
    error: Optional[StepError] = None
    #: The failure catalog's classification of ``error``.
    failure: Optional[FailureMatch] = None
    trace_root: Optional[str] = None
    #: Restarts that began advancing the run without finishing (three fail it as poisoned).
    recoveries: int = 0
    #: The recovery policies compiled into ``plan`` at submission: each step field set and the
    #: value it replaced (``plan`` is the compiled plan; reverting these gives the submitted one).
    applied_policies: List["AppliedPolicy"] = field(default_factory=list)
    #: What shadow policies would have changed (automatic approval in ``shadow`` mode); not applied.
    shadow_policies: List["AppliedPolicy"] = field(default_factory=list)
    #: By step id: the step's last failure in an earlier run of the same plan (or workflow), when
    #: it failed for good and has not succeeded since. Fixed at submission.
    previous_failures: Dict[str, "PreviousFailure"] = field(default_factory=dict)
    #: The run this one reruns (``runs.rerun``): the same plan and inputs, run again.
    rerun_of: Optional[str] = None
    #: The run this one redrives (``runs.redrive``).
    redrive_of: Optional[str] = None
    #: A redrive's kept steps: their attempts were copied from the redriven run, not executed again.
    seeded_steps: List[str] = field(default_factory=list)
    #: The steps a redrive's ``patch`` changed, in plan order.
    patched_steps: List[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """True once the run is ``succeeded``, ``failed`` or ``cancelled``."""
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass
class RunView(Run):
    """``GET /api/v1/runs/{id}``: the run and ``step_details``, its steps in plan order."""

    __schema__ = "RunView"

    step_details: List[StepView] = field(default_factory=list)

    def step(self, step_id: str) -> StepView:
        for s in self.step_details:
            if s.step_id == step_id:
                return s
        raise KeyError(step_id)

    def output(self, step_id: str) -> JSON:
        """The output of a succeeded step (``None`` otherwise)."""
        return self.step(step_id).output

    @property
    def attempts(self) -> List[AttemptRecord]:
        """Every attempt record of the run, steps in plan order, attempts ascending."""
        return [a for s in self.step_details for a in sorted(s.attempts, key=lambda a: a.attempt)]


@dataclass
class RunSummary(Model):
    """A run in a list."""

    __schema__ = "RunSummary"

    run_id: str
    plan_name: str
    status: RunStatus
    created_at_ms: int
    cost_usd: float
    finished_at_ms: Optional[int] = None
    workflow: Optional[WorkflowRef] = None
    error_code: Optional[str] = None


@dataclass
class RunList(Model):
    """One page of runs; ``next_cursor`` is ``None`` on the last page."""

    __schema__ = "RunList"

    runs: List[RunSummary]
    next_cursor: Optional[str] = None


@dataclass
class SubmitRun(Model):
    """The body of ``POST /api/v1/runs``: exactly one of ``plan`` and ``workflow``."""

    __schema__ = "SubmitRun"

    plan: Optional[Plan] = None
    workflow: Optional[str] = None
    version: Optional[int] = None
    inputs: Optional[Dict[str, Any]] = None
    idempotency_key: Optional[str] = None
    seed: Optional[int] = None


@dataclass
class RerunRequest(Model):
    """The body of ``POST /api/v1/runs/{id}/rerun`` (every field optional)."""

    __schema__ = "RerunRequest"

    idempotency_key: Optional[str] = None
    seed: Optional[int] = None


@dataclass
class RedriveRequest(Model):
    """The body of ``POST /api/v1/runs/{id}/redrive``: step changes by step id (any step field
    but ``id``; ``None`` removes it) and an optional idempotency key."""

    __schema__ = "RedriveRequest"

    patch: Dict[str, Any] = field(default_factory=dict)
    idempotency_key: Optional[str] = None


@dataclass
class Submitted(Model):
    """The answer to a submission. ``created`` is false when an idempotency key matched."""

    __schema__ = "Submitted"

    run_id: str
    status: RunStatus
    created: bool


@dataclass
class CancelResult(Model):
    __schema__ = "CancelResult"

    run_id: str
    status: RunStatus


@dataclass
class Divergence(Model):
    """Where a replay first differed from the recorded run. ``expected`` and ``actual`` are any
    JSON; ``step`` is empty for a root-hash mismatch with no step at fault."""

    __schema__ = "Divergence"

    step: str
    reason: str
    expected: JSON
    actual: JSON
    attempt: int


@dataclass
class ReplayReport(Model):
    """The result of ``POST /api/v1/runs/{id}/replay``."""

    __schema__ = "ReplayReport"

    parity: bool
    reexecuted: int
    recorded: int
    trace_root: str
    #: Of ``recorded``, the attempts a redrive copied from an earlier run.
    seeded: int
    divergence: Optional[Divergence] = None


# --------------------------------------------------------------------------------------------
# Simulation


@dataclass
class SimulateRequest(Model):
    __schema__ = "SimulateRequest"

    plan: Plan


@dataclass
class StepEstimate(Model):
    __schema__ = "StepEstimate"

    step_id: str
    skill: str
    #: ``history`` or ``cost_model``.
    source: str
    samples: int
    latency_ms_p50: int
    latency_ms_p95: int
    cost_usd: float
    risk: float


@dataclass
class Simulation(Model):
    """Estimated cost, latency and risk of a plan."""

    __schema__ = "Simulation"

    feasible: bool
    reasons: List[str]
    steps: List[StepEstimate]
    total_cost_usd: float
    total_latency_ms_p50: int
    total_latency_ms_p95: int
    risk: float
    budget_max_cost_usd: Optional[float] = None
    budget_max_duration_ms: Optional[int] = None


# --------------------------------------------------------------------------------------------
# Skills


@dataclass
class CostModel(Model):
    __schema__ = "CostModel"

    usd_per_call: float
    latency_ms_p50: int
    latency_ms_p95: int


@dataclass
class FailureMode(Model):
    __schema__ = "FailureMode"

    code: str
    category: Category
    retryable: bool
    description: str


@dataclass
class SkillSpec(Model):
    """What a skill says about itself."""

    __schema__ = "SkillSpec"

    id: str
    version: str
    description: str
    input_schema: Dict[str, Any]
    output_schema: Dict[str, Any]
    side_effects: SideEffects
    determinism: Determinism
    cost_model: CostModel
    default_timeout_ms: int
    failure_modes: List[FailureMode]
    #: JSON pointers of the input fields that may reference ``{{ secrets.NAME }}``.
    secret_fields: List[str] = field(default_factory=list)


@dataclass
class SkillList(Model):
    __schema__ = "SkillList"

    skills: List[SkillSpec]


# --------------------------------------------------------------------------------------------
# Workflows and secrets


@dataclass
class Workflow(Model):
    """A saved, versioned plan."""

    __schema__ = "Workflow"

    name: str
    version: int
    plan: Plan
    created_at_ms: int


@dataclass
class WorkflowList(Model):
    __schema__ = "WorkflowList"

    workflows: List[Workflow]


@dataclass
class CreateWorkflow(Model):
    __schema__ = "CreateWorkflow"

    name: str
    plan: Plan


@dataclass
class PutSecret(Model):
    __schema__ = "PutSecret"

    value: str


@dataclass
class SecretNames(Model):
    __schema__ = "SecretNames"

    names: List[str]


# --------------------------------------------------------------------------------------------
# The failure catalog


@dataclass
class CatalogEntry(Model):
    """One known failure of the catalog: what it is, how it is recognized and what to do about it.

    ``match`` holds the entry's rules as the API gives them (each key left out when empty): error
    ``codes``, ``http_status`` (numbers, or ranges such as ``"5xx"``), ``aws_codes``,
    ``smtp_codes``, ``os_kinds`` and message ``patterns`` (regexes over the normalized message).
    """

    __schema__ = "CatalogEntry"

    code: str
    category: Category
    retryable: bool
    severity: Severity
    recovery_mode: RecoveryMode
    explanation: str
    suggestions: List[str]
    #: A family catch-all (e.g. any 4xx): a specific entry's match outranks it.
    generic: bool
    match: Dict[str, Any]


@dataclass
class CatalogView(Model):
    """``GET /api/v1/catalog``: the catalog in force. Iterating it yields its entries."""

    __schema__ = "CatalogView"

    #: The catalog format version.
    version: int
    #: SHA-256 of the catalog document (first 16 hex digits): changes whenever any entry does.
    digest: str
    entries: List[CatalogEntry]

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, code: str) -> CatalogEntry:
        """The entry with this code; ``KeyError`` when there is none."""
        for e in self.entries:
            if e.code == code:
                return e
        raise KeyError(code)

    @property
    def codes(self) -> List[str]:
        return [e.code for e in self.entries]


@dataclass
class MatchRequest(Model):
    """The body of ``POST /api/v1/catalog/match``: a failure to classify. Only ``message`` is
    required; ``http_status`` is 100 to 599; ``skill`` only enters the signature."""

    __schema__ = "MatchRequest"

    message: str
    code: Optional[str] = None
    skill: Optional[str] = None
    http_status: Optional[int] = None


@dataclass
class MatchResponse(Model):
    """The catalog's verdict on a failure, with the matching entry's advice.

    When nothing matched, ``matched`` is false, ``match_type`` is ``none``, ``code``,
    ``category``, ``retryable``, ``severity``, ``recovery_mode`` and ``explanation`` are ``None``
    and ``suggestions`` is empty.
    """

    __schema__ = "MatchResponse"

    matched: bool
    #: The matching entry's code, e.g. ``HTTP_SERVICE_UNAVAILABLE``.
    code: Optional[str]
    category: Optional[Category]
    retryable: Optional[bool]
    severity: Optional[Severity]
    recovery_mode: Optional[RecoveryMode]
    confidence: float
    match_type: MatchType
    signature: str
    explanation: Optional[str]
    suggestions: List[str]


# --------------------------------------------------------------------------------------------
# Recorded failures


@dataclass
class FailureRecord(Model):
    """One recorded failure: what failed, the catalog's match and the recovery that followed.

    ``run_id`` is ``None`` for ``rejected`` submissions (they never became runs), ``step_id`` for
    run failures no step caused; ``attempt`` is 0 when the failure was not an attempt's.
    ``recovery_succeeded`` is ``None`` until the outcome is known, and when nothing was attempted.
    """

    __schema__ = "FailureRecord"

    #: The record's id, unique within the tenant.
    id: str
    kind: FailureKind
    attempt: int
    #: The error code, e.g. ``HTTP_503``, ``STEP_TIMEOUT``, ``PLAN_UNKNOWN_SKILL``.
    code: str
    #: The error message, secret values redacted, cut to 2000 characters.
    message: str
    signature: str
    matched: bool
    confidence: float
    match_type: MatchType
    #: The catalog entry's category, or the error's own when nothing matched.
    category: Category
    #: Whether a retry or the plan's fallback followed this failure.
    recovery_attempted: bool
    recovery_succeeded: Optional[bool]
    #: When the failure happened (ms since the epoch).
    at_ms: int
    #: When the record expires (seconds since the epoch).
    expires_at: int
    run_id: Optional[str] = None
    step_id: Optional[str] = None
    skill: Optional[str] = None
    #: The matching catalog entry, e.g. ``HTTP_SERVICE_UNAVAILABLE``.
    catalog_code: Optional[str] = None
    severity: Optional[Severity] = None
    #: The recovery the catalog advises.
    advised_recovery: Optional[RecoveryMode] = None
    #: The recovery that followed (``retry_*`` or ``fallback``).
    recovery_mode: Optional[RecoveryMode] = None


@dataclass
class FailureList(Model):
    """One page of failure records, newest first; ``next_cursor`` is ``None`` on the last page. A
    page may hold fewer records than the page size (even none) and still have a ``next_cursor``."""

    __schema__ = "FailureList"

    failures: List[FailureRecord]
    next_cursor: Optional[str] = None


@dataclass
class RecoveryStats(Model):
    """Recoveries (retries and fallbacks) of some failures and how they ended."""

    __schema__ = "RecoveryStats"

    #: Failures followed by a retry or a fallback.
    attempted: int
    succeeded: int
    failed: int
    #: Attempted, outcome not known yet.
    pending: int
    #: ``succeeded / (succeeded + failed)``; ``None`` while no outcome is known.
    success_rate: Optional[float]


@dataclass
class FailureBucket(Model):
    """One interval of the failure time series; it lasts ``FailureStats.bucket_ms``."""

    __schema__ = "FailureBucket"

    #: Start of the interval (ms since the epoch).
    start_ms: int
    total: int
    matched: int
    #: Failures whose recovery succeeded.
    recovered: int


@dataclass
class FailureStats(Model):
    """``GET /api/v1/failures/stats``: totals, match rate, counts, recovery success and a time
    series of the tenant's failures in ``from_ms`` to ``to_ms``."""

    __schema__ = "FailureStats"

    from_ms: int
    to_ms: int
    bucket_ms: int
    total: int
    matched: int
    #: ``matched / total``; 0 when there is no failure.
    match_rate: float
    #: By record kind: ``attempt``, ``step``, ``run``, ``rejected``.
    by_kind: Dict[str, int]
    #: By error code (``HTTP_503``).
    by_code: Dict[str, int]
    #: By catalog entry (``HTTP_SERVICE_UNAVAILABLE``), matched failures only.
    by_catalog_code: Dict[str, int]
    by_category: Dict[str, int]
    #: By skill, for failures that have one.
    by_skill: Dict[str, int]
    recovery: RecoveryStats
    #: Recoveries by the mode carried out (``retry_exponential``, ``fallback``, ...).
    recovery_by_mode: Dict[str, RecoveryStats]
    #: Every interval of ``bucket_ms`` from ``from_ms`` on, oldest first (empty ones included).
    buckets: List[FailureBucket]
    #: More than 100000 records were in range; the figures cover the oldest 100000.
    truncated: bool


@dataclass
class WindowRate(Model):
    """Failures of one kind among a skill's attempts in a window; ``rate`` is ``failures /
    attempts`` (0 without attempts)."""

    __schema__ = "WindowRate"

    failures: int
    attempts: int
    rate: float


@dataclass
class DriftItem(Model):
    """One (skill, failure code) pair: its failure rate in the current window against the baseline,
    the two-proportion z statistic, and whether it drifts."""

    __schema__ = "DriftItem"

    skill: str
    #: The catalog entry's code, else the error code.
    code: str
    current: WindowRate
    baseline: WindowRate
    z: float
    drifting: bool


@dataclass
class DriftReport(Model):
    """``GET /api/v1/failures/drift``: one evaluation of the tenant's failure rates, the last day
    (from ``current_from_ms``) against the seven days before (from ``baseline_from_ms``)."""

    __schema__ = "DriftReport"

    evaluated_at_ms: int
    current_from_ms: int
    baseline_from_ms: int
    #: Pairs with failures in either window, the highest ``z`` first (at most 50).
    items: List[DriftItem]
    #: How many of them drift.
    drifting: int


# --------------------------------------------------------------------------------------------
# Access: who am I, API keys, the audit log


@dataclass
class WhoAmI(Model):
    """``GET /api/v1/whoami``: the caller as the API sees it."""

    __schema__ = "WhoAmI"

    tenant: str
    role: Role
    kind: PrincipalKind
    #: The key id (``api_key``), or the identity provider's subject (``user``).
    id: str
    #: The key's name, or the user's name or email.
    name: str
    #: The permissions (OpenAPI security scopes, e.g. ``keys:manage``) the role holds.
    permissions: List[str]
    #: When the credential stops working (ms since the epoch), if it expires.
    expires_at_ms: Optional[int] = None

    def can(self, permission: str) -> bool:
        """Whether the role holds ``permission`` (a scope such as ``runs:write``)."""
        return permission in self.permissions


@dataclass
class ApiKeyRecord(Model):
    """An API key as listed: never its secret, which only :class:`CreatedKey` shows, once."""

    __schema__ = "ApiKeyRecord"

    key_id: str
    role: Role
    #: The visible part of the key (``aos_<key_id>``), for recognising it.
    prefix: str
    created_at_ms: int
    #: What the key is for, e.g. ``ci-deploy``.
    name: str = ""
    #: Who created it: ``key:<id>``, ``user:<sub>`` or ``bootstrap``.
    created_by: str = ""
    expires_at_ms: Optional[int] = None
    revoked_at_ms: Optional[int] = None
    #: The last request made with the key (updated at most once a minute).
    last_used_at_ms: Optional[int] = None
    #: The key this one replaced (rotation).
    rotated_from: Optional[str] = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at_ms is not None

    def active_at(self, now_ms: int) -> bool:
        """Not revoked, and not expired at ``now_ms``."""
        return self.revoked_at_ms is None and (self.expires_at_ms is None or self.expires_at_ms > now_ms)


@dataclass
class CreateKey(Model):
    """The body of ``POST /api/v1/keys``."""

    __schema__ = "CreateKey"

    #: 1 to 64 printable characters.
    name: str
    role: Role
    #: 1 to 3650; no expiry when ``None``.
    expires_in_days: Optional[int] = None


@dataclass
class CreatedKey(Model):
    """A new key (created or rotated). ``key`` is the secret, shown this once: store it now."""

    __schema__ = "CreatedKey"

    key: str
    record: ApiKeyRecord

    def __repr__(self) -> str:
        # Keep the secret out of logs and tracebacks.
        return f"CreatedKey(key='{self.record.prefix}_...', record={self.record!r})"


@dataclass
class KeyList(Model):
    """``GET /api/v1/keys``: the tenant's keys, newest first, revoked and expired ones included."""

    __schema__ = "KeyList"

    keys: List[ApiKeyRecord]


@dataclass
class AuditEvent(Model):
    """One record of the tenant's audit log."""

    __schema__ = "AuditEvent"

    id: str
    #: When it happened (ms since the epoch).
    at_ms: int
    action: AuditAction
    #: Who did it: ``key:<id>`` or ``user:<sub>``.
    actor: str
    #: The actor's role at the time.
    role: str
    #: What it was done to, e.g. ``key:<id>`` or ``GET /api/v1/keys``.
    target: str
    #: Action-specific details (never a secret or token).
    detail: Dict[str, Any]


@dataclass
class AuditList(Model):
    """One page of the audit log, newest first; ``next_cursor`` is ``None`` on the last page."""

    __schema__ = "AuditList"

    events: List[AuditEvent]
    next_cursor: Optional[str] = None


# --------------------------------------------------------------------------------------------
# Catalog candidates (the failure aggregation)


@dataclass
class AggregationWindow(Model):
    """The time window an aggregation read, both ends inclusive."""

    __schema__ = "AggregationWindow"

    from_ms: int
    to_ms: int
    days: int


@dataclass
class Suggestion(Model):
    """A candidate's suggested category and recovery mode, and the rule that chose them."""

    __schema__ = "Suggestion"

    category: Category
    recovery_mode: RecoveryMode
    reason: str


@dataclass
class CandidateExample(Model):
    """One failure of a candidate, its message redacted and cut to 500 characters."""

    __schema__ = "CandidateExample"

    message: str
    at_ms: int
    #: The failure record's id.
    failure_id: str
    run_id: Optional[str] = None
    skill: Optional[str] = None


@dataclass
class FailureCandidate(Model):
    """A proposed catalog entry: failures of one signature the catalog did not match confidently."""

    __schema__ = "FailureCandidate"

    signature: str
    #: Failures with this signature in the window (an overestimate by at most ``count_error``).
    count: int
    #: 0 when ``count`` is exact.
    count_error: int
    #: The error code, e.g. ``HTTP_418``.
    code: str
    skills: List[str]
    #: How many matched no catalog entry at all (the others matched below the threshold).
    unmatched: int
    #: The best confidence any of them was matched with (0 when none was).
    confidence: float
    #: The first example's normalized message.
    normalized: str
    first_seen_ms: int
    last_seen_ms: int
    examples: List[CandidateExample]
    suggested: Suggestion
    #: The catalog entry that matched below the threshold, if any.
    closest_entry: Optional[str] = None
    #: Tenants that had the failure: in the platform-wide export only, never in a tenant's result.
    tenant_count: Optional[int] = None


@dataclass
class CandidatesHead(Model):
    """An aggregation result without its candidates."""

    __schema__ = "CandidatesHead"

    generated_at_ms: int
    window: AggregationWindow
    #: Matched failures below this confidence were candidates (unmatched ones always are).
    low_confidence: float
    #: Failure records read.
    scanned: int
    #: Records that were candidates.
    considered: int
    #: More signatures were seen than tracked: counts may be overestimates.
    approximate: bool
    #: Candidates in the result.
    total: int


@dataclass
class CandidateReport(CandidatesHead):
    """``POST /api/v1/failures/aggregate``: the caller's whole result, most frequent first."""

    __schema__ = "CandidateReport"

    candidates: List[FailureCandidate]


@dataclass
class CandidatePage(Model):
    """``GET /api/v1/failures/candidates``: one page of the tenant's latest candidates;
    ``generated_at_ms`` is ``None`` before the first aggregation."""

    __schema__ = "CandidatePage"

    generated_at_ms: Optional[int]
    total: int
    candidates: List[FailureCandidate]
    window: Optional[AggregationWindow] = None
    low_confidence: Optional[float] = None
    next_cursor: Optional[str] = None


# --------------------------------------------------------------------------------------------
# Recovery suggestions and recovery candidates


@dataclass
class SuggestForFailure(Model):
    """The body of ``POST /api/v1/recovery/suggest`` for a stored failure record (its ``id``)."""

    __schema__ = "SuggestForFailure"

    failure_id: str


@dataclass
class SuggestForMessage(Model):
    """The body of ``POST /api/v1/recovery/suggest`` for a failure described by its facts:
    ``message``, and the ``code`` (``HTTP_503``), ``skill``, ``http_status`` (100 to 599) and
    ``details`` a failed step would carry."""

    __schema__ = "SuggestForMessage"

    message: str
    code: Optional[str] = None
    skill: Optional[str] = None
    http_status: Optional[int] = None
    details: Optional[Dict[str, JSON]] = None


@dataclass
class SuggestRequest(Model):
    """Either body of ``POST /api/v1/recovery/suggest`` (:class:`SuggestForFailure` or
    :class:`SuggestForMessage`): exactly one of ``failure_id`` and ``message``."""

    __schema__ = "SuggestRequest"

    failure_id: Optional[str] = None
    message: Optional[str] = None
    code: Optional[str] = None
    skill: Optional[str] = None
    http_status: Optional[int] = None
    details: Optional[Dict[str, JSON]] = None


@dataclass
class FailureKey(Model):
    """What recovery evidence is kept under: the catalog entry's code (``sig:<signature>`` for a
    failure the catalog did not match) and the skill (``None`` when unknown: every skill's evidence
    counts)."""

    __schema__ = "FailureKey"

    code: str
    skill: Optional[str]


@dataclass
class Confidence(Model):
    """How likely the step is to succeed after an action: the posterior ``mean`` and its 5% lower
    credible bound ``lower`` (suggestions are ranked by it)."""

    __schema__ = "Confidence"

    mean: float
    lower: float


@dataclass
class EvidenceView(Model):
    """The observations behind a confidence: ``attempts`` and ``successes`` are weighed by age (an
    observation one half-life old counts 0.5); ``observed`` is the raw count."""

    __schema__ = "EvidenceView"

    attempts: float
    successes: float
    observed: int
    #: The last observation (ms since the epoch); ``None`` without any.
    last_seen_ms: Optional[int]


@dataclass
class RecoverySuggestion(Model):
    """One way to recover a failure, with its confidence and evidence. ``params``: ``backoff``
    (``immediate``, ``short``, ``medium``, ``long``) for ``retry``, ``factor`` for
    ``raise_timeout``, ``skill`` for ``fallback``. ``patch`` is the change to the failing step
    (``retry``, ``timeout_ms``, ``on_error``) the action stands for, to merge into the step;
    ``None`` when the change lies outside the step (a credential, the input's content)."""

    __schema__ = "RecoverySuggestion"

    action: ActionKind
    params: Dict[str, JSON]
    confidence: Confidence
    evidence: EvidenceView
    source: SuggestionSource
    explanation: str
    patch: Optional[Dict[str, JSON]]


@dataclass
class SuggestResponse(Model):
    """``POST /api/v1/recovery/suggest``: the catalog's match of the failure, what its evidence is
    keyed by, the suggestions best first, and the ids of the recovery candidates the call proposed."""

    __schema__ = "SuggestResponse"

    match: FailureMatch
    key: FailureKey
    suggestions: List[RecoverySuggestion]
    candidates: List[str]

    @property
    def best(self) -> Optional[RecoverySuggestion]:
        """The first suggestion (the highest lower bound), if any."""
        return self.suggestions[0] if self.suggestions else None


@dataclass
class RecoveryExample(Model):
    """A failure a recovery candidate was proposed for, its message redacted and cut to 500
    characters (hidden from roles without ``runs:read_raw``)."""

    __schema__ = "RecoveryExample"

    message: str
    at_ms: int
    failure_id: Optional[str] = None
    run_id: Optional[str] = None


@dataclass
class Transition(Model):
    """One decision on a recovery candidate: its state before (``from_``; ``from`` in the JSON) and
    after, when, by whom (``key:<id>`` or ``user:<sub>``, with the role they had) and why."""

    __schema__ = "Transition"
    _json_names = {"from_": "from"}

    from_: CandidateStatus
    to: CandidateStatus
    at_ms: int
    actor: str
    role: str
    note: Optional[str] = None


@dataclass
class RecoveryCandidate(Model):
    """A recovery proposed for one kind of failure (its code or signature, and skill), one per
    action: pending a person's review, or reviewed. ``history`` holds every decision, oldest first;
    ``confidence`` and ``evidence`` are those of the last proposal."""

    __schema__ = "RecoveryCandidate"

    #: ``rc_`` and 16 hex digits.
    id: str
    status: CandidateStatus
    code: str
    skill: Optional[str]
    action: ActionKind
    params: Dict[str, JSON]
    patch: Optional[Dict[str, JSON]]
    confidence: Confidence
    evidence: EvidenceView
    #: How many times it was proposed (suggest calls and nightly aggregations).
    occurrences: int
    examples: List[RecoveryExample]
    source: CandidateSource
    created_at_ms: int
    updated_at_ms: int
    history: List[Transition]


@dataclass
class RecoveryCandidateList(Model):
    """``GET /api/v1/recovery/candidates``: one page of candidates, in id order; ``next_cursor`` is
    ``None`` on the last page."""

    __schema__ = "RecoveryCandidateList"

    candidates: List[RecoveryCandidate]
    next_cursor: Optional[str] = None


@dataclass
class DecisionNote(Model):
    """The body of ``POST /api/v1/recovery/candidates/{id}/approve`` (``reject``, ``retire``): an
    optional note of at most 1000 characters."""

    __schema__ = "DecisionNote"

    note: Optional[str] = None


# --------------------------------------------------------------------------------------------
# Recovery policies and automatic approval


@dataclass
class RecoverySettingsView(Model):
    """``GET`` / ``PUT /api/v1/recovery/settings``: the tenant's automatic approval of recovery
    candidates. In ``active`` mode a candidate whose lower bound reaches ``min_lower`` (0.5 to
    0.99) with at least ``min_evidence`` observations is approved by the server (actor
    ``system:auto-approval``); in ``shadow`` mode it becomes a shadow policy. Drift is announced
    to ``drift_webhook_url`` when set."""

    __schema__ = "RecoverySettingsView"

    mode: ApprovalMode
    min_lower: float
    min_evidence: int
    #: Where drift is announced: a ``webhook_send`` run POSTs each evaluation that finds drift here.
    drift_webhook_url: Optional[str] = None
    #: The tenant secret that signs the drift webhook (``None``: ``WEBHOOK_SECRET``).
    drift_webhook_secret: Optional[str] = None


@dataclass
class PolicyEvent(Model):
    """One change of a policy's status: from (``from_``; ``from`` in the JSON, ``None`` when the
    policy was created), to, when, by whom (``key:<id>``, ``user:<sub>``, or
    ``system:auto-approval`` / ``system:regression-guard``) and why."""

    __schema__ = "PolicyEvent"
    _json_names = {"from_": "from"}

    at_ms: int
    from_: Optional[PolicyStatus]
    to: PolicyStatus
    actor: str
    note: Optional[str] = None


@dataclass
class PolicyOutcomes(Model):
    """The steps a policy changed that ended in the last 7 days, and how many of them succeeded."""

    __schema__ = "PolicyOutcomes"

    steps: int
    succeeded: int

    @property
    def success_rate(self) -> Optional[float]:
        """``succeeded / steps``; ``None`` before any step ended."""
        return self.succeeded / self.steps if self.steps else None


@dataclass
class Policy(Model):
    """A recovery policy: an approved candidate applied to the plans of the tenant's runs at
    submission. Steps of ``skill`` (calling host ``target``, when set) get the fields of ``patch``
    (``retry``, ``timeout_ms``, ``on_error``) that their plan leaves unset. ``approved_lower`` is
    the candidate's lower bound when it was approved: the regression guard suspends the policy when
    its ``outcomes`` fall significantly below it."""

    __schema__ = "Policy"

    #: ``pol_`` and the 16 hex digits of the candidate it came from.
    id: str
    candidate_id: str
    status: PolicyStatus
    skill: str
    #: The failure it was learned from: a catalog code or ``sig:<signature>``.
    code: str
    #: For ``http_call``: the host it applies to; ``None``: any.
    target: Optional[str]
    action: ActionKind
    params: Dict[str, JSON]
    patch: Dict[str, JSON]
    approved_lower: float
    approved_evidence: EvidenceView
    created_at_ms: int
    updated_at_ms: int
    #: Status changes, oldest first.
    history: List[PolicyEvent]
    #: The outcomes of the steps it changed in the last 7 days.
    outcomes: PolicyOutcomes = field(default_factory=lambda: PolicyOutcomes(0, 0))

    @property
    def in_force(self) -> bool:
        """True while runs take it (``active``)."""
        return self.status == "active"


@dataclass
class PolicyList(Model):
    """``GET /api/v1/policies``: the tenant's policies in id order, each with its outcomes."""

    __schema__ = "PolicyList"

    policies: List[Policy]


@dataclass
class AppliedPolicy(Model):
    """What a policy changed (or, in shadow, would have changed) in one step of a run: the step
    fields set (``patch``) and their values in the submitted plan (``replaced``; ``None`` where
    unset)."""

    __schema__ = "AppliedPolicy"

    policy_id: str
    step_id: str
    patch: Dict[str, JSON]
    replaced: Dict[str, JSON]
    #: The failure the policy was learned from: its outcomes are counted on steps that hit it.
    code: str = ""


@dataclass
class PreviousFailure(Model):
    """A step's failure in an earlier run of the same plan: its evidence code (catalog code or
    ``sig:<signature>``), skill, per-attempt timeout then, run and time."""

    __schema__ = "PreviousFailure"

    code: str
    skill: str
    timeout_ms: int
    run_id: str
    at_ms: int
    #: Every failure code the step has failed with for good in runs of the plan.
    codes: List[str] = field(default_factory=list)
    #: The step has succeeded since.
    resolved: bool = False


# --------------------------------------------------------------------------------------------
# Meta and API errors


@dataclass
class Health(Model):
    """``GET /healthz``: ``status`` is ``ok`` when the server answers."""

    __schema__ = "Health"

    status: str


@dataclass
class ErrorDetail(Model):
    __schema__ = "ErrorDetail"

    code: str
    message: str
    details: JSON


@dataclass
class ErrorBody(Model):
    """The API's error envelope ``{"error": {code, message, details}}``."""

    __schema__ = "ErrorBody"

    error: ErrorDetail


@dataclass
class FieldError(Model):
    """One problem of a 422 answer (an item of ``details.errors``).

    Documented in ``docs/api.md`` but not a schema of ``docs/openapi.json``.
    """

    __schema__ = None

    code: str
    message: str
    step_id: Optional[str] = None
    field: Optional[str] = None


def _registry() -> Dict[str, Type[Model]]:
    out: Dict[str, Type[Model]] = {}
    for obj in list(globals().values()):
        if isinstance(obj, type) and issubclass(obj, Model) and obj.__schema__:
            out[obj.__schema__] = obj
    return out


#: Every model, by the name of its OpenAPI schema.
MODELS: Dict[str, Type[Model]] = _registry()

#: The enums of the API, by the name of their OpenAPI schema: the string enums and the two
#: single-value boolean schemas that discriminate an :class:`Outcome`.
ENUMS: Dict[str, Any] = {
    "RunStatus": RunStatus,
    "StepStatus": StepStatus,
    "Category": Category,
    "SideEffects": SideEffects,
    "Determinism": Determinism,
    "OkTrue": OkTrue,
    "OkFalse": OkFalse,
    "FailureKind": FailureKind,
    "MatchType": MatchType,
    "RecoveryMode": RecoveryMode,
    "Severity": Severity,
    "Role": Role,
    "PrincipalKind": PrincipalKind,
    "AuditAction": AuditAction,
    "ActionKind": ActionKind,
    "Source": SuggestionSource,
    "CandidateStatus": CandidateStatus,
    "CandidateSource": CandidateSource,
    "PolicyMode": PolicyMode,
    "PolicyStatus": PolicyStatus,
    "ApprovalMode": ApprovalMode,
}


def enum_values(alias: Any) -> Tuple[Any, ...]:
    """The values of one of the ``Literal`` enums above."""
    return tuple(get_args(alias))
