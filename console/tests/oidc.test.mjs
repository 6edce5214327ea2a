// Sign-in with OpenID Connect (authorization code + PKCE, by oidc-client-ts) against Cognito as
// moto server emulates it. moto issues real RS256 Cognito tokens and serves the pool's JWKS and
// discovery document, but has no hosted UI: its discovery document names no authorization or token
// endpoint. This test stands in for exactly those two endpoints (a login that always succeeds for
// one moto user), and checks what a real provider would: the S256 code challenge against the
// verifier, the client id and the redirect URI. The ID token it hands back is moto's own, which
// `aos serve` verifies against moto's JWKS — so the console's flow, the token's use as the API's
// bearer and the role it carries are all real; only Cognito's login page is not.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";
import { binPath } from "./stack.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TEST_ENV = process.env.AOS_TEST_ENV ?? join(ROOT, ".test-env");
const PASSWORD = "Corr3ct-Horse-Battery!";
const USER = "ops@example.com";
const procs = [];
let dir;
let moto;
let idpServer;
let idpBase;
let serveBase;
let pool;
let client;
let browser;
const seen = { authorize: [], token: [] };

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function startProc(cmd, args, env, ready) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    procs.push(p);
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start:\n${out.slice(-2000)}`)), 60_000);
    const onData = async (chunk) => {
      out += chunk;
      const value = ready(out);
      if (value) {
        clearTimeout(timer);
        resolve(value);
      }
    };
    p.stdout.on("data", onData);
    p.stderr.on("data", onData);
    p.once("exit", (code) => reject(new Error(`${cmd} exited with ${code}:\n${out.slice(-2000)}`)));
  });
}

async function idp(target, body) {
  const r = await fetch(`${moto}/`, {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": `AWSCognitoIdentityProviderService.${target}` },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${target}: ${r.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : {};
}

const b64url = (buf) => Buffer.from(buf).toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** The stand-in for Cognito's managed login: discovery (moto's, plus the two endpoints), authorize, token. */
function startIdp(issuer) {
  const codes = new Map();
  return new Promise((resolve) => {
    const server = createServer(async (req, res) => {
      const url = new URL(req.url, idpBase);
      const cors = { "access-control-allow-origin": serveBase, "access-control-allow-headers": "content-type" };
      if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
      if (url.pathname === "/.well-known/openid-configuration") {
        const doc = await (await fetch(`${moto}/${pool}/.well-known/openid-configuration`)).json();
        assert.equal(doc.issuer, issuer);
        Object.assign(doc, { authorization_endpoint: `${idpBase}/oauth2/authorize`, token_endpoint: `${idpBase}/oauth2/token` });
        res.writeHead(200, { "content-type": "application/json", ...cors });
        return res.end(JSON.stringify(doc));
      }
      if (url.pathname === "/oauth2/authorize") {
        const q = Object.fromEntries(url.searchParams);
        seen.authorize.push(q);
        if (q.client_id !== client || q.response_type !== "code" || q.code_challenge_method !== "S256" || !q.code_challenge) {
          res.writeHead(400, { "content-type": "text/plain" });
          return res.end("bad authorization request");
        }
        const auth = await idp("AdminInitiateAuth", {
          UserPoolId: pool,
          ClientId: client,
          AuthFlow: "ADMIN_USER_PASSWORD_AUTH",
          AuthParameters: { USERNAME: USER, PASSWORD },
        });
        const code = b64url(randomBytes(16));
        codes.set(code, { challenge: q.code_challenge, redirect: q.redirect_uri, tokens: auth.AuthenticationResult });
        const back = new URL(q.redirect_uri);
        back.searchParams.set("code", code);
        back.searchParams.set("state", q.state);
        res.writeHead(302, { location: back.toString() });
        return res.end();
      }
      if (url.pathname === "/oauth2/token" && req.method === "POST") {
        let body = "";
        for await (const c of req) body += c;
        const f = Object.fromEntries(new URLSearchParams(body));
        seen.token.push(f);
        const grant = codes.get(f.code);
        codes.delete(f.code);
        const verified =
          grant &&
          f.grant_type === "authorization_code" &&
          f.client_id === client &&
          f.redirect_uri === grant.redirect &&
          b64url(createHash("sha256").update(f.code_verifier ?? "").digest()) === grant.challenge;
        if (!verified) {
          res.writeHead(400, { "content-type": "application/json", ...cors });
          return res.end(JSON.stringify({ error: "invalid_grant" }));
        }
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store", ...cors });
        return res.end(
          JSON.stringify({ id_token: grant.tokens.IdToken, access_token: grant.tokens.AccessToken, token_type: "Bearer", expires_in: grant.tokens.ExpiresIn ?? 3600 }),
        );
      }
      res.writeHead(404).end();
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "aos-console-oidc-"));
  const motoPort = await freePort();
  moto = `http://127.0.0.1:${motoPort}`;
  await startProc(join(TEST_ENV, "moto", "bin", "moto_server"), ["-H", "127.0.0.1", "-p", String(motoPort)], process.env, (out) =>
    out.includes("Running on") ? true : null,
  );
  pool = (await idp("CreateUserPool", { PoolName: "aos-console", Schema: [{ Name: "tenant", AttributeDataType: "String", Mutable: true }] })).UserPool.Id;
  client = (
    await idp("CreateUserPoolClient", {
      UserPoolId: pool,
      ClientName: "aos-console",
      GenerateSecret: false,
      ExplicitAuthFlows: ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    })
  ).UserPoolClient.ClientId;
  await idp("CreateGroup", { UserPoolId: pool, GroupName: "operator" });
  await idp("AdminCreateUser", {
    UserPoolId: pool,
    Username: USER,
    MessageAction: "SUPPRESS",
    TemporaryPassword: "Temp-Passw0rd!",
    UserAttributes: [
      { Name: "email", Value: USER },
      { Name: "custom:tenant", Value: "dev" },
    ],
  });
  await idp("AdminSetUserPassword", { UserPoolId: pool, Username: USER, Password: PASSWORD, Permanent: true });
  await idp("AdminAddUserToGroup", { UserPoolId: pool, Username: USER, GroupName: "operator" });
  const issuer = `https://cognito-idp.us-east-1.amazonaws.com/${pool}`;
  idpBase = `http://127.0.0.1:${await freePort()}`;
  // aos serve's port is needed by the stand-in's CORS answers before it starts: choose it first.
  const servePort = await freePort();
  serveBase = `http://127.0.0.1:${servePort}`;
  idpServer = await startIdp(issuer);
  idpBase = `http://127.0.0.1:${idpServer.address().port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AOS_")));
  Object.assign(env, { AOS_LOG: "warn", AOS_AGGREGATE_EVERY: "off", AOS_CONSOLE_OIDC_METADATA_URL: `${idpBase}/.well-known/openid-configuration` });
  const args = ["serve", "--port", String(servePort), "--data-dir", join(dir, "data"), "--oidc-issuer", issuer, "--oidc-audience", client];
  args.push("--oidc-jwks-url", `${moto}/${pool}/.well-known/jwks.json`);
  await startProc(binPath("aos"), args, env, (out) => (out.includes("AOS listening on ") ? true : null));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  idpServer?.close();
  for (const p of procs.reverse()) {
    p.removeAllListeners("exit");
    if (p.exitCode === null) {
      const done = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      const waited = await Promise.race([done.then(() => true), new Promise((r) => setTimeout(() => r(false), 5_000))]);
      if (!waited) p.kill("SIGKILL");
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("config.json names the provider the API accepts", async () => {
  const config = await (await fetch(`${serveBase}/console/config.json`)).json();
  assert.equal(config.oidc.client_id, client);
  assert.equal(config.oidc.authority, `https://cognito-idp.us-east-1.amazonaws.com/${pool}`);
  const csp = (await fetch(`${serveBase}/console/`)).headers.get("content-security-policy");
  assert.match(csp, new RegExp(`connect-src 'self' https://cognito-idp.us-east-1.amazonaws.com ${idpBase.replace(/[.]/g, "\\.")} https://\\*\\.amazoncognito\\.com;`));
});

test("sign-in with PKCE: the user's ID token reaches the API, which gives the user's role", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const cspErrors = [];
  page.on("console", (m) => m.type() === "error" && /Content Security Policy/i.test(m.text()) && cspErrors.push(m.text()));
  await page.goto(`${serveBase}/console/`);
  await page.getByRole("button", { name: /OpenID Connect/ }).click();
  await page.getByTestId("whoami").waitFor({ timeout: 30_000 });
  assert.match(await page.getByTestId("whoami").innerText(), new RegExp(`${USER} · operator · tenant dev`));
  await page.getByTestId("runs-table").or(page.getByTestId("empty")).first().waitFor();
  // The flow: one authorization request with an S256 challenge, one code exchange with its verifier.
  assert.equal(seen.authorize.length, 1);
  assert.equal(seen.authorize[0].redirect_uri, `${serveBase}/console/callback`);
  assert.ok(seen.authorize[0].state);
  assert.equal(seen.token.length, 1);
  assert.ok(seen.token[0].code_verifier.length >= 43);
  // Nothing of the login stays in the URL or in localStorage.
  assert.ok(!page.url().includes("code="), page.url());
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  // An operator reviews recoveries: the review controls are there.
  await page.getByRole("link", { name: "Recovery review" }).click();
  await page.getByTestId("review-controls").waitFor();
  const result = await new AxeBuilder({ page }).analyze();
  assert.deepEqual(result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id), []);
  assert.deepEqual(cspErrors, []);
  await context.close();
});

test("a failed code exchange is shown, not swallowed", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${serveBase}/console/callback?code=forged&state=unknown`);
  await page.getByTestId("error").waitFor();
  await page.getByRole("link", { name: "Back to sign-in" }).waitFor();
  await context.close();
});
