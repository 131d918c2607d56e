import { Compare } from "../views/Compare";
import { ConnectionDot, ErrorBar, LogDrawer, TokenPrompt } from "../views/Chrome";
import { Dashboard } from "../views/Dashboard";
import { JobsPanel } from "../views/JobsPanel";
import { ModelPage, Models } from "../views/Models";
import { RunPage } from "../views/run/RunPage";
import { useObservable } from "../state/observable";
import { useModel } from "./context";
import { linkHandler, paths, useRoute, type Route } from "./router";

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "runs": return <Dashboard />;
    case "run": return <RunPage key={route.runId} runId={route.runId} tab={route.tab} />;
    case "compare": return <Compare runIds={route.runIds} />;
    case "models": return <Models />;
    case "model": return <ModelPage name={route.name} />;
    case "notfound": return <div className="page"><h1>Not found</h1><p>No page at {route.path}.</p></div>;
  }
}

export function App() {
  const model = useModel();
  const route = useRoute();
  useObservable(model.conn);
  const nav = (to: string, title: string, active: boolean) => (
    <a href={to} onClick={linkHandler(to)} className={active ? "active" : ""}>{title}</a>
  );
  return (
    <div className="app">
      <header className="top">
        <a className="brand" href="/" onClick={linkHandler("/")}>runstream</a>
        <nav>
          {nav(paths.runs(), "All Runs", route.page === "runs" || route.page === "compare")}
          {nav(paths.models(), "Models", route.page === "models" || route.page === "model")}
        </nav>
        <span className="spacer" />
        <ConnectionDot />
      </header>
      <div className="body">
        <JobsPanel />
        <main key={model.conn.session}>
          <Page route={route} />
        </main>
      </div>
      <LogDrawer />
      <ErrorBar />
      <TokenPrompt />
    </div>
  );
}
