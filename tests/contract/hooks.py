"""schemathesis hooks for tests/contract/run.sh (loaded through SCHEMATHESIS_HOOKS).

Reach: a plan drawn at random from docs/openapi.json names a skill this deployment lacks, an input
that skill refuses, jq that does not compile or dependencies on steps that do not exist, so the
server refuses it (422) and the operations that act on a run, a workflow or a key by id are rarely
reached with a real one. In the fuzzing and stateful phases, for a share (HALF) of the positive
cases of the operations that carry a plan, the drawn plan is rewritten into one this deployment
runs, built from the drawn values: its name, steps (ids made unique, at most MAX_STEPS), budget,
policies, retries, timeouts, `on_error` actions and step inputs are kept; every step runs
`json_transform` over its drawn input; dependencies chain to the previous step when some were
drawn; conditions, `input_schema` and `{{ ... }}` references are left out. Some of these plans fail
on purpose (a jq `error`), so there are failed runs to redrive. A redrive's drawn `patch` (it names
steps the run lacks) is dropped for the same share, and in the fuzzing phase the same share of the
operations on a run by id (get, cancel, replay, rerun, redrive) take the id of a run the server
created (recorded from POST /api/v1/runs and GET /api/v1/runs answers) instead of a drawn string.

The checks are untouched: every rewritten body is valid against docs/openapi.json. schemathesis
revalidates a modified case and relabels it; a rewrite that would not stay positive is undone, so
`positive_data_acceptance` and `negative_data_rejection` judge exactly what is sent. Negative cases,
the other half of the positive ones and the examples and coverage phases are sent as drawn.

Also: run.sh passes the fuzzing key's id (CONTRACT_KEY_ID); revoking or rotating that very key is
not drawn, since it ends the run's access and every later request would be a 401.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import threading

import schemathesis
from hypothesis import strategies as st

# Plans rewritten into runnable ones: HALF in 100 of the positive cases.
HALF = 50
# Of those, FAILING in 100 end with a step whose jq program raises: a failed run (redrive).
FAILING = 20
MAX_STEPS = 4
PLAN_OPERATIONS = {"POST /api/v1/runs", "POST /api/v1/simulate", "POST /api/v1/workflows"}
REDRIVE = "POST /api/v1/runs/{id}/redrive"
RUN_BY_ID = {
    "GET /api/v1/runs/{id}",
    "POST /api/v1/runs/{id}/cancel",
    "POST /api/v1/runs/{id}/replay",
    "POST /api/v1/runs/{id}/rerun",
    REDRIVE,
}
KEY_BY_ID = {"DELETE /api/v1/keys/{key_id}", "POST /api/v1/keys/{key_id}/rotate"}
REACH_PHASES = {"fuzzing", "stateful"}
STEP_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")

# CPython 3.11 (seen with 3.11.7, the venv's; see gh-106905) can raise a spurious "SystemError: AST
# constructor recursion depth mismatch" when two threads build ASTs at once; Hypothesis parses source files to describe
# lambdas, and `--workers 2` runs two threads. Serialize ast.parse.
_ast_lock = threading.Lock()
_ast_parse = ast.parse


def _serialized_parse(*args, **kwargs):
    with _ast_lock:
        return _ast_parse(*args, **kwargs)


ast.parse = _serialized_parse


def _no_references(value):
    """The value with `{{` taken out of every string, so no step input references anything."""
    if isinstance(value, str):
        return value.replace("{{", "{ {")
    if isinstance(value, list):
        return [_no_references(item) for item in value]
    if isinstance(value, dict):
        return {_no_references(key): _no_references(item) for key, item in value.items()}
    return value


def _integer(value):
    """3.0 as 3: JSON Schema counts it an integer, the server's typed parsing does not (run.sh's toml)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _runnable_retry(retry):
    if not isinstance(retry, dict):
        return retry
    retry = {key: _integer(value) for key, value in retry.items()}
    if "initial_delay_ms" in retry:
        # The first delay must not exceed the largest one (PLAN_INVALID_RETRY), whose default is lower.
        retry.setdefault("max_delay_ms", 900000)
        retry["initial_delay_ms"] = min(retry["initial_delay_ms"], retry["max_delay_ms"])
    return retry


def _runnable_step(drawn, step_id, previous, fail):
    step = {"id": step_id, "skill": "json_transform"}
    step["input"] = {
        "data": _no_references(drawn.get("input")),
        "expr": 'error("contract fuzzing: a failing step")' if fail else ".",
    }
    if previous is not None and drawn.get("depends_on"):
        step["depends_on"] = [previous]
    if "retry" in drawn:
        step["retry"] = _runnable_retry(drawn["retry"])
    if "timeout_ms" in drawn:
        step["timeout_ms"] = _integer(drawn["timeout_ms"])
    on_error = drawn.get("on_error")
    if isinstance(on_error, dict) and on_error.get("action") in ("abort", "continue"):
        step["on_error"] = {"action": on_error["action"]}
    elif isinstance(on_error, dict) and on_error.get("action") == "fallback":
        step["on_error"] = {"action": "fallback", "skill": "json_transform", "input": {"data": None, "expr": "."}}
    return step


def runnable_plan(drawn, fail):
    """A plan this deployment runs, built from the drawn one (which may be null)."""
    drawn = drawn if isinstance(drawn, dict) else {}
    plan = {"name": drawn.get("name") or "contract"}
    for field in ("$schema", "policies"):
        if field in drawn:
            plan[field] = drawn[field]
    if isinstance(drawn.get("budget"), dict):
        plan["budget"] = {key: _integer(value) for key, value in drawn["budget"].items()}
    steps = [step for step in drawn.get("steps") or [] if isinstance(step, dict)][:MAX_STEPS] or [{}]
    seen = set()
    out = []
    for index, step in enumerate(steps):
        step_id = step.get("id") if isinstance(step.get("id"), str) else ""
        if not STEP_ID.match(step_id) or step_id in seen:
            step_id = f"{step_id[:90] if STEP_ID.match(step_id) else 'step'}-{index}"
        seen.add(step_id)
        last = index == len(steps) - 1
        out.append(_runnable_step(step, step_id, out[-1]["id"] if out else None, fail and last))
    plan["steps"] = out
    return plan


def _rewrite(label, body, roll):
    body = copy.deepcopy(body)
    if label == REDRIVE:
        body.pop("patch", None)
        return body
    body["plan"] = runnable_plan(body.get("plan"), fail=roll < HALF * FAILING // 100)
    if label == "POST /api/v1/runs":
        # A run takes either a plan or a saved workflow.
        body.pop("workflow", None)
        body.pop("version", None)
        if "seed" in body:
            body["seed"] = _integer(body["seed"])
    return body


# Ids of runs the server created (POST /api/v1/runs, GET /api/v1/runs), most recent last.
_run_ids: list[str] = []


def _reachable(case, roll):
    meta = case.meta
    if roll >= HALF or meta is None or not meta.generation.mode.is_positive:
        return case
    phase = meta.phase.name.value
    if phase not in REACH_PHASES:
        return case
    label = case.operation.label
    if label in RUN_BY_ID and phase == "fuzzing" and _run_ids:
        # The stateful phase follows the links from POST /api/v1/runs; the fuzzing phase draws ids.
        drawn = dict(case.path_parameters)
        case.path_parameters = {**drawn, "id": _run_ids[-1 - roll % min(len(_run_ids), 20)]}
        if not case.meta.generation.mode.is_positive:
            case.path_parameters = drawn
    if (label in PLAN_OPERATIONS or label == REDRIVE) and isinstance(case.body, dict):
        drawn = case.body
        case.body = _rewrite(label, drawn, roll)
        if not case.meta.generation.mode.is_positive:
            # Not valid against the document after all: send what was drawn.
            case.body = drawn
    return case


@schemathesis.hook
def before_generate_case(context, strategy):
    operation = context.operation
    if operation is None or (operation.label not in PLAN_OPERATIONS and operation.label not in RUN_BY_ID):
        return strategy
    return st.tuples(strategy, st.integers(min_value=0, max_value=99)).map(lambda pair: _reachable(*pair))


@schemathesis.hook
def after_call(context, case, response):
    label = case.operation.label
    if label not in ("POST /api/v1/runs", "GET /api/v1/runs") or not 200 <= response.status_code < 300:
        return
    try:
        data = response.json()
    except Exception:
        return
    found = [data] if label == "POST /api/v1/runs" else (data.get("runs") or [] if isinstance(data, dict) else [])
    for run in found:
        run_id = run.get("run_id") if isinstance(run, dict) else None
        if isinstance(run_id, str) and run_id not in _run_ids:
            _run_ids.append(run_id)


@schemathesis.hook
def filter_case(context, case):
    own = os.environ.get("CONTRACT_KEY_ID")
    operation = context.operation
    if not own or operation is None or operation.label not in KEY_BY_ID:
        return True
    return str(case.path_parameters.get("key_id")) != own
