"""Every model is checked against its schema in docs/openapi.json, so that drift fails here.

For each schema: there is a model (or, for string enums, a ``Literal`` alias with the same values);
the model's fields are exactly the schema's properties (``allOf`` merged, ``oneOf`` variants
united); a field without a default is required by the schema; a field the schema requires and
does not allow to be null is not ``Optional``; a field the schema allows to be null is
``Optional``; and each field's Python type matches the property's type (strings, integers,
numbers, booleans, arrays, maps, references to other models and enums).
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

# Schemas that are markers inside other schemas rather than shapes of their own.
BOOLEAN_MARKERS = {"OkTrue", "OkFalse"}


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
        assert len(args) == 1, tp
        return args[0]
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


def enum_values(tp: Any) -> Optional[Set[str]]:
    if get_origin(tp) is Literal:
        return set(get_args(tp))
    return None


def type_matches(tp: Any, prop: Dict[str, Any], where: str) -> None:
    """Assert that the Python type ``tp`` (already without Optional) fits the schema ``prop``."""
    if "oneOf" in prop:
        options = prop["oneOf"]
        if all(o.get("type") == "string" and "enum" in o for o in options):
            # The same field in several oneOf variants (e.g. OnError.action): union of enum values.
            enums: Set[str] = set()
            for o in options:
                enums |= set(o["enum"])
            assert enum_values(tp) == enums, f"{where}: {tp} != enum {sorted(enums)}"
        else:
            for o in options:
                type_matches(tp, o, where)
        return
    if "$ref" in prop:
        name = ref_name(prop["$ref"])
        if name in BOOLEAN_MARKERS:
            assert tp is bool, f"{where}: {name} is a boolean marker, model has {tp}"
            return
        target = SCHEMAS[name]
        if "enum" in target:
            assert enum_values(tp) == set(target["enum"]), f"{where}: {tp} != enum {name} {target['enum']}"
            return
        assert tp is MODELS[name], f"{where}: expected model {name}, model has {tp}"
        return
    t = prop.get("type")
    if t == "string":
        if "enum" in prop:
            assert enum_values(tp) == set(prop["enum"]), f"{where}: {tp} != enum {prop['enum']}"
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
            # The API declares free-form JSON as "object"; the SDK keeps it as Any or a dict.
            assert tp is Any or (get_origin(tp) is dict and get_args(tp) == (str, Any)), (
                f"{where}: free-form object, model has {tp}"
            )
    elif t is None:
        # No type at all: any JSON value.
        assert tp is Any, f"{where}: any JSON, model has {tp}"
    else:
        raise AssertionError(f"{where}: unsupported schema type {t!r}")


OBJECT_SCHEMAS = sorted(n for n, s in SCHEMAS.items() if "enum" not in s and n not in BOOLEAN_MARKERS)
ENUM_SCHEMAS = sorted(n for n, s in SCHEMAS.items() if "enum" in s)


def test_every_schema_has_a_model_or_enum() -> None:
    assert sorted(MODELS) == OBJECT_SCHEMAS, "each object schema of docs/openapi.json needs a model (and vice versa)"
    assert sorted(ENUMS) == ENUM_SCHEMAS, "each enum schema of docs/openapi.json needs a Literal alias"


@pytest.mark.parametrize("name", ENUM_SCHEMAS)
def test_enum(name: str) -> None:
    assert list(models.enum_values(ENUMS[name])) == SCHEMAS[name]["enum"]


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
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) == set(props), (
        f"{name}: model fields {sorted(fields)} != schema properties {sorted(props)}; "
        f"missing in model {sorted(set(props) - set(fields))}, unknown to schema {sorted(set(fields) - set(props))}"
    )
    hints = get_type_hints(cls)
    for fname, f in fields.items():
        where = f"{name}.{fname}"
        prop = props[fname]
        tp = hints[fname]
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
    ],
)
def test_the_check_detects_drift(name: str, change: Any) -> None:
    with pytest.raises(AssertionError):
        check_model(MODELS[name], _mutated(name, change), name)


def test_additional_properties_false_schemas_are_request_models() -> None:
    # Schemas that reject unknown fields are the ones the SDK sends; to_dict must not add any.
    strict = sorted(n for n, s in SCHEMAS.items() if s.get("additionalProperties") is False)
    assert strict == ["Budget", "CreateWorkflow", "Plan", "PutSecret", "RetryPolicy", "SimulateRequest", "Step", "SubmitRun"]
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
                 "Simulation", "ReplayReport", "Workflow", "RunList", "RunSummary", "TraceEntry"]:
        assert getattr(aos, name) is MODELS[name]



