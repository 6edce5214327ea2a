// The tenant's audit log (admins): who did what to which key, candidate, policy or setting.

import { useEffect, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useClient } from "../session";
import { Empty, PageTitle, QueryView, time } from "../components/ui";

export function AuditPage() {
  const aos = useClient();
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    document.title = "Audit log · AOS console";
  }, []);
  const q = useQuery({
    queryKey: ["audit", cursor],
    queryFn: () => aos.audit.listPage({ limit: 100, cursor }),
    placeholderData: keepPreviousData,
  });
  return (
    <>
      <PageTitle>Audit log</PageTitle>
      <QueryView q={q} what="the audit log">
        {(page) =>
          page.events.length === 0 ? (
            <Empty>{cursor ? "No more events: this page is past the last one." : "Nothing audited yet in this tenant (key changes, refusals and reviews are)."}</Empty>
          ) : (
            <>
              <table className="grid" data-testid="audit">
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Action</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Role</th>
                    <th scope="col">Target</th>
                    <th scope="col">Detail</th>
                  </tr>
                </thead>
                <tbody>
                  {page.events.map((e) => (
                    <tr key={e.id}>
                      <td>{time(e.at_ms)}</td>
                      <td>{e.action}</td>
                      <td className="mono small">{e.actor}</td>
                      <td>{e.role}</td>
                      <td className="mono small">{e.target}</td>
                      <td>
                        <code className="small">{JSON.stringify(e.detail)}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <div className="pager">
                {cursors.length > 0 && (
                  <button type="button" onClick={() => setCursors(cursors.slice(0, -1))}>
                    Newer
                  </button>
                )}
                {page.next_cursor && (
                  <button type="button" onClick={() => setCursors([...cursors, page.next_cursor!])}>
                    Older
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
