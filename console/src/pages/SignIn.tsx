// Sign-in: paste an API key (kept in this tab's sessionStorage only), or log in with the
// deployment's identity provider (OpenID Connect, authorization code with PKCE).

import { useEffect, useState, type FormEvent } from "react";
import { useLocation } from "wouter";
import { useSession } from "../session";
import { ErrorBox } from "../components/ui";

export function SignIn() {
  const { config, notice, signInWithKey, signInWithOidc } = useSession();
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    document.title = "Sign in · AOS console";
  }, []);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const k = key.trim();
    if (k) signInWithKey(k);
  };
  return (
    <main className="signin" id="main">
      <h1>AOS console</h1>
      {notice && (
        <p className="notice" role="alert" data-testid="signin-notice">
          {notice}
        </p>
      )}
      <form onSubmit={submit} method="post" action="#">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="aos_…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <button type="submit" disabled={!key.trim()}>
          Sign in with the key
        </button>
        <p className="hint">
          The key stays in this browser tab (session storage) and is sent only to the API, as a bearer token. Locally,{" "}
          <code>aos serve</code> wrote the admin key to <code>.aos/admin.key</code>.
        </p>
      </form>
      {config.oidc ? (
        <div className="oidc">
          <button
            type="button"
            onClick={() => {
              setError(null);
              signInWithOidc().catch(setError);
            }}
          >
            Sign in with your organisation (OpenID Connect)
          </button>
          {error !== null && <ErrorBox error={error} what="identity provider" />}
        </div>
      ) : (
        <p className="hint">This deployment configures no identity provider: sign in with an API key.</p>
      )}
    </main>
  );
}

/** The identity provider's redirect back: exchanges the code (with the PKCE verifier) for tokens. */
export function OidcCallback() {
  const { completeOidc } = useSession();
  const [, navigate] = useLocation();
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    completeOidc()
      .then(() => navigate("/runs", { replace: true }))
      .catch(setError);
  }, [completeOidc, navigate]);
  return (
    <main className="signin" id="main">
      <h1>Signing in…</h1>
      {error !== null && (
        <>
          <ErrorBox error={error} what="login callback" />
          <a href={import.meta.env.BASE_URL}>Back to sign-in</a>
        </>
      )}
    </main>
  );
}
