// API keys of the tenant (admins): create (the secret is shown once), rotate, revoke.

import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ROLES, type CreatedKey, type Role } from "@aos/sdk";
import { useClient } from "../session";
import { Empty, ErrorBox, PageTitle, QueryView, time } from "../components/ui";

export function KeysPage() {
  const aos = useClient();
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [days, setDays] = useState("90");
  const [created, setCreated] = useState<CreatedKey | null>(null);
  useEffect(() => {
    document.title = "API keys · AOS console";
  }, []);
  const q = useQuery({ queryKey: ["keys"], queryFn: () => aos.keys.list() });
  const refresh = () => void qc.invalidateQueries({ queryKey: ["keys"] });
  const create = useMutation({
    mutationFn: () => aos.keys.create({ name, role, expiresInDays: days ? Number(days) : undefined }),
    onSuccess: (k) => {
      setCreated(k);
      setName("");
      refresh();
    },
  });
  const rotate = useMutation({ mutationFn: (id: string) => aos.keys.rotate(id), onSuccess: (k) => (setCreated(k), refresh()) });
  const revoke = useMutation({ mutationFn: (id: string) => aos.keys.revoke(id), onSuccess: refresh });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <>
      <PageTitle>API keys</PageTitle>
      <form className="inline-form" onSubmit={submit} aria-label="Create a key">
        <label>
          Name <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </label>
        <label>
          Role{" "}
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label>
          Expires in days <input type="number" min={1} max={365} value={days} onChange={(e) => setDays(e.target.value)} />
        </label>
        <button type="submit" disabled={create.isPending || !name.trim()}>
          Create key
        </button>
      </form>
      {create.isError && <ErrorBox error={create.error} what="creating the key" />}
      {rotate.isError && <ErrorBox error={rotate.error} what="rotating the key" />}
      {revoke.isError && <ErrorBox error={revoke.error} what="revoking the key" />}
      {created && (
        <div className="notice" role="status">
          New key <strong>{created.record.name}</strong> ({created.record.role}) — copy it now, it is not shown again:{" "}
          <code className="secret">{created.key}</code>{" "}
          <button type="button" onClick={() => setCreated(null)}>
            Hide
          </button>
        </div>
      )}
      <QueryView q={q} what="API keys">
        {(keys) =>
          keys.length === 0 ? (
            <Empty>The tenant has no API key (it signs in through the identity provider only).</Empty>
          ) : (
            <table className="grid" data-testid="keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Role</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Expires</th>
                  <th scope="col">State</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {keys.map((k) => {
                  const revoked = k.revoked_at_ms !== null && k.revoked_at_ms !== undefined;
                  const expired = !revoked && k.expires_at_ms !== null && k.expires_at_ms !== undefined && k.expires_at_ms < Date.now();
                  return (
                    <tr key={k.key_id}>
                      <td>{k.name}</td>
                      <td className="mono">{k.prefix}…</td>
                      <td>{k.role}</td>
                      <td>{time(k.created_at_ms)}</td>
                      <td>{time(k.last_used_at_ms)}</td>
                      <td>{time(k.expires_at_ms)}</td>
                      <td>{revoked ? `revoked ${time(k.revoked_at_ms)}` : expired ? "expired" : "active"}</td>
                      <td>
                        {!revoked && (
                          <>
                            <button type="button" onClick={() => rotate.mutate(k.key_id)} aria-label={`Rotate ${k.name}`}>
                              Rotate
                            </button>{" "}
                            <button type="button" className="danger" onClick={() => revoke.mutate(k.key_id)} aria-label={`Revoke ${k.name}`}>
                              Revoke
                            </button>
                          </>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </QueryView>
    </>
  );
}
