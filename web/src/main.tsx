import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app/App";
import { ModelContext } from "./app/context";
import { AppModel } from "./app/model";
import "./styles.css";

const model = new AppModel();
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ModelContext.Provider value={model}>
      <App />
    </ModelContext.Provider>
  </StrictMode>,
);
