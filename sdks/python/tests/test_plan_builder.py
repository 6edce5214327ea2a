"""PlanBuilder and the reference helpers (no server needed, except the last test)."""

from __future__ import annotations

import pytest

import aos
from aos import PlanBuilder, PlanBuildError, fallback, ref_input, ref_secret, ref_step
from aos.plan import plan_to_dict, step_references


def test_references() -> None:
    assert ref_step("a", "output.body") == "{{ steps.a.output.body }}"
    assert ref_step("a") == "{{ steps.a.output }}"
    assert ref_step("fetch", "output.items[0].price") == "{{ steps.fetch.output.items[0].price }}"
    assert ref_step("a", "output.items.0") == "{{ steps.a.output.items.0 }}"
    assert ref_input("currency") == "{{ inputs.currency }}"
    assert ref_input("obj.a") == "{{ inputs.obj.a }}"
    assert ref_secret("PRICE_API_TOKEN") == "{{ secrets.PRICE_API_TOKEN }}"
    for bad in [lambda: ref_step("a", "body"), lambda: ref_step("a b"), lambda: ref_step("a", "output..x"),
                lambda: ref_input(""), lambda: ref_input("a }}"), lambda: ref_secret("bad-name"),
                lambda: ref_secret("")]:
        with pytest.raises(ValueError):
            bad()


def test_builder_produces_the_documented_json() -> None:
    plan = (
        PlanBuilder("btc-alert")
        .inputs(["currency", "threshold"], currency={"type": "string"}, threshold={"type": "number"})
        .step(
            "fetch",
            "http_call",
            {"url": "https://api.example.com/price", "query": {"currency": ref_input("currency")}},
            retry={"max_attempts": 4, "initial_delay_ms": 500, "retry_on": ["TRANSIENT", "RATE_LIMIT"]},
            timeout_ms=5000,
        )
        .step("extract", "json_transform", {"data": ref_step("fetch", "output.body"), "expr": ".price"},
              depends_on=["fetch"])
        .step("notify", "http_call", {"method": "POST", "url": "https://hooks.example.com/alerts",
                                      "body": {"price": ref_step("extract")}},
              depends_on=["extract"], condition=".steps.extract.output > .inputs.threshold", on_error="continue")
        .budget(max_cost_usd=0.01, max_duration_ms=60000)
        .build()
    )
    assert isinstance(plan, aos.Plan)
    assert plan.to_dict() == {
        "name": "btc-alert",
        "input_schema": {
            "type": "object",
            "properties": {"currency": {"type": "string"}, "threshold": {"type": "number"}},
            "required": ["currency", "threshold"],
        },
        "steps": [
            {
                "id": "fetch",
                "skill": "http_call",
                "input": {"url": "https://api.example.com/price", "query": {"currency": "{{ inputs.currency }}"}},
                "retry": {"max_attempts": 4, "initial_delay_ms": 500, "max_delay_ms": 10000, "multiplier": 2.0,
                          "retry_on": ["TRANSIENT", "RATE_LIMIT"]},
                "timeout_ms": 5000,
            },
            {
                "id": "extract",
                "skill": "json_transform",
                "input": {"data": "{{ steps.fetch.output.body }}", "expr": ".price"},
                "depends_on": ["fetch"],
            },
            {
                "id": "notify",
                "skill": "http_call",
                "input": {"method": "POST", "url": "https://hooks.example.com/alerts",
                          "body": {"price": "{{ steps.extract.output }}"}},
                "depends_on": ["extract"],
                "condition": ".steps.extract.output > .inputs.threshold",
                "on_error": {"action": "continue"},
            },
        ],
        "budget": {"max_cost_usd": 0.01, "max_duration_ms": 60000},
    }


def test_builder_options() -> None:
    plan = (
        PlanBuilder("opts")
        .http_call("get", "https://example.com", retry=3)
        .http_call("post", "https://example.com/x", method="post", headers={"a": "b"}, query={"q": 1},
                   body={"k": ref_step("get", "output.status")}, request_timeout_ms=100, depends_on=["get"],
                   on_error=fallback("json_transform", {"data": 1, "expr": "."}))
        .json_transform("t", [1, 2], "add", on_error=aos.OnError.abort())
        .build()
    )
    steps = {s.id: s.to_dict() for s in plan.steps}
    assert steps["get"] == {"id": "get", "skill": "http_call", "input": {"url": "https://example.com"},
                            "retry": {"max_attempts": 3, "initial_delay_ms": 200, "max_delay_ms": 10000, "multiplier": 2.0}}
    assert steps["post"]["input"] == {"url": "https://example.com/x", "method": "POST", "headers": {"a": "b"},
                                      "query": {"q": 1}, "body": {"k": "{{ steps.get.output.status }}"}, "timeout_ms": 100}
    assert steps["post"]["on_error"] == {"action": "fallback", "skill": "json_transform", "input": {"data": 1, "expr": "."}}
    assert steps["t"]["on_error"] == {"action": "abort"}
    assert plan_to_dict(PlanBuilder("x").json_transform("a", 1, ".")) == {
        "name": "x", "steps": [{"id": "a", "skill": "json_transform", "input": {"data": 1, "expr": "."}}]}
    unlimited = PlanBuilder("u").budget(max_duration_ms=None).json_transform("a", 1, ".").build()
    assert unlimited.to_dict()["budget"] == {"max_duration_ms": None}


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: PlanBuilder("empty").build(), "at least one step"),
        (lambda: PlanBuilder(" ").json_transform("a", 1, ".").build(), "name"),
        (lambda: PlanBuilder("dup").json_transform("a", 1, ".").json_transform("a", 1, ".").build(), "duplicate"),
        (lambda: PlanBuilder("dep").json_transform("a", 1, ".", depends_on=["zz"]).build(), "unknown step"),
        (lambda: PlanBuilder("self").json_transform("a", 1, ".", depends_on=["a"]).build(), "unknown step"),
        (lambda: PlanBuilder("cycle").json_transform("a", 1, ".", depends_on=["b"])
         .json_transform("b", 1, ".", depends_on=["a"]).build(), "cycle"),
        (lambda: PlanBuilder("ref").json_transform("a", 1, ".").json_transform("b", ref_step("a"), ".").build(),
         "not upstream"),
        (lambda: PlanBuilder("id").json_transform("a b", 1, ".").build(), "invalid step id"),
    ],
)
def test_builder_rejects(build: object, message: str) -> None:
    with pytest.raises(PlanBuildError, match=message):
        build()  # type: ignore[operator]


def test_builder_argument_errors() -> None:
    with pytest.raises(ValueError):
        PlanBuilder("x").json_transform("a", 1, ".", on_error="fallback")
    with pytest.raises(TypeError):
        PlanBuilder("x").json_transform("a", 1, ".", depends_on="b")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PlanBuilder("x").json_transform("a", 1, ".", retry=True)
    with pytest.raises(TypeError):
        plan_to_dict(42)  # type: ignore[arg-type]


def test_transitive_references_are_upstream() -> None:
    plan = (
        PlanBuilder("chain")
        .json_transform("a", 1, ".")
        .json_transform("b", ref_step("a"), ".", depends_on=["a"])
        .json_transform("c", {"x": ref_step("a"), "y": [ref_step("b")]}, ".", depends_on=["b"])
        .build()
    )
    assert step_references(plan.steps[2].input) == {"a", "b"}


def test_each_build_is_independent() -> None:
    b = PlanBuilder("x").json_transform("a", {"v": [1]}, ".")
    p1 = b.build()
    p1.steps[0].input["data"]["v"].append(2)
    assert b.build().steps[0].input == {"data": {"v": [1]}, "expr": "."}


@pytest.mark.contract
def test_built_plans_are_accepted_by_the_server(client: aos.Client) -> None:
    plan = (
        PlanBuilder("builder-e2e")
        .inputs(["n"], n={"type": "integer"})
        .json_transform("a", ref_input("n"), ". * 2", retry=aos.RetryPolicy(max_attempts=2, retry_on=["TRANSIENT"]))
        .json_transform("b", {"doubled": ref_step("a"), "text": "n={{ inputs.n }}"}, ".", depends_on=["a"],
                        condition=".steps.a.output > 1", timeout_ms=1000)
        .budget(max_cost_usd=1.0)
        .build()
    )
    run = client.runs.submit_and_wait(plan, inputs={"n": 5}, timeout=30)
    assert run.succeeded, run.error
    assert run.output("b") == {"doubled": 10, "text": "n=5"}
    assert run.plan.step("b").condition == ".steps.a.output > 1"
