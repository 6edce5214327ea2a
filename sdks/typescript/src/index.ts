/**
 * The TypeScript SDK of AOS: a client for every API operation, typed errors, pagination, long
 * polling with progress, a plan builder and client-side trace verification.
 */

export {
  AosClient,
  DEFAULT_BASE_URL,
  MAX_WAIT_MS,
  MIN_KEY_DAYS,
  MAX_KEY_DAYS,
  MAX_AUDIT_LIMIT,
  Runs,
  Workflows,
  Skills,
  Secrets,
  Catalog,
  Failures,
  Keys,
  Audit,
  type AosClientOptions,
  type PlanLike,
  type SubmitRunParams,
  type RunSource,
  type ListRunsParams,
  type GetRunOptions,
  type WaitForRunOptions,
  type MatchFailureParams,
  type FailureFilters,
  type ListFailuresParams,
  type FailureStatsParams,
  type CreateKeyParams,
  type ListAuditParams,
  type FailureCandidatesParams,
  type AggregateFailuresParams,
} from "./client.js";
export {
  AosError,
  APIConnectionError,
  APITimeoutError,
  BadRequestError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  MethodNotAllowedError,
  ConflictError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
  RateLimitError,
  ServerError,
  ServiceUnavailableError,
  WaitTimeoutError,
  RunFailedError,
  errorClassFor,
  errorFromResponse,
  parseRetryAfter,
  type AosErrorInit,
} from "./errors.js";
export { Transport, isRetryable, RETRY_STATUSES, RETRY_CODES, type FetchLike, type RetryInfo, type TokenSource } from "./http.js";
export { Pager, RunPager, FailurePager, AuditPager, type PageFetcher, type PageRequest, type PagerOptions } from "./pagination.js";
export { ProgressEvent, ProgressTracker } from "./progress.js";
export {
  PlanBuilder,
  PlanBuildError,
  plan,
  ref,
  refInput,
  refStep,
  refSecret,
  fallback,
  stepReferences,
  type StepOptions,
  type RetryOptions,
  type BudgetOptions,
  type HttpCallInput,
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
