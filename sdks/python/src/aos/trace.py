"""Trace verification, exactly as ``docs/determinism.md`` specifies it.

* :func:`canonical` — canonical JSON (RFC 8785, JCS);
* :func:`sha256_hex`, :func:`hash_value` — SHA-256 of bytes and of a value's canonical text;
* :func:`step_hash`, :func:`chain`, :func:`root_hash` — the trace entry hash and the root chain;
* :class:`SeededRng` — SplitMix64 seeded from SHA-256 of ``[seed, step_id, attempt, stream]``;
* :func:`backoff_delay_ms` — the retry delay after a failed attempt;
* :func:`step_order` — the deterministic topological step order of a plan;
* :func:`verify_run` — recompute a finished run's ``trace_root`` from its attempt records.

Every function is checked against the shared vectors in ``tests/vectors/``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

from .models import Model, Plan, RetryPolicy, TraceEntry

__all__ = [
    "EMPTY_ROOT",
    "MAX_DELAY_MS",
    "SeededRng",
    "VerifyReport",
    "backoff_base_ms",
    "backoff_delay_ms",
    "canonical",
    "canonical_bytes",
    "chain",
    "hash_value",
    "roots",
    "root_hash",
    "sha256_hex",
    "splitmix64",
    "step_hash",
    "step_order",
    "trace_entry",
    "verify_run",
]

#: The root of an empty trace: SHA-256 of no bytes.
EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: No retry delay exceeds 15 minutes.
MAX_DELAY_MS = 900_000

_MASK = (1 << 64) - 1
_TWO_53 = 1 << 53

# --------------------------------------------------------------------------------------------
# Canonical JSON (RFC 8785)

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _number(x: Union[int, float]) -> str:
    if isinstance(x, int) and -_TWO_53 < x < _TWO_53:
        return str(x)
    f = float(x)  # integers of 2^53 or more are rounded to the nearest double, as AOS does
    if math.isnan(f) or math.isinf(f):
        raise ValueError("canonical JSON has no NaN or infinity")
    if f == 0:
        return "0"
    # Shortest round-trip digits (repr), as digits d1..dk and n with value = 0.d1..dk * 10^n.
    t = Decimal(repr(abs(f))).as_tuple()
    digits = "".join(map(str, t.digits)).rstrip("0")
    n = len(t.digits) + int(t.exponent)
    k = len(digits)
    sign = "-" if f < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    exp = n - 1
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return sign + mantissa + "e" + ("+" if exp > 0 else "-") + str(abs(exp))


def _string(s: str) -> str:
    out = ['"']
    for c in s:
        esc = _ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif ord(c) < 0x20:
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _utf16_key(k: str) -> bytes:
    return k.encode("utf-16-be", "surrogatepass")


def canonical(value: Any) -> str:
    """The canonical JSON text (RFC 8785) of a JSON value.

    Accepts what :func:`json.loads` produces (``None``, ``bool``, ``int``, ``float``, ``str``,
    lists and dicts with string keys); tuples count as arrays and SDK models as their JSON.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, Mapping):
        for k in value:
            if not isinstance(k, str):
                raise TypeError(f"canonical JSON object keys must be strings, got {type(k).__name__}")
        keys = sorted(value, key=_utf16_key)
        return "{" + ",".join(_string(k) + ":" + canonical(value[k]) for k in keys) + "}"
    if isinstance(value, Model):
        return canonical(value.to_dict())
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def canonical_bytes(value: Any) -> bytes:
    """The UTF-8 bytes of :func:`canonical`."""
    return canonical(value).encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------------------------
# Hashes and the trace


def sha256_hex(data: Union[bytes, str]) -> str:
    """Lower-case hex SHA-256 of bytes (a string is taken as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def hash_value(value: Any) -> str:
    """SHA-256 of a value's canonical JSON: how AOS hashes inputs and outcomes."""
    return sha256_hex(canonical_bytes(value))


_ENTRY_FIELDS = ("step_id", "attempt", "skill", "input_hash", "output_hash", "ok")


def trace_entry(
    step_id: str, attempt: int, skill: str, input_hash: str, output_hash: str, ok: bool
) -> Dict[str, Any]:
    """A trace entry: exactly the six hashed fields."""
    return {
        "step_id": step_id,
        "attempt": attempt,
        "skill": skill,
        "input_hash": input_hash,
        "output_hash": output_hash,
        "ok": ok,
    }


def _entry_dict(entry: Union[Mapping[str, Any], TraceEntry]) -> Dict[str, Any]:
    data = entry.to_dict() if isinstance(entry, TraceEntry) else entry
    return {k: data[k] for k in _ENTRY_FIELDS}


def step_hash(entry: Union[Mapping[str, Any], TraceEntry]) -> str:
    """The hash of one trace entry (other fields of ``entry`` are ignored)."""
    return hash_value(_entry_dict(entry))


def chain(root: str, entry_hash: str) -> str:
    """One link of the root chain: ``sha256(hex(root) || hex(step_hash))`` over ASCII hex text."""
    return sha256_hex((root + entry_hash).encode("ascii"))


def roots(entries: Iterable[Union[Mapping[str, Any], TraceEntry]]) -> List[str]:
    """Every intermediate root, starting with root_0 (:data:`EMPTY_ROOT`)."""
    out = [EMPTY_ROOT]
    for e in entries:
        out.append(chain(out[-1], step_hash(e)))
    return out


def root_hash(entries: Iterable[Union[Mapping[str, Any], TraceEntry]]) -> str:
    """The trace root of entries in trace order."""
    return roots(entries)[-1]


# --------------------------------------------------------------------------------------------
# Seeded randomness and backoff


def splitmix64(state: int) -> "SeededRng":
    """A SplitMix64 generator started directly from ``state``."""
    return SeededRng.from_state(state)


class SeededRng:
    """The generator AOS derives for one (seed, step, attempt, stream).

    ``state`` = the first 8 bytes (big-endian) of SHA-256 of the canonical JSON of
    ``[seed, step_id, attempt, stream]``; the generator is SplitMix64 from that state.
    Streams are ``"skill"`` and ``"backoff"``.
    """

    __slots__ = ("state",)

    def __init__(self, seed: int, step_id: str, attempt: int, stream: str) -> None:
        self.state = int.from_bytes(hashlib.sha256(self.key(seed, step_id, attempt, stream)).digest()[:8], "big")

    @staticmethod
    def key(seed: int, step_id: str, attempt: int, stream: str) -> bytes:
        """The derivation key: canonical JSON of ``[seed, step_id, attempt, stream]``."""
        return canonical_bytes([seed, step_id, attempt, stream])

    @classmethod
    def from_state(cls, state: int) -> "SeededRng":
        rng = cls.__new__(cls)
        rng.state = state & _MASK
        return rng

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def next_f64(self) -> float:
        """A double in [0, 1) from the top 53 bits of :meth:`next_u64`."""
        return (self.next_u64() >> 11) * 2.0**-53


def _policy_values(policy: Union[RetryPolicy, Mapping[str, Any]]) -> Tuple[float, float, float]:
    if isinstance(policy, RetryPolicy):
        return float(policy.initial_delay_ms), float(policy.max_delay_ms), float(policy.multiplier)
    return (
        float(policy.get("initial_delay_ms", 200)),
        float(policy.get("max_delay_ms", 10_000)),
        float(policy.get("multiplier", 2.0)),
    )


def backoff_base_ms(policy: Union[RetryPolicy, Mapping[str, Any]], attempt: int) -> float:
    """``min(max_delay_ms, initial_delay_ms * max(multiplier, 1)^(attempt - 1))`` as a double."""
    initial, maximum, multiplier = _policy_values(policy)
    return min(maximum, initial * max(multiplier, 1.0) ** (attempt - 1))


def backoff_delay_ms(
    policy: Union[RetryPolicy, Mapping[str, Any]],
    seed: int,
    step_id: str,
    attempt: int,
    retry_after_ms: Optional[Any] = None,
) -> int:
    """The delay in ms before attempt ``attempt + 1`` after attempt ``attempt`` failed.

    Equal jitter: ``floor(base/2 + u * base/2)`` with ``u`` the first ``next_f64`` of
    ``(seed, step_id, attempt, "backoff")``, capped at 15 minutes. ``retry_after_ms`` (the error's
    ``details.retry_after_ms``) raises the delay when it is a non-negative integer.
    """
    base = backoff_base_ms(policy, attempt)
    u = SeededRng(seed, step_id, attempt, "backoff").next_f64()
    delay = min(math.floor(base / 2 + u * base / 2), MAX_DELAY_MS)
    if isinstance(retry_after_ms, int) and not isinstance(retry_after_ms, bool) and retry_after_ms >= 0:
        delay = min(max(delay, retry_after_ms), MAX_DELAY_MS)
    return int(delay)


# --------------------------------------------------------------------------------------------
# Step order and run verification


def step_order(plan: Union[Plan, Mapping[str, Any]]) -> List[str]:
    """The plan's step order: Kahn's algorithm with the ready set ordered by plan position.

    Steps that are part of a cycle (which a valid plan never has) are left out.
    """
    data = plan.to_dict() if isinstance(plan, Plan) else plan
    steps = list(data.get("steps") or [])
    ids = [str(s["id"]) for s in steps]
    position = {sid: i for i, sid in enumerate(ids)}
    deps: Dict[str, Set[str]] = {
        str(s["id"]): {d for d in (s.get("depends_on") or []) if d in position} for s in steps
    }
    order: List[str] = []
    done: Set[str] = set()
    ready = [sid for sid in ids if not deps[sid]]
    while ready:
        ready.sort(key=position.__getitem__)
        sid = ready.pop(0)
        order.append(sid)
        done.add(sid)
        for other in ids:
            if other not in done and other not in ready and deps[other] and deps[other] <= done:
                ready.append(other)
    return order


@dataclass
class VerifyReport:
    """The result of :func:`verify_run`. True in a boolean context when the run verified."""

    run_id: str
    #: The run's ``trace_root`` as the server recorded it.
    trace_root: Optional[str]
    #: The root recomputed from the attempt records.
    computed_root: str
    #: How many trace entries were recomputed.
    entries: int
    #: Everything that did not match; empty when the run verified.
    problems: List[str] = field(default_factory=list)
    #: Observations that do not fail verification.
    warnings: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok


def verify_run(run: Union[Model, Mapping[str, Any]]) -> VerifyReport:
    """Recompute a finished run's trace root from its attempt records and compare.

    ``run`` is a :class:`~aos.models.RunView` or the JSON of ``GET /api/v1/runs/{id}``. For every
    entry of the run's ``trace`` (the trace order), the attempt record is looked up in
    ``step_details`` and its ``input_hash`` (SHA-256 of the canonical ``input``), ``output_hash``
    (SHA-256 of the canonical ``outcome``) and trace entry are recomputed. The entries are chained
    into a root that must equal ``trace_root``. The trace must also follow the plan's step order
    (topological, ties by plan position, attempts ascending), name each attempt once, and agree
    with the records' recorded hashes.
    """
    data: Mapping[str, Any] = run.to_dict() if isinstance(run, Model) else run
    run_id = str(data.get("run_id", ""))
    status = data.get("status")
    recorded_root = data.get("trace_root")
    problems: List[str] = []
    warnings: List[str] = []
    if status not in ("succeeded", "failed", "cancelled"):
        problems.append(f"run is not finished (status {status!r}); only a finished run has a trace root")
    if not isinstance(recorded_root, str):
        problems.append("the run has no trace_root")

    records: Dict[Tuple[str, int], Mapping[str, Any]] = {}
    for step in data.get("step_details") or []:
        for rec in step.get("attempts") or []:
            key = (str(rec["step_id"]), int(rec["attempt"]))
            if key in records:
                problems.append(f"attempt {key[0]}#{key[1]} has two records")
            records[key] = rec

    trace = list(data.get("trace") or [])
    computed: List[Dict[str, Any]] = []
    seen: Set[Tuple[str, int]] = set()
    for i, recorded in enumerate(trace):
        key = (str(recorded["step_id"]), int(recorded["attempt"]))
        where = f"trace[{i}] ({key[0]}#{key[1]})"
        if key in seen:
            problems.append(f"{where} appears twice in the trace")
        seen.add(key)
        rec = records.get(key)
        if rec is None:
            problems.append(f"{where} has no attempt record")
            # Chain the recorded entry so later entries are still compared.
            computed.append(_entry_dict(recorded))
            continue
        outcome = rec.get("outcome")
        input_hash = hash_value(rec.get("input"))
        output_hash = hash_value(outcome)
        ok = bool(outcome.get("ok")) if isinstance(outcome, Mapping) else False
        entry = trace_entry(key[0], key[1], str(rec.get("skill")), input_hash, output_hash, ok)
        if rec.get("input_hash") != input_hash:
            problems.append(f"{where}: input_hash {rec.get('input_hash')} != sha256(JCS(input)) {input_hash}")
        if rec.get("output_hash") != output_hash:
            problems.append(f"{where}: output_hash {rec.get('output_hash')} != sha256(JCS(outcome)) {output_hash}")
        if _entry_dict(recorded) != entry:
            diff = sorted(k for k in _ENTRY_FIELDS if recorded.get(k) != entry[k])
            problems.append(f"{where}: the trace entry differs from the recomputed one in {', '.join(diff)}")
        computed.append(entry)

    plan = data.get("plan")
    if isinstance(plan, Mapping):
        order = step_order(plan)
        expected = [
            (sid, n)
            for sid in order
            for n in sorted(n for (s, n) in seen if s == sid)
        ]
        actual = [(str(e["step_id"]), int(e["attempt"])) for e in trace]
        unknown = sorted({k[0] for k in seen} - set(order))
        if unknown:
            problems.append(f"the trace names steps the plan lacks: {', '.join(unknown)}")
        elif actual != expected:
            problems.append("the trace is not in the plan's step order (topological, ties by plan position)")

    for key, rec in sorted(records.items()):
        if key not in seen:
            finished = data.get("finished_at_ms")
            late = isinstance(finished, int) and int(rec.get("finished_at_ms", 0)) >= finished
            note = "finished after the run did" if late else "is not in the trace"
            warnings.append(f"attempt {key[0]}#{key[1]} {note}; it is not part of the trace root")

    computed_root = root_hash(computed)
    if isinstance(recorded_root, str) and computed_root != recorded_root:
        problems.append(f"trace_root {recorded_root} != recomputed root {computed_root}")
    return VerifyReport(
        run_id=run_id,
        trace_root=recorded_root if isinstance(recorded_root, str) else None,
        computed_root=computed_root,
        entries=len(computed),
        problems=problems,
        warnings=warnings,
    )

