// Failure analytics: the match rate over time (uPlot, in this page's own chunk), the top failure
// codes, recovery success by mode, the unmatched signatures the nightly aggregation proposes as
// catalog candidates, and drift of failure rates per skill and code.

import { useEffect, useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { FailureBucket, FailureStats } from "@aos/sdk";
import { useClient } from "../session";
import { Empty, PageTitle, QueryView, pct, time } from "../components/ui";

const RANGES: Record<string, { span: number; bucket: number }> = {
  "last hour": { span: 3_600_000, bucket: 60_000 },
  "last day": { span: 86_400_000, bucket: 3_600_000 },
  "last 7 days": { span: 7 * 86_400_000, bucket: 6 * 3_600_000 },
};

export default function AnalyticsPage() {
  const aos = useClient();
  const [range, setRange] = useState("last day");
  useEffect(() => {
    document.title = "Failure analytics · AOS console";
  }, []);
  const { span, bucket } = RANGES[range];
  const stats = useQuery({
    queryKey: ["failure-stats", range],
    queryFn: () => {
      const to = Date.now();
      return aos.failures.stats({ from: to - span, to, bucketMs: bucket });
    },
    refetchInterval: 30_000,
  });
  const candidates = useQuery({ queryKey: ["failure-candidates"], queryFn: () => aos.failures.candidates({ limit: 50 }) });
  const drift = useQuery({ queryKey: ["failure-drift"], queryFn: () => aos.failures.drift() });
  return (
    <>
      <PageTitle>Failure analytics</PageTitle>
      <div className="filters">
        <label>
          Range{" "}
          <select value={range} onChange={(e) => setRange(e.target.value)}>
            {Object.keys(RANGES).map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
      </div>
      <QueryView q={stats} what="failure statistics">
        {(s) => <Stats stats={s} range={range} />}
      </QueryView>
      <section aria-labelledby="candidates">
        <h2 id="candidates">Unmatched signatures and catalog candidates</h2>
        <QueryView q={candidates} what="catalog candidates">
          {(page) =>
            page.candidates.length === 0 ? (
              <Empty>
                {page.generated_at_ms === null
                  ? "The failure aggregation has not run for this tenant yet (aos serve runs it nightly; POST /api/v1/failures/aggregate runs it now)."
                  : `The aggregation of ${time(page.generated_at_ms)} found no failure signature the catalog does not already match confidently.`}
              </Empty>
            ) : (
              <table className="grid" data-testid="failure-candidates">
                <caption className="sr-only">
                  Candidates from the aggregation of {time(page.generated_at_ms)}, most frequent first
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Signature</th>
                    <th scope="col">Code</th>
                    <th scope="col">Count</th>
                    <th scope="col">Unmatched</th>
                    <th scope="col">Closest entry</th>
                    <th scope="col">Suggested</th>
                    <th scope="col">Example</th>
                  </tr>
                </thead>
                <tbody>
                  {page.candidates.map((c) => (
                    <tr key={c.signature}>
                      <td className="mono small">{c.signature}</td>
                      <td>
                        <code>{c.code}</code>
                      </td>
                      <td>{c.count}</td>
                      <td>{c.unmatched}</td>
                      <td>{c.closest_entry ? <code>{c.closest_entry}</code> : "—"}</td>
                      <td>
                        {c.suggested.category} / {c.suggested.recovery_mode}
                        <div className="small">{c.suggested.reason}</div>
                      </td>
                      <td className="small">{c.examples[0]?.message ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </QueryView>
      </section>
      <section aria-labelledby="drift">
        <h2 id="drift">Drift</h2>
        <QueryView q={drift} what="drift">
          {(d) =>
            d.items.length === 0 ? (
              <Empty>No skill had failures in the current or the baseline window of the evaluation at {time(d.evaluated_at_ms)}: nothing to compare.</Empty>
            ) : (
              <>
                <p>
                  {d.drifting} of {d.items.length} (skill, code) pairs drifting; current window from {time(d.current_from_ms)}, baseline from{" "}
                  {time(d.baseline_from_ms)}.
                </p>
                <table className="grid" data-testid="drift">
                  <thead>
                    <tr>
                      <th scope="col">Skill</th>
                      <th scope="col">Code</th>
                      <th scope="col">Current</th>
                      <th scope="col">Baseline</th>
                      <th scope="col">z</th>
                      <th scope="col">Drifting</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.items.map((i) => (
                      <tr key={`${i.skill}/${i.code}`}>
                        <td>{i.skill}</td>
                        <td>
                          <code>{i.code}</code>
                        </td>
                        <td>
                          {pct(i.current.rate)} ({i.current.failures}/{i.current.attempts})
                        </td>
                        <td>
                          {pct(i.baseline.rate)} ({i.baseline.failures}/{i.baseline.attempts})
                        </td>
                        <td>{i.z.toFixed(2)}</td>
                        <td>{i.drifting ? <strong className="bad">drifting</strong> : "no"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </>
            )
          }
        </QueryView>
      </section>
    </>
  );
}

function Stats({ stats, range }: { stats: FailureStats; range: string }) {
  if (stats.total === 0) {
    return <Empty>No failure was recorded in the {range} (failures are kept 30 days): nothing to chart.</Empty>;
  }
  const top = Object.entries(stats.by_code)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10);
  const max = top[0]?.[1] ?? 1;
  const modes = Object.entries(stats.recovery_by_mode);
  return (
    <>
      <dl className="facts" data-testid="failure-totals">
        <dt>Failures</dt>
        <dd>{stats.total}</dd>
        <dt>Matched by the catalog</dt>
        <dd>
          {stats.matched} ({pct(stats.match_rate)})
        </dd>
        <dt>Recoveries</dt>
        <dd>
          {stats.recovery.succeeded} of {stats.recovery.attempted} succeeded ({pct(stats.recovery.success_rate)})
        </dd>
      </dl>
      {stats.truncated && <p className="notice">The statistics read only the first part of the range (the server's read bound); narrow the range for exact figures.</p>}
      <section aria-labelledby="match-rate">
        <h2 id="match-rate">Match rate over time</h2>
        <MatchRateChart buckets={stats.buckets} />
      </section>
      <div className="cols">
        <section aria-labelledby="top-codes">
          <h2 id="top-codes">Top codes</h2>
          <table className="grid" data-testid="top-codes">
            <thead>
              <tr>
                <th scope="col">Code</th>
                <th scope="col">Failures</th>
              </tr>
            </thead>
            <tbody>
              {top.map(([code, n]) => (
                <tr key={code}>
                  <td>
                    <code>{code}</code>
                  </td>
                  <td>
                    <span className="hbar" style={{ width: `${(n / max) * 8}em` }} aria-hidden="true" /> {n}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section aria-labelledby="by-mode">
          <h2 id="by-mode">Recovery success by mode</h2>
          {modes.length === 0 ? (
            <Empty>No recovery was attempted for these failures (no retry, fallback or continue followed them).</Empty>
          ) : (
            <table className="grid" data-testid="recovery-by-mode">
              <thead>
                <tr>
                  <th scope="col">Mode</th>
                  <th scope="col">Attempted</th>
                  <th scope="col">Succeeded</th>
                  <th scope="col">Failed</th>
                  <th scope="col">Pending</th>
                  <th scope="col">Success rate</th>
                </tr>
              </thead>
              <tbody>
                {modes.map(([mode, r]) => (
                  <tr key={mode}>
                    <td>{mode}</td>
                    <td>{r.attempted}</td>
                    <td>{r.succeeded}</td>
                    <td>{r.failed}</td>
                    <td>{r.pending}</td>
                    <td>{pct(r.success_rate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
    </>
  );
}

function MatchRateChart({ buckets }: { buckets: FailureBucket[] }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const xs = buckets.map((b) => b.start_ms / 1000);
    const rate = buckets.map((b) => (b.total ? (b.matched / b.total) * 100 : null));
    const totals = buckets.map((b) => b.total);
    const plot = new uPlot(
      {
        width: Math.min(900, el.current.clientWidth || 900),
        height: 240,
        scales: { rate: { range: [0, 100] } },
        series: [
          {},
          { label: "match rate %", scale: "rate", stroke: "#1f5fbf", width: 2, spanGaps: true },
          { label: "failures", scale: "n", stroke: "#9a3412", width: 1, dash: [4, 4] },
        ],
        axes: [{}, { scale: "rate", label: "%" }, { scale: "n", side: 1, label: "failures", grid: { show: false } }],
      },
      [xs, rate, totals],
      el.current,
    );
    return () => plot.destroy();
  }, [buckets]);
  const summary = buckets
    .filter((b) => b.total > 0)
    .map((b) => `${time(b.start_ms)}: ${b.matched}/${b.total}`)
    .join("; ");
  return (
    <figure className="chart">
      <div ref={el} data-testid="match-rate-chart" />
      <figcaption className="sr-only">Matched of all failures per interval: {summary}</figcaption>
    </figure>
  );
}
