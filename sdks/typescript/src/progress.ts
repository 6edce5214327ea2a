/**
 * Progress of a run while waiting for it: each change of a step's status or attempt, and of the
 * run's status, is reported once as a `ProgressEvent`.
 */

import type { RunStatus, RunView, StepStatus, StepView } from "./types.js";

/** A change seen while waiting for a run. */
export class ProgressEvent {
  readonly runId: string;
  /** The step whose status or attempt changed; `null` for a change of the run's own status. */
  readonly stepId: string | null;
  readonly status: RunStatus | StepStatus;
  /** `null` on the first observation (of the run, or of each step). */
  readonly previousStatus: RunStatus | StepStatus | null;
  /** The step's attempt (0 for run events). */
  readonly attempt: number;
  readonly previousAttempt: number | null;
  /** The whole run as seen at that moment. */
  readonly run: RunView;

  constructor(init: {
    runId: string;
    stepId: string | null;
    status: RunStatus | StepStatus;
    previousStatus: RunStatus | StepStatus | null;
    attempt: number;
    previousAttempt: number | null;
    run: RunView;
  }) {
    this.runId = init.runId;
    this.stepId = init.stepId;
    this.status = init.status;
    this.previousStatus = init.previousStatus;
    this.attempt = init.attempt;
    this.previousAttempt = init.previousAttempt;
    this.run = init.run;
  }

  /** The step's view, for step events. */
  get step(): StepView | undefined {
    return this.stepId === null ? undefined : this.run.step_details.find((s) => s.step_id === this.stepId);
  }

  /** A new attempt of a step that had already been attempted. */
  get isRetry(): boolean {
    return this.previousAttempt !== null && this.previousAttempt > 0 && this.attempt > this.previousAttempt;
  }

  /** e.g. `step fetch: pending -> running (attempt 1)` or `run: running -> succeeded`. */
  toString(): string {
    const who = this.stepId !== null ? `step ${this.stepId}` : "run";
    const was = this.previousStatus && this.previousStatus !== this.status ? `${this.previousStatus} -> ` : "";
    let text = `${who}: ${was}${this.status}`;
    if (this.stepId !== null && this.attempt) text += ` (attempt ${this.attempt})`;
    return text;
  }
}

/** Compares successive views of a run and reports each change once: steps in plan order, then the run. */
export class ProgressTracker {
  private readonly steps = new Map<string, [string, number]>();
  private runStatus: string | null = null;

  update(run: RunView): ProgressEvent[] {
    const events: ProgressEvent[] = [];
    for (const s of run.step_details ?? []) {
      const before = this.steps.get(s.step_id);
      if (!before || before[0] !== s.status || before[1] !== s.attempt) {
        events.push(
          new ProgressEvent({
            runId: run.run_id,
            stepId: s.step_id,
            status: s.status,
            previousStatus: (before?.[0] as StepStatus | undefined) ?? null,
            attempt: s.attempt,
            previousAttempt: before?.[1] ?? null,
            run,
          }),
        );
        this.steps.set(s.step_id, [s.status, s.attempt]);
      }
    }
    if (run.status !== this.runStatus) {
      events.push(
        new ProgressEvent({
          runId: run.run_id,
          stepId: null,
          status: run.status,
          previousStatus: this.runStatus as RunStatus | null,
          attempt: 0,
          previousAttempt: null,
          run,
        }),
      );
      this.runStatus = run.status;
    }
    return events;
  }
}
