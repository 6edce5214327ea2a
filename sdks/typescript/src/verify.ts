/**
 * Client-side verification of a finished run: recompute every attempt's input and output hash from
 * the attempt records, rebuild the trace in the deterministic step order, chain the root and
 * compare with the run's recorded `trace` and `trace_root` (docs/determinism.md).
 */

import { AosError } from "./errors.js";
import { canonicalize, hashValue, rootHash, stepOrder } from "./determinism.js";
import type { AttemptRecord, JsonValue, Outcome, RunView, TraceEntry } from "./types.js";
import { isFinalStatus } from "./types.js";

/** Why verification failed at one place. */
export type VerifyReason =
  /** An attempt's input no longer hashes to its recorded `input_hash`. */
  | "input_hash_mismatch"
  /** An attempt's outcome no longer hashes to its recorded `output_hash`. */
  | "output_hash_mismatch"
  /** The recorded trace names an attempt that has no record. */
  | "missing_attempt"
  /** The rebuilt trace entry differs from the recorded one (or the traces differ in length). */
  | "trace_mismatch"
  /** The chained root of the rebuilt trace differs from `trace_root`. */
  | "root_mismatch";

export interface VerifyProblem {
  reason: VerifyReason;
  /** The step at fault (empty for a root mismatch). */
  stepId: string;
  /** The attempt at fault (0 for a root mismatch). */
  attempt: number;
  /** What the run recorded. */
  expected: JsonValue;
  /** What the SDK recomputed. */
  actual: JsonValue;
}

export interface VerifyReport {
  runId: string;
  /** True when every hash, the trace and the root match. */
  ok: boolean;
  /** The run's recorded `trace_root`. */
  traceRoot: string | null;
  /** The root chained from the recomputed trace. */
  computedRoot: string;
  /** The trace rebuilt from the attempt records, in step order. */
  entries: TraceEntry[];
  /** Attempts recorded after the run finished: they are not part of the trace. */
  lateAttempts: Array<{ stepId: string; attempt: number }>;
  /** Every difference found, in trace order; empty when `ok`. */
  problems: VerifyProblem[];
}

/** The outcome exactly as AOS hashes it: an error always carries `details` (`null` when it has none). */
function hashedOutcome(outcome: Outcome): JsonValue {
  if (outcome && outcome.ok === false && outcome.error && outcome.error.details === undefined) {
    return { ok: false, error: { ...outcome.error, details: null } } as unknown as JsonValue;
  }
  return outcome as unknown as JsonValue;
}

const key = (stepId: string, attempt: number) => `${attempt}\u0000${stepId}`;

/**
 * Verifies a run's execution context (`GET /api/v1/runs/{id}`) offline. The run must be finished;
 * otherwise an `AosError` with code `RUN_NOT_FINISHED` is thrown.
 */
export async function verifyRun(run: RunView): Promise<VerifyReport> {
  if (!isFinalStatus(run.status)) {
    throw new AosError({ status: 0, code: "RUN_NOT_FINISHED", message: `run ${run.run_id} is ${run.status}; only a finished run has a trace to verify` });
  }
  const records = new Map<string, AttemptRecord>();
  for (const step of run.step_details ?? []) {
    for (const a of step.attempts ?? []) records.set(key(a.step_id, a.attempt), a);
  }
  const recordedTrace: TraceEntry[] = run.trace ?? [];
  const inTrace = new Set(recordedTrace.map((e) => key(e.step_id, e.attempt)));
  const problems: VerifyProblem[] = [];
  const entries: TraceEntry[] = [];
  const lateAttempts: Array<{ stepId: string; attempt: number }> = [];

  // The attempts that belong to the run's history: 1..the step's last attempt, in step order.
  for (const stepId of stepOrder(run.plan)) {
    const last = run.steps?.[stepId]?.attempt ?? 0;
    for (let n = 1; n <= last; n++) {
      const rec = records.get(key(stepId, n));
      if (!rec) continue;
      // An attempt still executing when the run finished is recorded later and is not in the trace.
      if (!inTrace.has(key(stepId, n)) && run.finished_at_ms != null && rec.finished_at_ms >= run.finished_at_ms) {
        lateAttempts.push({ stepId, attempt: n });
        continue;
      }
      const inputHash = await hashValue(rec.input);
      const outputHash = await hashValue(hashedOutcome(rec.outcome));
      if (inputHash !== rec.input_hash) {
        problems.push({ reason: "input_hash_mismatch", stepId, attempt: n, expected: rec.input_hash, actual: inputHash });
      }
      if (outputHash !== rec.output_hash) {
        problems.push({ reason: "output_hash_mismatch", stepId, attempt: n, expected: rec.output_hash, actual: outputHash });
      }
      entries.push({ step_id: stepId, attempt: n, skill: rec.skill, input_hash: inputHash, output_hash: outputHash, ok: rec.outcome?.ok === true });
    }
  }

  // Compare the rebuilt trace with the recorded one, entry by entry; report the first difference.
  for (const e of recordedTrace) {
    if (!records.has(key(e.step_id, e.attempt))) {
      problems.push({ reason: "missing_attempt", stepId: e.step_id, attempt: e.attempt, expected: e as unknown as JsonValue, actual: null });
    }
  }
  const n = Math.max(entries.length, recordedTrace.length);
  for (let i = 0; i < n; i++) {
    const expected = recordedTrace[i];
    const actual = entries[i];
    const same =
      expected !== undefined &&
      actual !== undefined &&
      canonicalize({ ...actual }) ===
        canonicalize({
          step_id: expected.step_id,
          attempt: expected.attempt,
          skill: expected.skill,
          input_hash: expected.input_hash,
          output_hash: expected.output_hash,
          ok: expected.ok,
        });
    if (!same) {
      const where = actual ?? expected!;
      problems.push({
        reason: "trace_mismatch",
        stepId: where.step_id,
        attempt: where.attempt,
        expected: (expected ?? null) as unknown as JsonValue,
        actual: (actual ?? null) as unknown as JsonValue,
      });
      break;
    }
  }

  const computedRoot = await rootHash(entries);
  const traceRoot = run.trace_root ?? null;
  if (computedRoot !== traceRoot) {
    problems.push({ reason: "root_mismatch", stepId: "", attempt: 0, expected: traceRoot, actual: computedRoot });
  }
  return { runId: run.run_id, ok: problems.length === 0, traceRoot, computedRoot, entries, lateAttempts, problems };
}
