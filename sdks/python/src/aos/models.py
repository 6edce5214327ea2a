"""Typed models of the AOS API, one dataclass per schema of ``docs/openapi.json``.

Every model maps to the OpenAPI schema named in its ``__schema__`` attribute; the SDK's test suite
checks each model's fields, required fields, nullability and types against that schema, so a change
of the API that the SDK does not follow fails the tests.

Models are built from the API's JSON with :meth:`Model.from_dict` (unknown fields are ignored, so a
newer server does not break an older SDK) and turned back into JSON with :meth:`Model.to_dict`
(optional fields that are ``None`` are left out, as the server does).

Values that the API types as "any JSON" (step inputs, outputs, run inputs, error details) are kept
as the plain Python values :func:`json.loads` produces.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import (
    Any,
    ClassVar,
    Dict,
    FrozenSet,
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
    "AttemptRecord",
    "Budget",
    "CancelResult",
    "Category",
    "CostModel",
    "CreateWorkflow",
    "Determinism",
    "DEFAULT_MAX_DURATION_MS",
    "Divergence",
    "ENUMS",
    "ErrorBody",
    "ErrorDetail",
    "FailureMode",
    "FieldError",
    "JSON",
    "Model",
    "MODELS",
    "OnError",
    "OnErrorAction",
    "Outcome",
    "Plan",
    "PutSecret",
    "ReplayReport",
    "RetryPolicy",
    "Run",
    "RunList",
    "RunStatus",
    "RunSummary",
    "RunView",
    "SecretNames",
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
    "TERMINAL_RUN_STATUSES",
    "TERMINAL_STEP_STATUSES",
    "TraceEntry",
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
    #: Fields left out when they are empty lists.
    _omit_empty: ClassVar[FrozenSet[str]] = frozenset()

    @classmethod
    def from_dict(cls: Type[M], data: Mapping[str, Any]) -> M:
        """Build the model from the API's JSON object. Unknown fields are ignored."""
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__}.from_dict expects a JSON object, got {type(data).__name__}")
        hints = _hints(cls)
        kwargs: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                kwargs[f.name] = _load(hints[f.name], data[f.name])
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
            if f.name in self._omit_empty and value == []:
                continue
            out[f.name] = _dump(value)
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

    ``max_duration_ms`` defaults to 15 minutes, as on the server; ``None`` lifts the limit and is
    sent as an explicit ``null``.
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
    input_schema: Optional[Dict[str, Any]] = None
    budget: Optional[Budget] = None

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


# --------------------------------------------------------------------------------------------
# Outcomes and errors


@dataclass
class StepError(Model):
    """A structured step failure. ``details`` is ``None`` when the error has none."""

    __schema__ = "StepError"
    _keep_null = frozenset({"details"})

    code: str
    category: Category
    message: str
    retryable: bool
    details: JSON = None


@dataclass
class Outcome(Model):
    """The result of one attempt: ``ok`` with an ``output``, or not ``ok`` with an ``error``."""

    __schema__ = "Outcome"

    ok: bool
    output: JSON = None
    error: Optional[StepError] = None

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
class AttemptRecord(Model):
    """One attempt of one step: input, outcome, hashes, cost and timing."""

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

    run_id: str
    plan: Plan
    inputs: Dict[str, Any]
    seed: int
    status: RunStatus
    created_at_ms: int
    steps: Dict[str, StepState]
    cost_usd: float
    started_at_ms: Optional[int] = None
    finished_at_ms: Optional[int] = None
    workflow: Optional[WorkflowRef] = None
    idempotency_key: Optional[str] = None
    error: Optional[StepError] = None
    cancel_requested: bool = False
    trace: List[TraceEntry] = field(default_factory=list)
    trace_root: Optional[str] = None

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
    """Where a replay first differed from the recorded run."""

    __schema__ = "Divergence"

    step: str
    reason: str
    expected: JSON
    actual: JSON
    attempt: int = 0


@dataclass
class ReplayReport(Model):
    """The result of ``POST /api/v1/runs/{id}/replay``."""

    __schema__ = "ReplayReport"

    parity: bool
    reexecuted: int
    recorded: int
    trace_root: str
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
# API errors


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

#: The string enums of the API, by the name of their OpenAPI schema.
ENUMS: Dict[str, Any] = {
    "RunStatus": RunStatus,
    "StepStatus": StepStatus,
    "Category": Category,
    "SideEffects": SideEffects,
    "Determinism": Determinism,
}


def enum_values(alias: Any) -> Tuple[str, ...]:
    """The values of one of the ``Literal`` enums above."""
    return tuple(get_args(alias))
