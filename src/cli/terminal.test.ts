// biome-ignore-all lint/suspicious/noControlCharactersInRegex: the tests look for raw control characters in output.
import { describe, expect, it } from "vitest";
import { QuerySyntaxError } from "../errors.js";
import { syntaxExcerpt } from "./errors.js";
import { Progress } from "./progress.js";
import {
  bar,
  displayWidth,
  formatBytes,
  formatCount,
  neutralize,
  renderTable,
  truncate,
} from "./terminal.js";

describe("neutralize", () => {
  it("turns ANSI escapes and control characters into visible text", () => {
    expect(neutralize("evil\x1b[31mred\x1b]0;title\x07")).toBe("evil\\x1b[31mred\\x1b]0;title\\x07");
    expect(neutralize("a\nb\r\tc\u0000")).toBe("a\\nb\\r\\tc\\x00");
    expect(neutralize("del\u007f c1\u009b")).toBe("del\\x7f c1\\x9b");
  });

  it("shows bidirectional overrides and separators instead of obeying them", () => {
    expect(neutralize("invoice\u202Egpj.exe")).toBe("invoice\\u202egpj.exe");
    expect(neutralize("a\u2028b\u2066c")).toBe("a\\u2028b\\u2066c");
  });

  it("leaves ordinary text, including non-ASCII, untouched, and repairs lone surrogates", () => {
    expect(neutralize("naïve café — 日本語 🎉")).toBe("naïve café — 日本語 🎉");
    expect(neutralize("x\ud800y")).toBe("x\ufffdy");
  });

  it("is linear on long hostile input", () => {
    const input = "\x1b[".repeat(200_000);
    const out = neutralize(input);
    expect(out.length).toBe(200_000 * 5);
  });
});

describe("widths and layout", () => {
  it("counts wide characters as two columns and combining marks as none", () => {
    expect(displayWidth("abc")).toBe(3);
    expect(displayWidth("日本")).toBe(4);
    expect(displayWidth("e\u0301")).toBe(1);
  });

  it("truncates to a width with an ellipsis", () => {
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("abc", 4)).toBe("abc");
    expect(truncate("日本語", 4)).toBe("日…");
  });

  it("renders a table that fits the width, shrinking the widest column first", () => {
    const lines = renderTable(
      [{ header: "A" }, { header: "B", align: "right" }, { header: "LONG", min: 4 }],
      [
        ["x", "1", "a very long value indeed"],
        ["yy", "22", "short"],
      ],
      20,
    );
    expect(lines).toEqual(["A    B  LONG", "x    1  a very long…", "yy  22  short"]);
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(20);
  });

  it("draws bars in eighths, with a sliver for any non-zero value", () => {
    expect(bar(1, 4)).toBe("████");
    expect(bar(0.5, 4)).toBe("██");
    expect(bar(0.0001, 4)).toBe("▏");
    expect(bar(0, 4)).toBe("");
    expect(bar(0.5625, 2)).toBe("█▏");
  });

  it("formats counts and sizes for people", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(1_234_567)).toBe("1.2 MB");
  });
});

describe("syntax error excerpt", () => {
  it("puts the caret under the offending character, even after escaped control characters", () => {
    const err = new QuerySyntaxError("unclosed '('", "a\tb AND (", 9);
    expect(syntaxExcerpt(err)).toEqual(["a\\tb AND (", "          ^"]);
  });

  it("shows a window around the error of a long query", () => {
    const query = `${"x".repeat(1000)} AND (`;
    const err = new QuerySyntaxError("unclosed '('", query, query.length - 1);
    const [line, caret] = syntaxExcerpt(err);
    expect(line!.startsWith("…")).toBe(true);
    expect(displayWidth(line!)).toBeLessThan(130);
    expect(caret!.indexOf("^")).toBe(line!.indexOf("("));
  });
});

describe("Progress", () => {
  function sink(isTTY: boolean) {
    const chunks: string[] = [];
    return { stream: { isTTY, columns: 80, write: (t: string) => chunks.push(t) }, chunks };
  }

  it("draws nothing when the stream is not a terminal", () => {
    const { stream, chunks } = sink(false);
    const p = new Progress(stream, "exporting", { delayMs: 0 });
    p.update(5000);
    p.done();
    expect(chunks).toEqual([]);
  });

  it("redraws one line in place with a bar when the total is known, and clears it when done", () => {
    const { stream, chunks } = sink(true);
    const p = new Progress(stream, "exporting", { delayMs: 0, total: 200 });
    p.update(100);
    p.done();
    expect(chunks[0]).toMatch(/^\rexporting \[█{10} {10}\] 50% 100\/200 events · .*\x1b\[K$/);
    expect(chunks.at(-1)).toBe("\r\x1b[K");
  });
});
