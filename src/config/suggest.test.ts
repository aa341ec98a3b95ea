import { describe, expect, it } from "vitest";
import { closest, editDistance } from "./suggest.js";

describe("editDistance", () => {
  it("counts insertions, deletions and substitutions", () => {
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("abc", "")).toBe(3);
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("batch_sise", "batch_size")).toBe(1);
  });

  it("counts a swap of neighbours as one edit", () => {
    expect(editDistance("dialcet", "dialect")).toBe(1);
    expect(editDistance("ab", "ba")).toBe(1);
  });

  it("is zero only for equal strings", () => {
    expect(editDistance("same", "same")).toBe(0);
    expect(editDistance("same", "Same")).toBe(1);
  });
});

describe("closest", () => {
  const batching = ["enabled", "batch_size", "batch_timeout_seconds"];

  it("suggests a key one or two edits away", () => {
    expect(closest("batch_sise", batching)).toBe("batch_size");
    expect(closest("enabeld", batching)).toBe("enabled");
    expect(closest("enbld", batching)).toBe("enabled");
  });

  it("ignores case", () => {
    expect(closest("BATCH_SIZE", batching)).toBe("batch_size");
  });

  it("suggests the one key that a long-enough word starts", () => {
    expect(closest("batch_timeout", batching)).toBe("batch_timeout_seconds");
    expect(closest("WARN", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])).toBe("WARNING");
  });

  it("allows only one edit for short words, so host does not suggest port", () => {
    expect(closest("host", ["port", "url"])).toBeUndefined();
    expect(closest("prot", ["port", "url"])).toBe("port");
  });

  it("gives nothing when no candidate is close", () => {
    expect(closest("colour", batching)).toBeUndefined();
    expect(closest("batch", ["batch_size", "batch_timeout_seconds"])).toBeUndefined();
  });

  it("prefers the nearest candidate", () => {
    expect(closest("hourlly", ["midnight", "hourly", "size"])).toBe("hourly");
  });
});
