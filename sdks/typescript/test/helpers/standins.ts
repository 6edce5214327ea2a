// Local stand-ins for the outside world: a price API, a flaky endpoint and a Slack webhook.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

export interface StandIns {
  url: string;
  /** Requests to /slack, in order. */
  slack: Received[];
  /** Requests per flaky endpoint name (/flaky/<name>). */
  flakyHits: Map<string, number>;
  /** Every request, in order. */
  all: Received[];
  close(): Promise<void>;
}

/**
 * - `GET /price` answers `{"bitcoin":{"usd":43210.5}}`;
 * - `/flaky/<name>` (and `/flaky`) fails twice with 503 (or the status `?status=` names), then
 *   answers 200 `{"ok":true,"hits":3}`;
 * - `/always503` always fails with 503;
 * - `POST /slack` records the request and answers `ok`.
 */
export async function startStandIns(): Promise<StandIns> {
  const slack: Received[] = [];
  const all: Received[] = [];
  const flakyHits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0]!;
      const rec: Received = { method: req.method ?? "GET", path, headers: req.headers, body };
      all.push(rec);
      if (path === "/price") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ bitcoin: { usd: 43210.5 } }));
      } else if (path === "/flaky" || path.startsWith("/flaky/")) {
        const name = path.slice("/flaky".length).replace(/^\//, "") || "default";
        const n = (flakyHits.get(name) ?? 0) + 1;
        flakyHits.set(name, n);
        if (n <= 2) {
          const status = Number(new URL(req.url ?? "/", "http://x").searchParams.get("status") ?? 503);
          res.writeHead(status, { "content-type": "text/plain" });
          res.end("try again");
        } else {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok: true, hits: n }));
        }
      } else if (path === "/always503") {
        res.writeHead(503, { "content-type": "text/plain" });
        res.end("down");
      } else if (path === "/slack" && req.method === "POST") {
        slack.push(rec);
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("ok");
      } else {
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("no such stand-in");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    slack,
    flakyHits,
    all,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
