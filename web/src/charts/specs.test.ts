import { describe, expect, it } from "vitest";
import { curveSpec } from "./curves/spec";
import { withLogY, type Spec } from "./specs";

const scalar: Spec = {
  data: { name: "runs" }, mark: { type: "circle" },
  encoding: { x: { field: "number" }, y: { field: "value", scale: { zero: false, padding: 8 } } },
};

describe("log scales", () => {
  it("puts a scalar chart's y on a log scale, leaving out values ≤ 0, without touching the original", () => {
    const log = withLogY(scalar) as Spec & { encoding: { y: { scale: Record<string, unknown> } }; transform: unknown[] };
    expect(log.encoding.y.scale).toEqual({ zero: false, padding: 8, type: "log" });
    expect(log.transform).toEqual([{ filter: "isValid(datum.value) && datum.value > 0" }]);
    expect((scalar.encoding as { y: { scale: Record<string, unknown> } }).y.scale.type).toBeUndefined();
  });

  it("builds the overlay with log axes that drop what they cannot place", () => {
    const spec = curveSpec({ metric: "loss", mode: "step", logX: true, logY: true }) as Spec & {
      transform: { filter: string }[]; layer: { transform: { filter: string }[];
        encoding: { y: { scale: { type: string } } } }[]; encoding: { x: { scale: { type: string } } } };
    expect(spec.encoding.x.scale.type).toBe("log");
    expect(spec.transform.map((t) => t.filter)).toContain("datum.x > 0");
    expect(spec.layer.map((l) => l.encoding.y.scale.type)).toEqual(["log", "log"]);
    expect(spec.layer[0]!.transform[0]!.filter).toContain("datum.value > 0");
  });

  it("keeps zoom, smoothing and highlight as parameters of the live view", () => {
    const spec = curveSpec({ metric: "loss", mode: "relative", logX: false, logY: false }) as Spec & {
      params: { name: string }[] };
    expect(spec.params.map((p) => p.name)).toEqual(["highlight", "xzoom", "smoothing"]);
  });
});
