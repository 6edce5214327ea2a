// One run: its DAG with each step's state, the timeline of attempts with their outcomes and the
// catalog's match of each failure, the recovery policies applied to it, replay with its parity
// result, and the plan as compiled. Polled every second until the run finishes.

import { useEffect } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { isFinalStatus, type AttemptRecord, type FailureMatch, type RunView, type Step, type StepView } from "@aos/sdk";
import { useClient } from "../session";
import { useCan } from "../principal";
import { Empty, ErrorBox, Json, PageTitle, QueryView, Status, duration, pct, time, usd } from "../components/ui";

export function RunPage({ id }: { id: string }) {
  const aos = useClient();
  useEffect(() => {
    document.title = `Run ${id} · AOS console`;
  }, [id]);
  const q = useQuery({
    queryKey: ["run", id],
    queryFn: () => aos.runs.get(id),
    refetchInterval: (query) => (query.state.data && isFinalStatus(query.state.data.status) ? false : 1_000),
  });
  return (
    <>
      <p className="crumbs">
        <Link href="/runs">Runs</Link> / <span className="mono">{id}</span>
      </p>
      <QueryView q={q} what="the run">
        {(run) => <RunDetail run={run} />}
      </QueryView>
    </>
  );
}

function RunDetail({ run }: { run: RunView }) {
  return (
    <>
      <PageTitle extra={<Status status={run.status} />}>
        {run.plan.name} <span className="mono small">{run.run_id}</span>
      </PageTitle>
      <dl className="facts">
        <dt>Created</dt>
        <dd>{time(run.created_at_ms)}</dd>
        <dt>Finished</dt>
        <dd>{time(run.finished_at_ms)}</dd>
        <dt>Took</dt>
        <dd>{run.finished_at_ms ? duration(run.finished_at_ms - run.created_at_ms) : "running"}</dd>
        <dt>Cost</dt>
        <dd>{usd(run.cost_usd)}</dd>
        <dt>Seed</dt>
        <dd className="mono">{run.seed}</dd>
        <dt>Recoveries</dt>
        <dd>{run.recoveries ?? 0}</dd>
        <dt>Trace root</dt>
        <dd className="mono small">{run.trace_root ?? "— (not finished)"}</dd>
        {run.workflow && (
          <>
            <dt>Workflow</dt>
            <dd>
              {run.workflow.name} v{run.workflow.version}
            </dd>
          </>
        )}
      </dl>
      {run.error && (
        <section aria-labelledby="run-error">
          <h2 id="run-error">Why it failed</h2>
          <div className="failure">
            <code>{run.error.code}</code> ({run.error.category}, {run.error.retryable ? "retryable" : "not retryable"}): {run.error.message}
            <CatalogMatch match={run.failure ?? null} />
          </div>
        </section>
      )}
      <section aria-labelledby="dag">
        <h2 id="dag">Steps</h2>
        <Dag run={run} />
      </section>
      <section aria-labelledby="timeline">
        <h2 id="timeline">Attempts</h2>
        <Timeline run={run} />
      </section>
      <section aria-labelledby="policies">
        <h2 id="policies">Recovery policies</h2>
        <Policies run={run} />
      </section>
      <section aria-labelledby="replay">
        <h2 id="replay">Replay</h2>
        <Replay run={run} />
      </section>
      <section aria-labelledby="plan">
        <h2 id="plan">Plan and inputs</h2>
        <p className="hint">The plan as compiled with the tenant's recovery policies; inputs as the API shows them to your role.</p>
        <details>
          <summary>Plan ({run.plan.steps.length} steps)</summary>
          <Json value={run.plan} label="plan" />
        </details>
        <details>
          <summary>Inputs</summary>
          <Json value={run.inputs} label="inputs" />
        </details>
      </section>
    </>
  );
}

const NODE_W = 170;
const NODE_H = 50;
const GAP_X = 60;
const GAP_Y = 18;

/** The plan's DAG in layers (a step's column is one past its deepest dependency), coloured by state. */
function Dag({ run }: { run: RunView }) {
  const steps: Step[] = run.plan.steps;
  if (steps.length === 0) return <Empty>The plan has no steps.</Empty>;
  const depth = new Map<string, number>();
  const byId = new Map(steps.map((s) => [s.id, s]));
  const depthOf = (id: string, seen: Set<string>): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return 0;
    seen.add(id);
    const deps = byId.get(id)?.depends_on ?? [];
    const d = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((x) => depthOf(x, seen)));
    depth.set(id, d);
    return d;
  };
  const columns: string[][] = [];
  for (const s of steps) (columns[depthOf(s.id, new Set())] ??= []).push(s.id);
  const pos = new Map<string, { x: number; y: number }>();
  columns.forEach((col, c) => col.forEach((id, r) => pos.set(id, { x: c * (NODE_W + GAP_X), y: r * (NODE_H + GAP_Y) })));
  const width = columns.length * (NODE_W + GAP_X) - GAP_X + 2;
  const height = Math.max(...columns.map((c) => c.length)) * (NODE_H + GAP_Y) - GAP_Y + 2;
  const summary = steps.map((s) => `${s.id}: ${run.steps[s.id]?.status ?? "pending"}`).join(", ");
  return (
    <div className="dag" data-testid="dag">
      <svg width={width} height={height} viewBox={`-1 -1 ${width} ${height}`} role="img" aria-label={`Step graph: ${summary}`}>
        {steps.flatMap((s) =>
          (s.depends_on ?? []).map((dep) => {
            const a = pos.get(dep);
            const b = pos.get(s.id);
            if (!a || !b) return null;
            const x1 = a.x + NODE_W;
            const y1 = a.y + NODE_H / 2;
            const x2 = b.x;
            const y2 = b.y + NODE_H / 2;
            return <path key={`${dep}->${s.id}`} className="edge" d={`M${x1},${y1} C${x1 + GAP_X / 2},${y1} ${x2 - GAP_X / 2},${y2} ${x2},${y2}`} />;
          }),
        )}
        {steps.map((s) => {
          const p = pos.get(s.id)!;
          const st = run.steps[s.id];
          const status = st?.status ?? "pending";
          return (
            <g key={s.id} transform={`translate(${p.x},${p.y})`} className={`node node-${status}`}>
              <title>{`${s.id} (${s.skill}): ${status}${st?.attempt ? `, attempt ${st.attempt}` : ""}${st?.error ? `, ${st.error.code}` : ""}`}</title>
              <rect width={NODE_W} height={NODE_H} rx={6} />
              <text x={10} y={20} className="node-id">
                {s.id.length > 20 ? `${s.id.slice(0, 19)}…` : s.id}
              </text>
              <text x={10} y={38} className="node-sub">
                {status}
                {st && st.attempt > 1 ? ` · ${st.attempt} attempts` : ""}
                {st?.fallback ? " · fallback" : ""}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

function attemptsOf(run: RunView): AttemptRecord[] {
  return run.step_details.flatMap((s: StepView) => s.attempts).sort((a, b) => a.started_at_ms - b.started_at_ms || a.attempt - b.attempt);
}

function Timeline({ run }: { run: RunView }) {
  const attempts = attemptsOf(run);
  if (attempts.length === 0) {
    return <Empty>{isFinalStatus(run.status) ? "No step was attempted (every step was skipped or the run was cancelled first)." : "No attempt has finished yet; this page refreshes every second."}</Empty>;
  }
  const start = Math.min(run.started_at_ms ?? run.created_at_ms, ...attempts.map((a) => a.started_at_ms));
  const end = Math.max(...attempts.map((a) => a.finished_at_ms), start + 1);
  const span = end - start;
  return (
    <table className="grid timeline" data-testid="timeline">
      <caption className="sr-only">Every attempt of every step, in the order they started</caption>
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">Attempt</th>
          <th scope="col">Outcome</th>
          <th scope="col">Catalog match</th>
          <th scope="col">Took</th>
          <th scope="col" className="bar-col">
            When (run time {duration(span)})
          </th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <tr key={`${a.step_id}#${a.attempt}#${a.fallback}`}>
            <td>
              {a.step_id}
              <div className="small">
                {a.skill}
                {a.fallback ? " (fallback)" : ""}
              </div>
            </td>
            <td>{a.attempt}</td>
            <td>
              {a.outcome.ok ? (
                <span className="ok">ok</span>
              ) : (
                <>
                  <code className="bad">{a.outcome.error.code}</code>
                  <div className="small">{a.outcome.error.message}</div>
                </>
              )}
              <details>
                <summary className="small">input and outcome</summary>
                <Json value={{ input: a.input, outcome: a.outcome }} label={`attempt ${a.attempt} of ${a.step_id}`} />
              </details>
            </td>
            <td>{a.outcome.ok ? "" : <CatalogMatch match={a.failure ?? null} />}</td>
            <td>{duration(a.duration_ms)}</td>
            <td className="bar-col">
              <div className="track" aria-hidden="true">
                <div
                  className={`bar ${a.outcome.ok ? "bar-ok" : "bar-bad"}`}
                  style={{ left: `${((a.started_at_ms - start) / span) * 100}%`, width: `${Math.max(0.5, (a.duration_ms / span) * 100)}%` }}
                />
              </div>
              <span className="sr-only">
                started {duration(a.started_at_ms - start)} after the run
              </span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function CatalogMatch({ match }: { match: FailureMatch | null }) {
  if (!match) return <span className="small">not classified</span>;
  if (!match.matched) {
    return (
      <span className="small" data-testid="catalog-match">
        no catalog match (signature <code>{match.signature}</code>)
        {match.match_type === "inferred" && (
          <>
            {" "}
            · guessed {match.category}, {match.retryable ? "retryable" : "not retryable"} ({pct(match.confidence)}, from similar
            failures; decides nothing)
          </>
        )}
      </span>
    );
  }
  return (
    <span className="small" data-testid="catalog-match">
      <Link href="/catalog">
        <code>{match.code}</code>
      </Link>{" "}
      {match.category} · {match.recovery_mode ?? "no advice"} · {pct(match.confidence)} by {match.match_type}
    </span>
  );
}

function Policies({ run }: { run: RunView }) {
  const applied = run.applied_policies ?? [];
  const shadow = run.shadow_policies ?? [];
  if (applied.length === 0 && shadow.length === 0) {
    return <Empty>No recovery policy changed this run's steps (no approved policy matched them, or the plan's policy mode is off).</Empty>;
  }
  const rows = [...applied.map((p) => ({ p, kind: "applied" })), ...shadow.map((p) => ({ p, kind: "shadow (not applied)" }))];
  return (
    <table className="grid" data-testid="applied-policies">
      <thead>
        <tr>
          <th scope="col">Policy</th>
          <th scope="col">Step</th>
          <th scope="col">How</th>
          <th scope="col">Set</th>
          <th scope="col">Replaced</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ p, kind }) => (
          <tr key={`${kind}${p.policy_id}${p.step_id}`}>
            <td className="mono">{p.policy_id}</td>
            <td>{p.step_id}</td>
            <td>{kind}</td>
            <td>
              <code>{JSON.stringify(p.patch)}</code>
            </td>
            <td>
              <code>{JSON.stringify(p.replaced)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Replay({ run }: { run: RunView }) {
  const aos = useClient();
  const allowed = useCan("runs:read_raw");
  const replay = useMutation({ mutationFn: () => aos.runs.replay(run.run_id) });
  if (!allowed) return <Empty>Your role may not replay runs (replay shows raw values; it needs the runs:read_raw permission).</Empty>;
  if (!isFinalStatus(run.status)) return <Empty>Replay is possible once the run has finished.</Empty>;
  return (
    <div data-testid="replay">
      <button type="button" onClick={() => replay.mutate()} disabled={replay.isPending}>
        {replay.isPending ? "Replaying…" : "Replay from the recorded trace"}
      </button>
      {replay.isError && <ErrorBox error={replay.error} what="replay" />}
      {replay.data && (
        <div className={replay.data.parity ? "parity ok" : "parity bad"} role="status" data-testid="parity">
          {replay.data.parity ? "Parity: the re-execution matches the recorded trace." : "No parity: the re-execution diverged."} Re-executed{" "}
          {replay.data.reexecuted} of {replay.data.recorded} recorded attempts; trace root <code>{replay.data.trace_root}</code>.
          {replay.data.divergence && (
            <div>
              First divergence at step <code>{replay.data.divergence.step}</code> attempt {replay.data.divergence.attempt}: {replay.data.divergence.reason}
            </div>
          )}
        </div>
      )}
    </div>
  );
}
