// Runs: newest first, filtered by status and creation time, refreshed every 1.5 s while any run on
// the page is still queued or running (every 4 s otherwise, so that new runs appear).

import { useEffect, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link } from "wouter";
import { RUN_STATUSES, isFinalStatus, type RunStatus } from "@aos/sdk";
import { useClient } from "../session";
import { Empty, PageTitle, QueryView, Status, duration, time, usd } from "../components/ui";

const RANGES: Record<string, number | null> = { "last hour": 3_600_000, "last day": 86_400_000, "last 7 days": 7 * 86_400_000, "any time": null };

export function RunsPage() {
  const aos = useClient();
  const [status, setStatus] = useState<RunStatus | "">("");
  const [range, setRange] = useState("any time");
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    document.title = "Runs · AOS console";
  }, []);
  const since = RANGES[range];
  const q = useQuery({
    queryKey: ["runs", status, range, cursor],
    queryFn: () =>
      aos.runs.listPage({
        status: status || undefined,
        createdAfter: since === null ? undefined : Date.now() - since,
        limit: 50,
        cursor,
      }),
    placeholderData: keepPreviousData,
    refetchInterval: (query) => (query.state.data?.runs.some((r) => !isFinalStatus(r.status)) ? 1_500 : 4_000),
  });
  const reset = () => setCursors([]);
  return (
    <>
      <PageTitle
        extra={
          <span className="live" aria-live="off">
            {q.dataUpdatedAt ? `updated ${new Date(q.dataUpdatedAt).toLocaleTimeString()}` : ""}
          </span>
        }
      >
        Runs
      </PageTitle>
      <div className="filters">
        <label>
          Status{" "}
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value as RunStatus | "");
              reset();
            }}
          >
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Created{" "}
          <select
            value={range}
            onChange={(e) => {
              setRange(e.target.value);
              reset();
            }}
          >
            {Object.keys(RANGES).map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
      </div>
      <QueryView q={q} what="runs">
        {(page) =>
          page.runs.length === 0 ? (
            <Empty>
              {status || since !== null
                ? `No run matches these filters (status ${status || "any"}, created ${range}) on this page.`
                : cursor
                  ? "No more runs: this page is past the last one."
                  : "No runs yet in this tenant: submit one (aos runs submit examples/hello-transform.json --wait) and it appears here."}
            </Empty>
          ) : (
            <>
              <table className="grid" data-testid="runs-table">
                <caption className="sr-only">Runs, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Run</th>
                    <th scope="col">Plan</th>
                    <th scope="col">Status</th>
                    <th scope="col">Created</th>
                    <th scope="col">Took</th>
                    <th scope="col">Cost</th>
                    <th scope="col">Error</th>
                  </tr>
                </thead>
                <tbody>
                  {page.runs.map((r) => (
                    <tr key={r.run_id}>
                      <td>
                        <Link href={`/runs/${r.run_id}`} className="mono">
                          {r.run_id}
                        </Link>
                      </td>
                      <td>{r.workflow ? `${r.workflow.name} v${r.workflow.version}` : r.plan_name}</td>
                      <td>
                        <Status status={r.status} />
                      </td>
                      <td>{time(r.created_at_ms)}</td>
                      <td>{r.finished_at_ms ? duration(r.finished_at_ms - r.created_at_ms) : "—"}</td>
                      <td>{usd(r.cost_usd)}</td>
                      <td>{r.error_code ? <code>{r.error_code}</code> : ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <div className="pager">
                {cursors.length > 0 && (
                  <button type="button" onClick={() => setCursors(cursors.slice(0, -1))}>
                    Previous page
                  </button>
                )}
                {page.next_cursor && (
                  <button type="button" onClick={() => setCursors([...cursors, page.next_cursor!])}>
                    Next page
                  </button>
                )}
              </div>
            </>
          )
        }
      </QueryView>
    </>
  );
}
