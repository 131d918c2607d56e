import { describe, expect, it } from "vitest";
import { isNumeric, isSystemMetric, shownParams, shownTags, systemMetrics, tableMetrics, textColumns, textValue } from "./columns";
import { DEFAULT_SETTINGS, SettingsStore } from "./settings";
import { sortRuns } from "./table";
import { view } from "./testing";

const runs = [
  view("a", { number: 1, name: "small", params: { lr: "0.1", layers: "10", seed: "1" }, tags: { team: "vision" } }),
  view("b", { number: 2, params: { lr: "0.05", layers: "9", seed: "1", opt: "adam" }, tags: { team: "nlp", n: "3" } }),
  view("c", { number: 3, params: { lr: "1e-3", layers: "100", seed: "1", opt: "sgd" }, tags: { n: "12" } }),
  view("d", { number: 4 }),
];

describe("the runs table's parameter and tag columns", () => {
  it("offers every parameter and tag key the runs have, sorted", () => {
    const cols = textColumns(runs);
    expect(cols.params).toEqual(["layers", "lr", "opt", "seed"]);
    expect(cols.tags).toEqual(["n", "team"]);
    expect(cols.named).toBe(true);
    expect(textColumns([runs[1]!, runs[2]!]).named).toBe(false);
  });

  it("computes once per runs list", () => {
    expect(textColumns(runs)).toBe(textColumns(runs));
    expect(textColumns([...runs])).not.toBe(textColumns(runs));
  });

  it("shows by default the parameters whose values differ, a missing value being one", () => {
    const three = runs.slice(0, 3);
    expect(shownParams(null, textColumns(three), three.length)).toEqual(["layers", "lr", "opt"]);
    // every run has seed=1 but run d has none: seed differs too once d is shown
    expect(shownParams(null, textColumns(runs), runs.length)).toEqual(["layers", "lr", "opt", "seed"]);
    const same = [view("x", { params: { seed: "1" } }), view("y", { params: { seed: "1" } })];
    expect(shownParams(null, textColumns(same), same.length)).toEqual([]);
  });

  it("shows a single run's first parameters, and at most five by default", () => {
    const one = [runs[1]!];
    expect(shownParams(null, textColumns(one), 1)).toEqual(["layers", "lr", "opt", "seed"]);
    const many = [0, 1].map((k) => view(`m${k}`, {
      params: Object.fromEntries("abcdefg".split("").map((p) => [p, `${p}${k}`])),
    }));
    expect(shownParams(null, textColumns(many), many.length)).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("shows the chosen parameters and tags the runs have, no tags by default", () => {
    const cols = textColumns(runs);
    expect(shownParams(["seed", "gone", "lr"], cols, runs.length)).toEqual(["seed", "lr"]);
    expect(shownParams([], cols, runs.length)).toEqual([]);
    expect(shownTags(DEFAULT_SETTINGS.tags, cols)).toEqual([]);
    expect(shownTags(["team", "gone"], cols)).toEqual(["team"]);
  });

  it("reads a run's value by column key", () => {
    expect(textValue(runs[0]!, "params.lr")).toBe("0.1");
    expect(textValue(runs[0]!, "tags.team")).toBe("vision");
    expect(textValue(runs[3]!, "params.lr")).toBeUndefined();
    expect(textValue(runs[0]!, "Accuracy")).toBeUndefined();
  });

  it("knows which columns are numbers", () => {
    expect([...textColumns(runs).numeric].sort()).toEqual(["params.layers", "params.lr", "params.seed", "tags.n"]);
    expect(["0.1", "-3", "1e-4", ".5", " 7 "].every(isNumeric)).toBe(true);
    expect(["", "adam", "0x10", "1,5", "NaN", "inf", "1e"].some(isNumeric)).toBe(false);
  });

  it("sorts a parameter as numbers when every value is one", () => {
    // as text "9" > "100" > "10"; as numbers 100 > 10 > 9
    expect(sortRuns(runs, { key: "params.layers", desc: true }).map((r) => r.run_id)).toEqual(["c", "a", "b", "d"]);
    expect(sortRuns(runs, { key: "params.lr", desc: false }).map((r) => r.run_id)).toEqual(["c", "b", "a", "d"]);
    expect(sortRuns(runs, { key: "tags.n", desc: false }).map((r) => r.run_id)).toEqual(["b", "c", "d", "a"]);
  });

  it("sorts a parameter as text otherwise, runs without it last", () => {
    expect(sortRuns(runs, { key: "params.opt", desc: false }).map((r) => r.run_id)).toEqual(["b", "c", "d", "a"]);
    expect(sortRuns(runs, { key: "params.opt", desc: true }).map((r) => r.run_id)).toEqual(["c", "b", "d", "a"]);
    expect(sortRuns(runs, { key: "tags.team", desc: false }).map((r) => r.run_id)).toEqual(["b", "a", "d", "c"]);
  });

  it("sorts by run name, runs without one last", () => {
    const named = [view("p", { number: 1, name: "beta" }), view("q", { number: 2 }), view("r", { number: 3, name: "alpha" })];
    expect(sortRuns(named, { key: "name", desc: false }).map((r) => r.run_id)).toEqual(["r", "p", "q"]);
  });

  it("reads settings saved before parameter columns existed as automatic", () => {
    const stored = JSON.stringify({ charts: null, columns: ["acc"], sort: { key: "number", desc: true } });
    const settings = SettingsStore.read({ getItem: () => stored });
    expect(settings.params).toBeNull();
    expect(settings.tags).toEqual([]);
    expect(settings.columns).toEqual(["acc"]);
  });

  it("computes the columns of 10,000 runs and sorts them by a parameter in linear time", () => {
    const big = Array.from({ length: 10_000 }, (_, k) => view(`r${k}`, {
      number: k, params: { lr: String(k / 10_000), batch: String(32 * (k % 4)), opt: k % 2 ? "adam" : "sgd" },
      tags: { owner: `u${k % 7}` },
    }));
    const t0 = performance.now();
    const cols = textColumns(big);
    const sorted = sortRuns(big, { key: "params.lr", desc: true });
    const elapsed = performance.now() - t0;
    expect(cols.varying).toEqual(["batch", "lr", "opt"]);
    expect(sorted[0]!.run_id).toBe("r9999");
    // about 100 ms on an idle machine; the bound is loose for a loaded one (a quadratic
    // pass over 10,000 runs would take far longer)
    expect(elapsed).toBeLessThan(2_000);
  });
});

describe("the run agent's system series", () => {
  const names = ["Accuracy", "sys/gpu/10/power_watts", "loss", "sys/net_sent_bytes", "sys/cpu_percent",
    "sys/gpu/2/power_watts", "system_loss", "sys/memory_rss_bytes", "sys/disk_read_bytes"];

  it("are never the runs table's metric columns", () => {
    expect(tableMetrics(names)).toEqual(["Accuracy", "loss", "system_loss"]);
    expect(isSystemMetric("sys/cpu_percent")).toBe(true);
    expect(isSystemMetric("sys")).toBe(false);
    expect(isSystemMetric("system_loss")).toBe(false);
  });

  it("are listed CPU, memory, disk, network, then GPUs in device order", () => {
    expect(systemMetrics(names)).toEqual(["sys/cpu_percent", "sys/memory_rss_bytes", "sys/disk_read_bytes",
      "sys/net_sent_bytes", "sys/gpu/2/power_watts", "sys/gpu/10/power_watts"]);
  });
});
