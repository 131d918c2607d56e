import { createContext, useContext } from "react";
import type { AppModel } from "./model";

export const ModelContext = createContext<AppModel | null>(null);

export function useModel(): AppModel {
  const model = useContext(ModelContext);
  if (!model) throw new Error("useModel outside <ModelContext.Provider>");
  return model;
}
