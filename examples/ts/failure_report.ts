// Failures as data, classified: asks the failure catalog about a message, runs a plan whose
// `http_call` fails, then prints the catalog's classification of the failure, the entry's advice,
// the failure records the run left and the statistics of the last hour.
//
//   FAILING_URL           an endpoint that answers an error, e.g. 404 (required)
//   AOS_URL, AOS_API_KEY  as for the other examples (AOS_API_KEY defaults to ./.aos/admin.key)
//
// Build and run: (cd sdks/typescript && npm run build) && FAILING_URL=... node sdks/typescript/build/examples/failure_report.js
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AosClient, plan, type FailureMatch } from "@aos/sdk";

function apiKey(): string | undefined {
  if (process.env.AOS_API_KEY) return process.env.AOS_API_KEY;
  try {
    return readFileSync(join(process.env.AOS_DATA_DIR ?? ".aos", "admin.key"), "utf8").trim();
  } catch {
    return undefined;
  }
}

const describe = (m: FailureMatch | null | undefined) =>
  m?.matched
    ? `${m.code} (${m.category}, retryable=${m.retryable}, advice: ${m.recovery_mode}, confidence ${m.confidence} by ${m.match_type})`
    : "not in the catalog";

async function main(): Promise<number> {
  const url = process.env.FAILING_URL;
  if (!url) {
    console.error("set FAILING_URL to an endpoint that answers an error (e.g. 404)");
    return 2;
  }
  const aos = new AosClient({ apiKey: apiKey() });

  // The catalog classifies any failure on request, with the matcher runs use.
  const { version, digest, entries } = await aos.catalog.list();
  console.log(`catalog v${version} (${digest}): ${entries.length} entries`);
  const verdict = await aos.catalog.match({ message: "upstream answered 503 Service Unavailable", httpStatus: 503 });
  console.log(`a 503 is ${describe(verdict)}`);

  // A run that fails: a client error is not retried (retry_on names transient failures only).
  const startedAt = Date.now();
  const p = plan("failing-call")
    .httpCall("call", { url }, { retry: { maxAttempts: 3, initialDelayMs: 100, retryOn: ["TRANSIENT", "RATE_LIMIT"] } })
    .build();
  const run = await aos.runs.submitAndWait({ plan: p }, { timeoutMs: 60_000 });
  console.log(`run ${run.run_id} ${run.status}: ${run.error?.code ?? "no error"}`);
  if (run.status !== "failed" || !run.failure) {
    console.error("expected the run to fail");
    return 1;
  }
  console.log(`classified as ${describe(run.failure)}`);
  if (run.failure.matched && run.failure.code) {
    const entry = await aos.catalog.get(run.failure.code);
    console.log(`explanation: ${entry.explanation}`);
    for (const s of entry.suggestions) console.log(`  - ${s}`);
  }

  // What the run left in the failure log, newest first.
  for await (const f of aos.failures.list({ from: startedAt, skill: "http_call" })) {
    if (f.run_id !== run.run_id) continue;
    console.log(`failure record: ${f.kind} ${f.step_id ?? "-"}#${f.attempt} ${f.code} -> ${f.catalog_code ?? "unmatched"} (signature ${f.signature})`);
  }

  const stats = await aos.failures.stats({ from: Date.now() - 3_600_000 });
  console.log(`last hour: ${stats.total} failures, match rate ${stats.match_rate.toFixed(2)}, by entry ${JSON.stringify(stats.by_catalog_code)}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
