// The deployment's console settings, read once at start from `config.json` beside index.html:
// `aos serve` writes it from its OIDC settings; on AWS the deploy step uploads one to the bucket.
// A missing file means: the API at this origin, API keys only.

export interface OidcConfig {
  /** The issuer (authority) whose discovery document oidc-client-ts reads. */
  authority: string;
  /** The app client id (a public client: PKCE, no secret). */
  client_id: string;
  /** Where the discovery document is, when not `<authority>/.well-known/openid-configuration` (emulators). */
  metadata_url?: string | null;
  /** Scopes asked for; default `openid email profile`. */
  scope?: string | null;
}

export interface ConsoleConfig {
  /** The API's base URL; default this page's origin. */
  api_base_url?: string | null;
  oidc?: OidcConfig | null;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  try {
    const resp = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: "no-store" });
    if (!resp.ok) return {};
    const body = (await resp.json()) as ConsoleConfig;
    return typeof body === "object" && body !== null ? body : {};
  } catch {
    return {};
  }
}

export function apiBaseUrl(config: ConsoleConfig): string {
  return config.api_base_url || window.location.origin;
}
