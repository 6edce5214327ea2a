// Failures are data: calls a flaky endpoint with `http_call` and a retry policy, then prints every
// attempt with its outcome and the delay before the next one, next to the delay the documented
// backoff formula gives for the run's seed.
//
//   FLAKY_URL             an endpoint that fails a few times (e.g. 503) before it succeeds (required)
//   AOS_URL, AOS_API_KEY  as for the other examples (AOS_API_KEY defaults to ./.aos/admin.key)
//
// Build and run: (cd sdks/typescript && npm run build) && FLAKY_URL=... node sdks/typescript/build/examples/http_retry_demo.js
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AosClient, backoffDelayMs, plan, type RetryPolicy } from "@aos/sdk";

function apiKey(): string | undefined {
  if (process.env.AOS_API_KEY) return process.env.AOS_API_KEY;
  try {
    return readFileSync(join(process.env.AOS_DATA_DIR ?? ".aos", "admin.key"), "utf8").trim();
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const url = process.env.FLAKY_URL;
  if (!url) {
    console.error("set FLAKY_URL to an endpoint that fails a few times before it succeeds");
    return 2;
  }
  const aos = new AosClient({ apiKey: apiKey() });
  const retry: RetryPolicy = { max_attempts: 5, initial_delay_ms: 100, max_delay_ms: 2000, multiplier: 2, retry_on: ["TRANSIENT", "RATE_LIMIT"] };
  const p = plan("flaky-call").httpCall("call", { url }, { retry }).build();

  const seed = 42;
  const run = await aos.runs.submitAndWait(
    { plan: p, seed },
    { timeoutMs: 60_000, onProgress: (event) => console.log(`  ${event}${event.isRetry ? " (a retry)" : ""}`) },
  );
  const step = run.step_details.find((s) => s.step_id === "call")!;
  console.log(`run ${run.run_id} ${run.status} after ${step.attempts.length} attempts`);
  for (const [i, a] of step.attempts.entries()) {
    const result = a.outcome.ok
      ? `ok, HTTP ${(a.outcome.output as { status?: number } | null)?.status}`
      : `${a.outcome.error.code} (${a.outcome.error.category}, retryable=${a.outcome.error.retryable})`;
    let line = `attempt ${a.attempt}: ${result} in ${a.duration_ms} ms`;
    const next = step.attempts[i + 1];
    if (next) {
      const waited = next.started_at_ms - a.finished_at_ms;
      const formula = await backoffDelayMs(retry, seed, "call", a.attempt);
      line += `; waited ${waited} ms before the next (backoff formula: ${formula} ms)`;
    }
    console.log(line);
  }
  if (run.status === "succeeded") console.log(`output body: ${JSON.stringify((step.output as { body?: unknown }).body)}`);
  else console.log(`run error: ${run.error?.code} ${run.error?.message}`);
  return run.status === "succeeded" ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
