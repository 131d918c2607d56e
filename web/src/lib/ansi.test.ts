import { describe, expect, it } from "vitest";
import { parseAnsi } from "./ansi";

describe("ANSI colours", () => {
  it("splits a line into styled segments", () => {
    const { segments } = parseAnsi("a \x1b[1;32mgreen\x1b[0m b");
    expect(segments.map((s) => s.text)).toEqual(["a ", "green", " b"]);
    expect(segments[1]!.style).toMatchObject({ bold: true, fg: "#8cc265" });
    expect(segments[2]!.style).toEqual({});
  });
  it("understands 256 and true colours, and drops other escapes", () => {
    expect(parseAnsi("\x1b[38;5;196mx").segments[0]!.style.fg).toBe("rgb(255,0,0)");
    expect(parseAnsi("\x1b[48;2;1;2;3mx").segments[0]!.style.bg).toBe("rgb(1,2,3)");
    expect(parseAnsi("\x1b[2Kprogress").segments.map((s) => s.text)).toEqual(["progress"]);
  });
  it("carries a style across lines", () => {
    const first = parseAnsi("\x1b[31mred");
    expect(parseAnsi("still", first.end).segments[0]!.style.fg).toBe("#e05561");
  });
});
