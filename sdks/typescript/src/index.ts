/**
 * The TypeScript SDK of AOS: a client for every API operation, typed errors, pagination, long
 * polling, a plan builder and client-side trace verification.
 */

export {
  AosClient,
  DEFAULT_BASE_URL,
  Runs,
  Workflows,
  Skills,
  Secrets,
  type AosClientOptions,
  type SubmitRunParams,
  type RunSource,
  type ListRunsParams,
  type GetRunOptions,
  type WaitForRunOptions,
} from "./client.js";
export {
  AosError,
  ValidationError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  ConflictError,
  RateLimitError,
  ServerError,
  AosConnectionError,
  WaitTimeoutError,
  errorClassFor,
  errorFromResponse,
  type AosErrorInit,
} from "./errors.js";
export { parseRetryAfter, isRetryable, RETRY_STATUSES, RETRY_CODES, type FetchLike, type RetryInfo, type TokenSource } from "./http.js";
export { Paginator, type Page } from "./pagination.js";
export {
  PlanBuilder,
  plan,
  ref,
  type StepOptions,
  type RetryOptions,
  type BudgetOptions,
  type HttpCallInput,
  type JsonTransformInput,
} from "./plan.js";
export {
  canonicalize,
  canonicalBytes,
  sha256,
  sha256Hex,
  hashValue,
  traceEntryOf,
  stepHash,
  chainRoot,
  rootHashes,
  rootHash,
  stepOrder,
  SeededRng,
  backoffDelayMs,
  EMPTY_ROOT,
  MAX_DELAY_MS,
  type RngStream,
  type BackoffPolicy,
} from "./determinism.js";
export { verifyRun, type VerifyReport, type VerifyProblem, type VerifyReason } from "./verify.js";
export { OPERATIONS, HELPER_METHODS, type OperationId, type OperationMapping } from "./operations.js";
export * from "./types.js";
