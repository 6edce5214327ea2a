/**
 * Friendly names for the schemas of the AOS OpenAPI document.
 *
 * Every schema in `docs/openapi.json` has an alias here with the same name. The raw generated types
 * stay available as `Schemas["Name"]` (and `components`, `paths`, `operations`). A few aliases are
 * refined where the document is looser or stricter than the API really is:
 *
 * - values the document calls `object` that may be any JSON (a step's `input`, an outcome's
 *   `output`, a step's `output`, a divergence's `expected`/`actual`, error `details`) are
 *   `JsonValue`;
 * - `ok` of an outcome, which the document types as an untyped `OkTrue`/`OkFalse`, is the literal
 *   `true` or `false`, so `Outcome` is a discriminated union;
 * - `StepError.details` and `ErrorDetail.details` may be `null`;
 * - a catalog entry's `match`, an untyped object in the document, is `CatalogMatchRules`.
 */

import type { components, operations, paths } from "./generated/openapi.js";

export type { components, operations, paths };

/** The raw generated schema types, by schema name. */
export type Schemas = components["schemas"];

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

// --- enums -----------------------------------------------------------------------------------
export type Category = Schemas["Category"];
export type Determinism = Schemas["Determinism"];
export type RunStatus = Schemas["RunStatus"];
export type SideEffects = Schemas["SideEffects"];
export type StepStatus = Schemas["StepStatus"];
/** Which failure a failure record is about: an attempt, a step, a run, or a refused submission. */
export type FailureKind = Schemas["FailureKind"];
export type Severity = Schemas["Severity"];
/** What the failure catalog advises doing about a failure (and the recovery a record carried out). */
export type RecoveryMode = Schemas["RecoveryMode"];
/** The kind of evidence that decided a catalog match (`none` when nothing matched). */
export type MatchType = Schemas["MatchType"];

/** Every run status, in lifecycle order. */
export const RUN_STATUSES: readonly RunStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];
/** The statuses after which a run never changes again. */
export const FINAL_RUN_STATUSES: readonly RunStatus[] = ["succeeded", "failed", "cancelled"];
/** Every failure record kind. */
export const FAILURE_KINDS: readonly FailureKind[] = ["attempt", "step", "run", "rejected"];
/** Is the status final (`succeeded`, `failed` or `cancelled`)? */
export function isFinalStatus(status: RunStatus | string): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}

// --- plans -------------------------------------------------------------------------------------
export type Budget = Schemas["Budget"];
export type RetryPolicy = Schemas["RetryPolicy"];
/** What a step's final failure does: abort (default), continue, or fall back to another skill. */
export type OnError =
  | { action: "abort" }
  | { action: "continue" }
  | { action: "fallback"; skill: string; input?: JsonValue };
/** One step of a plan. `input` may be any JSON; strings in it may hold `{{ ... }}` references. */
export type Step = Omit<Schemas["Step"], "input" | "on_error"> & { input?: JsonValue; on_error?: OnError };
/**
 * How a plan takes the tenant's recovery policies: `on` (they fill in the step settings the plan
 * leaves unset; the default), `off` (none applies), `override` (they replace the plan's own too).
 */
export type PolicyMode = Schemas["PolicyMode"];
/** A plan: a named DAG of steps with an optional input schema, budget and policy mode. */
export type Plan = Omit<Schemas["Plan"], "steps"> & { steps: Step[] };

// --- outcomes ----------------------------------------------------------------------------------
/** A structured step failure. `details` is code-specific; `null` when there is nothing to add. */
export type StepError = Omit<Schemas["StepError"], "details"> & { details: JsonValue };
/** Literal `true` in a successful outcome's `ok` field. */
export type OkTrue = true;
/** Literal `false` in a failed outcome's `ok` field. */
export type OkFalse = false;
/** A successful attempt. */
export type OutcomeOk = { ok: OkTrue; output: JsonValue };
/** A failed attempt. */
export type OutcomeError = { ok: OkFalse; error: StepError };
/** The result of one attempt: `{ok: true, output}` or `{ok: false, error}`. */
export type Outcome = OutcomeOk | OutcomeError;

// --- failure catalog -------------------------------------------------------------------------
/**
 * The failure catalog's classification of one failure (`failure` of a failed attempt and of a
 * failed run). Not part of any hash: replay and trace verification ignore it.
 */
export type FailureMatch = Schemas["FailureMatch"];
/**
 * How a catalog entry recognizes a failure. Every member is left out when empty. Structured keys
 * are compared exactly (ASCII case folded); `patterns` are regexes over the normalized message.
 */
export interface CatalogMatchRules {
  /** Error codes, e.g. `HTTP_503`, `STEP_TIMEOUT`. */
  codes?: string[];
  /** HTTP statuses: a number, or a range written `"5xx"` or `"520-527"`. */
  http_status?: Array<number | string>;
  aws_codes?: string[];
  smtp_codes?: string[];
  os_kinds?: string[];
  patterns?: string[];
}
/** One known failure of the catalog. */
export type CatalogEntry = Omit<Schemas["CatalogEntry"], "match"> & { match: CatalogMatchRules };
/** `GET /api/v1/catalog`: the catalog in force (format version, digest, entries). */
export type CatalogView = Omit<Schemas["CatalogView"], "entries"> & { entries: CatalogEntry[] };
/** The body of `POST /api/v1/catalog/match` (only `message` is required). */
export type MatchRequest = Schemas["MatchRequest"];
/** The catalog's verdict on a failure, with the entry's advice (`null`s when nothing matched). */
export type MatchResponse = Schemas["MatchResponse"];

// --- recorded failures -------------------------------------------------------------------------
/** One recorded failure: what failed, the catalog's match, and the recovery that followed. */
export type FailureRecord = Schemas["FailureRecord"];
/** `GET /api/v1/failures`: one page of failure records, newest first. */
export type FailureList = Schemas["FailureList"];
/** Recoveries of some failures and how they ended. */
export type RecoveryStats = Schemas["RecoveryStats"];
/** One interval of the failure time series. */
export type FailureBucket = Schemas["FailureBucket"];
/** `GET /api/v1/failures/stats`: totals, match rate, counts, recovery success and a time series. */
export type FailureStats = Schemas["FailureStats"];

// --- catalog candidates (the failure aggregation) ------------------------------------------------
/** The time window an aggregation read, both ends inclusive. */
export type AggregationWindow = Schemas["AggregationWindow"];
/** A candidate's suggested category and recovery mode, and the rule that chose them. */
export type Suggestion = Schemas["Suggestion"];
/** One failure of a candidate, its message redacted and cut to 500 characters. */
export type CandidateExample = Schemas["CandidateExample"];
/** A proposed catalog entry: failures of one signature the catalog did not match confidently. */
export type FailureCandidate = Schemas["FailureCandidate"];
/** An aggregation result without its candidates. */
export type CandidatesHead = Schemas["CandidatesHead"];
/** `POST /api/v1/failures/aggregate`: the caller's whole result, most frequent first. */
export type CandidateReport = Schemas["CandidateReport"];
/** `GET /api/v1/failures/candidates`: one page of the tenant's latest candidates. */
export type CandidatePage = Schemas["CandidatePage"];

// --- recovery suggestions and candidates -------------------------------------------------------
/** What a recovery suggestion proposes: `retry`, `retry_after`, `raise_timeout`, `fallback`, `continue`, ... */
export type ActionKind = Schemas["ActionKind"];
/** Where a suggestion comes from: the catalog's advice alone, or the tenant's history of recoveries. */
export type Source = Schemas["Source"];
/** A recovery candidate's review state: `pending`, then `approved` or `rejected`; `approved`, then `retired`. */
export type CandidateStatus = Schemas["CandidateStatus"];
/** What proposed a candidate last: a suggest call or the nightly aggregation. */
export type CandidateSource = Schemas["CandidateSource"];
/** The body of `POST /api/v1/recovery/suggest` for a stored failure. */
export type SuggestForFailure = Schemas["SuggestForFailure"];
/** The body of `POST /api/v1/recovery/suggest` for a failure described by its facts. */
export type SuggestForMessage = Omit<Schemas["SuggestForMessage"], "details"> & { details?: JsonObject | null };
/** Either body of `POST /api/v1/recovery/suggest`. */
export type SuggestRequest = SuggestForFailure | SuggestForMessage;
/** What recovery evidence is kept under: the catalog code (or `sig:<signature>`) and the skill (`null`: any). */
export type FailureKey = Schemas["FailureKey"];
/** The posterior mean chance that the step succeeds after an action, and its 5% lower credible bound. */
export type Confidence = Schemas["Confidence"];
/** The observations behind a confidence: weighed by age (`attempts`, `successes`) and raw (`observed`). */
export type EvidenceView = Schemas["EvidenceView"];
/**
 * One way to recover a failure: the action and its `params` (`backoff` for `retry`, `factor` for
 * `raise_timeout`, `skill` for `fallback`), its confidence and evidence, and the `patch` to merge
 * into the failing step (`null` when the change lies outside the step).
 */
export type RecoverySuggestion = Omit<Schemas["RecoverySuggestion"], "params" | "patch"> & { params: JsonObject; patch: JsonObject | null };
/** `POST /api/v1/recovery/suggest`: the catalog's match, the evidence key, suggestions best first, and the candidates proposed. */
export type SuggestResponse = Omit<Schemas["SuggestResponse"], "suggestions"> & { suggestions: RecoverySuggestion[] };
/** A failure a candidate was proposed for (message redacted and cut to 500 characters). */
export type RecoveryExample = Schemas["RecoveryExample"];
/** One decision on a candidate: from, to, when, who (and their role), why. */
export type Transition = Schemas["Transition"];
/** A recovery proposed for one kind of failure, pending review or reviewed, with every decision in `history`. */
export type RecoveryCandidate = Omit<Schemas["RecoveryCandidate"], "params" | "patch"> & { params: JsonObject; patch: JsonObject | null };
/** `GET /api/v1/recovery/candidates`: one page of candidates. */
export type RecoveryCandidateList = Omit<Schemas["RecoveryCandidateList"], "candidates"> & { candidates: RecoveryCandidate[] };
/** The body of the decisions (`approve`, `reject`, `retire`): an optional note of at most 1000 characters. */
export type DecisionNote = Schemas["DecisionNote"];

// --- recovery policies, automatic approval, drift -------------------------------------------------
/** Automatic approval of recovery candidates: `off` (people decide), `shadow` (record only) or `active`. */
export type ApprovalMode = Schemas["ApprovalMode"];
/**
 * `GET`/`PUT /api/v1/recovery/settings`: the tenant's automatic approval, its thresholds
 * (`min_lower` 0.5–0.99, `min_evidence` ≥ 1) and the drift webhook.
 */
export type RecoverySettingsView = Schemas["RecoverySettingsView"];
/** A policy's state: `active` (applied), `shadow` (recorded only), `disabled` (by a person), `suspended` (by the regression guard). */
export type PolicyStatus = Schemas["PolicyStatus"];
/** One change of a policy's status (`from` is `null` when the policy was created). */
export type PolicyEvent = Schemas["PolicyEvent"];
/** The steps a policy changed that ended in the last 7 days, and how many succeeded. */
export type PolicyOutcomes = Schemas["PolicyOutcomes"];
/**
 * A recovery policy: an approved candidate that the server compiles into the plans of new runs.
 * Steps of `skill` (calling host `target`, when set) get the fields of `patch` their plan leaves unset.
 */
export type Policy = Omit<Schemas["Policy"], "params" | "patch" | "outcomes"> & { params: JsonObject; patch: JsonObject; outcomes: PolicyOutcomes };
/** `GET /api/v1/policies`: the tenant's policies in id order. */
export type PolicyList = { policies: Policy[] };
/** What a policy changed (or, in shadow, would have changed) in one step of a run: the fields set and the values they replaced. */
export type AppliedPolicy = Omit<Schemas["AppliedPolicy"], "patch" | "replaced"> & { patch: JsonObject; replaced: JsonObject };
/** A step's failure in an earlier run of the same plan (see `Run.previous_failures`). */
export type PreviousFailure = Schemas["PreviousFailure"];
/** Failures of one kind among a skill's attempts in a window. */
export type WindowRate = Schemas["WindowRate"];
/** One (skill, failure code): its failure rate now against the baseline, the z statistic, whether it drifts. */
export type DriftItem = Schemas["DriftItem"];
/** `GET /api/v1/failures/drift`: one evaluation of the tenant's failure rates, the highest z first. */
export type DriftReport = Schemas["DriftReport"];

// --- runs --------------------------------------------------------------------------------------
export type WorkflowRef = Schemas["WorkflowRef"];
export type TraceEntry = Schemas["TraceEntry"];
/** One attempt of one step: its resolved input, outcome, hashes, cost and timing. */
export type AttemptRecord = Omit<Schemas["AttemptRecord"], "input" | "outcome"> & { input: JsonValue; outcome: Outcome };
/** The state of one step of a run. */
export type StepState = Omit<Schemas["StepState"], "error"> & { error?: StepError | null };
/**
 * The run record. `plan` is the plan as compiled with the tenant's recovery policies;
 * `applied_policies` says what they changed (absent when nothing), `shadow_policies` what shadow
 * policies would have changed.
 */
export type Run = Omit<Schemas["Run"], "plan" | "inputs" | "error" | "steps" | "applied_policies" | "shadow_policies"> & {
  plan: Plan;
  inputs: JsonObject;
  error?: StepError | null;
  steps: { [stepId: string]: StepState };
  applied_policies?: AppliedPolicy[];
  shadow_policies?: AppliedPolicy[];
};
/** One step of a run's execution context: its state, its output and every attempt. */
export type StepView = StepState & { step_id: string; attempts: AttemptRecord[]; output?: JsonValue };
/** `GET /api/v1/runs/{id}`: the run's whole execution context. */
export type RunView = Run & { step_details: StepView[] };

/** One step of a run's execution context, by id. */
export function runStep(run: RunView, stepId: string): StepView | undefined {
  return run.step_details.find((s) => s.step_id === stepId);
}

/** The output of a step that succeeded (`undefined` when it did not, or has no such step). */
export function runOutput(run: RunView, stepId: string): JsonValue | undefined {
  const step = runStep(run, stepId);
  return step && step.status === "succeeded" ? step.output ?? null : undefined;
}
export type RunSummary = Schemas["RunSummary"];
export type RunList = Schemas["RunList"];
export type Submitted = Schemas["Submitted"];
export type CancelResult = Schemas["CancelResult"];
/** Where replay first differed from the recorded trace. */
export type Divergence = Omit<Schemas["Divergence"], "expected" | "actual"> & { expected: JsonValue; actual: JsonValue };
export type ReplayReport = Omit<Schemas["ReplayReport"], "divergence"> & { divergence?: Divergence | null };
/** The body of `POST /api/v1/runs/{id}/rerun` (see `runs.rerun`). */
export type RerunRequest = Schemas["RerunRequest"];
/** The body of `POST /api/v1/runs/{id}/redrive` (see `runs.redrive`): step changes by step id. */
export type RedriveRequest = Omit<Schemas["RedriveRequest"], "patch"> & { patch?: { [stepId: string]: JsonObject } };
/** The body of `POST /api/v1/runs`. */
export type SubmitRun = Omit<Schemas["SubmitRun"], "plan" | "inputs"> & { plan?: Plan | null; inputs?: JsonObject };

// --- simulation --------------------------------------------------------------------------------
export type SimulateRequest = { plan: Plan };
export type StepEstimate = Schemas["StepEstimate"];
export type Simulation = Schemas["Simulation"];

// --- skills ------------------------------------------------------------------------------------
export type CostModel = Schemas["CostModel"];
export type FailureMode = Schemas["FailureMode"];
export type SkillSpec = Omit<Schemas["SkillSpec"], "input_schema" | "output_schema"> & {
  input_schema: JsonObject;
  output_schema: JsonObject;
};
export type SkillList = { skills: SkillSpec[] };

// --- workflows ---------------------------------------------------------------------------------
export type Workflow = Omit<Schemas["Workflow"], "plan"> & { plan: Plan };
export type WorkflowList = { workflows: Workflow[] };
export type CreateWorkflow = { name: string; plan: Plan };

// --- secrets -----------------------------------------------------------------------------------
export type PutSecret = Schemas["PutSecret"];
export type SecretNames = Schemas["SecretNames"];

// --- errors ------------------------------------------------------------------------------------
/** The `error` member of every API error answer. */
export type ErrorDetail = Omit<Schemas["ErrorDetail"], "details"> & { details: JsonValue };
/** Every API error answer: `{"error": {code, message, details}}`. */
export type ErrorBody = { error: ErrorDetail };
/** One problem of a validation error (`details.errors[]`). */
export interface ValidationProblem {
  code: string;
  message: string;
  step_id?: string | null;
  field?: string | null;
}

// --- access: who am I, API keys, the audit log -------------------------------------------------
/**
 * The roles a key or a user acts with (`docs/rbac.md` has the permission matrix): `admin`
 * everything, keys and the audit log included; `operator` runs and metrics; `developer` plans,
 * workflows and runs with raw inputs and outputs; `viewer` reads (sensitive fields redacted);
 * `machine` SDK and CI keys.
 */
export type Role = Schemas["Role"];
/** Who holds a credential: a machine with an API key, or a person with an identity provider's token. */
export type PrincipalKind = Schemas["PrincipalKind"];
/** What an audit record is about. */
export type AuditAction = Schemas["AuditAction"];
/** Every role, most capable first. */
export const ROLES: readonly Role[] = ["admin", "operator", "developer", "viewer", "machine"];
/** `GET /api/v1/whoami`: the caller as the API sees it, with the permissions (OpenAPI scopes) its role holds. */
export type WhoAmI = Schemas["WhoAmI"];
/** An API key as listed: never its secret, which only `CreatedKey` shows, once. */
export type ApiKeyRecord = Schemas["ApiKeyRecord"];
/** The body of `POST /api/v1/keys`. */
export type CreateKey = Schemas["CreateKey"];
/** A new key (created or rotated): `key` is the secret, shown this once. */
export type CreatedKey = Schemas["CreatedKey"];
/** `GET /api/v1/keys`: the tenant's keys, newest first, revoked and expired ones included. */
export type KeyList = Schemas["KeyList"];
/** One record of the tenant's audit log; `detail` is action-specific (never a secret). */
export type AuditEvent = Omit<Schemas["AuditEvent"], "detail"> & { detail: JsonObject };
/** `GET /api/v1/audit`: one page of the audit log, newest first. */
export type AuditList = Omit<Schemas["AuditList"], "events"> & { events: AuditEvent[] };

// --- meta --------------------------------------------------------------------------------------
/** `GET /healthz`: `{"status": "ok"}`. */
export type Health = Schemas["Health"];
