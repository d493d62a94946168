// The shell: sign-in gate, header, and hash routes (so the server only serves `/`). The story,
// cast, map and graph views are loaded on demand to keep the first load small.
import { lazy, Suspense } from "react";
import { Link, Route, Router, Switch } from "wouter";
import { useHashLocation } from "wouter/use-hash-location";
import { useAuth } from "./api/auth";
import { SignIn } from "./views/SignIn";
import { Sessions } from "./views/Sessions";
import { ErrorBoundary } from "./views/ErrorBoundary";

const StoryView = lazy(() => import("./views/StoryView"));
const CastView = lazy(() => import("./views/CastView"));
const GraphView = lazy(() => import("./views/GraphView"));
const PlayerView = lazy(() => import("./views/PlayerView"));
const MapPage = lazy(() => import("./views/MapView"));

export function App() {
  const { auth, signOut } = useAuth();
  if (!auth) return <SignIn />;
  return (
    <Router hook={useHashLocation}>
      <header className="top">
        <Link href="/" className="brand">
          Novel Engine
        </Link>
        <nav aria-label="account">
          <span className="who">Signed in as {auth.username}</span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </nav>
      </header>
      <main id="main">
        <ErrorBoundary>
          <Suspense fallback={<p role="status">Loading…</p>}>
            <Switch>
              <Route path="/">
                <Sessions />
              </Route>
              <Route path="/sessions/:id">{(p) => <StoryView key={p.id} sessionId={p.id} />}</Route>
              <Route path="/sessions/:id/cast">{(p) => <CastView key={p.id} sessionId={p.id} />}</Route>
              <Route path="/sessions/:id/map">{(p) => <MapPage key={p.id} sessionId={p.id} />}</Route>
              <Route path="/sessions/:id/graph">{(p) => <GraphView key={p.id} sessionId={p.id} />}</Route>
              <Route path="/play/:sid/:agent">{(p) => <PlayerView sessionId={p.sid} agentId={p.agent} />}</Route>
              <Route>
                <h1>Not found</h1>
                <p>
                  There is nothing here. <Link href="/">Back to your stories</Link>
                </p>
              </Route>
            </Switch>
          </Suspense>
        </ErrorBoundary>
      </main>
    </Router>
  );
}
