"""aos.trace against the shared vectors in tests/vectors/ — the same files the Rust tests check."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Dict, List

import pytest

from aos import trace
from aos.models import RetryPolicy, TraceEntry
from conftest import VECTORS


def load(name: str) -> Dict[str, Any]:
    path = VECTORS / name
    assert path.exists(), f"missing vector file {path}"
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_vector_file_is_checked() -> None:
    files = sorted(p.name for p in Path(VECTORS).glob("*.json"))
    # webhooks.json is checked by test_webhooks.py.
    assert files == ["backoff.json", "canonical.json", "rng.json", "trace.json", "webhooks.json"], (
        "a vector file was added or removed: check it here too"
    )


CANONICAL = load("canonical.json")["cases"]


@pytest.mark.parametrize("case", CANONICAL, ids=[c["name"] for c in CANONICAL])
def test_canonical_json(case: Dict[str, Any]) -> None:
    value = json.loads(case["input"])
    expected = case["canonical"].encode("utf-8")
    assert trace.canonical_bytes(value) == expected
    assert trace.canonical(value) == case["canonical"]
    assert trace.sha256_hex(expected) == case["sha256"]
    assert trace.hash_value(value) == case["sha256"]


def test_canonical_is_idempotent() -> None:
    for case in CANONICAL:
        once = trace.canonical(json.loads(case["input"]))
        assert trace.canonical(json.loads(once)) == once


def test_canonical_edge_cases() -> None:
    assert trace.canonical(-0.0) == "0"
    assert trace.canonical(1.0) == "1"
    assert trace.canonical(2**53 + 1) == "9007199254740992"
    assert trace.canonical(-(2**53) + 1) == "-9007199254740991"
    assert trace.canonical(1e21) == "1e+21"
    assert trace.canonical(1e20) == "100000000000000000000"
    assert trace.canonical(1e-7) == "1e-7"
    assert trace.canonical(1e-6) == "0.000001"
    assert trace.canonical(-1.5e-9) == "-1.5e-9"
    assert trace.canonical("\u007f/\u001f") == '"\u007f/\\u001f"'
    assert trace.canonical({"b": [True, None], "a": {}}) == '{"a":{},"b":[true,null]}'
    assert trace.canonical((1, 2)) == "[1,2]"
    assert trace.hash_value({}) == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    with pytest.raises(ValueError):
        trace.canonical(float("nan"))
    with pytest.raises(ValueError):
        trace.canonical(float("inf"))
    with pytest.raises(TypeError):
        trace.canonical({1: "x"})
    with pytest.raises(TypeError):
        trace.canonical(object())


def test_canonical_numbers_match_ecmascript_on_many_doubles() -> None:
    # Property check of the number formatting: the canonical text parses back to the same double
    # and uses the exponent form exactly outside [1e-6, 1e21).
    import random

    rng = random.Random(8785)
    for _ in range(5000):
        bits = rng.getrandbits(64)
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
        if x != x or x in (float("inf"), float("-inf")):
            continue
        text = trace.canonical(x)
        assert float(text) == x or (x == 0 and text == "0")
        magnitude = abs(x)
        if magnitude != 0 and (magnitude >= 1e21 or magnitude < 1e-6):
            assert "e" in text, (x, text)
        else:
            assert "e" not in text, (x, text)


TRACE = load("trace.json")


def test_trace_entries_and_roots() -> None:
    entries: List[Dict[str, Any]] = []
    for item in TRACE["entries"]:
        entry = item["entry"]
        assert trace.step_hash(entry) == item["step_hash"]
        assert trace.step_hash(TraceEntry.from_dict(entry)) == item["step_hash"]
        entries.append(entry)
    assert trace.roots(entries) == TRACE["roots"]
    assert trace.root_hash(entries) == TRACE["root"]
    assert trace.root_hash([]) == trace.EMPTY_ROOT == TRACE["roots"][0]
    for i, entry in enumerate(entries):
        assert trace.chain(TRACE["roots"][i], trace.step_hash(entry)) == TRACE["roots"][i + 1]


def test_trace_worked_example_from_determinism_md() -> None:
    fetch_input = {"url": "https://example.com/price", "method": "GET"}
    assert trace.canonical(fetch_input) == '{"method":"GET","url":"https://example.com/price"}'
    assert trace.hash_value(fetch_input) == "8c99e43b1b8af61ecce537498ffc6762fb15e5931f3ebfabc621e9f2f3c070a5"
    outcome = {"ok": True, "output": {"price": 42000.5}}
    assert trace.hash_value(outcome) == "4ab74bc153195ec33e9a755812a1d99b220452a222d358c741a215547a54ca3d"
    failed = {
        "ok": False,
        "error": {
            "code": "HTTP_503",
            "category": "TRANSIENT",
            "message": "503 Service Unavailable",
            "retryable": True,
            "details": None,
        },
    }
    assert trace.hash_value(failed) == "6c1cadfeb319ac0168fba0c15b90a4ad4e0c2ad6905cc69e678abcf4f2271488"
    fmt_input = {"data": {"p": 42000.5}, "expr": '"BTC \\(.p)"'}
    assert trace.hash_value(fmt_input) == "6646df1ff2fe5fd81c02ec4f01581c8e880e596d267a0383974da4b704043172"


RNG = load("rng.json")


@pytest.mark.parametrize("case", RNG["cases"], ids=lambda c: c["key"])
def test_seeded_rng(case: Dict[str, Any]) -> None:
    key = trace.SeededRng.key(case["seed"], case["step_id"], case["attempt"], case["stream"])
    assert key == case["key"].encode("utf-8")
    rng = trace.SeededRng(case["seed"], case["step_id"], case["attempt"], case["stream"])
    assert [str(rng.next_u64()) for _ in case["u64"]] == case["u64"]
    fresh = trace.SeededRng(case["seed"], case["step_id"], case["attempt"], case["stream"])
    assert [fresh.next_f64() for _ in case["f64"]] == case["f64"]


def test_splitmix64_from_state() -> None:
    rng = trace.splitmix64(1234567)
    expected = RNG["splitmix64_from_state_1234567"]
    assert [str(rng.next_u64()) for _ in expected] == expected


BACKOFF = load("backoff.json")


@pytest.mark.parametrize("case", BACKOFF["cases"], ids=lambda c: json.dumps(c["policy"], sort_keys=True))
def test_backoff(case: Dict[str, Any]) -> None:
    delays = [
        trace.backoff_delay_ms(case["policy"], case["seed"], case["step_id"], n)
        for n in range(1, len(case["delays_ms"]) + 1)
    ]
    assert delays == case["delays_ms"]
    policy = RetryPolicy.from_dict(case["policy"])
    assert [
        trace.backoff_delay_ms(policy, case["seed"], case["step_id"], n) for n in range(1, len(case["delays_ms"]) + 1)
    ] == case["delays_ms"]


def test_backoff_retry_after_and_cap() -> None:
    policy = {"max_attempts": 6, "initial_delay_ms": 200, "max_delay_ms": 10000, "multiplier": 2.0}
    assert trace.backoff_delay_ms(policy, 42, "flaky", 1, retry_after_ms=5000) == 5000
    assert trace.backoff_delay_ms(policy, 42, "flaky", 1, retry_after_ms=10) == 105
    assert trace.backoff_delay_ms(policy, 42, "flaky", 1, retry_after_ms=-1) == 105
    assert trace.backoff_delay_ms(policy, 42, "flaky", 1, retry_after_ms=1.5) == 105
    assert trace.backoff_delay_ms(policy, 42, "flaky", 1, retry_after_ms=10**9) == trace.MAX_DELAY_MS
    huge = {"max_attempts": 20, "initial_delay_ms": 10**9, "max_delay_ms": 10**10, "multiplier": 2.0}
    assert trace.backoff_delay_ms(huge, 1, "s", 3) == trace.MAX_DELAY_MS
    assert trace.backoff_base_ms({"initial_delay_ms": 100, "max_delay_ms": 1000, "multiplier": 0.5}, 3) == 100


def test_step_order() -> None:
    plan = {
        "name": "p",
        "steps": [
            {"id": "a", "skill": "x"},
            {"id": "b", "skill": "x", "depends_on": ["a"]},
            {"id": "c", "skill": "x"},
            {"id": "d", "skill": "x", "depends_on": ["e"]},
            {"id": "e", "skill": "x", "depends_on": ["c"]},
        ],
    }
    # a and c are ready first (a comes first); then b (position 1) before e (position 4); d last.
    assert trace.step_order(plan) == ["a", "b", "c", "e", "d"]
