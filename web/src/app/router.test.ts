import { describe, expect, it } from "vitest";
import { mlflowLinkPath, parseRoute } from "./router";

describe("links printed by MLflow's client", () => {
  it("open a run's page from MLflow's 'View run at' link", () => {
    const to = mlflowLinkPath("/", "#/experiments/1/runs/iris_1796309434181_r3jz");
    expect(to).toBe("/runs/iris_1796309434181_r3jz");
    expect(parseRoute(to!, "")).toEqual({ page: "run", runId: "iris_1796309434181_r3jz", tab: "overview" });
    expect(mlflowLinkPath("/", "#/experiments/0/runs/a%2Fb/artifacts")).toBe("/runs/a%2Fb");
  });

  it("open the dashboard for an experiment and the models for a registered model", () => {
    expect(mlflowLinkPath("/", "#/experiments/3")).toBe("/");
    expect(mlflowLinkPath("/", "#/experiments/3/runs")).toBe("/");
    expect(mlflowLinkPath("/", "#/models/iris%20clf/versions/2")).toBe("/models/iris%20clf");
    expect(mlflowLinkPath("/", "#/models")).toBe("/models");
  });

  it("leave other hashes and other pages alone", () => {
    expect(mlflowLinkPath("/", "")).toBeNull();
    expect(mlflowLinkPath("/", "#top")).toBeNull();
    expect(mlflowLinkPath("/", "#/settings")).toBeNull();
    expect(mlflowLinkPath("/runs/x", "#/experiments/1/runs/y")).toBeNull();
    expect(mlflowLinkPath("/", "#/experiments/1/runs/%E0%A4%A")).toBeNull();
  });
});
