// The failure catalog in force: every known failure, its category, advice and how it is recognized.

import { useEffect, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useClient } from "../session";
import { Empty, Json, PageTitle, QueryView } from "../components/ui";

export function CatalogPage() {
  const aos = useClient();
  const [filter, setFilter] = useState("");
  useEffect(() => {
    document.title = "Catalog · AOS console";
  }, []);
  const q = useQuery({ queryKey: ["catalog"], queryFn: () => aos.catalog.list(), staleTime: 300_000 });
  return (
    <>
      <PageTitle>Failure catalog</PageTitle>
      <div className="filters">
        <label>
          Find{" "}
          <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="code, category, words" />
        </label>
      </div>
      <QueryView q={q} what="the catalog">
        {(cat) => {
          const f = filter.trim().toLowerCase();
          const entries = f
            ? cat.entries.filter((e) => `${e.code} ${e.category} ${e.explanation} ${e.recovery_mode}`.toLowerCase().includes(f))
            : cat.entries;
          return (
            <>
              <p>
                Catalog version {cat.version}, {cat.entries.length} entries, digest <code className="small">{cat.digest}</code>.
              </p>
              {entries.length === 0 ? (
                <Empty>{cat.entries.length === 0 ? "The catalog in force has no entries." : `No entry mentions “${filter}”.`}</Empty>
              ) : (
                <table className="grid" data-testid="catalog">
                  <thead>
                    <tr>
                      <th scope="col">Code</th>
                      <th scope="col">Category</th>
                      <th scope="col">Severity</th>
                      <th scope="col">Recovery</th>
                      <th scope="col">Explanation</th>
                    </tr>
                  </thead>
                  <tbody>
                    {entries.map((e) => (
                      <tr key={e.code}>
                        <td>
                          <code>{e.code}</code>
                        </td>
                        <td>{e.category}</td>
                        <td>{e.severity}</td>
                        <td>
                          {e.recovery_mode}
                          {e.retryable ? " (retryable)" : ""}
                        </td>
                        <td>
                          {e.explanation}
                          <details>
                            <summary>How it is recognized; suggestions</summary>
                            <Json value={{ match: e.match, suggestions: e.suggestions }} label={`${e.code} rules`} />
                          </details>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          );
        }}
      </QueryView>
    </>
  );
}
