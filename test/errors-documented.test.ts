import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ErrorCodes } from "../src/errors.js";

describe("docs/errors.md", () => {
  it("documents every error code with its own section, and no code that does not exist", () => {
    const doc = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");
    const sections = [...doc.matchAll(/^## (VIGIL_ERR_[A-Z_]+)$/gm)].map((m) => m[1]);
    expect(new Set(sections)).toEqual(new Set(Object.values(ErrorCodes)));
    expect(sections).toHaveLength(Object.values(ErrorCodes).length);
  });
});
