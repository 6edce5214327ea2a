// Who is signed in and how: an API key pasted into the sign-in page (kept in sessionStorage, so it
// lives as long as the tab and is never put in a URL), or an OpenID Connect login (authorization
// code with PKCE, by oidc-client-ts, whose user is kept in sessionStorage too). The one AosClient
// of the session is built here; every page reads data through it.

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { AosClient } from "@aos/sdk";
import type { UserManager } from "oidc-client-ts";
import { apiBaseUrl, type ConsoleConfig, type OidcConfig } from "./config";

const KEY_STORAGE = "aos.console.apiKey";
const MODE_STORAGE = "aos.console.mode";

export type Credential = { kind: "key"; key: string } | { kind: "oidc" };

interface SessionValue {
  config: ConsoleConfig;
  credential: Credential | null;
  client: AosClient | null;
  /** Why the last session ended (a refused key, an expired login), shown on the sign-in page. */
  notice: string | null;
  signInWithKey(key: string): void;
  signInWithOidc(): Promise<void>;
  completeOidc(): Promise<void>;
  signOut(notice?: string): void;
}

const SessionContext = createContext<SessionValue | null>(null);

let managerPromise: Promise<UserManager> | null = null;

/** The OIDC client, loaded only when the deployment configures a provider (its own chunk). */
export function oidcManager(oidc: OidcConfig): Promise<UserManager> {
  managerPromise ??= import("oidc-client-ts").then(({ UserManager, WebStorageStateStore }) => {
    const base = `${window.location.origin}${import.meta.env.BASE_URL}`;
    return new UserManager({
      authority: oidc.authority,
      metadataUrl: oidc.metadata_url || undefined,
      client_id: oidc.client_id,
      redirect_uri: `${base}callback`,
      post_logout_redirect_uri: base,
      response_type: "code",
      scope: oidc.scope || "openid email profile",
      // PKCE (S256) is oidc-client-ts's default for the code flow; state and verifier live in
      // sessionStorage, like the user.
      userStore: new WebStorageStateStore({ store: window.sessionStorage }),
      stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
      automaticSilentRenew: false,
      loadUserInfo: false,
    });
  });
  return managerPromise;
}

function storedCredential(): Credential | null {
  const mode = sessionStorage.getItem(MODE_STORAGE);
  if (mode === "key") {
    const key = sessionStorage.getItem(KEY_STORAGE);
    return key ? { kind: "key", key } : null;
  }
  if (mode === "oidc") return { kind: "oidc" };
  return null;
}

function makeClient(config: ConsoleConfig, credential: Credential): AosClient {
  const baseUrl = apiBaseUrl(config);
  const common = { baseUrl, timeoutMs: 15_000, maxRetries: 1 };
  if (credential.kind === "key") return new AosClient({ ...common, apiKey: credential.key });
  const oidc = config.oidc;
  return new AosClient({
    ...common,
    // The ID token: Cognito puts the tenant claim in ID tokens only (docs/rbac.md).
    token: async () => {
      if (!oidc) return "";
      const user = await (await oidcManager(oidc)).getUser();
      return user && !user.expired ? user.id_token ?? "" : "";
    },
  });
}

export function SessionProvider({ config, children }: { config: ConsoleConfig; children: ReactNode }) {
  const [credential, setCredential] = useState<Credential | null>(storedCredential);
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback(
    (why?: string) => {
      sessionStorage.removeItem(KEY_STORAGE);
      sessionStorage.removeItem(MODE_STORAGE);
      if (config.oidc) void oidcManager(config.oidc).then((m) => m.removeUser());
      setNotice(why ?? null);
      setCredential(null);
    },
    [config],
  );

  const signInWithKey = useCallback((key: string) => {
    sessionStorage.setItem(MODE_STORAGE, "key");
    sessionStorage.setItem(KEY_STORAGE, key);
    setNotice(null);
    setCredential({ kind: "key", key });
  }, []);

  const signInWithOidc = useCallback(async () => {
    if (!config.oidc) throw new Error("this deployment configures no identity provider");
    await (await oidcManager(config.oidc)).signinRedirect();
  }, [config]);

  const completeOidc = useCallback(async () => {
    if (!config.oidc) throw new Error("this deployment configures no identity provider");
    await (await oidcManager(config.oidc)).signinRedirectCallback();
    sessionStorage.setItem(MODE_STORAGE, "oidc");
    setNotice(null);
    setCredential({ kind: "oidc" });
  }, [config]);

  const client = useMemo(() => (credential ? makeClient(config, credential) : null), [config, credential]);
  const value = useMemo(
    () => ({ config, credential, client, notice, signInWithKey, signInWithOidc, completeOidc, signOut }),
    [config, credential, client, notice, signInWithKey, signInWithOidc, completeOidc, signOut],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside SessionProvider");
  return s;
}

/** The signed-in client (pages are only rendered when there is one). */
export function useClient(): AosClient {
  const { client } = useSession();
  if (!client) throw new Error("not signed in");
  return client;
}
