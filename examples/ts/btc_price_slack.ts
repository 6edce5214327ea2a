// Fetches the bitcoin price with `http_call`, extracts it with `json_transform` and posts it to a
// Slack incoming webhook with `http_call`, all as one AOS run.
//
//   AOS_URL        the AOS API (default http://127.0.0.1:8080)
//   AOS_API_KEY    an API key (default: the contents of $AOS_DATA_DIR/admin.key, ./.aos/admin.key)
//   PRICE_URL      a price API answering {"bitcoin": {"usd": <number>}}
//                  (default: CoinGecko's public simple-price endpoint)
//   SLACK_WEBHOOK_URL  optional; without it the example prints the message it would send
//
// The webhook URL is a credential, so it is stored as an AOS secret and referenced as
// {{ secrets.SLACK_WEBHOOK_URL }}: it never appears in the run's plan, inputs or records.
//
// Build and run: (cd sdks/typescript && npm run build) && node sdks/typescript/build/examples/btc_price_slack.js
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AosClient, plan, refInput, refSecret, refStep, runOutput } from "@aos/sdk";

const DEFAULT_PRICE_URL = "https://api.coingecko.com/api/v3/simple/price?ids=bitcoin&vs_currencies=usd";

function apiKey(): string | undefined {
  if (process.env.AOS_API_KEY) return process.env.AOS_API_KEY;
  try {
    return readFileSync(join(process.env.AOS_DATA_DIR ?? ".aos", "admin.key"), "utf8").trim();
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const aos = new AosClient({ apiKey: apiKey() });
  const priceUrl = process.env.PRICE_URL || DEFAULT_PRICE_URL;
  const webhook = process.env.SLACK_WEBHOOK_URL;

  const builder = plan("btc-price-to-slack")
    .inputs(["price_url"], { price_url: { type: "string" } })
    .httpCall("fetch", { url: refInput("price_url"), headers: { accept: "application/json" } }, {
      retry: { maxAttempts: 3, initialDelayMs: 500, retryOn: ["TRANSIENT", "RATE_LIMIT"] },
      timeoutMs: 10_000,
    })
    .jsonTransform("extract", refStep("fetch", "output.body"), '{usd: .bitcoin.usd, text: "Bitcoin is at \\(.bitcoin.usd) USD"}', {
      dependsOn: ["fetch"],
    });
  if (webhook) {
    await aos.secrets.put("SLACK_WEBHOOK_URL", webhook);
    builder.httpCall(
      "notify",
      { method: "POST", url: refSecret("SLACK_WEBHOOK_URL"), body: { text: refStep("extract", "output.text") } },
      { dependsOn: ["extract"], retry: { maxAttempts: 2, retryOn: ["TRANSIENT"] } },
    );
  }

  const run = await aos.runs.submitAndWait(
    { plan: builder, inputs: { price_url: priceUrl } },
    { timeoutMs: 120_000, onProgress: (event) => console.log(`  ${event}`) },
  );
  if (run.status !== "succeeded") {
    console.error(`run ${run.status}: ${run.error?.code} ${run.error?.message}`);
    for (const step of run.step_details) {
      if (step.error) console.error(`  step ${step.step_id}: ${step.error.code} ${step.error.message}`);
    }
    return 1;
  }
  const extracted = runOutput(run, "extract") as { usd: number; text: string };
  console.log(`price: ${extracted.usd} USD`);
  if (webhook) {
    console.log(`sent to Slack: ${JSON.stringify({ text: extracted.text })}`);
  } else {
    console.log("SLACK_WEBHOOK_URL is not set; the message would be:");
    console.log(JSON.stringify({ text: extracted.text }));
  }
  const check = await aos.runs.verify(run.run_id);
  console.log(`trace root ${run.trace_root} verified: ${check.ok}`);
  return check.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
