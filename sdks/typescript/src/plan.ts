/**
 * A small plan builder: steps with camelCase options that become the API's snake_case plan, and
 * helpers for `{{ ... }}` references.
 *
 * ```ts
 * const p = plan("btc")
 *   .inputs(["url"], { url: { type: "string" } })
 *   .httpCall("fetch", refInput("url"), { retry: { maxAttempts: 3, retryOn: ["TRANSIENT"] } })
 *   .jsonTransform("price", refStep("fetch", "output.body"), ".bitcoin.usd", { dependsOn: ["fetch"] })
 *   .build();
 * ```
 */

import type { Budget, Category, JsonObject, JsonValue, OnError, Plan, PolicyMode, RetryPolicy, Step } from "./types.js";

/** The builder found a problem before sending the plan to the server. */
export class PlanBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlanBuildError";
  }
}

/** Retry policy in camelCase; the wire form (`RetryPolicy`) and a bare `maxAttempts` number work too. */
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
  /** `"abort"` (default), `"continue"`, or `fallback(skill, input)`. */
  onError?: "abort" | "continue" | OnError;
  /** A retry policy, or `maxAttempts` as a number. */
  retry?: RetryOptions | RetryPolicy | number;
  /** Per-attempt timeout, 1 to 900000 ms. */
  timeoutMs?: number;
}

/** The input of the `http_call` skill. */
export interface HttpCallInput {
  /** An absolute http(s) URL, or a whole-string `{{ ... }}` reference. */
  url: string;
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";
  headers?: Record<string, string>;
  /** Scalars; arrays repeat the name; nulls are left out. */
  query?: Record<string, string | number | boolean | null | Array<string | number | boolean>>;
  /** A string is sent as text, anything else as JSON. */
  body?: JsonValue;
  /** The request's own timeout: a number, or a whole-string `{{ ... }}` reference. */
  timeout_ms?: number | string;
}

/** Budget options in camelCase. `maxDurationMs: null` lifts the 15-minute default. */
export interface BudgetOptions {
  maxCostUsd?: number;
  maxDurationMs?: number | null;
}

const SEGMENT = "[A-Za-z0-9_-]+(?:\\[\\d+\\])*";
const PATH_RE = new RegExp(`^${SEGMENT}(?:\\.${SEGMENT})*$`);
const STEP_ID_RE = /^[A-Za-z0-9_-]+$/;
const SECRET_RE = /^[A-Za-z0-9_]{1,128}$/;
const STEP_REF_RE = /\{\{\s*steps\.([A-Za-z0-9_-]+)/g;

function checkPath(path: string, what: string): string {
  const p = path.trim();
  if (!PATH_RE.test(p)) throw new Error(`invalid ${what} path ${JSON.stringify(path)}: segments of letters, digits, '_', '-' joined by '.'`);
  return p;
}

/** `{{ inputs.<path> }}`: a value of the run's inputs. */
export function refInput(path: string): string {
  return `{{ inputs.${checkPath(path, "input")} }}`;
}

/**
 * `{{ steps.<id>.<path> }}`: a step's output or a value inside it. `path` starts with `output`:
 * `refStep("a")` is `{{ steps.a.output }}`, `refStep("a", "output.body")` is
 * `{{ steps.a.output.body }}`.
 */
export function refStep(stepId: string, path = "output"): string {
  if (!STEP_ID_RE.test(stepId)) throw new Error(`invalid step id ${JSON.stringify(stepId)}`);
  const p = checkPath(path, "step");
  if (p !== "output" && !p.startsWith("output.") && !p.startsWith("output[")) {
    throw new Error(`a step reference path starts with 'output', got ${JSON.stringify(path)}`);
  }
  return `{{ steps.${stepId}.${p} }}`;
}

/** `{{ secrets.<NAME> }}`: a tenant secret, resolved only by the skill worker. */
export function refSecret(name: string): string {
  if (!SECRET_RE.test(name)) throw new Error(`invalid secret name ${JSON.stringify(name)}: 1 to 128 letters, digits or '_'`);
  return `{{ secrets.${name} }}`;
}

/** The reference helpers as one object: `ref.input`, `ref.step`, `ref.secret`. */
export const ref = { input: refInput, step: refStep, secret: refSecret } as const;

/** `on_error` that runs `skill` with `input` in the step's place. */
export function fallback(skill: string, input?: JsonValue): OnError {
  return input === undefined ? { action: "fallback", skill } : { action: "fallback", skill, input };
}

/** The step ids that the template strings inside `value` reference. */
export function stepReferences(value: unknown): Set<string> {
  const found = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === "string") {
      for (const m of v.matchAll(STEP_REF_RE)) found.add(m[1]!);
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v !== null && typeof v === "object") {
      Object.values(v).forEach(walk);
    }
  };
  walk(value);
  return found;
}

function retryToWire(r: RetryOptions | RetryPolicy | number): RetryPolicy {
  if (typeof r === "number") return { max_attempts: r };
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
  if (typeof o === "string") {
    if (o !== "abort" && o !== "continue") throw new Error("onError as a string is 'abort' or 'continue'; use fallback(skill, input)");
    return { action: o };
  }
  return o;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Builds a plan step by step. Every method returns the builder; `build()` returns the plan. */
export class PlanBuilder {
  private readonly name: string;
  private schema: JsonObject | undefined;
  private limits: Budget | undefined;
  private policyMode: PolicyMode | undefined;
  private readonly steps: Step[] = [];

  constructor(name: string, options: PlanOptions = {}) {
    this.name = name;
    if (options.inputSchema) this.inputSchema(options.inputSchema);
    if (options.budget) this.budget(options.budget);
    if (options.policies !== undefined) this.policies(options.policies);
  }

  /**
   * How the tenant's recovery policies apply: `on` (they fill in the step settings the plan leaves
   * unset; the server's default), `off` (none applies) or `override` (they replace the plan's own too).
   */
  policies(mode: PolicyMode): this {
    if (!["on", "off", "override"].includes(mode)) throw new PlanBuildError(`policies must be on, off or override, not ${JSON.stringify(mode)}`);
    this.policyMode = mode;
    return this;
  }

  /** The JSON Schema the run's `inputs` must satisfy. */
  inputSchema(schema: JsonObject): this {
    this.schema = clone(schema);
    return this;
  }

  /** Shorthand for an object input schema: `.inputs(["url"], { url: { type: "string" } })`. */
  inputs(required: string[] = [], properties: Record<string, JsonObject> = {}): this {
    const schema: JsonObject = { type: "object", properties: clone(properties) };
    if (required.length > 0) schema.required = [...required];
    return this.inputSchema(schema);
  }

  /** Per-run limits. Without `maxDurationMs` the server's 15-minute default applies. */
  budget(budget: BudgetOptions): this {
    const b: Budget = {};
    if (budget.maxCostUsd !== undefined) b.max_cost_usd = budget.maxCostUsd;
    if (budget.maxDurationMs !== undefined) b.max_duration_ms = budget.maxDurationMs;
    this.limits = b;
    return this;
  }

  /** Adds a step running `skill` with `input` (strings in it may hold references). */
  step(id: string, skill: string, input?: JsonValue, options: StepOptions = {}): this {
    if (typeof options.dependsOn === "string") throw new TypeError("dependsOn is a list of step ids");
    const step: Step = { id, skill };
    if (input !== undefined) step.input = clone(input);
    if (options.dependsOn && options.dependsOn.length > 0) step.depends_on = [...options.dependsOn];
    if (options.condition !== undefined) step.condition = options.condition;
    const onError = onErrorToWire(options.onError);
    if (onError) step.on_error = clone(onError);
    if (options.retry !== undefined) step.retry = retryToWire(options.retry);
    if (options.timeoutMs !== undefined) step.timeout_ms = options.timeoutMs;
    this.steps.push(step);
    return this;
  }

  /** Adds an `http_call` step; `request` is the skill input, or just the URL for a GET. */
  httpCall(id: string, request: HttpCallInput | string, options?: StepOptions): this {
    const input = typeof request === "string" ? { url: request } : request;
    return this.step(id, "http_call", input as unknown as JsonValue, options);
  }

  /** Adds a `json_transform` step running the jq program `expr` over `data`. */
  jsonTransform(id: string, data: JsonValue, expr: string, options?: StepOptions): this {
    return this.step(id, "json_transform", { data, expr }, options);
  }

  /**
   * The plan. Throws `PlanBuildError` for problems found without the server: no steps, bad or
   * duplicate ids, unknown dependencies, cycles, references to steps that are not upstream. The
   * server validates everything else when the plan is submitted.
   */
  build(): Plan {
    if (this.name.trim() === "") throw new PlanBuildError("the plan needs a name");
    if (this.steps.length === 0) throw new PlanBuildError("the plan needs at least one step");
    const ids = new Set<string>();
    for (const s of this.steps) {
      if (!STEP_ID_RE.test(s.id)) throw new PlanBuildError(`invalid step id ${JSON.stringify(s.id)}: letters, digits, '_' and '-'`);
      if (ids.has(s.id)) throw new PlanBuildError(`duplicate step id ${JSON.stringify(s.id)}`);
      ids.add(s.id);
    }
    for (const s of this.steps) {
      for (const d of s.depends_on ?? []) {
        if (!ids.has(d) || d === s.id) throw new PlanBuildError(`step ${JSON.stringify(s.id)} depends on unknown step ${JSON.stringify(d)}`);
      }
    }
    const upstream = this.upstream();
    for (const s of this.steps) {
      const refs = stepReferences(s.input);
      if (s.on_error?.action === "fallback") stepReferences(s.on_error.input).forEach((r) => refs.add(r));
      for (const r of [...refs].sort()) {
        if (!upstream.get(s.id)!.has(r)) {
          throw new PlanBuildError(`step ${JSON.stringify(s.id)} references step ${JSON.stringify(r)}, which is not upstream of it (add it to dependsOn)`);
        }
      }
    }
    const plan: Plan = { name: this.name, steps: clone(this.steps) };
    if (this.schema !== undefined) plan.input_schema = clone(this.schema);
    if (this.limits !== undefined) plan.budget = { ...this.limits };
    if (this.policyMode !== undefined) plan.policies = this.policyMode;
    return plan;
  }

  /** `JSON.stringify(builder)` gives the plan. */
  toJSON(): Plan {
    return this.build();
  }

  /** Every step's transitive dependencies; throws on a cycle. */
  private upstream(): Map<string, Set<string>> {
    const deps = new Map(this.steps.map((s) => [s.id, s.depends_on ?? []] as const));
    const result = new Map<string, Set<string>>();
    const visiting = new Set<string>();
    const visit = (id: string): Set<string> => {
      const done = result.get(id);
      if (done) return done;
      if (visiting.has(id)) throw new PlanBuildError(`the steps' dependencies form a cycle through ${JSON.stringify(id)}`);
      visiting.add(id);
      const acc = new Set<string>();
      for (const d of deps.get(id) ?? []) {
        acc.add(d);
        visit(d).forEach((x) => acc.add(x));
      }
      visiting.delete(id);
      result.set(id, acc);
      return acc;
    };
    for (const id of deps.keys()) visit(id);
    return result;
  }
}

/** The options of a plan builder. */
export interface PlanOptions {
  inputSchema?: JsonObject;
  budget?: BudgetOptions;
  /** How the tenant's recovery policies apply (`on`, `off`, `override`); the server's default is `on`. */
  policies?: PolicyMode;
}

/** Starts a plan builder. */
export function plan(name: string, options?: PlanOptions): PlanBuilder {
  return new PlanBuilder(name, options);
}
