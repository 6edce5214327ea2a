// A pure plan: two `json_transform` (jq) steps over the run's inputs. Shows the plan builder,
// simulation before running, waiting with progress, step outputs, the server's replay and the
// SDK's own verification of the trace root.
//
//   AOS_URL, AOS_API_KEY  as for the other examples (AOS_API_KEY defaults to ./.aos/admin.key)
//
// Build and run: (cd sdks/typescript && npm run build) && node sdks/typescript/build/examples/json_transform_demo.js
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AosClient, plan, refInput, refStep } from "@aos/sdk";

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

  const orders = plan("order-totals")
    .inputs(["orders"], { orders: { type: "array" } })
    .jsonTransform("paid", refInput("orders"), "map(select(.paid))")
    .jsonTransform("totals", refStep("paid"), "{count: length, total: (map(.amount) | add), customers: (map(.customer) | unique)}", {
      dependsOn: ["paid"],
    })
    .build();

  const sim = await aos.simulate(orders);
  console.log(`simulation: feasible=${sim.feasible} cost=${sim.total_cost_usd} USD p95=${sim.total_latency_ms_p95} ms`);

  const inputs = {
    orders: [
      { customer: "ada", amount: 12.5, paid: true },
      { customer: "bob", amount: 7, paid: false },
      { customer: "ada", amount: 30, paid: true },
      { customer: "cy", amount: 0.25, paid: true },
    ],
  };
  const { run_id } = await aos.runs.submit({ plan: orders, inputs, seed: 7 });
  const run = await aos.waitForRun(run_id, {
    timeoutMs: 60_000,
    onProgress: (event) => console.log(`  ${event}`),
  });
  if (run.status !== "succeeded") {
    console.error(`run ${run.status}: ${run.error?.code} ${run.error?.message}`);
    return 1;
  }
  for (const step of run.step_details) console.log(`${step.step_id}: ${JSON.stringify(step.output)}`);

  const replay = await aos.runs.replay(run_id);
  const verified = await aos.runs.verify(run_id);
  console.log(`replay parity: ${replay.parity} (${replay.reexecuted} re-executed)`);
  console.log(`verified: ${verified.ok} root ${verified.computedRoot}`);
  return replay.parity && verified.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
