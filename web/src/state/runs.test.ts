import { describe, expect, it } from "vitest";
import { applyChange, latestScalars, reduceEvent } from "./fold";
import { RunStore } from "./runs";
import { archived, artifact, completed, lines, lost, metrics, started, submitted, view } from "./testing";

describe("the run fold", () => {
  it("folds a run's life as the server's projection does", () => {
    const events = [
      submitted(1, "a", "iris", 100), started(2, "a", 101), lines(3, "a", 0, ["x", "y"]),
      metrics(4, "a", { acc: [0.5, 0.9], curve: [[1, 2]] }), artifact(5, "a"), completed(6, "a", 111),
    ];
    const v = events.reduce((acc, e) => applyChange(acc, reduceEvent(e)!), null as ReturnType<typeof applyChange>);
    expect(v).toMatchObject({
      run_id: "a", project: "iris", status: "completed", submitted: 100, started: 101, ended: 111,
      duration: 10, log_lines: 2, artifacts: 1, metrics: { acc: 0.9 }, position: 6, script: "train.py",
    });
  });

  it("fails a lost run with the server's reason, until its writer's own end comes", () => {
    const fold = (events: ReturnType<typeof started>[]) =>
      events.reduce((acc, e) => applyChange(acc, reduceEvent(e)!), null as ReturnType<typeof applyChange>);
    const gone = fold([submitted(1, "a", "iris", 100), started(2, "a", 101), lost(3, "a", 200)]);
    expect(gone).toMatchObject({ status: "failed", ended: 200, duration: 99, position: 3,
                                 reason: "agent lost: no sign of life for 90 s (lease 30 s)" });
    const back = fold([submitted(1, "a", "iris", 100), started(2, "a", 101), lost(3, "a", 200),
                       completed(4, "a", 210)]);
    expect(back).toMatchObject({ status: "completed", reason: "", ended: 210, position: 4 });
    const late = fold([submitted(1, "a", "iris", 100), started(2, "a", 101), completed(3, "a", 110),
                       lost(4, "a", 200)]);
    expect(late).toMatchObject({ status: "completed", ended: 110, position: 3 }); // unchanged
  });

  it("knows nothing of a run before it was submitted", () => {
    expect(applyChange(null, reduceEvent(started(1, "a"))!)).toBeNull();
  });

  it("keeps the latest scalar of each metric, arrays aside, non-finite as strings", () => {
    const d = { names: ["a", "b", "c"], index: [0, 0, 1, 2], steps: [0, 1, 0, 0], times: [0, 0, 0, 0],
                values: [1, 2, [3], Number.NaN] };
    expect(latestScalars(d)).toEqual({ a: 2, c: "NaN" });
  });
});

describe("the run store", () => {
  it("applies live events on top of a snapshot and ignores what the snapshot holds", () => {
    const store = new RunStore();
    store.load([view("a", { status: "running", position: 10, started: 5 })]);
    const r = store.apply([started(9, "a"), completed(12, "a", 20)]);
    expect(r.applied).toBe(1);
    expect(store.get("a")).toMatchObject({ status: "completed", duration: 15, position: 12 });
  });

  it("never applies one event twice, whichever topic or reconnect brings it", () => {
    const store = new RunStore();
    store.load([view("a", { position: 1 })]);
    store.apply([artifact(5, "a"), artifact(7, "a")]);
    store.apply([artifact(5, "a"), artifact(7, "a")]);
    store.apply([artifact(6, "a")]); // late, out of order: folded in its place
    expect(store.get("a")?.artifacts).toBe(3);
    expect(store.get("a")?.position).toBe(7);
  });

  it("numbers a new run after its project's last and asks for the server's view", () => {
    const store = new RunStore();
    store.load([view("a", { number: 4, position: 3 }), view("z", { project: "other", number: 9, position: 2 })]);
    const r = store.apply([submitted(5, "b")]);
    expect(store.get("b")?.number).toBe(5);
    expect(r.refresh).toEqual(["b"]);
    expect(store.apply([completed(6, "a")]).refresh).toEqual(["a"]); // metrics are not on the jobs topic
  });

  it("rebases on a fresher server view, keeping only later events", () => {
    const store = new RunStore();
    store.apply([submitted(1, "a"), started(2, "a"), artifact(3, "a")]);
    store.rebase(view("a", { number: 7, status: "running", position: 2, metrics: { acc: 0.8 } }));
    expect(store.get("a")).toMatchObject({ number: 7, artifacts: 1, metrics: { acc: 0.8 }, position: 3 });
    store.rebase(view("a", { number: 7, position: 1 })); // older than what we hold: ignored
    expect(store.get("a")?.position).toBe(3);
  });

  it("folds a run's own topic and the jobs topic together, each event once", () => {
    const store = new RunStore();
    store.load([view("a", { status: "running", position: 3, started: 1 })]);
    // jobs: life cycle only; run/a: everything, its backlog arriving late.
    store.apply([artifact(6, "a"), completed(8, "a", 9)]);
    store.apply([metrics(4, "a", { acc: [0.7] }), lines(5, "a", 0, ["x"]), artifact(6, "a"),
                 metrics(7, "a", { acc: [0.8] }), completed(8, "a", 9)]);
    expect(store.get("a")).toMatchObject({
      artifacts: 1, metrics: { acc: 0.8 }, log_lines: 1, status: "completed", duration: 8, position: 8,
    });
    expect(store.basePosition("a")).toBe(3);
  });

  it("follows archive and restore from the review stream", () => {
    const store = new RunStore();
    store.load([view("a", { position: 1 })]);
    store.apply([archived(2, "a")]);
    expect(store.get("a")?.archived).toBe(true);
  });

  it("lists runs newest first and notifies once per batch", () => {
    const store = new RunStore();
    let calls = 0;
    store.subscribe(() => calls++);
    store.apply([submitted(1, "a", "iris", 10), submitted(2, "b", "iris", 20)]);
    expect(store.runs().map((r) => r.run_id)).toEqual(["b", "a"]);
    expect(calls).toBe(1);
  });
});
