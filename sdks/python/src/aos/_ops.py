"""Every API operation as a :class:`~aos._http.Call`: method, path, query, body, whether it may be
retried, and how its answer is parsed. The sync and async clients both execute these, so the two
never differ in what they send.

:data:`OPERATIONS` maps each ``operationId`` of ``docs/openapi.json`` to its method, path and the
SDK method that calls it; ``tests/test_coverage.py`` checks it in both directions, and that the
operations the document lists without ``security`` are exactly the ones sent without a key.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote

import httpx

from ._http import (
    MAX_AUDIT_LIMIT,
    MAX_KEY_DAYS,
    MAX_HTTP_STATUS,
    MAX_PAGE_LIMIT,
    MAX_WAIT_MS,
    MIN_BUCKET_MS,
    MIN_HTTP_STATUS,
    MIN_KEY_DAYS,
    MIN_PAGE_LIMIT,
    Call,
)
from .models import (
    ApiKeyRecord,
    AuditAction,
    AuditList,
    CancelResult,
    CatalogEntry,
    CatalogView,
    Category,
    CreatedKey,
    CreateKey,
    FailureKind,
    FailureList,
    FailureStats,
    CandidatePage,
    CandidateReport,
    DriftReport,
    Health,
    KeyList,
    Policy,
    PolicyList,
    RecoverySettingsView,
    RecoveryCandidate,
    RecoveryCandidateList,
    DecisionNote,
    SuggestRequest,
    CandidateStatus,
    MatchRequest,
    MatchResponse,
    ReplayReport,
    Role,
    RunList,
    RunStatus,
    RunView,
    Simulation,
    SkillList,
    SkillSpec,
    Submitted,
    SuggestResponse,
    WhoAmI,
    Workflow,
    WorkflowList,
)
from .plan import PlanLike, plan_to_dict

#: operationId -> (HTTP method, path, SDK method on ``Client`` / ``AsyncClient``).
OPERATIONS: Dict[str, Tuple[str, str, str]] = {
    "submit_run": ("POST", "/api/v1/runs", "runs.submit"),
    "list_runs": ("GET", "/api/v1/runs", "runs.list"),
    "get_run": ("GET", "/api/v1/runs/{id}", "runs.get"),
    "cancel_run": ("POST", "/api/v1/runs/{id}/cancel", "runs.cancel"),
    "replay_run": ("POST", "/api/v1/runs/{id}/replay", "runs.replay"),
    "rerun_run": ("POST", "/api/v1/runs/{id}/rerun", "runs.rerun"),
    "redrive_run": ("POST", "/api/v1/runs/{id}/redrive", "runs.redrive"),
    "simulate_plan": ("POST", "/api/v1/simulate", "simulate"),
    "list_skills": ("GET", "/api/v1/skills", "skills.list"),
    "get_skill": ("GET", "/api/v1/skills/{id}", "skills.get"),
    "create_workflow": ("POST", "/api/v1/workflows", "workflows.create"),
    "list_workflows": ("GET", "/api/v1/workflows", "workflows.list"),
    "get_workflow": ("GET", "/api/v1/workflows/{name}", "workflows.get"),
    "put_secret": ("PUT", "/api/v1/secrets/{name}", "secrets.put"),
    "list_secrets": ("GET", "/api/v1/secrets", "secrets.list"),
    "get_catalog": ("GET", "/api/v1/catalog", "catalog.list"),
    "get_catalog_entry": ("GET", "/api/v1/catalog/{code}", "catalog.get"),
    "match_failure": ("POST", "/api/v1/catalog/match", "catalog.match"),
    "list_failures": ("GET", "/api/v1/failures", "failures.list"),
    "get_failure_stats": ("GET", "/api/v1/failures/stats", "failures.stats"),
    "list_failure_candidates": ("GET", "/api/v1/failures/candidates", "failures.candidates"),
    "aggregate_failures": ("POST", "/api/v1/failures/aggregate", "failures.aggregate"),
    "get_failure_drift": ("GET", "/api/v1/failures/drift", "failures.drift"),
    "get_metrics": ("GET", "/metrics", "metrics"),
    "whoami": ("GET", "/api/v1/whoami", "whoami"),
    "create_key": ("POST", "/api/v1/keys", "keys.create"),
    "list_keys": ("GET", "/api/v1/keys", "keys.list"),
    "revoke_key": ("DELETE", "/api/v1/keys/{key_id}", "keys.revoke"),
    "rotate_key": ("POST", "/api/v1/keys/{key_id}/rotate", "keys.rotate"),
    "list_audit": ("GET", "/api/v1/audit", "audit.list"),
    "suggest_recovery": ("POST", "/api/v1/recovery/suggest", "recovery.suggest"),
    "list_recovery_candidates": ("GET", "/api/v1/recovery/candidates", "recovery.candidates"),
    "get_recovery_candidate": ("GET", "/api/v1/recovery/candidates/{id}", "recovery.get"),
    "approve_recovery_candidate": ("POST", "/api/v1/recovery/candidates/{id}/approve", "recovery.approve"),
    "reject_recovery_candidate": ("POST", "/api/v1/recovery/candidates/{id}/reject", "recovery.reject"),
    "retire_recovery_candidate": ("POST", "/api/v1/recovery/candidates/{id}/retire", "recovery.retire"),
    "get_recovery_settings": ("GET", "/api/v1/recovery/settings", "recovery.settings"),
    "put_recovery_settings": ("PUT", "/api/v1/recovery/settings", "recovery.put_settings"),
    "list_policies": ("GET", "/api/v1/policies", "policies.list"),
    "get_policy": ("GET", "/api/v1/policies/{id}", "policies.get"),
    "disable_policy": ("POST", "/api/v1/policies/{id}/disable", "policies.disable"),
    # Public routes (no key).
    "healthz": ("GET", "/healthz", "health"),
    "openapi_document": ("GET", "/api/v1/openapi.json", "openapi"),
}

#: SDK methods without a route of their own, and the operation they are built on.
HELPERS: Dict[str, str] = {
    "runs.list_page": "list_runs",
    "failures.list_page": "list_failures",
    "audit.list_page": "list_audit",
    "recovery.candidates_page": "list_recovery_candidates",
    "runs.wait": "get_run",
    "runs.submit_and_wait": "submit_run",
    "runs.verify": "get_run",
    "wait_for_run": "get_run",
    "verify_run": "get_run",
}


def _seg(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("a path parameter must be a non-empty string")
    return quote(value, safe="")


def _json(response: httpx.Response) -> Any:
    return response.json()


def check_limit(limit: Optional[int]) -> None:
    """The API accepts page sizes of 1 to 200."""
    if limit is not None and not (MIN_PAGE_LIMIT <= limit <= MAX_PAGE_LIMIT):
        raise ValueError(f"limit must be between {MIN_PAGE_LIMIT} and {MAX_PAGE_LIMIT}")


def check_audit_limit(limit: Optional[int]) -> None:
    """The audit log's pages hold 1 to 500 events."""
    if limit is not None and not (MIN_PAGE_LIMIT <= limit <= MAX_AUDIT_LIMIT):
        raise ValueError(f"limit must be between {MIN_PAGE_LIMIT} and {MAX_AUDIT_LIMIT}")


# ---- runs


def submit_run(
    plan: Optional[PlanLike] = None,
    *,
    workflow: Optional[str] = None,
    version: Optional[int] = None,
    inputs: Optional[Mapping[str, Any]] = None,
    idempotency_key: Optional[str] = None,
    seed: Optional[int] = None,
) -> Call[Submitted]:
    if (plan is None) == (workflow is None):
        raise ValueError("give exactly one of plan and workflow")
    if version is not None and workflow is None:
        raise ValueError("version applies to a workflow")
    body: Dict[str, Any] = {}
    if plan is not None:
        body["plan"] = plan_to_dict(plan)
    if workflow is not None:
        body["workflow"] = workflow
    if version is not None:
        body["version"] = version
    if inputs is not None:
        body["inputs"] = dict(inputs)
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    if seed is not None:
        body["seed"] = seed
    return Call(
        "POST",
        "/api/v1/runs",
        lambda r: Submitted.from_dict(r.json()),
        body=body,
        # A submission with an idempotency key returns the same run when repeated.
        retryable=idempotency_key is not None,
    )


def get_run_raw(run_id: str, wait_ms: Optional[int] = None) -> Call[Dict[str, Any]]:
    if wait_ms is not None and (wait_ms < 0 or wait_ms > MAX_WAIT_MS):
        raise ValueError(f"wait_ms must be between 0 and {MAX_WAIT_MS}")
    return Call(
        "GET",
        f"/api/v1/runs/{_seg(run_id)}",
        _json,
        params={"wait_ms": wait_ms or None},
        retryable=True,
        extra_timeout=(wait_ms or 0) / 1000,
    )


def get_run(run_id: str, wait_ms: Optional[int] = None) -> Call[RunView]:
    raw = get_run_raw(run_id, wait_ms)
    return Call(
        raw.method,
        raw.path,
        lambda r: RunView.from_dict(r.json()),
        params=raw.params,
        retryable=True,
        extra_timeout=raw.extra_timeout,
    )


def list_runs(
    *,
    status: Optional[RunStatus] = None,
    created_after: Optional[int] = None,
    created_before: Optional[int] = None,
    limit: Optional[int] = None,
    cursor: Optional[str] = None,
) -> Call[RunList]:
    check_limit(limit)
    return Call(
        "GET",
        "/api/v1/runs",
        lambda r: RunList.from_dict(r.json()),
        params={
            "status": status,
            "created_after": created_after,
            "created_before": created_before,
            "limit": limit,
            "cursor": cursor,
        },
        retryable=True,
    )


def cancel_run(run_id: str) -> Call[CancelResult]:
    return Call("POST", f"/api/v1/runs/{_seg(run_id)}/cancel", lambda r: CancelResult.from_dict(r.json()))


def replay_run(run_id: str) -> Call[ReplayReport]:
    # Replay writes nothing, so repeating it is safe.
    return Call(
        "POST",
        f"/api/v1/runs/{_seg(run_id)}/replay",
        lambda r: ReplayReport.from_dict(r.json()),
        retryable=True,
    )


def rerun_run(run_id: str, *, idempotency_key: Optional[str] = None, seed: Optional[int] = None) -> Call[RunView]:
    body: Dict[str, Any] = {}
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    if seed is not None:
        body["seed"] = seed
    # With a key, asking again returns the same new run: safe to repeat.
    return Call(
        "POST",
        f"/api/v1/runs/{_seg(run_id)}/rerun",
        lambda r: RunView.from_dict(r.json()),
        body=body,
        retryable=idempotency_key is not None,
    )


def redrive_run(
    run_id: str, *, patch: Optional[Mapping[str, Mapping[str, Any]]] = None, idempotency_key: Optional[str] = None
) -> Call[RunView]:
    body: Dict[str, Any] = {}
    if patch is not None:
        body["patch"] = {step_id: dict(fields) for step_id, fields in patch.items()}
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    return Call(
        "POST",
        f"/api/v1/runs/{_seg(run_id)}/redrive",
        lambda r: RunView.from_dict(r.json()),
        body=body,
        retryable=idempotency_key is not None,
    )


# ---- simulation


def simulate_plan(plan: PlanLike) -> Call[Simulation]:
    # Simulation validates and estimates; it changes nothing, so repeating it is safe.
    return Call(
        "POST",
        "/api/v1/simulate",
        lambda r: Simulation.from_dict(r.json()),
        body={"plan": plan_to_dict(plan)},
        retryable=True,
    )


# ---- skills


def list_skills() -> Call[List[SkillSpec]]:
    return Call("GET", "/api/v1/skills", lambda r: SkillList.from_dict(r.json()).skills, retryable=True)


def get_skill(skill_id: str) -> Call[SkillSpec]:
    return Call("GET", f"/api/v1/skills/{_seg(skill_id)}", lambda r: SkillSpec.from_dict(r.json()), retryable=True)


# ---- workflows


def create_workflow(name: str, plan: PlanLike) -> Call[Workflow]:
    return Call(
        "POST",
        "/api/v1/workflows",
        lambda r: Workflow.from_dict(r.json()),
        body={"name": name, "plan": plan_to_dict(plan)},
    )


def list_workflows() -> Call[List[Workflow]]:
    return Call("GET", "/api/v1/workflows", lambda r: WorkflowList.from_dict(r.json()).workflows, retryable=True)


def get_workflow(name: str, version: Optional[int] = None) -> Call[Workflow]:
    return Call(
        "GET",
        f"/api/v1/workflows/{_seg(name)}",
        lambda r: Workflow.from_dict(r.json()),
        params={"version": version},
        retryable=True,
    )


# ---- secrets


def put_secret(name: str, value: str) -> Call[None]:
    if not isinstance(value, str):
        raise TypeError("a secret value is a string")
    return Call("PUT", f"/api/v1/secrets/{_seg(name)}", lambda r: None, body={"value": value}, retryable=True)


def list_secrets() -> Call[List[str]]:
    return Call("GET", "/api/v1/secrets", lambda r: list(r.json()["names"]), retryable=True)


# ---- the failure catalog


def get_catalog() -> Call[CatalogView]:
    return Call("GET", "/api/v1/catalog", lambda r: CatalogView.from_dict(r.json()), retryable=True)


def get_catalog_entry(code: str) -> Call[CatalogEntry]:
    return Call("GET", f"/api/v1/catalog/{_seg(code)}", lambda r: CatalogEntry.from_dict(r.json()), retryable=True)


def match_failure(
    message: str,
    *,
    code: Optional[str] = None,
    skill: Optional[str] = None,
    http_status: Optional[int] = None,
) -> Call[MatchResponse]:
    if not isinstance(message, str):
        raise TypeError("message is a string")
    if http_status is not None and (
        isinstance(http_status, bool) or not (MIN_HTTP_STATUS <= http_status <= MAX_HTTP_STATUS)
    ):
        raise ValueError(f"http_status must be between {MIN_HTTP_STATUS} and {MAX_HTTP_STATUS}")
    body = MatchRequest(message, code=code, skill=skill, http_status=http_status).to_dict()
    # Classifying stores nothing, so repeating it is safe.
    return Call(
        "POST", "/api/v1/catalog/match", lambda r: MatchResponse.from_dict(r.json()), body=body, retryable=True
    )


# ---- recorded failures


def list_failures(
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
) -> Call[FailureList]:
    check_limit(limit)
    return Call(
        "GET",
        "/api/v1/failures",
        lambda r: FailureList.from_dict(r.json()),
        params={
            "from": from_ms,
            "to": to_ms,
            "code": code,
            "category": category,
            "skill": skill,
            "matched": matched,
            "recovered": recovered,
            "kind": kind,
            "limit": limit,
            "cursor": cursor,
        },
        retryable=True,
    )


def get_failure_stats(
    *,
    from_ms: Optional[int] = None,
    to_ms: Optional[int] = None,
    bucket_ms: Optional[int] = None,
    code: Optional[str] = None,
    category: Optional[Category] = None,
    skill: Optional[str] = None,
    kind: Optional[FailureKind] = None,
) -> Call[FailureStats]:
    if bucket_ms is not None and bucket_ms < MIN_BUCKET_MS:
        raise ValueError(f"bucket_ms must be at least {MIN_BUCKET_MS}")
    return Call(
        "GET",
        "/api/v1/failures/stats",
        lambda r: FailureStats.from_dict(r.json()),
        params={
            "from": from_ms,
            "to": to_ms,
            "bucket_ms": bucket_ms,
            "code": code,
            "category": category,
            "skill": skill,
            "kind": kind,
        },
        retryable=True,
    )


# ---- metrics


def get_metrics() -> Call[str]:
    return Call(
        "GET",
        "/metrics",
        lambda r: r.text,
        retryable=True,
        accept="text/plain; version=0.0.4, application/json;q=0.5",
    )


# ---- access: who am I, API keys, the audit log


def whoami() -> Call[WhoAmI]:
    return Call("GET", "/api/v1/whoami", lambda r: WhoAmI.from_dict(r.json()), retryable=True)


def create_key(name: str, role: Role, expires_in_days: Optional[int] = None) -> Call[CreatedKey]:
    if not isinstance(name, str):
        raise TypeError("a key name is a string")
    if expires_in_days is not None and (
        isinstance(expires_in_days, bool) or not (MIN_KEY_DAYS <= expires_in_days <= MAX_KEY_DAYS)
    ):
        raise ValueError(f"expires_in_days must be between {MIN_KEY_DAYS} and {MAX_KEY_DAYS}")
    body = CreateKey(name, role, expires_in_days).to_dict()
    # Not retried: a repeated creation would make a second key.
    return Call("POST", "/api/v1/keys", lambda r: CreatedKey.from_dict(r.json()), body=body)


def list_keys() -> Call[List[ApiKeyRecord]]:
    return Call("GET", "/api/v1/keys", lambda r: KeyList.from_dict(r.json()).keys, retryable=True)


def revoke_key(key_id: str) -> Call[ApiKeyRecord]:
    # Revoking a revoked key changes nothing, so repeating it is safe.
    return Call(
        "DELETE", f"/api/v1/keys/{_seg(key_id)}", lambda r: ApiKeyRecord.from_dict(r.json()), retryable=True
    )


def rotate_key(key_id: str) -> Call[CreatedKey]:
    # Not retried: the first rotation revokes the key, so a repetition could only fail.
    return Call("POST", f"/api/v1/keys/{_seg(key_id)}/rotate", lambda r: CreatedKey.from_dict(r.json()))


def list_audit(
    *,
    from_ms: Optional[int] = None,
    to_ms: Optional[int] = None,
    action: Optional[AuditAction] = None,
    limit: Optional[int] = None,
    cursor: Optional[str] = None,
) -> Call[AuditList]:
    check_audit_limit(limit)
    return Call(
        "GET",
        "/api/v1/audit",
        lambda r: AuditList.from_dict(r.json()),
        params={"from": from_ms, "to": to_ms, "action": action, "limit": limit, "cursor": cursor},
        retryable=True,
    )


# ---- public routes (no key)


def health() -> Call[Health]:
    return Call("GET", "/healthz", lambda r: Health.from_dict(r.json()), retryable=True, authenticated=False)


def openapi() -> Call[Dict[str, Any]]:
    return Call("GET", "/api/v1/openapi.json", _json, retryable=True, authenticated=False)


# ---- catalog candidates


def list_failure_candidates(*, limit: Optional[int] = None, cursor: Optional[str] = None) -> Call[CandidatePage]:
    check_limit(limit)
    return Call(
        "GET",
        "/api/v1/failures/candidates",
        lambda r: CandidatePage.from_dict(r.json()),
        params={"limit": limit, "cursor": cursor},
        retryable=True,
    )


def aggregate_failures(*, days: Optional[int] = None, low_confidence: Optional[float] = None) -> Call[CandidateReport]:
    if days is not None and not (1 <= days <= 366):
        raise ValueError("days must be between 1 and 366")
    # Running it again only replaces the stored results: safe to retry.
    return Call(
        "POST",
        "/api/v1/failures/aggregate",
        lambda r: CandidateReport.from_dict(r.json()),
        params={"days": days, "low_confidence": low_confidence},
        retryable=True,
    )


def get_failure_drift() -> Call[DriftReport]:
    return Call("GET", "/api/v1/failures/drift", lambda r: DriftReport.from_dict(r.json()), retryable=True)


# ---- recovery suggestions and their review

#: The longest note a decision on a recovery candidate may carry.
MAX_NOTE_CHARS = 1000


def suggest_recovery(
    *,
    failure_id: Optional[str] = None,
    message: Optional[str] = None,
    code: Optional[str] = None,
    skill: Optional[str] = None,
    http_status: Optional[int] = None,
    details: Optional[Mapping[str, Any]] = None,
) -> Call[SuggestResponse]:
    if (failure_id is None) == (message is None):
        raise ValueError("give exactly one of failure_id and message")
    if failure_id is not None and (code, skill, http_status, details) != (None, None, None, None):
        raise ValueError("code, skill, http_status and details describe a failure given by message")
    if http_status is not None and (
        isinstance(http_status, bool) or not (MIN_HTTP_STATUS <= http_status <= MAX_HTTP_STATUS)
    ):
        raise ValueError(f"http_status must be between {MIN_HTTP_STATUS} and {MAX_HTTP_STATUS}")
    body = SuggestRequest(
        failure_id=failure_id,
        message=message,
        code=code,
        skill=skill,
        http_status=http_status,
        details=dict(details) if details is not None else None,
    ).to_dict()
    # Not retried: a suggestion may create or update recovery candidates (counted occurrences).
    return Call("POST", "/api/v1/recovery/suggest", lambda r: SuggestResponse.from_dict(r.json()), body=body)


def list_recovery_candidates(
    *,
    status: Optional[CandidateStatus] = None,
    code: Optional[str] = None,
    skill: Optional[str] = None,
    limit: Optional[int] = None,
    cursor: Optional[str] = None,
) -> Call[RecoveryCandidateList]:
    check_limit(limit)
    return Call(
        "GET",
        "/api/v1/recovery/candidates",
        lambda r: RecoveryCandidateList.from_dict(r.json()),
        params={"status": status, "code": code, "skill": skill, "limit": limit, "cursor": cursor},
        retryable=True,
    )


def get_recovery_candidate(candidate_id: str) -> Call[RecoveryCandidate]:
    return Call(
        "GET",
        f"/api/v1/recovery/candidates/{_seg(candidate_id)}",
        lambda r: RecoveryCandidate.from_dict(r.json()),
        retryable=True,
    )


def decide_recovery_candidate(candidate_id: str, verb: str, note: Optional[str] = None) -> Call[RecoveryCandidate]:
    """``approve``, ``reject`` or ``retire`` a candidate."""
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_CHARS):
        raise ValueError(f"note must be a string of at most {MAX_NOTE_CHARS} characters")
    # Not retried: a repeated decision answers 409 CANDIDATE_STATE_CONFLICT once the first one landed.
    return Call(
        "POST",
        f"/api/v1/recovery/candidates/{_seg(candidate_id)}/{verb}",
        lambda r: RecoveryCandidate.from_dict(r.json()),
        body=DecisionNote(note=note).to_dict(),
    )


# ---- recovery policies and automatic approval

#: The range of ``min_lower`` the API accepts.
MIN_APPROVAL_LOWER = 0.5
MAX_APPROVAL_LOWER = 0.99
#: The range of ``min_evidence`` the API accepts.
MIN_APPROVAL_EVIDENCE = 1
MAX_APPROVAL_EVIDENCE = 1_000_000
_APPROVAL_MODES = ("off", "shadow", "active")


def get_recovery_settings() -> Call[RecoverySettingsView]:
    return Call(
        "GET", "/api/v1/recovery/settings", lambda r: RecoverySettingsView.from_dict(r.json()), retryable=True
    )


def put_recovery_settings(settings: RecoverySettingsView) -> Call[RecoverySettingsView]:
    if settings.mode not in _APPROVAL_MODES:
        raise ValueError(f"mode must be one of {', '.join(_APPROVAL_MODES)}")
    lower = settings.min_lower
    if isinstance(lower, bool) or not isinstance(lower, (int, float)) or not (
        MIN_APPROVAL_LOWER <= lower <= MAX_APPROVAL_LOWER
    ):
        raise ValueError(f"min_lower must be a number from {MIN_APPROVAL_LOWER} to {MAX_APPROVAL_LOWER}")
    evidence = settings.min_evidence
    if isinstance(evidence, bool) or not isinstance(evidence, int) or not (
        MIN_APPROVAL_EVIDENCE <= evidence <= MAX_APPROVAL_EVIDENCE
    ):
        raise ValueError(f"min_evidence must be an integer from {MIN_APPROVAL_EVIDENCE} to {MAX_APPROVAL_EVIDENCE}")
    body = dataclasses.replace(settings, min_lower=float(lower)).to_dict()
    # A PUT of the whole settings: repeating it is harmless.
    return Call(
        "PUT",
        "/api/v1/recovery/settings",
        lambda r: RecoverySettingsView.from_dict(r.json()),
        body=body,
        retryable=True,
    )


def list_policies() -> Call[List[Policy]]:
    return Call("GET", "/api/v1/policies", lambda r: PolicyList.from_dict(r.json()).policies, retryable=True)


def get_policy(policy_id: str) -> Call[Policy]:
    return Call("GET", f"/api/v1/policies/{_seg(policy_id)}", lambda r: Policy.from_dict(r.json()), retryable=True)


def disable_policy(policy_id: str, note: Optional[str] = None) -> Call[Policy]:
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE_CHARS):
        raise ValueError(f"note must be a string of at most {MAX_NOTE_CHARS} characters")
    # Not retried: a repetition answers 409 POLICY_STATE_CONFLICT once the first one landed.
    return Call(
        "POST",
        f"/api/v1/policies/{_seg(policy_id)}/disable",
        lambda r: Policy.from_dict(r.json()),
        body=DecisionNote(note=note).to_dict(),
    )
