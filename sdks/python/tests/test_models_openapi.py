"""Every model is checked against its schema in docs/openapi.json, so that drift fails here.

For each schema: there is a model (or, for enums, a ``Literal`` alias with the same values: the
string enums, and the single-value boolean schemas ``OkTrue`` / ``OkFalse``);
the model's fields are exactly the schema's properties (``allOf`` merged, ``oneOf`` variants
united); a field without a default is required by the schema; a field the schema requires and
does not allow to be null is not ``Optional``; a field the schema allows to be null is
``Optional``; and each field's Python type matches the property's type (strings, integers,
numbers, booleans, arrays, maps, references to other models and enums, and any JSON: a property
schema without a type, ``{}``, is ``Any`` in the model).
"""

from __future__ import annotations

import dataclasses
import json

from typing import Any, Dict, List, Literal, Optional, Set, Tuple, Union, get_args, get_origin, get_type_hints

import pytest

from aos import models
from aos.models import ENUMS, MODELS, Model
from conftest import DOCS

OPENAPI = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))
SCHEMAS: Dict[str, Any] = OPENAPI["components"]["schemas"]


def ref_name(ref: str) -> str:
    assert ref.startswith("#/components/schemas/"), ref
    return ref.rsplit("/", 1)[1]


def flatten(schema: Dict[str, Any]) -> Tuple[Dict[str, Any], Set[str]]:
    """(properties, required) of an object schema, merging allOf and uniting oneOf variants."""
    if "$ref" in schema:
        return flatten(SCHEMAS[ref_name(schema["$ref"])])
    if "allOf" in schema:
        props: Dict[str, Any] = {}
        required: Set[str] = set()
        for part in schema["allOf"]:
            p, r = flatten(part)
            props.update(p)
            required |= r
        return props, required
    if "oneOf" in schema:
        variants = [flatten(v) for v in schema["oneOf"]]
        alternatives: Dict[str, List[Any]] = {}
        for p, _ in variants:
            for name, prop in p.items():
                if prop not in alternatives.setdefault(name, []):
                    alternatives[name].append(prop)
        props = {n: alts[0] if len(alts) == 1 else {"oneOf": alts} for n, alts in alternatives.items()}
        required = set.intersection(*(r for _, r in variants))
        return props, required
    return dict(schema.get("properties", {})), set(schema.get("required", []))


def is_optional(tp: Any) -> bool:
    return get_origin(tp) is Union and type(None) in get_args(tp)


def strip_optional(tp: Any) -> Any:
    if is_optional(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else Union[tuple(args)]
    return tp


def nullable(prop: Dict[str, Any]) -> bool:
    t = prop.get("type")
    if isinstance(t, list) and "null" in t:
        return True
    return any(v.get("type") == "null" for v in prop.get("oneOf", []))


def non_null(prop: Dict[str, Any]) -> Dict[str, Any]:
    """The property without its null alternative."""
    t = prop.get("type")
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        out = dict(prop)
        out["type"] = rest[0] if len(rest) == 1 else rest
        return out
    if "oneOf" in prop:
        rest = [v for v in prop["oneOf"] if v.get("type") != "null"]
        if len(rest) == 1:
            return rest[0]
        return {"oneOf": rest}
    return prop


def enum_values(tp: Any) -> Optional[Set[Tuple[type, Any]]]:
    """The values of a ``Literal`` with their types (so that ``True`` is not ``1``)."""
    if get_origin(tp) is Literal:
        return {(type(v), v) for v in get_args(tp)}
    return None


def typed(values: Any) -> Set[Tuple[type, Any]]:
    return {(type(v), v) for v in values}


def enum_of(prop: Dict[str, Any]) -> Optional[List[Any]]:
    """The values of an enum property, inline or by reference; ``None`` when it is not an enum."""
    if "$ref" in prop:
        prop = SCHEMAS[ref_name(prop["$ref"])]
    return prop.get("enum")


def type_matches(tp: Any, prop: Dict[str, Any], where: str) -> None:
    """Assert that the Python type ``tp`` (already without Optional) fits the schema ``prop``."""
    if "oneOf" in prop:
        options = prop["oneOf"]
        if all(enum_of(o) is not None for o in options):
            # The same field in several oneOf variants, one enum each (OnError.action; Outcome.ok,
            # the discriminator, OkTrue or OkFalse): the union of the values.
            enums: Set[Tuple[type, Any]] = set()
            for o in options:
                enums |= typed(enum_of(o))
            if tp is bool:
                # A union of single-value boolean schemas that covers both values is a bool.
                assert enums == typed([True, False]), f"{where}: bool, but the schema allows only {enums}"
            else:
                assert enum_values(tp) == enums, f"{where}: {tp} != enum {sorted(map(repr, enums))}"
        else:
            for o in options:
                type_matches(tp, o, where)
        return
    if "$ref" in prop:
        name = ref_name(prop["$ref"])
        target = SCHEMAS[name]
        if "enum" in target:
            assert enum_values(tp) == typed(target["enum"]), f"{where}: {tp} != enum {name} {target['enum']}"
            return
        assert tp is MODELS[name], f"{where}: expected model {name}, model has {tp}"
        return
    t = prop.get("type")
    if isinstance(t, list) and sorted(t) == ["boolean", "object"]:
        # A JSON Schema (Plan.input_schema): an object or a boolean.
        assert tp == Union[Dict[str, Any], bool], f"{where}: object or boolean, model has {tp}"
        return
    if t == "string":
        if "enum" in prop:
            assert enum_values(tp) == typed(prop["enum"]), f"{where}: {tp} != enum {prop['enum']}"
        else:
            assert tp is str, f"{where}: string, model has {tp}"
    elif t == "integer":
        assert tp is int, f"{where}: integer, model has {tp}"
    elif t == "number":
        assert tp is float, f"{where}: number, model has {tp}"
    elif t == "boolean":
        assert tp is bool, f"{where}: boolean, model has {tp}"
    elif t == "array":
        assert get_origin(tp) is list, f"{where}: array, model has {tp}"
        type_matches(get_args(tp)[0], prop["items"], where + "[]")
    elif t == "object":
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict):
            assert get_origin(tp) is dict and get_args(tp)[0] is str, f"{where}: map, model has {tp}"
            type_matches(get_args(tp)[1], extra, where + "{}")
        elif "properties" in prop:
            raise AssertionError(f"{where}: inline object schemas are not supported by this check")
        else:
            # A free-form JSON object (Run.inputs, Plan.input_schema, ErrorDetail.details, a
            # fallback's input): a dict, or Any where the SDK accepts any JSON there.
            assert tp is Any or (get_origin(tp) is dict and get_args(tp) == (str, Any)), (
                f"{where}: free-form object, model has {tp}"
            )
    elif t is None:
        # No type at all ({}): any JSON value, null included. Not a dict: the value may be a
        # string, a number, a list or null.
        assert set(prop) <= {"description"}, f"{where}: untyped schema with constraints {prop}"
        assert tp is Any, f"{where}: any JSON, model has {tp}"
    else:
        raise AssertionError(f"{where}: unsupported schema type {t!r}")


OBJECT_SCHEMAS = sorted(n for n, s in SCHEMAS.items() if "enum" not in s)
ENUM_SCHEMAS = sorted(n for n, s in SCHEMAS.items() if "enum" in s)


def test_every_schema_has_a_model_or_enum() -> None:
    assert sorted(MODELS) == OBJECT_SCHEMAS, "each object schema of docs/openapi.json needs a model (and vice versa)"
    assert sorted(ENUMS) == ENUM_SCHEMAS, "each enum schema of docs/openapi.json needs a Literal alias"


@pytest.mark.parametrize("name", ENUM_SCHEMAS)
def test_enum(name: str) -> None:
    values = list(models.enum_values(ENUMS[name]))
    assert values == SCHEMAS[name]["enum"]
    python_type = {"string": str, "boolean": bool}[SCHEMAS[name]["type"]]
    assert all(type(v) is python_type for v in values), f"{name}: {values} are not all {python_type}"


def test_outcome_is_discriminated_by_boolean_schemas() -> None:
    """``ok`` is ``OkTrue`` (enum [true]) in the success variant and ``OkFalse`` in the failure one."""
    assert SCHEMAS["OkTrue"] == {**SCHEMAS["OkTrue"], "type": "boolean", "enum": [True]}
    assert SCHEMAS["OkFalse"] == {**SCHEMAS["OkFalse"], "type": "boolean", "enum": [False]}
    variants = {v["properties"]["ok"]["$ref"]: v for v in SCHEMAS["Outcome"]["oneOf"]}
    assert set(variants["#/components/schemas/OkTrue"]["required"]) == {"ok", "output"}
    assert set(variants["#/components/schemas/OkFalse"]["required"]) == {"ok", "error"}
    assert models.Outcome.from_dict({"ok": True, "output": None}).ok is True
    assert models.Outcome.from_dict({"ok": False, "error": {"code": "X", "category": "AUTH", "message": "m",
                                                            "retryable": False, "details": None}}).ok is False
    for bad in (1, 0, "true", None):
        with pytest.raises(ValueError, match="ok must be true or false"):
            models.Outcome.from_dict({"ok": bad, "output": 1})


# Required fields the model may still give a default, and why.
REQUIRED_WITH_DEFAULT = {
    # A dataclass field after Run's defaulted fields must have a default.
    "RunView.step_details",
    # OnError() is the default policy, abort.
    "OnError.action",
}


def check_model(cls: type, schema: Dict[str, Any], name: str) -> None:
    """Assert that the model ``cls`` matches ``schema``."""
    assert dataclasses.is_dataclass(cls) and issubclass(cls, Model)
    props, required = flatten(schema)
    # By JSON name: a field whose name is a Python keyword (``from``) is ``from_`` in the model.
    fields = {cls._json_names.get(f.name, f.name): f for f in dataclasses.fields(cls)}
    assert set(fields) == set(props), (
        f"{name}: model fields {sorted(fields)} != schema properties {sorted(props)}; "
        f"missing in model {sorted(set(props) - set(fields))}, unknown to schema {sorted(set(fields) - set(props))}"
    )
    hints = get_type_hints(cls)
    for fname, f in fields.items():
        where = f"{name}.{fname}"
        prop = props[fname]
        tp = hints[f.name]
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        if not has_default:
            assert fname in required, f"{where}: the model requires it but the schema does not"
        elif fname in required and where not in REQUIRED_WITH_DEFAULT:
            raise AssertionError(f"{where}: the schema requires it but the model gives it a default")
        if nullable(prop):
            assert tp is Any or is_optional(tp), f"{where}: the schema allows null, the model type {tp} does not"
        elif fname in required:
            assert not is_optional(tp), f"{where}: required and not nullable, but the model type is {tp}"
        type_matches(strip_optional(tp), non_null(prop), where)


@pytest.mark.parametrize("name", OBJECT_SCHEMAS)
def test_model_matches_schema(name: str) -> None:
    check_model(MODELS[name], SCHEMAS[name], name)


def _mutated(name: str, change: Any) -> Dict[str, Any]:
    schema = json.loads(json.dumps(SCHEMAS[name]))
    change(schema)
    return schema


@pytest.mark.parametrize(
    "name,change",
    [
        ("Submitted", lambda s: s["properties"].update({"queue": {"type": "string"}})),
        ("Submitted", lambda s: s["properties"].pop("created")),
        ("RunSummary", lambda s: s["required"].append("error_code")),
        ("RunSummary", lambda s: s["properties"].update({"error_code": {"type": "integer"}})),
        ("RunSummary", lambda s: s["properties"].update({"plan_name": {"type": ["string", "null"]}})),
        ("StepEstimate", lambda s: s["properties"].update({"samples": {"type": "number"}})),
        ("Workflow", lambda s: s["properties"].update({"plan": {"$ref": "#/components/schemas/Step"}})),
        ("SecretNames", lambda s: s["properties"].update({"names": {"type": "array", "items": {"type": "integer"}}})),
        ("Run", lambda s: s["properties"].update({"status": {"$ref": "#/components/schemas/StepStatus"}})),
        # Fields that became required: the model would give them a default again.
        ("Run", lambda s: s["required"].remove("trace")),
        ("Run", lambda s: s["required"].remove("cancel_requested")),
        ("StepError", lambda s: s["required"].remove("details")),
        ("Divergence", lambda s: s["required"].remove("attempt")),
        # Any JSON narrowed to a type: the model's Any no longer fits.
        ("StepError", lambda s: s["properties"]["details"].update({"type": "string"})),
        ("Divergence", lambda s: s["properties"]["expected"].update({"type": "integer"})),
        ("Health", lambda s: s["properties"].update({"status": {"type": "boolean"}})),
        # The failure catalog and failure records.
        ("FailureRecord", lambda s: s["required"].remove("recovery_succeeded")),
        ("FailureRecord", lambda s: s["properties"].update({"kind": {"$ref": "#/components/schemas/MatchType"}})),
        ("FailureRecord", lambda s: s["properties"].update({"run_id": {"type": "string"}}) or s["required"].append("run_id")),
        ("MatchResponse", lambda s: s["properties"].update({"code": {"type": "string"}})),
        ("MatchResponse", lambda s: s["properties"].update({"severity": {"$ref": "#/components/schemas/Severity"}})),
        ("CatalogEntry", lambda s: s["properties"].update({"severity": {"$ref": "#/components/schemas/Category"}})),
        ("CatalogEntry", lambda s: s["properties"].update({"match": {"type": "array", "items": {"type": "string"}}})),
        ("FailureMatch", lambda s: s["required"].append("code")),
        ("FailureStats", lambda s: s["properties"]["by_code"].update({"additionalProperties": {"type": "number"}})),
        ("FailureStats", lambda s: s["properties"]["recovery_by_mode"].update(
            {"additionalProperties": {"$ref": "#/components/schemas/FailureBucket"}})),
        ("RecoveryStats", lambda s: s["properties"].update({"success_rate": {"type": "number"}})),
        ("AttemptRecord", lambda s: s["properties"].pop("failure")),
        ("Run", lambda s: s["properties"].update(
            {"failure": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/StepError"}]}})),
        # Access: who am I, keys, the audit log.
        ("WhoAmI", lambda s: s["properties"].update({"role": {"$ref": "#/components/schemas/PrincipalKind"}})),
        ("WhoAmI", lambda s: s["required"].append("expires_at_ms")),
        ("ApiKeyRecord", lambda s: s["properties"].pop("rotated_from")),
        ("ApiKeyRecord", lambda s: s["properties"].update({"created_by": {"type": ["string", "null"]}})),
        ("ApiKeyRecord", lambda s: s["required"].append("name")),
        ("CreateKey", lambda s: s["required"].append("expires_in_days")),
        ("CreatedKey", lambda s: s["properties"].update({"record": {"$ref": "#/components/schemas/WhoAmI"}})),
        ("AuditEvent", lambda s: s["properties"].update({"action": {"$ref": "#/components/schemas/Role"}})),
        ("AuditEvent", lambda s: s["properties"].update({"detail": {"type": "string"}})),
        ("AuditList", lambda s: s["required"].append("next_cursor")),
        # Recovery policies.
        ("Policy", lambda s: s["properties"].update({"target": {"type": "string"}})),
        ("Policy", lambda s: s["properties"].update({"status": {"$ref": "#/components/schemas/CandidateStatus"}})),
        ("PolicyEvent", lambda s: s["properties"].update({"from": {"$ref": "#/components/schemas/PolicyStatus"}})),
        ("Run", lambda s: s["properties"].pop("applied_policies")),
        ("Run", lambda s: s["properties"]["previous_failures"].update(
            {"additionalProperties": {"$ref": "#/components/schemas/AppliedPolicy"}})),
        ("Plan", lambda s: s["properties"].update({"policies": {"$ref": "#/components/schemas/ApprovalMode"}})),
        ("RecoverySettingsView", lambda s: s["properties"].update({"min_evidence": {"type": "number"}})),
    ],
)
def test_the_check_detects_drift(name: str, change: Any) -> None:
    with pytest.raises(AssertionError):
        check_model(MODELS[name], _mutated(name, change), name)


def test_additional_properties_false_schemas_are_request_models() -> None:
    # Schemas that reject unknown fields are the ones the SDK sends; to_dict must not add any.
    strict = sorted(n for n, s in SCHEMAS.items() if s.get("additionalProperties") is False)
    assert strict == [
        "Budget", "CreateKey", "CreateWorkflow", "DecisionNote", "MatchRequest", "Plan", "PutSecret", "RecoverySettingsView",
        "RedriveRequest", "RerunRequest", "RetryPolicy", "SimulateRequest", "Step", "SubmitRun", "SuggestForFailure", "SuggestForMessage",
    ]
    # The settings a PUT sends: the schema's fields, the webhook's only when set.
    settings = models.RecoverySettingsView("shadow", 0.7, 5).to_dict()
    assert settings == {"mode": "shadow", "min_lower": 0.7, "min_evidence": 5}
    hooked = models.RecoverySettingsView("shadow", 0.7, 5, "https://hooks.example.com/d", "DRIFT").to_dict()
    assert set(hooked) == set(SCHEMAS["RecoverySettingsView"]["properties"])
    # A suggestion request and a decision send only what was given, within one of the variants.
    assert models.SuggestRequest(failure_id="f").to_dict() == {"failure_id": "f"}
    by_message = models.SuggestRequest(message="m", code="HTTP_503", skill="http_call", http_status=503, details={}).to_dict()
    assert set(by_message) == set(flatten(SCHEMAS["SuggestForMessage"])[0])
    assert models.DecisionNote().to_dict() == {} and models.DecisionNote("why").to_dict() == {"note": "why"}
    # A match request sends only what was given.
    match_props, match_required = flatten(SCHEMAS["MatchRequest"])
    assert models.MatchRequest("boom").to_dict() == {"message": "boom"}
    full = models.MatchRequest("boom", code="HTTP_503", skill="http_call", http_status=503).to_dict()
    assert set(full) == set(match_props) and match_required <= set(full)
    sample = {
        "name": "p",
        "input_schema": {"type": "object"},
        "steps": [
            {
                "id": "a",
                "skill": "http_call",
                "input": {"url": "https://example.com"},
                "depends_on": [],
                "condition": ".inputs.x",
                "on_error": {"action": "fallback", "skill": "json_transform", "input": {"data": 1, "expr": "."}},
                "retry": {"max_attempts": 2, "retry_on": ["TRANSIENT"]},
                "timeout_ms": 100,
            }
        ],
        "budget": {"max_cost_usd": 1.0, "max_duration_ms": None},
    }
    out = models.Plan.from_dict(sample).to_dict()
    plan_props, _ = flatten(SCHEMAS["Plan"])
    step_props, _ = flatten(SCHEMAS["Step"])
    assert set(out) <= set(plan_props)
    assert set(out["steps"][0]) <= set(step_props)
    assert out["budget"] == {"max_cost_usd": 1.0, "max_duration_ms": None}
    assert out["steps"][0]["on_error"] == sample["steps"][0]["on_error"]  # type: ignore[index]
    assert out["steps"][0]["retry"] == {
        "max_attempts": 2,
        "initial_delay_ms": 200,
        "max_delay_ms": 10000,
        "multiplier": 2.0,
        "retry_on": ["TRANSIENT"],
    }


def test_outcome_round_trip_is_exact() -> None:
    ok = {"ok": True, "output": None}
    err = {
        "ok": False,
        "error": {"code": "X", "category": "TRANSIENT", "message": "m", "retryable": True, "details": None},
    }
    assert models.Outcome.from_dict(ok).to_dict() == ok
    assert models.Outcome.from_dict(err).to_dict() == err
    with_details = json.loads(json.dumps(err))
    with_details["error"]["details"] = {"status": 503}
    assert models.Outcome.from_dict(with_details).to_dict() == with_details
    # Outputs and details are any JSON, not only objects; null details are written as null.
    for value in (None, 0, 1.5, "text", [1, {"a": None}], {"nested": [True]}):
        ok_any = {"ok": True, "output": value}
        assert models.Outcome.from_dict(ok_any).to_dict() == ok_any
        err_any = json.loads(json.dumps(err))
        err_any["error"]["details"] = value
        assert models.Outcome.from_dict(err_any).to_dict() == err_any
    # details is required: an error without it is not a StepError.
    no_details = {k: v for k, v in err["error"].items() if k != "details"}  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="details"):
        models.StepError.from_dict(no_details)


def test_from_dict_ignores_unknown_and_reports_missing() -> None:
    s = models.Submitted.from_dict({"run_id": "r_1", "status": "queued", "created": True, "new_field": 1})
    assert s == models.Submitted("r_1", "queued", True)
    with pytest.raises(ValueError, match="missing required field"):
        models.Submitted.from_dict({"run_id": "r_1"})
    # A budget without max_duration_ms gets the server's default; an explicit null is unlimited.
    assert models.Budget.from_dict({}).max_duration_ms == models.DEFAULT_MAX_DURATION_MS
    assert models.Budget.from_dict({"max_duration_ms": None}).max_duration_ms is None


def test_models_are_exported() -> None:
    import aos

    for name in ["Plan", "Step", "RunView", "StepView", "AttemptRecord", "Outcome", "StepError", "SkillSpec",
                 "Simulation", "ReplayReport", "Workflow", "RunList", "RunSummary", "TraceEntry", "Health",
                 "Divergence", "FailureMatch", "CatalogEntry", "CatalogView", "MatchResponse", "FailureRecord",
                 "FailureList", "FailureStats", "RecoveryStats", "FailureBucket", "WhoAmI", "ApiKeyRecord",
                 "CreatedKey", "KeyList", "AuditEvent", "AuditList"]:
        assert getattr(aos, name) is MODELS[name]


# Answers as the API writes them (docs/api.md, and `aos serve`): optional fields left out, required
# nullable fields written as null.
FAILURE_RECORD = {
    "id": "1736467201000#r_3f#fetch#0001", "kind": "attempt", "run_id": "r_3f", "step_id": "fetch", "attempt": 1,
    "skill": "http_call", "code": "HTTP_503", "message": "GET https://api.example.com/price answered 503",
    "signature": "5d08f26eef7d8137", "matched": True, "catalog_code": "HTTP_SERVICE_UNAVAILABLE", "confidence": 0.93,
    "match_type": "http_status", "category": "TRANSIENT", "severity": "medium", "advised_recovery": "retry_after",
    "recovery_attempted": True, "recovery_mode": "retry_after", "recovery_succeeded": True, "at_ms": 1736467201000,
    "expires_at": 1739059201,
}
REJECTED_RECORD = {
    "id": "1736467201000#rejected#0001", "kind": "rejected", "attempt": 0, "code": "PLAN_UNKNOWN_SKILL",
    "message": "unknown skill nope", "signature": "0123456789abcdef", "matched": False, "confidence": 0.0,
    "match_type": "none", "category": "VALIDATION", "recovery_attempted": False, "recovery_succeeded": None,
    "at_ms": 1736467201000, "expires_at": 1739059201,
}
UNMATCHED = {"matched": False, "code": None, "category": None, "retryable": None, "severity": None,
             "recovery_mode": None, "confidence": 0.0, "match_type": "none", "signature": "eea7942c5b3dcc87",
             "explanation": None, "suggestions": []}


def test_failure_models_round_trip() -> None:
    rec = models.FailureRecord.from_dict(FAILURE_RECORD)
    assert rec.catalog_code == "HTTP_SERVICE_UNAVAILABLE" and rec.recovery_succeeded is True
    assert rec.to_dict() == FAILURE_RECORD
    rejected = models.FailureRecord.from_dict(REJECTED_RECORD)
    assert rejected.run_id is None and rejected.step_id is None and rejected.recovery_succeeded is None
    # recovery_succeeded is required (null until known); optional fields stay out.
    assert rejected.to_dict() == REJECTED_RECORD
    with pytest.raises(ValueError, match="recovery_succeeded"):
        models.FailureRecord.from_dict({k: v for k, v in REJECTED_RECORD.items() if k != "recovery_succeeded"})
    page = models.FailureList.from_dict({"failures": [FAILURE_RECORD, REJECTED_RECORD]})
    assert page.next_cursor is None and [r.kind for r in page.failures] == ["attempt", "rejected"]
    # Every nullable field of a verdict is written back as null: they are all required.
    unmatched = models.MatchResponse.from_dict(UNMATCHED)
    assert unmatched.code is None and unmatched.to_dict() == UNMATCHED
    match = models.FailureMatch.from_dict({"matched": False, "confidence": 0, "match_type": "none", "signature": "s"})
    assert match.code is None and isinstance(match.confidence, float)
    assert match.to_dict() == {"matched": False, "confidence": 0.0, "match_type": "none", "signature": "s"}
    stats = models.FailureStats.from_dict({
        "from_ms": 0, "to_ms": 10, "bucket_ms": 5, "total": 1, "matched": 1, "match_rate": 1,
        "by_kind": {"attempt": 1}, "by_code": {"HTTP_503": 1}, "by_catalog_code": {"HTTP_SERVICE_UNAVAILABLE": 1},
        "by_category": {"TRANSIENT": 1}, "by_skill": {"http_call": 1},
        "recovery": {"attempted": 1, "succeeded": 1, "failed": 0, "pending": 0, "success_rate": 1.0},
        "recovery_by_mode": {"retry_after": {"attempted": 1, "succeeded": 0, "failed": 0, "pending": 1,
                                             "success_rate": None}},
        "buckets": [{"start_ms": 0, "total": 1, "matched": 1, "recovered": 1}, {"start_ms": 5, "total": 0,
                                                                                "matched": 0, "recovered": 0}],
        "truncated": False,
    })
    assert isinstance(stats.recovery_by_mode["retry_after"], models.RecoveryStats)
    assert stats.recovery_by_mode["retry_after"].success_rate is None and stats.match_rate == 1.0
    assert [b.total for b in stats.buckets] == [1, 0]


def test_catalog_view_helpers() -> None:
    entry = {"code": "HTTP_NOT_FOUND", "category": "NOT_FOUND", "retryable": False, "severity": "medium",
             "recovery_mode": "fallback", "explanation": "404", "suggestions": ["check the path"], "generic": False,
             "match": {"http_status": [404], "patterns": ["\\bnot found\\b"]}}
    view = models.CatalogView.from_dict({"version": 2, "digest": "3b39a0f5dc1ec1d7", "entries": [entry]})
    assert len(view) == 1 and [e.code for e in view] == view.codes == ["HTTP_NOT_FOUND"]
    assert view.entry("HTTP_NOT_FOUND").match == entry["match"]
    assert view.to_dict()["entries"] == [entry]
    with pytest.raises(KeyError):
        view.entry("NOPE")


def test_failure_of_attempts_and_runs_is_optional() -> None:
    """Older records have no ``failure``; it stays out of ``to_dict`` then (it is not hashed)."""
    attempt = {"step_id": "a", "attempt": 1, "skill": "http_call", "fallback": False, "input": None,
               "input_hash": "h", "output_hash": "o", "started_at_ms": 1, "finished_at_ms": 2, "duration_ms": 1,
               "cost_usd": 0.0,
               "outcome": {"ok": False, "error": {"code": "HTTP_404", "category": "NOT_FOUND", "message": "m",
                                                  "retryable": False, "details": None}}}
    without = models.AttemptRecord.from_dict(attempt)
    assert without.failure is None and "failure" not in without.to_dict()
    failure = {"matched": True, "code": "HTTP_NOT_FOUND", "category": "NOT_FOUND", "retryable": False,
               "severity": "medium", "recovery_mode": "fallback", "confidence": 0.93, "match_type": "http_status",
               "signature": "2fd4953ef863cc14"}
    with_failure = models.AttemptRecord.from_dict({**attempt, "failure": failure})
    assert isinstance(with_failure.failure, models.FailureMatch)
    assert with_failure.failure.code == "HTTP_NOT_FOUND" and with_failure.to_dict()["failure"] == failure





def test_access_models_round_trip() -> None:
    """Answers as `aos serve` writes them: optional fields left out; the secret of a new key kept
    out of its repr."""
    record = {"key_id": "0a1b2c3d", "role": "machine", "prefix": "aos_0a1b2c3d", "name": "ci",
              "created_at_ms": 1, "created_by": "key:00000000", "expires_at_ms": 86_400_001}
    rec = models.ApiKeyRecord.from_dict(record)
    assert rec.to_dict() == record and not rec.revoked and rec.active_at(2) and not rec.active_at(86_400_001)
    revoked = models.ApiKeyRecord.from_dict({**record, "revoked_at_ms": 5, "rotated_from": "ffffffff"})
    assert revoked.revoked and not revoked.active_at(2) and revoked.rotated_from == "ffffffff"
    secret = "aos_0a1b2c3d_" + "ab" * 24
    created = models.CreatedKey.from_dict({"key": secret, "record": record})
    assert created.key == secret and created.record == rec and secret not in repr(created)
    me = models.WhoAmI.from_dict({"tenant": "dev", "role": "viewer", "kind": "api_key", "id": "0a1b2c3d",
                                  "name": "", "permissions": ["runs:read"]})
    assert me.expires_at_ms is None and me.can("runs:read") and not me.can("keys:manage")
    event = {"id": "0000000000001#x", "at_ms": 1, "action": "key.created", "actor": "key:00000000",
             "role": "admin", "target": "key:0a1b2c3d", "detail": {"name": "ci", "role": "machine"}}
    page = models.AuditList.from_dict({"events": [event]})
    assert page.next_cursor is None and page.events[0].detail["role"] == "machine"
    assert page.to_dict() == {"events": [event]}
    assert models.CreateKey("ci", "machine").to_dict() == {"name": "ci", "role": "machine"}


def test_recovery_models_round_trip() -> None:
    """Answers as the API writes them: required nullable fields written as null, a transition's
    ``from`` (a Python keyword) read into ``from_`` and written back as ``from``."""
    evidence = {"attempts": 2.9, "successes": 2.9, "observed": 3, "last_seen_ms": 1765000000000}
    candidate = {
        "id": "rc_0123456789abcdef", "status": "retired", "code": "HTTP_SERVICE_UNAVAILABLE", "skill": "http_call",
        "action": "retry_after", "params": {}, "patch": {"retry": {"max_attempts": 3, "retry_on": ["TRANSIENT"]}},
        "confidence": {"mean": 0.87, "lower": 0.65}, "evidence": evidence, "occurrences": 2,
        "examples": [{"message": "GET /x answered 503", "at_ms": 1, "failure_id": "f1", "run_id": "r_1"}, {"message": "m", "at_ms": 2}],
        "source": "suggest", "created_at_ms": 1, "updated_at_ms": 5,
        "history": [
            {"from": "pending", "to": "approved", "at_ms": 3, "actor": "key:0a1b2c3d", "role": "admin", "note": "retries fix it"},
            {"from": "approved", "to": "retired", "at_ms": 5, "actor": "user:abc", "role": "operator"},
        ],
    }
    c = models.RecoveryCandidate.from_dict(candidate)
    assert [(h.from_, h.to) for h in c.history] == [("pending", "approved"), ("approved", "retired")]
    assert c.history[1].note is None and c.examples[1].failure_id is None and c.evidence.observed == 3
    assert c.to_dict() == candidate
    unknown = {**candidate, "skill": None, "patch": None, "history": [], "examples": []}
    assert models.RecoveryCandidate.from_dict(unknown).to_dict() == unknown, "required nullable fields stay, as null"
    page = models.RecoveryCandidateList.from_dict({"candidates": [candidate], "next_cursor": "rc_0123456789abcdef"})
    assert page.candidates[0] == c and page.to_dict()["next_cursor"] == "rc_0123456789abcdef"
    suggestion = {"action": "do_not_retry", "params": {}, "confidence": {"mean": 0.5, "lower": 0.1},
                  "evidence": {"attempts": 0.0, "successes": 0.0, "observed": 0, "last_seen_ms": None},
                  "source": "catalog", "explanation": "The catalog says so.", "patch": None}
    answer = {"match": {"matched": False, "confidence": 0.0, "match_type": "none", "signature": "eea7942c5b3dcc87"},
              "key": {"code": "sig:eea7942c5b3dcc87", "skill": None}, "suggestions": [suggestion], "candidates": []}
    r = models.SuggestResponse.from_dict(answer)
    assert r.best is not None and r.best.action == "do_not_retry" and r.key.skill is None and r.match.code is None
    assert r.to_dict() == answer
    with pytest.raises(ValueError, match="role"):
        models.Transition.from_dict({"from": "pending", "to": "approved", "at_ms": 1, "actor": "key:x"})


def test_policy_models_round_trip() -> None:
    """Policies, settings and the policy fields of runs and plans as the API writes them: a
    creation's ``from`` written as null, empty policy fields of a run left out, a plan's default
    ``policies`` left out."""
    evidence = {"attempts": 3.0, "successes": 3.0, "observed": 3, "last_seen_ms": 1765000000000}
    policy = {
        "id": "pol_0123456789abcdef", "candidate_id": "rc_0123456789abcdef", "status": "disabled", "skill": "http_call",
        "code": "HTTP_SERVICE_UNAVAILABLE", "target": None, "action": "retry", "params": {"backoff": "short"},
        "patch": {"retry": {"max_attempts": 4, "initial_delay_ms": 200, "max_delay_ms": 1000, "multiplier": 2.0}},
        "approved_lower": 0.652, "approved_evidence": evidence, "created_at_ms": 1, "updated_at_ms": 9,
        "history": [
            {"at_ms": 1, "from": None, "to": "active", "actor": "system:auto-approval", "note": "automatic"},
            {"at_ms": 9, "from": "active", "to": "disabled", "actor": "key:0a1b2c3d"},
        ],
        "outcomes": {"steps": 4, "succeeded": 3},
    }
    p = models.Policy.from_dict(policy)
    assert [(h.from_, h.to) for h in p.history] == [(None, "active"), ("active", "disabled")]
    assert p.target is None and not p.in_force and p.outcomes.success_rate == 0.75
    assert p.to_dict() == policy
    assert models.PolicyList.from_dict({"policies": [policy]}).policies == [p]
    bare = {k: v for k, v in policy.items() if k != "outcomes"}
    assert models.Policy.from_dict(bare).outcomes == models.PolicyOutcomes(0, 0)
    assert models.PolicyOutcomes(0, 0).success_rate is None
    settings = {"mode": "active", "min_lower": 0.8, "min_evidence": 10}
    assert models.RecoverySettingsView.from_dict(settings).to_dict() == settings
    hooked = {**settings, "drift_webhook_url": "https://hooks.example.com/d", "drift_webhook_secret": "DRIFT"}
    assert models.RecoverySettingsView.from_dict(hooked).to_dict() == hooked
    drift = {"evaluated_at_ms": 3, "current_from_ms": 2, "baseline_from_ms": 1, "drifting": 1, "items": [
        {"skill": "http_call", "code": "HTTP_SERVICE_UNAVAILABLE", "z": 4.2, "drifting": True,
         "current": {"failures": 9, "attempts": 20, "rate": 0.45}, "baseline": {"failures": 0, "attempts": 0, "rate": 0}}]}
    report = models.DriftReport.from_dict(drift)
    assert isinstance(report.items[0].baseline, models.WindowRate) and report.items[0].baseline.rate == 0.0
    assert report.to_dict()["items"][0]["current"] == drift["items"][0]["current"]  # type: ignore[index]
    assert isinstance(models.RecoverySettingsView.from_dict({**settings, "min_lower": 1}).min_lower, float)

    plan = {"name": "p", "steps": [{"id": "get", "skill": "http_call", "input": {"url": "https://example.com"}}],
            "budget": {"max_duration_ms": 900000}}
    assert models.Plan.from_dict(plan).policies is None and models.Plan.from_dict(plan).to_dict() == plan
    assert models.Plan.from_dict({**plan, "policies": "off"}).to_dict()["policies"] == "off"
    run = {"run_id": "r_1", "plan": plan, "inputs": {}, "seed": 1, "status": "queued", "created_at_ms": 1, "steps": {},
           "cost_usd": 0.0, "cancel_requested": False, "trace": [], "recoveries": 0}
    r = models.Run.from_dict(run)
    assert (r.applied_policies, r.shadow_policies, r.previous_failures) == ([], [], {})
    assert r.to_dict() == run, "empty policy fields stay out, as the server leaves them out"
    applied = {"policy_id": "pol_0123456789abcdef", "step_id": "get", "patch": {"retry": {"max_attempts": 4}},
               "replaced": {"retry": None}, "code": "HTTP_SERVICE_UNAVAILABLE"}
    previous = {"get": {"code": "HTTP_TIMEOUT", "skill": "http_call", "timeout_ms": 150, "run_id": "r_0", "at_ms": 1,
                        "codes": ["HTTP_TIMEOUT"], "resolved": False}}
    full = {**run, "applied_policies": [applied], "shadow_policies": [applied], "previous_failures": previous}
    r = models.Run.from_dict(full)
    assert isinstance(r.applied_policies[0], models.AppliedPolicy) and r.applied_policies[0].replaced == {"retry": None}
    assert isinstance(r.previous_failures["get"], models.PreviousFailure) and r.previous_failures["get"].timeout_ms == 150
    assert r.to_dict() == full
