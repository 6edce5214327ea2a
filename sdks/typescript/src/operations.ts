/**
 * The explicit mapping between the operations of the OpenAPI document and the SDK's methods. A
 * test checks it in both directions: every `operationId` of `docs/openapi.json` maps to an SDK
 * method with the same HTTP method and path, and every public SDK method is either listed here or
 * declared a helper.
 */

export interface OperationMapping {
  /** HTTP method, upper case. */
  method: "GET" | "POST" | "PUT" | "DELETE" | "PATCH";
  /** The path template as in the OpenAPI document. */
  path: string;
  /** The SDK method, as a dotted path on an `AosClient` (e.g. `runs.submit`). */
  sdk: string;
}

/** Every `operationId` of the OpenAPI document, with the SDK method that calls it. */
export const OPERATIONS = {
  submit_run: { method: "POST", path: "/api/v1/runs", sdk: "runs.submit" },
  list_runs: { method: "GET", path: "/api/v1/runs", sdk: "runs.listPage" },
  get_run: { method: "GET", path: "/api/v1/runs/{id}", sdk: "runs.get" },
  cancel_run: { method: "POST", path: "/api/v1/runs/{id}/cancel", sdk: "runs.cancel" },
  replay_run: { method: "POST", path: "/api/v1/runs/{id}/replay", sdk: "runs.replay" },
  rerun_run: { method: "POST", path: "/api/v1/runs/{id}/rerun", sdk: "runs.rerun" },
  redrive_run: { method: "POST", path: "/api/v1/runs/{id}/redrive", sdk: "runs.redrive" },
  simulate_plan: { method: "POST", path: "/api/v1/simulate", sdk: "simulate" },
  create_workflow: { method: "POST", path: "/api/v1/workflows", sdk: "workflows.create" },
  list_workflows: { method: "GET", path: "/api/v1/workflows", sdk: "workflows.list" },
  get_workflow: { method: "GET", path: "/api/v1/workflows/{name}", sdk: "workflows.get" },
  list_skills: { method: "GET", path: "/api/v1/skills", sdk: "skills.list" },
  get_skill: { method: "GET", path: "/api/v1/skills/{id}", sdk: "skills.get" },
  put_secret: { method: "PUT", path: "/api/v1/secrets/{name}", sdk: "secrets.put" },
  list_secrets: { method: "GET", path: "/api/v1/secrets", sdk: "secrets.list" },
  get_catalog: { method: "GET", path: "/api/v1/catalog", sdk: "catalog.list" },
  get_catalog_entry: { method: "GET", path: "/api/v1/catalog/{code}", sdk: "catalog.get" },
  match_failure: { method: "POST", path: "/api/v1/catalog/match", sdk: "catalog.match" },
  list_failures: { method: "GET", path: "/api/v1/failures", sdk: "failures.listPage" },
  get_failure_stats: { method: "GET", path: "/api/v1/failures/stats", sdk: "failures.stats" },
  list_failure_candidates: { method: "GET", path: "/api/v1/failures/candidates", sdk: "failures.candidates" },
  aggregate_failures: { method: "POST", path: "/api/v1/failures/aggregate", sdk: "failures.aggregate" },
  get_failure_drift: { method: "GET", path: "/api/v1/failures/drift", sdk: "failures.drift" },
  get_metrics: { method: "GET", path: "/metrics", sdk: "metrics" },
  whoami: { method: "GET", path: "/api/v1/whoami", sdk: "whoami" },
  create_key: { method: "POST", path: "/api/v1/keys", sdk: "keys.create" },
  list_keys: { method: "GET", path: "/api/v1/keys", sdk: "keys.list" },
  revoke_key: { method: "DELETE", path: "/api/v1/keys/{key_id}", sdk: "keys.revoke" },
  rotate_key: { method: "POST", path: "/api/v1/keys/{key_id}/rotate", sdk: "keys.rotate" },
  list_audit: { method: "GET", path: "/api/v1/audit", sdk: "audit.listPage" },
  suggest_recovery: { method: "POST", path: "/api/v1/recovery/suggest", sdk: "recovery.suggest" },
  list_recovery_candidates: { method: "GET", path: "/api/v1/recovery/candidates", sdk: "recovery.candidatesPage" },
  get_recovery_candidate: { method: "GET", path: "/api/v1/recovery/candidates/{id}", sdk: "recovery.get" },
  approve_recovery_candidate: { method: "POST", path: "/api/v1/recovery/candidates/{id}/approve", sdk: "recovery.approve" },
  reject_recovery_candidate: { method: "POST", path: "/api/v1/recovery/candidates/{id}/reject", sdk: "recovery.reject" },
  retire_recovery_candidate: { method: "POST", path: "/api/v1/recovery/candidates/{id}/retire", sdk: "recovery.retire" },
  get_recovery_settings: { method: "GET", path: "/api/v1/recovery/settings", sdk: "recovery.settings" },
  put_recovery_settings: { method: "PUT", path: "/api/v1/recovery/settings", sdk: "recovery.putSettings" },
  list_policies: { method: "GET", path: "/api/v1/policies", sdk: "policies.list" },
  get_policy: { method: "GET", path: "/api/v1/policies/{id}", sdk: "policies.get" },
  disable_policy: { method: "POST", path: "/api/v1/policies/{id}/disable", sdk: "policies.disable" },
  healthz: { method: "GET", path: "/healthz", sdk: "health" },
  openapi_document: { method: "GET", path: "/api/v1/openapi.json", sdk: "openapi" },
} as const satisfies Record<string, OperationMapping>;

/** Public SDK methods that are conveniences over the operations above, not operations of their own. */
export const HELPER_METHODS = {
  "runs.list": "async iterator over list_runs, following next_cursor",
  "failures.list": "async iterator over list_failures, following next_cursor",
  "audit.list": "async iterator over list_audit, following next_cursor",
  "recovery.candidates": "async iterator over list_recovery_candidates, following next_cursor",
  "runs.wait": "waitForRun",
  "runs.submitAndWait": "submit_run, then waitForRun",
  "runs.verify": "get_run, then client-side trace verification",
  verifyRun: "runs.verify",
  waitForRun: "long polling over get_run",
} as const;

export type OperationId = keyof typeof OPERATIONS;
