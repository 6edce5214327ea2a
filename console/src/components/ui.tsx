// Small building blocks every page uses: how an error, an empty list, a status and a time look.
// Nothing is ever silently empty: a failed request shows its status and code, an empty list says why.

import type { ReactNode } from "react";
import type { UseQueryResult } from "@tanstack/react-query";
import { AosError } from "@aos/sdk";

export function describeError(error: unknown): { title: string; code: string; message: string } {
  if (error instanceof AosError) {
    if (error.status === 0) {
      return { title: "The API did not answer", code: error.code, message: error.message };
    }
    const title =
      error.status === 403
        ? "Refused by the API"
        : error.status === 401
          ? "Not signed in"
          : error.status >= 500
            ? "The server failed"
            : "The request failed";
    return { title, code: `${error.status} ${error.code}`, message: error.message };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { title: "Something went wrong", code: "CONSOLE_ERROR", message };
}

export function ErrorBox({ error, what }: { error: unknown; what?: string }) {
  const d = describeError(error);
  return (
    <div className="error" role="alert" data-testid="error">
      <strong>
        {d.title}
        {what ? ` (${what})` : ""}: <code data-testid="error-code">{d.code}</code>
      </strong>
      <div>{d.message}</div>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <p className="empty" data-testid="empty">
      {children}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status">
      Loading {what}…
    </p>
  );
}

/**
 * Renders a query's states: loading, its error (with code), or `children(data)`. The data stay on
 * screen during a refetch; a failed refetch shows its error above them.
 */
export function QueryView<T>({ q, what, children }: { q: UseQueryResult<T>; what: string; children: (data: T) => ReactNode }) {
  if (q.isPending) return <Loading what={what} />;
  if (q.isError && q.data === undefined) return <ErrorBox error={q.error} what={what} />;
  return (
    <>
      {q.isError && <ErrorBox error={q.error} what={`refreshing ${what}`} />}
      {q.data !== undefined && children(q.data)}
    </>
  );
}

export function Status({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{status}</span>;
}

export function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`;
}

export function usd(x: number): string {
  return `$${x.toFixed(x < 0.01 ? 5 : 2)}`;
}

/** Any JSON, pretty-printed; redacted values stay exactly as the API sent them. */
export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre className="json" aria-label={label} tabIndex={0}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

export function PageTitle({ children, extra }: { children: ReactNode; extra?: ReactNode }) {
  return (
    <div className="page-title">
      <h1>{children}</h1>
      {extra}
    </div>
  );
}
