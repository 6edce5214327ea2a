"""Local verification of finished runs against a real `aos serve`, and tampered copies that fail."""

from __future__ import annotations

import copy
from typing import Any, Dict

import httpx
import pytest

import aos
from aos import PlanBuilder, ref_step
from aos.trace import EMPTY_ROOT, verify_run
from conftest import AosServer
from standins import StandIn

pytestmark = pytest.mark.contract


def raw_run(server: AosServer, run_id: str) -> Dict[str, Any]:
    r = httpx.get(f"{server.url}/api/v1/runs/{run_id}", headers={"authorization": f"Bearer {server.api_key}"})
    r.raise_for_status()
    data: Dict[str, Any] = r.json()
    return data


@pytest.fixture(scope="module")
def finished(aos_server: AosServer, standin: StandIn) -> Dict[str, Any]:
    """Finished runs of several shapes, as the API returned them."""
    key = "verify-module"
    plans = {
        "parallel": (
            PlanBuilder("verify-parallel")
            .json_transform("a", {"x": [1, 2.5, "é😀"]}, "{y: .x}")
            .http_call("flaky", f"{standin.url}/flaky/{key}", retry=aos.RetryPolicy(max_attempts=4, initial_delay_ms=50))
            .json_transform("b", ref_step("a", "output.y"), "length", depends_on=["a"])
            .json_transform("c", {"b": ref_step("b"), "f": ref_step("flaky", "output.body")}, ".", depends_on=["b", "flaky"])
            .build()
        ),
        "failed": PlanBuilder("verify-failed").http_call("x", f"{standin.url}/status/422", retry=2).build(),
        "fallback": (
            PlanBuilder("verify-fallback")
            .http_call("p", f"{standin.url}/status/503", retry=aos.RetryPolicy(max_attempts=2, initial_delay_ms=10),
                       on_error=aos.fallback("json_transform", {"data": 5, "expr": ". + 1"}))
            .build()
        ),
        "continue": (
            PlanBuilder("verify-continue")
            .json_transform("bad", 1, "error(\"boom\")", on_error="continue")
            .json_transform("after", ref_step("bad"), ".", depends_on=["bad"])
            .json_transform("other", 2, ".")
            .build()
        ),
        "cancelled": PlanBuilder("verify-cancel").http_call("slow", f"{standin.url}/slow?ms=1500").build(),
    }
    out: Dict[str, Any] = {}
    with aos_server.client() as c:
        ids = {name: c.runs.submit(plan, seed=1234).run_id for name, plan in plans.items()}
        c.runs.cancel(ids["cancelled"])
        for name, rid in ids.items():
            c.runs.wait(rid, 60)
        # The cancelled run's executing attempt is recorded after the run finished.
        import time

        time.sleep(1.8)
        for name, rid in ids.items():
            out[name] = raw_run(aos_server, rid)
    return out


@pytest.mark.parametrize("name", ["parallel", "failed", "fallback", "continue", "cancelled"])
def test_finished_runs_verify(name: str, finished: Dict[str, Any], client: aos.Client) -> None:
    data = finished[name]
    report = verify_run(data)
    assert report.ok, report.problems
    assert bool(report) is True
    assert report.computed_root == data["trace_root"] == report.trace_root
    assert report.entries == len(data["trace"])
    # The same through the client, and from the parsed model.
    assert client.runs.verify(data["run_id"]).ok
    assert client.verify_run(data["run_id"]).ok
    assert verify_run(aos.RunView.from_dict(data)).ok, "the models must keep every hashed value exactly"


def test_shapes_are_what_the_tests_think(finished: Dict[str, Any]) -> None:
    assert finished["parallel"]["status"] == "succeeded"
    assert [(e["step_id"], e["attempt"], e["ok"]) for e in finished["parallel"]["trace"]] == [
        ("a", 1, True),
        ("flaky", 1, False),
        ("flaky", 2, False),
        ("flaky", 3, True),
        ("b", 1, True),
        ("c", 1, True),
    ]
    assert finished["failed"]["status"] == "failed"
    assert len(finished["failed"]["trace"]) == 1, "422 is not retryable"
    assert [e["skill"] for e in finished["fallback"]["trace"]] == ["http_call", "http_call", "json_transform"]
    assert finished["continue"]["status"] == "succeeded"
    assert finished["cancelled"]["status"] == "cancelled"
    assert finished["cancelled"]["trace"] == [] and finished["cancelled"]["trace_root"] == EMPTY_ROOT


def test_late_attempt_of_a_cancelled_run_is_a_warning(finished: Dict[str, Any]) -> None:
    report = verify_run(finished["cancelled"])
    attempts = finished["cancelled"]["step_details"][0]["attempts"]
    if attempts:  # recorded after the run finished, so outside the trace
        assert report.ok and any("slow#1" in w for w in report.warnings)


def tampered(data: Dict[str, Any]) -> Dict[str, Any]:
    return copy.deepcopy(data)


def test_tampered_output_fails(finished: Dict[str, Any]) -> None:
    data = tampered(finished["parallel"])
    step = next(s for s in data["step_details"] if s["step_id"] == "b")
    step["attempts"][0]["outcome"]["output"] = 4
    report = verify_run(data)
    assert not report.ok and not report
    assert any("output_hash" in p for p in report.problems)
    assert any("trace_root" in p for p in report.problems)
    assert report.computed_root != data["trace_root"]


def test_tampered_output_with_rehashed_record_still_fails(finished: Dict[str, Any]) -> None:
    """Rewriting the record's hash too is caught by the trace entry and the root."""
    data = tampered(finished["parallel"])
    step = next(s for s in data["step_details"] if s["step_id"] == "b")
    step["attempts"][0]["outcome"]["output"] = 4
    step["attempts"][0]["output_hash"] = aos.trace.hash_value(step["attempts"][0]["outcome"])
    report = verify_run(data)
    assert not report.ok
    assert any("trace entry differs" in p for p in report.problems)
    assert any("trace_root" in p for p in report.problems)


def test_tampered_input_fails(finished: Dict[str, Any]) -> None:
    data = tampered(finished["parallel"])
    data["step_details"][0]["attempts"][0]["input"]["expr"] = "{z: .x}"
    report = verify_run(data)
    assert any("input_hash" in p for p in report.problems) and not report.ok


def test_tampered_error_fails(finished: Dict[str, Any]) -> None:
    data = tampered(finished["failed"])
    data["step_details"][0]["attempts"][0]["outcome"]["error"]["retryable"] = True
    assert not verify_run(data).ok


def test_tampered_root_fails(finished: Dict[str, Any]) -> None:
    data = tampered(finished["parallel"])
    data["trace_root"] = "0" * 64
    report = verify_run(data)
    assert report.problems == [f"trace_root {'0' * 64} != recomputed root {finished['parallel']['trace_root']}"]


def test_reordered_trace_fails(finished: Dict[str, Any]) -> None:
    data = tampered(finished["parallel"])
    data["trace"][0], data["trace"][-1] = data["trace"][-1], data["trace"][0]
    report = verify_run(data)
    assert any("step order" in p for p in report.problems)
    assert any("trace_root" in p for p in report.problems)


def test_dropped_attempt_fails(finished: Dict[str, Any]) -> None:
    data = tampered(finished["parallel"])
    flaky = next(s for s in data["step_details"] if s["step_id"] == "flaky")
    del flaky["attempts"][1]
    report = verify_run(data)
    assert any("no attempt record" in p for p in report.problems)


def test_dropped_trace_entry_fails(finished: Dict[str, Any]) -> None:
    data = tampered(finished["parallel"])
    del data["trace"][1]
    assert not verify_run(data).ok


def test_unfinished_run_does_not_verify(client: aos.Client, standin: StandIn) -> None:
    plan = PlanBuilder("verify-unfinished").http_call("s", f"{standin.url}/slow?ms=2000").build()
    submitted = client.runs.submit(plan)
    report = client.runs.verify(submitted.run_id)
    assert not report.ok and "not finished" in report.problems[0]
    client.runs.cancel(submitted.run_id)
    # With wait=, verify waits for the run to finish first.
    done = client.runs.submit(PlanBuilder("verify-wait").json_transform("a", 1, ".").build())
    assert client.runs.verify(done.run_id, wait=30).ok
