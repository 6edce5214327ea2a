"""A small builder for plans and helpers for template references.

>>> from aos import PlanBuilder, ref_step, ref_input
>>> plan = (
...     PlanBuilder("price")
...     .step("fetch", "http_call", {"url": ref_input("url")}, retry=3)
...     .step("extract", "json_transform",
...           {"data": ref_step("fetch", "output.body"), "expr": ".price"}, depends_on=["fetch"])
...     .build()
... )
>>> plan.steps[1].input["data"]
'{{ steps.fetch.output.body }}'
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Union

from .models import DEFAULT_MAX_DURATION_MS, Budget, OnError, Plan, PolicyMode, RetryPolicy, Step

__all__ = [
    "PlanBuildError",
    "PlanBuilder",
    "PlanLike",
    "RetryLike",
    "OnErrorLike",
    "fallback",
    "plan_to_dict",
    "ref_input",
    "ref_secret",
    "ref_step",
    "step_references",
]

RetryLike = Union[RetryPolicy, Mapping[str, Any], int]
OnErrorLike = Union[OnError, Mapping[str, Any], str]

_SEGMENT = r"[A-Za-z0-9_-]+(?:\[\d+\])*"
_PATH_RE = re.compile(rf"^{_SEGMENT}(?:\.{_SEGMENT})*$")
_STEP_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")
_STEP_REF_RE = re.compile(r"\{\{\s*steps\.([A-Za-z0-9_-]+)")


class PlanBuildError(ValueError):
    """The builder found a problem before sending the plan to the server."""


def _check_path(path: str, what: str) -> str:
    path = path.strip()
    if not _PATH_RE.match(path):
        raise ValueError(f"invalid {what} path {path!r}: segments of letters, digits, '_', '-' joined by '.'")
    return path


def ref_input(path: str) -> str:
    """``{{ inputs.<path> }}``: a value of the run's inputs."""
    return "{{ inputs.%s }}" % _check_path(path, "input")


def ref_step(step_id: str, path: str = "output") -> str:
    """``{{ steps.<id>.<path> }}``: a step's output or a value inside it.

    ``path`` starts with ``output``: ``ref_step("a")`` is ``{{ steps.a.output }}`` and
    ``ref_step("a", "output.body")`` is ``{{ steps.a.output.body }}``.
    """
    if not _STEP_ID_RE.match(step_id):
        raise ValueError(f"invalid step id {step_id!r}")
    path = _check_path(path, "step")
    if path != "output" and not path.startswith("output.") and not path.startswith("output["):
        raise ValueError(f"a step reference path starts with 'output', got {path!r}")
    return "{{ steps.%s.%s }}" % (step_id, path)


def ref_secret(name: str) -> str:
    """``{{ secrets.<NAME> }}``: a tenant secret, resolved only by the skill worker."""
    if not _SECRET_RE.match(name):
        raise ValueError(f"invalid secret name {name!r}: 1 to 128 letters, digits or '_'")
    return "{{ secrets.%s }}" % name


def fallback(skill: str, input: Any = None) -> OnError:
    """``on_error`` that runs ``skill`` with ``input`` in the step's place."""
    return OnError.fallback(skill, input)


def step_references(value: Any) -> Set[str]:
    """The step ids that the template strings inside ``value`` reference."""
    found: Set[str] = set()
    if isinstance(value, str):
        found.update(_STEP_REF_RE.findall(value))
    elif isinstance(value, Mapping):
        for v in value.values():
            found |= step_references(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found |= step_references(v)
    return found


def _retry(value: Optional[RetryLike]) -> Optional[RetryPolicy]:
    if value is None or isinstance(value, RetryPolicy):
        return value
    if isinstance(value, bool):
        raise TypeError("retry must be a RetryPolicy, a dict or max_attempts as an int")
    if isinstance(value, int):
        return RetryPolicy(max_attempts=value)
    return RetryPolicy.from_dict(value)


def _on_error(value: Optional[OnErrorLike]) -> Optional[OnError]:
    if value is None or isinstance(value, OnError):
        return value
    if isinstance(value, str):
        if value not in ("abort", "continue"):
            raise ValueError("on_error as a string is 'abort' or 'continue'; use fallback(skill, input)")
        return OnError(value)  # type: ignore[arg-type]
    return OnError.from_dict(value)


class PlanBuilder:
    """Builds a :class:`~aos.models.Plan` step by step. Every method returns the builder."""

    def __init__(
        self,
        name: str,
        *,
        input_schema: Optional[Mapping[str, Any]] = None,
        budget: Optional[Union[Budget, Mapping[str, Any]]] = None,
        policies: Optional[PolicyMode] = None,
    ) -> None:
        self._name = name
        self._policies: Optional[PolicyMode] = None
        if policies is not None:
            self.policies(policies)
        self._input_schema: Optional[Dict[str, Any]] = dict(input_schema) if input_schema is not None else None
        self._budget: Optional[Budget] = None
        if budget is not None:
            self._budget = budget if isinstance(budget, Budget) else Budget.from_dict(budget)
        self._steps: List[Step] = []

    def input_schema(self, schema: Mapping[str, Any]) -> "PlanBuilder":
        """The JSON Schema the run's ``inputs`` must satisfy."""
        self._input_schema = dict(schema)
        return self

    def inputs(self, required: Sequence[str] = (), **properties: Mapping[str, Any]) -> "PlanBuilder":
        """Shorthand for an object ``input_schema``: ``.inputs(["url"], url={"type": "string"})``."""
        schema: Dict[str, Any] = {"type": "object", "properties": {k: dict(v) for k, v in properties.items()}}
        if required:
            schema["required"] = list(required)
        return self.input_schema(schema)

    def policies(self, mode: PolicyMode) -> "PlanBuilder":
        """How the tenant's recovery policies apply to the plan: ``on`` (they fill in the step
        settings the plan leaves unset; the server's default), ``off`` (none applies) or
        ``override`` (they replace the plan's own settings too)."""
        if mode not in ("on", "off", "override"):
            raise PlanBuildError(f"policies must be on, off or override, not {mode!r}")
        self._policies = mode
        return self

    def budget(
        self, *, max_cost_usd: Optional[float] = None, max_duration_ms: Optional[int] = DEFAULT_MAX_DURATION_MS
    ) -> "PlanBuilder":
        """Per-run limits. ``max_duration_ms=None`` lifts the default 15-minute limit."""
        self._budget = Budget(max_cost_usd=max_cost_usd, max_duration_ms=max_duration_ms)
        return self

    def step(
        self,
        id: str,
        skill: str,
        input: Any = None,
        *,
        depends_on: Optional[Sequence[str]] = None,
        retry: Optional[RetryLike] = None,
        on_error: Optional[OnErrorLike] = None,
        condition: Optional[str] = None,
        timeout_ms: Optional[int] = None,
    ) -> "PlanBuilder":
        """Add a step.

        Args:
            id: unique step id (letters, digits, ``_``, ``-``).
            skill: a skill id, e.g. ``http_call`` or ``json_transform``.
            input: the skill input; strings may hold references (:func:`ref_step`, ...).
            depends_on: steps that must finish first.
            retry: a :class:`RetryPolicy`, its dict, or ``max_attempts`` as an int.
            on_error: ``"abort"`` (default), ``"continue"``, :func:`fallback` or an ``OnError``.
            condition: a jq expression over ``{inputs, steps}``.
            timeout_ms: per-attempt timeout.
        """
        if isinstance(depends_on, str):
            raise TypeError("depends_on is a list of step ids")
        self._steps.append(
            Step(
                id=id,
                skill=skill,
                input=input,
                depends_on=list(depends_on or []),
                condition=condition,
                on_error=_on_error(on_error),
                retry=_retry(retry),
                timeout_ms=timeout_ms,
            )
        )
        return self

    def http_call(
        self,
        id: str,
        url: str,
        *,
        method: str = "GET",
        headers: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        request_timeout_ms: Optional[int] = None,
        **step_options: Any,
    ) -> "PlanBuilder":
        """Add an ``http_call`` step. ``step_options`` are those of :meth:`step`."""
        payload: Dict[str, Any] = {"url": url}
        if method.upper() != "GET":
            payload["method"] = method.upper()
        if headers:
            payload["headers"] = dict(headers)
        if query:
            payload["query"] = dict(query)
        if body is not None:
            payload["body"] = body
        if request_timeout_ms is not None:
            payload["timeout_ms"] = request_timeout_ms
        return self.step(id, "http_call", payload, **step_options)

    def json_transform(self, id: str, data: Any, expr: str, **step_options: Any) -> "PlanBuilder":
        """Add a ``json_transform`` step running the jq program ``expr`` over ``data``."""
        return self.step(id, "json_transform", {"data": data, "expr": expr}, **step_options)

    def build(self) -> Plan:
        """The plan. Raises :class:`PlanBuildError` for problems found without the server:
        no steps, duplicate ids, unknown dependencies, cycles, references to steps that are not
        upstream. The server validates everything else when the plan is submitted."""
        if not self._name.strip():
            raise PlanBuildError("the plan needs a name")
        if not self._steps:
            raise PlanBuildError("the plan needs at least one step")
        ids = [s.id for s in self._steps]
        seen: Set[str] = set()
        for sid in ids:
            if not _STEP_ID_RE.match(sid):
                raise PlanBuildError(f"invalid step id {sid!r}: letters, digits, '_' and '-'")
            if sid in seen:
                raise PlanBuildError(f"duplicate step id {sid!r}")
            seen.add(sid)
        deps = {s.id: set(s.depends_on) for s in self._steps}
        for s in self._steps:
            for d in s.depends_on:
                if d not in seen or d == s.id:
                    raise PlanBuildError(f"step {s.id!r} depends on unknown step {d!r}")
        upstream = self._upstream(deps)
        for s in self._steps:
            refs = step_references(s.input)
            if s.on_error is not None:
                refs |= step_references(s.on_error.input)
            for r in sorted(refs):
                if r not in upstream[s.id]:
                    raise PlanBuildError(
                        f"step {s.id!r} references step {r!r}, which is not upstream of it (add it to depends_on)"
                    )
        return Plan(
            name=self._name,
            steps=[Step.from_dict(s.to_dict()) for s in self._steps],
            input_schema=dict(self._input_schema) if self._input_schema is not None else None,
            budget=self._budget,
            policies=self._policies,
        )

    @staticmethod
    def _upstream(deps: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
        result: Dict[str, Set[str]] = {}
        visiting: Set[str] = set()

        def visit(sid: str) -> Set[str]:
            if sid in result:
                return result[sid]
            if sid in visiting:
                raise PlanBuildError(f"the steps' dependencies form a cycle through {sid!r}")
            visiting.add(sid)
            acc: Set[str] = set()
            for d in deps[sid]:
                acc.add(d)
                acc |= visit(d)
            visiting.discard(sid)
            result[sid] = acc
            return acc

        for sid in deps:
            visit(sid)
        return result


PlanLike = Union[Plan, PlanBuilder, Mapping[str, Any]]


def plan_to_dict(plan: PlanLike) -> Dict[str, Any]:
    """The JSON of a plan given as a :class:`Plan`, a :class:`PlanBuilder` or a dict."""
    if isinstance(plan, PlanBuilder):
        return plan.build().to_dict()
    if isinstance(plan, Plan):
        return plan.to_dict()
    if isinstance(plan, Mapping):
        return dict(plan)
    raise TypeError(f"a plan is a Plan, a PlanBuilder or a dict, got {type(plan).__name__}")

