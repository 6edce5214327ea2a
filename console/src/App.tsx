// The console's shell: the session, the query cache, sign-in, the navigation the principal's
// permissions allow, and the routes under /console.

import { lazy, Suspense, useEffect, useMemo, useRef } from "react";
import { QueryCache, QueryClient, QueryClientProvider, MutationCache, useQuery } from "@tanstack/react-query";
import { Link, Redirect, Route, Router, Switch, useLocation } from "wouter";
import { AosError } from "@aos/sdk";
import type { ConsoleConfig } from "./config";
import { SessionProvider, useClient, useSession } from "./session";
import { PrincipalContext } from "./principal";
import { ErrorBox, Loading } from "./components/ui";
import { SignIn, OidcCallback } from "./pages/SignIn";
import { RunsPage } from "./pages/Runs";
import { RunPage } from "./pages/Run";
import { ReviewPage } from "./pages/Review";
import { CatalogPage } from "./pages/Catalog";
import { SkillsPage } from "./pages/Skills";
import { KeysPage } from "./pages/Keys";
import { AuditPage } from "./pages/Audit";

// The analytics page carries the charting library: its own chunk, loaded when visited.
const AnalyticsPage = lazy(() => import("./pages/Analytics"));

const BASE = import.meta.env.BASE_URL.replace(/\/$/, "");

export function App({ config }: { config: ConsoleConfig }) {
  return (
    <SessionProvider config={config}>
      <Router base={BASE}>
        <Queries />
      </Router>
    </SessionProvider>
  );
}

/** One query cache per session; a 401 anywhere ends the session with the API's message. */
function Queries() {
  const { credential, signOut } = useSession();
  const signOutRef = useRef(signOut);
  signOutRef.current = signOut;
  const client = useMemo(() => {
    const onError = (error: unknown) => {
      if (error instanceof AosError && error.status === 401) {
        signOutRef.current(`The API refused the credential (401 ${error.code}): ${error.message}. Sign in again.`);
      }
    };
    return new QueryClient({
      queryCache: new QueryCache({ onError }),
      mutationCache: new MutationCache({ onError }),
      defaultOptions: {
        // The SDK retries what is safe to retry (429, 503); a second layer would only hide errors.
        queries: { retry: false, refetchOnWindowFocus: false, staleTime: 5_000 },
        mutations: { retry: false },
      },
    });
    // A new cache for each credential: nothing of one principal is shown to the next.
  }, [credential]);
  const [location] = useLocation();
  if (location === "/callback") return <OidcCallback />;
  if (!credential) return <SignIn />;
  return (
    <QueryClientProvider client={client}>
      <SignedIn />
    </QueryClientProvider>
  );
}

function SignedIn() {
  const aos = useClient();
  const { signOut } = useSession();
  const whoami = useQuery({ queryKey: ["whoami"], queryFn: () => aos.whoami(), staleTime: 60_000 });
  if (whoami.isPending) return <Loading what="your identity" />;
  if (whoami.isError) {
    return (
      <main className="signin">
        <ErrorBox error={whoami.error} what="who am I" />
        <button type="button" onClick={() => signOut()}>
          Back to sign-in
        </button>
      </main>
    );
  }
  const me = whoami.data;
  const can = (p: string) => me.permissions.includes(p);
  return (
    <PrincipalContext.Provider value={me}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">AOS console</span>
        <nav aria-label="Main">
          <NavLink href="/runs">Runs</NavLink>
          {can("failures:read") && <NavLink href="/analytics">Failure analytics</NavLink>}
          {can("recovery:read") && <NavLink href="/review">Recovery review</NavLink>}
          {can("catalog:read") && <NavLink href="/catalog">Catalog</NavLink>}
          {can("skills:read") && <NavLink href="/skills">Skills</NavLink>}
          {can("keys:manage") && <NavLink href="/keys">API keys</NavLink>}
          {can("audit:read") && <NavLink href="/audit">Audit log</NavLink>}
        </nav>
        <span className="who" data-testid="whoami">
          {me.name || me.id} · <strong>{me.role}</strong> · tenant {me.tenant}
        </span>
        <button type="button" onClick={() => signOut("Signed out.")}>
          Sign out
        </button>
      </header>
      <main id="main">
        <Suspense fallback={<Loading what="the page" />}>
          <Switch>
            <Route path="/">
              <Redirect to="/runs" />
            </Route>
            <Route path="/runs" component={RunsPage} />
            <Route path="/runs/:id">{(p) => <RunPage id={p.id} />}</Route>
            <Route path="/analytics" component={AnalyticsPage} />
            <Route path="/review" component={ReviewPage} />
            <Route path="/catalog" component={CatalogPage} />
            <Route path="/skills" component={SkillsPage} />
            <Route path="/keys" component={KeysPage} />
            <Route path="/audit" component={AuditPage} />
            <Route>
              <NotFound />
            </Route>
          </Switch>
        </Suspense>
      </main>
    </PrincipalContext.Provider>
  );
}

function NavLink({ href, children }: { href: string; children: string }) {
  const [location] = useLocation();
  const active = location === href || location.startsWith(`${href}/`);
  return (
    <Link href={href} className={active ? "active" : undefined} aria-current={active ? "page" : undefined}>
      {children}
    </Link>
  );
}

function NotFound() {
  const [location] = useLocation();
  useEffect(() => {
    document.title = "Not found · AOS console";
  }, []);
  return (
    <>
      <h1>No such page</h1>
      <p>
        The console has no page at <code>{location}</code>. <Link href="/runs">Go to the runs.</Link>
      </p>
    </>
  );
}
