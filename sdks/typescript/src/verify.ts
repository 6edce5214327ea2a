/**
 * Client-side verification of a finished run (docs/determinism.md): for every entry of the run's
 * `trace`, the attempt record is looked up in `step_details` and its `input_hash` (SHA-256 of the
 * canonical `input`), `output_hash` (SHA-256 of the canonical `outcome`) and trace entry are
 * recomputed; the entries are chained into a root that must equal `trace_root`. The trace must also
 * follow the plan's step order and name each attempt once.
 */

import { canonicalize, hashValue, rootHash, stepOrder, traceEntryOf } from "./determinism.js";
import type { AttemptRecord, JsonValue, Outcome, RunView, TraceEntry } from "./types.js";
import { isFinalStatus } from "./types.js";

/** Why verification failed at one place. */
export type VerifyReason =
  /** The run has not finished (or has no `trace_root`): there is nothing to verify yet. */
  | "not_finished"
  /** An attempt's input no longer hashes to its recorded `input_hash`. */
  | "input_hash_mismatch"
  /** An attempt's outcome no longer hashes to its recorded `output_hash`. */
  | "output_hash_mismatch"
  /** The trace names an attempt that has no record. */
  | "missing_attempt"
  /** The same attempt appears twice in the trace, or has two records. */
  | "duplicate_attempt"
  /** A trace entry differs from the one recomputed from its record. */
  | "trace_mismatch"
  /** The trace names a step the plan lacks. */
  | "unknown_step"
  /** The trace is not in the plan's step order (topological, ties by plan position, attempts ascending). */
  | "trace_order"
  /** The chained root differs from `trace_root`. */
  | "root_mismatch";

export interface VerifyProblem {
  reason: VerifyReason;
  /** The step at fault (empty when no single step is). */
  stepId: string;
  /** The attempt at fault (0 when no single attempt is). */
  attempt: number;
  /** What the run recorded. */
  expected: JsonValue;
  /** What the SDK recomputed. */
  actual: JsonValue;
  /** The problem in words. */
  message: string;
}

export interface VerifyReport {
  runId: string;
  /** True when every hash, the trace and the root match. */
  ok: boolean;
  /** The run's `trace_root` as the server recorded it. */
  traceRoot: string | null;
  /** The root recomputed from the attempt records. */
  computedRoot: string;
  /** The recomputed trace entries, in trace order. */
  entries: TraceEntry[];
  /** Everything that did not match; empty when `ok`. */
  problems: VerifyProblem[];
  /** Observations that do not fail verification (e.g. an attempt recorded after the run finished). */
  warnings: string[];
}

/** The outcome exactly as AOS hashes it: an error always carries `details` (`null` when it has none). */
function hashedOutcome(outcome: Outcome): unknown {
  if (outcome && outcome.ok === false && outcome.error && outcome.error.details === undefined) {
    return { ok: false, error: { ...outcome.error, details: null } };
  }
  return outcome;
}

const keyOf = (stepId: string, attempt: number) => `${stepId}#${attempt}`;
const asJson = (v: unknown) => (v === undefined ? null : (v as JsonValue));

/**
 * Verifies a run's execution context (the JSON of `GET /api/v1/runs/{id}`) offline. A run that has
 * not finished gets a `not_finished` problem.
 */
export async function verifyRun(run: RunView): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const warnings: string[] = [];
  const problem = (reason: VerifyReason, stepId: string, attempt: number, expected: unknown, actual: unknown, message: string) =>
    problems.push({ reason, stepId, attempt, expected: asJson(expected), actual: asJson(actual), message });

  const traceRoot = typeof run.trace_root === "string" ? run.trace_root : null;
  if (!isFinalStatus(run.status)) {
    problem("not_finished", "", 0, null, run.status, `run is not finished (status ${run.status}); only a finished run has a trace root`);
  } else if (traceRoot === null) {
    problem("not_finished", "", 0, null, null, "the run has no trace_root");
  }

  const records = new Map<string, AttemptRecord>();
  for (const step of run.step_details ?? []) {
    for (const rec of step.attempts ?? []) {
      const k = keyOf(rec.step_id, rec.attempt);
      if (records.has(k)) problem("duplicate_attempt", rec.step_id, rec.attempt, null, null, `attempt ${k} has two records`);
      records.set(k, rec);
    }
  }

  const trace: TraceEntry[] = run.trace ?? [];
  const entries: TraceEntry[] = [];
  const seen = new Set<string>();
  for (const [i, recorded] of trace.entries()) {
    const k = keyOf(recorded.step_id, recorded.attempt);
    const where = `trace[${i}] (${k})`;
    if (seen.has(k)) problem("duplicate_attempt", recorded.step_id, recorded.attempt, null, null, `${where} appears twice in the trace`);
    seen.add(k);
    const rec = records.get(k);
    if (!rec) {
      problem("missing_attempt", recorded.step_id, recorded.attempt, traceEntryOf(recorded), null, `${where} has no attempt record`);
      // Chain the recorded entry so that later entries are still compared.
      entries.push(traceEntryOf(recorded));
      continue;
    }
    const inputHash = await hashValue(rec.input);
    const outputHash = await hashValue(hashedOutcome(rec.outcome));
    const entry: TraceEntry = {
      step_id: recorded.step_id,
      attempt: recorded.attempt,
      skill: rec.skill,
      input_hash: inputHash,
      output_hash: outputHash,
      ok: rec.outcome?.ok === true,
    };
    if (rec.input_hash !== inputHash) {
      problem("input_hash_mismatch", recorded.step_id, recorded.attempt, rec.input_hash, inputHash, `${where}: input_hash ${rec.input_hash} != sha256(JCS(input)) ${inputHash}`);
    }
    if (rec.output_hash !== outputHash) {
      problem("output_hash_mismatch", recorded.step_id, recorded.attempt, rec.output_hash, outputHash, `${where}: output_hash ${rec.output_hash} != sha256(JCS(outcome)) ${outputHash}`);
    }
    if (canonicalize(traceEntryOf(recorded)) !== canonicalize(entry)) {
      const fields = (Object.keys(entry) as Array<keyof TraceEntry>).filter((f) => recorded[f] !== entry[f]).sort();
      problem("trace_mismatch", recorded.step_id, recorded.attempt, traceEntryOf(recorded), entry, `${where}: the trace entry differs from the recomputed one in ${fields.join(", ")}`);
    }
    entries.push(entry);
  }

  // The trace's order: the plan's step order, attempts ascending within a step.
  if (run.plan && Array.isArray(run.plan.steps)) {
    const order = stepOrder(run.plan);
    const known = new Set(order);
    const unknown = [...new Set(trace.map((e) => e.step_id).filter((s) => !known.has(s)))].sort();
    if (unknown.length > 0) {
      problem("unknown_step", unknown[0]!, 0, null, unknown, `the trace names steps the plan lacks: ${unknown.join(", ")}`);
    } else {
      const actual = trace.map((e) => keyOf(e.step_id, e.attempt));
      const expected = order.flatMap((id) =>
        trace
          .filter((e) => e.step_id === id)
          .map((e) => e.attempt)
          .sort((a, b) => a - b)
          .map((n) => keyOf(id, n)),
      );
      if (actual.join("\n") !== expected.join("\n")) {
        problem("trace_order", "", 0, expected, actual, "the trace is not in the plan's step order (topological, ties by plan position)");
      }
    }
  }

  for (const [k, rec] of [...records.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (seen.has(k)) continue;
    const late = typeof run.finished_at_ms === "number" && rec.finished_at_ms >= run.finished_at_ms;
    warnings.push(`attempt ${k} ${late ? "finished after the run did" : "is not in the trace"}; it is not part of the trace root`);
  }

  const computedRoot = await rootHash(entries);
  if (traceRoot !== null && computedRoot !== traceRoot) {
    problem("root_mismatch", "", 0, traceRoot, computedRoot, `trace_root ${traceRoot} != recomputed root ${computedRoot}`);
  }
  return { runId: run.run_id, ok: problems.length === 0, traceRoot, computedRoot, entries, problems, warnings };
}
