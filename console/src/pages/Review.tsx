// Recovery review: the candidates AOS proposes for recurring failures, with their evidence and
// confidence; reviewers (recovery:review) approve or reject several at once with a note. Below,
// the policies approved candidates became.

import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "wouter";
import { MAX_NOTE_CHARS, type CandidateStatus, type RecoveryCandidate } from "@aos/sdk";
import { useClient } from "../session";
import { useCan } from "../principal";
import { Empty, ErrorBox, PageTitle, QueryView, pct, time } from "../components/ui";

const STATUSES: CandidateStatus[] = ["pending", "approved", "rejected", "retired"];

type Decision = "approve" | "reject";
interface DecisionResult {
  id: string;
  ok: boolean;
  error?: unknown;
}

export function ReviewPage() {
  const aos = useClient();
  const canReview = useCan("recovery:review");
  const qc = useQueryClient();
  const [status, setStatus] = useState<CandidateStatus | "">("pending");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [note, setNote] = useState("");
  const [results, setResults] = useState<DecisionResult[]>([]);
  useEffect(() => {
    document.title = "Recovery review · AOS console";
  }, []);
  const q = useQuery({
    queryKey: ["recovery-candidates", status],
    queryFn: () => aos.recovery.candidatesPage({ status: status || undefined, limit: 100 }),
    refetchInterval: 15_000,
  });
  const policies = useQuery({ queryKey: ["policies"], queryFn: () => aos.policies.list() });
  const decide = useMutation({
    mutationFn: async (decision: Decision): Promise<DecisionResult[]> => {
      const ids = [...selected];
      const settled = await Promise.allSettled(
        ids.map((id) => (decision === "approve" ? aos.recovery.approve(id, { note: note || undefined }) : aos.recovery.reject(id, { note: note || undefined }))),
      );
      return settled.map((s, i) => (s.status === "fulfilled" ? { id: ids[i], ok: true } : { id: ids[i], ok: false, error: s.reason }));
    },
    onSuccess: (r) => {
      setResults(r);
      setSelected(new Set(r.filter((x) => !x.ok).map((x) => x.id)));
      if (r.every((x) => x.ok)) setNote("");
      void qc.invalidateQueries({ queryKey: ["recovery-candidates"] });
      void qc.invalidateQueries({ queryKey: ["policies"] });
    },
  });
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  return (
    <>
      <PageTitle>Recovery review</PageTitle>
      <div className="filters">
        <label>
          Status{" "}
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value as CandidateStatus | "");
              setSelected(new Set());
            }}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </div>
      {!canReview && <p className="notice">Your role reads candidates but may not approve or reject them (that needs recovery:review).</p>}
      {canReview && (
        <form
          className="decide"
          aria-label="Decide on the selected candidates"
          onSubmit={(e) => e.preventDefault()}
          data-testid="review-controls"
        >
          <label htmlFor="note">Note (kept in each candidate's history)</label>
          <textarea id="note" maxLength={MAX_NOTE_CHARS} rows={2} value={note} onChange={(e) => setNote(e.target.value)} />
          <div>
            <button type="button" disabled={selected.size === 0 || decide.isPending} onClick={() => decide.mutate("approve")}>
              Approve selected ({selected.size})
            </button>{" "}
            <button type="button" className="danger" disabled={selected.size === 0 || decide.isPending} onClick={() => decide.mutate("reject")}>
              Reject selected ({selected.size})
            </button>
          </div>
          {decide.isError && <ErrorBox error={decide.error} what="decision" />}
          {results.length > 0 && (
            <ul className="results" role="status" data-testid="decision-results">
              {results.map((r) =>
                r.ok ? (
                  <li key={r.id}>
                    <span className="mono">{r.id}</span>: done
                  </li>
                ) : (
                  <li key={r.id}>
                    <span className="mono">{r.id}</span>: <ErrorBox error={r.error} />
                  </li>
                ),
              )}
            </ul>
          )}
        </form>
      )}
      <QueryView q={q} what="recovery candidates">
        {(page) =>
          page.candidates.length === 0 ? (
            <Empty>
              {status === "pending"
                ? "No candidate awaits review: AOS proposes one when a recovery of a recurring failure has enough evidence (docs/recovery.md)."
                : `No candidate is ${status || "recorded"} in this tenant.`}
            </Empty>
          ) : (
            <ul className="cards" data-testid="candidates">
              {page.candidates.map((c) => (
                <CandidateCard key={c.id} c={c} canReview={canReview} checked={selected.has(c.id)} onToggle={() => toggle(c.id)} />
              ))}
            </ul>
          )
        }
      </QueryView>
      <section aria-labelledby="policies">
        <h2 id="policies">Policies</h2>
        <QueryView q={policies} what="policies">
          {(ps) =>
            ps.length === 0 ? (
              <Empty>No policy yet: an approved candidate becomes a policy applied to later runs.</Empty>
            ) : (
              <table className="grid" data-testid="policies">
                <thead>
                  <tr>
                    <th scope="col">Policy</th>
                    <th scope="col">Status</th>
                    <th scope="col">Failure</th>
                    <th scope="col">Action</th>
                    <th scope="col">Patch</th>
                    <th scope="col">Steps changed (7 days)</th>
                  </tr>
                </thead>
                <tbody>
                  {ps.map((p) => (
                    <tr key={p.id}>
                      <td className="mono">{p.id}</td>
                      <td>{p.status}</td>
                      <td>
                        <code>{p.code}</code> in {p.skill}
                        {p.target ? ` → ${p.target}` : ""}
                      </td>
                      <td>{p.action}</td>
                      <td>
                        <code>{JSON.stringify(p.patch)}</code>
                      </td>
                      <td>{JSON.stringify(p.outcomes)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          }
        </QueryView>
      </section>
    </>
  );
}

function CandidateCard({ c, canReview, checked, onToggle }: { c: RecoveryCandidate; canReview: boolean; checked: boolean; onToggle: () => void }) {
  const last = c.history[c.history.length - 1];
  return (
    <li className="card" data-testid="candidate" data-candidate-id={c.id} data-status={c.status}>
      <div className="card-head">
        {canReview && c.status === "pending" && (
          <input type="checkbox" id={`sel-${c.id}`} checked={checked} onChange={onToggle} aria-label={`Select candidate ${c.id}`} />
        )}
        <h3>
          <code>{c.code}</code> in {c.skill ?? "any skill"}: {c.action}
          {Object.keys(c.params).length > 0 && <span className="small"> {JSON.stringify(c.params)}</span>}
        </h3>
        <span className={`status status-${c.status}`} data-testid="candidate-status">
          {c.status}
        </span>
      </div>
      <div className="confidence" aria-label={`confidence mean ${pct(c.confidence.mean)}, lower bound ${pct(c.confidence.lower)}`}>
        <div className="conf-track" aria-hidden="true">
          <div className="conf-lower" style={{ width: `${c.confidence.lower * 100}%` }} />
          <div className="conf-mean" style={{ left: `${c.confidence.mean * 100}%` }} />
        </div>
        confidence {pct(c.confidence.mean)} (5% lower bound {pct(c.confidence.lower)})
      </div>
      <p className="small">
        Evidence: {c.evidence.observed} recoveries observed ({c.evidence.successes.toFixed(1)} of {c.evidence.attempts.toFixed(1)} succeeded, weighed by age), last{" "}
        {time(c.evidence.last_seen_ms)}; {c.occurrences} occurrences; proposed by {c.source} on {time(c.created_at_ms)}.
      </p>
      {c.patch && (
        <p className="small">
          Patch to the failing step: <code>{JSON.stringify(c.patch)}</code>
        </p>
      )}
      {c.examples.length > 0 && (
        <details>
          <summary>Examples ({c.examples.length})</summary>
          <ul>
            {c.examples.map((e, i) => (
              <li key={i} className="small">
                {time(e.at_ms)} {e.run_id && <Link href={`/runs/${e.run_id}`}>{e.run_id}</Link>}: {e.message}
              </li>
            ))}
          </ul>
        </details>
      )}
      {c.history.length > 0 && last && (
        <p className="small" data-testid="candidate-history">
          {last.from} → {last.to} by {last.actor} ({last.role}) at {time(last.at_ms)}
          {last.note ? `: “${last.note}”` : ""}
        </p>
      )}
    </li>
  );
}
