/**
 * A small plan builder: steps with camelCase options that become the API's snake_case plan, and
 * helpers for `{{ ... }}` references.
 *
 * ```ts
 * const p = plan("btc")
 *   .inputSchema({ type: "object", properties: { url: { type: "string" } } })
 *   .httpCall("fetch", { url: ref.input("url") }, { retry: { maxAttempts: 3, retryOn: ["TRANSIENT"] } })
 *   .jsonTransform("price", { data: ref.step("fetch", "body"), expr: ".bitcoin.usd" }, { dependsOn: ["fetch"] })
 *   .build();
 * ```
 */

import type { Budget, Category, JsonObject, JsonValue, OnError, Plan, RetryPolicy, Step } from "./types.js";

/** Retry policy in camelCase; see `RetryPolicy` for the wire form. */
export interface RetryOptions {
  /** Total attempts including the first, 1 to 20. */
  maxAttempts: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  multiplier?: number;
  /** Categories that retry; when absent, an error retries when it says it is retryable. */
  retryOn?: Category[];
}

/** A step's options in camelCase. */
export interface StepOptions {
  dependsOn?: string[];
  /** A jq expression over `{inputs, steps}`; the step runs only when it is truthy. */
  condition?: string;
  /** `"abort"` (default), `"continue"`, or a fallback. */
  onError?: "abort" | "continue" | OnError;
  retry?: RetryOptions | RetryPolicy;
  /** Per-attempt timeout, 1 to 900000 ms. */
  timeoutMs?: number;
}

/** The input of the `http_call` skill. */
export interface HttpCallInput {
  url: string;
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" | string;
  headers?: Record<string, string>;
  /** Scalars; arrays repeat the name; nulls are left out. */
  query?: Record<string, string | number | boolean | null | Array<string | number | boolean>>;
  /** A string is sent as text, anything else as JSON. */
  body?: JsonValue;
  /** A number, or a whole-string `{{ ... }}` reference. */
  timeout_ms?: number | string;
}

/** The input of the `json_transform` skill. */
export interface JsonTransformInput {
  data: JsonValue;
  expr: string;
}

/** Budget options in camelCase. `maxDurationMs: null` lifts the 15-minute default. */
export interface BudgetOptions {
  maxCostUsd?: number;
  maxDurationMs?: number | null;
}

const PATH_RE = /^[A-Za-z0-9_-]+(?:\[\d+\])*(?:\.[A-Za-z0-9_-]+(?:\[\d+\])*)*$/;
const STEP_ID_RE = /^[A-Za-z0-9_-]+$/;

function checkPath(path: string, what: string): void {
  if (!PATH_RE.test(path)) throw new Error(`invalid ${what} path: ${JSON.stringify(path)}`);
}

/** Builders of `{{ ... }}` template references. */
export const ref = {
  /** `{{ inputs.<path> }}` */
  input(path: string): string {
    checkPath(path, "input");
    return `{{ inputs.${path} }}`;
  },
  /** `{{ steps.<id>.output }}` or `{{ steps.<id>.output.<path> }}` */
  step(stepId: string, path?: string): string {
    if (!STEP_ID_RE.test(stepId)) throw new Error(`invalid step id: ${JSON.stringify(stepId)}`);
    if (path === undefined || path === "") return `{{ steps.${stepId}.output }}`;
    checkPath(path, "output");
    return `{{ steps.${stepId}.output.${path} }}`;
  },
  /** `{{ secrets.<NAME> }}` */
  secret(name: string): string {
    if (!/^[A-Za-z0-9_]{1,128}$/.test(name)) throw new Error(`invalid secret name: ${JSON.stringify(name)}`);
    return `{{ secrets.${name} }}`;
  },
};

function retryToWire(r: RetryOptions | RetryPolicy): RetryPolicy {
  if ("max_attempts" in r) return { ...r };
  const out: RetryPolicy = { max_attempts: r.maxAttempts };
  if (r.initialDelayMs !== undefined) out.initial_delay_ms = r.initialDelayMs;
  if (r.maxDelayMs !== undefined) out.max_delay_ms = r.maxDelayMs;
  if (r.multiplier !== undefined) out.multiplier = r.multiplier;
  if (r.retryOn !== undefined) out.retry_on = r.retryOn;
  return out;
}

function onErrorToWire(o: StepOptions["onError"]): OnError | undefined {
  if (o === undefined) return undefined;
  if (o === "abort" || o === "continue") return { action: o };
  return o;
}

/** Builds a plan step by step. `build()` checks ids and dependencies and returns the plan. */
export class PlanBuilder {
  private readonly name: string;
  private schema: JsonObject | undefined;
  private limits: Budget | undefined;
  private readonly steps: Step[] = [];

  constructor(name: string) {
    this.name = name;
  }

  /** The JSON Schema the run's `inputs` must satisfy. */
  inputSchema(schema: JsonObject): this {
    this.schema = schema;
    return this;
  }

  /** Per-run limits. */
  budget(budget: BudgetOptions): this {
    const b: Budget = {};
    if (budget.maxCostUsd !== undefined) b.max_cost_usd = budget.maxCostUsd;
    if (budget.maxDurationMs !== undefined) b.max_duration_ms = budget.maxDurationMs;
    this.limits = b;
    return this;
  }

  /** Adds a step running `skill` with `input`. */
  step(id: string, skill: string, input?: JsonValue, options: StepOptions = {}): this {
    const step: Step = { id, skill };
    if (input !== undefined) step.input = input;
    if (options.dependsOn && options.dependsOn.length > 0) step.depends_on = [...options.dependsOn];
    if (options.condition !== undefined) step.condition = options.condition;
    const onError = onErrorToWire(options.onError);
    if (onError) step.on_error = onError;
    if (options.retry) step.retry = retryToWire(options.retry);
    if (options.timeoutMs !== undefined) step.timeout_ms = options.timeoutMs;
    this.steps.push(step);
    return this;
  }

  /** Adds an `http_call` step. */
  httpCall(id: string, input: HttpCallInput, options?: StepOptions): this {
    return this.step(id, "http_call", input as unknown as JsonValue, options);
  }

  /** Adds a `json_transform` step: the jq program `expr` over `data`. */
  jsonTransform(id: string, input: JsonTransformInput, options?: StepOptions): this {
    return this.step(id, "json_transform", input as unknown as JsonValue, options);
  }

  /**
   * The plan. Throws when it is clearly invalid (no steps, a bad or duplicate step id, a dependency
   * on a missing step, a cycle); the server validates everything else at submission.
   */
  build(): Plan {
    if (this.name.trim() === "") throw new Error("a plan needs a name");
    if (this.steps.length === 0) throw new Error("a plan needs at least one step");
    const ids = new Set<string>();
    for (const s of this.steps) {
      if (!STEP_ID_RE.test(s.id)) throw new Error(`step id ${JSON.stringify(s.id)} may only hold letters, digits, _ and -`);
      if (ids.has(s.id)) throw new Error(`duplicate step id ${JSON.stringify(s.id)}`);
      ids.add(s.id);
    }
    for (const s of this.steps) {
      for (const d of s.depends_on ?? []) {
        if (!ids.has(d) || d === s.id) throw new Error(`step ${JSON.stringify(s.id)} depends on unknown step ${JSON.stringify(d)}`);
      }
    }
    // Cycle check: depth-first search over depends_on.
    const byId = new Map(this.steps.map((s) => [s.id, s] as const));
    const state = new Map<string, 1 | 2>();
    const visit = (id: string, path: string[]): void => {
      const st = state.get(id);
      if (st === 2) return;
      if (st === 1) throw new Error(`the steps form a cycle: ${[...path, id].join(" -> ")}`);
      state.set(id, 1);
      for (const d of byId.get(id)?.depends_on ?? []) visit(d, [...path, id]);
      state.set(id, 2);
    };
    for (const s of this.steps) visit(s.id, []);

    const plan: Plan = { name: this.name, steps: this.steps.map((s) => structuredCloneJson(s)) };
    if (this.schema !== undefined) plan.input_schema = structuredCloneJson(this.schema);
    if (this.limits !== undefined) plan.budget = { ...this.limits };
    return plan;
  }

  toJSON(): Plan {
    return this.build();
  }
}

function structuredCloneJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** Starts a plan builder. */
export function plan(name: string): PlanBuilder {
  return new PlanBuilder(name);
}
