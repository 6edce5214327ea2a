// The skills this deployment runs, with their input and output schemas, costs and failure modes.

import { useEffect } from "react";
import { useQuery } from "@tanstack/react-query";
import { useClient } from "../session";
import { Empty, Json, PageTitle, QueryView, duration, usd } from "../components/ui";

export function SkillsPage() {
  const aos = useClient();
  useEffect(() => {
    document.title = "Skills · AOS console";
  }, []);
  const q = useQuery({ queryKey: ["skills"], queryFn: () => aos.skills.list(), staleTime: 300_000 });
  return (
    <>
      <PageTitle>Skills</PageTitle>
      <QueryView q={q} what="skills">
        {(skills) =>
          skills.length === 0 ? (
            <Empty>This deployment registers no skill.</Empty>
          ) : (
            <ul className="cards" data-testid="skills">
              {skills.map((s) => (
                <li key={s.id} className="card">
                  <h2>
                    <code>{s.id}</code> <span className="small">v{s.version}</span>
                  </h2>
                  <p>{s.description}</p>
                  <p className="small">
                    Side effects: {s.side_effects} · {s.determinism} · {usd(s.cost_model.usd_per_call)} a call · p50 {duration(s.cost_model.latency_ms_p50)}, p95{" "}
                    {duration(s.cost_model.latency_ms_p95)} · timeout {duration(s.default_timeout_ms)}
                    {s.secret_fields && s.secret_fields.length > 0 ? ` · secret fields: ${s.secret_fields.join(", ")}` : ""}
                  </p>
                  <details>
                    <summary>Input schema</summary>
                    <Json value={s.input_schema} label={`${s.id} input schema`} />
                  </details>
                  <details>
                    <summary>Output schema</summary>
                    <Json value={s.output_schema} label={`${s.id} output schema`} />
                  </details>
                  <details>
                    <summary>Failure modes ({s.failure_modes.length})</summary>
                    <ul>
                      {s.failure_modes.map((m) => (
                        <li key={m.code} className="small">
                          <code>{m.code}</code> ({m.category}
                          {m.retryable ? ", retryable" : ""}): {m.description}
                        </li>
                      ))}
                    </ul>
                  </details>
                </li>
              ))}
            </ul>
          )
        }
      </QueryView>
    </>
  );
}
