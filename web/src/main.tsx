import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app/App";
import { ModelContext } from "./app/context";
import { AppModel } from "./app/model";
import { followMlflowLinks } from "./app/router";
import { loadVega } from "./charts/vegaLib";
import { expectDashboardCurves, prefetchDashboardCurves } from "./views/curvesFirst";
import "./styles.css";

followMlflowLinks(); // before anything reads the location
const model = new AppModel();
expectDashboardCurves(model.settings.value);
model.onRunsListed = (runs) => prefetchDashboardCurves(model.api, runs, model.settings.value);
// The runs are asked for before the first render (which needs none of them): /api and
// /api/runs are the page's first requests, ahead of anything a view asks for.
void model.start();
void loadVega(); // its chunk is fetched and evaluated while they are in flight
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ModelContext.Provider value={model}>
      <App />
    </ModelContext.Provider>
  </StrictMode>,
);
