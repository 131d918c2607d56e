import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app/App";
import { ModelContext } from "./app/context";
import { AppModel } from "./app/model";
import { followMlflowLinks } from "./app/router";
import "./styles.css";

followMlflowLinks(); // before anything reads the location
const model = new AppModel();
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ModelContext.Provider value={model}>
      <App />
    </ModelContext.Provider>
  </StrictMode>,
);
