// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" is the configuration's own syntax under test.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { interpolate } from "./interpolate.js";

describe("interpolate", () => {
  it("leaves text without references alone", () => {
    expect(interpolate("./logs/audit", {})).toEqual({
      kind: "ok",
      value: "./logs/audit",
      usedVariables: false,
    });
  });

  it("replaces ${NAME} with the variable", () => {
    expect(interpolate("${DB_HOST}", { DB_HOST: "db.internal" })).toEqual({
      kind: "ok",
      value: "db.internal",
      usedVariables: true,
    });
    expect(interpolate("postgres://${U}@${H}:5432", { U: "audit", H: "db" })).toMatchObject({
      value: "postgres://audit@db:5432",
    });
  });

  it("uses the fallback of ${NAME:-fallback} when the variable is unset or empty", () => {
    expect(interpolate("${PORT:-5432}", {})).toMatchObject({ kind: "ok", value: "5432" });
    expect(interpolate("${PORT:-5432}", { PORT: "" })).toMatchObject({ kind: "ok", value: "5432" });
    expect(interpolate("${PORT:-5432}", { PORT: "6543" })).toMatchObject({ kind: "ok", value: "6543" });
    expect(interpolate("${PORT:-}", {})).toMatchObject({ kind: "ok", value: "" });
    expect(interpolate("${URL:-sqlite://a:b}", {})).toMatchObject({ kind: "ok", value: "sqlite://a:b" });
  });

  it("keeps an empty variable without a fallback as empty", () => {
    expect(interpolate("x${EMPTY}y", { EMPTY: "" })).toMatchObject({ kind: "ok", value: "xy" });
  });

  it("names every unset variable once", () => {
    expect(interpolate("${A}/${B}/${A}/${C:-c}", {})).toEqual({ kind: "unset", names: ["A", "B"] });
  });

  it("writes a literal ${ for $${", () => {
    expect(interpolate("$${HOME}", { HOME: "/root" })).toEqual({
      kind: "ok",
      value: "${HOME}",
      usedVariables: false,
    });
    expect(interpolate("a$${B}${C}", { C: "c" })).toMatchObject({ kind: "ok", value: "a${B}c" });
  });

  it("keeps any other $ as written", () => {
    expect(interpolate("^\\d+$", {})).toMatchObject({ kind: "ok", value: "^\\d+$" });
    expect(interpolate("$HOME costs $5 $", { HOME: "/root" })).toMatchObject({ value: "$HOME costs $5 $" });
  });

  it("reports a malformed reference with its offset", () => {
    expect(interpolate("ab${DB_HOST", {})).toEqual({ kind: "syntax", index: 2, reference: "${DB_HOST" });
    expect(interpolate("${}", {})).toEqual({ kind: "syntax", index: 0, reference: "${}" });
    expect(interpolate("${1X}", {})).toMatchObject({ kind: "syntax", reference: "${1X}" });
    expect(interpolate("${A-b}", {})).toMatchObject({ kind: "syntax", reference: "${A-b}" });
    expect(interpolate("${A:-${B}}", {})).toMatchObject({ kind: "syntax", reference: "${A:-${B}" });
  });
});

describe("interpolate (properties)", () => {
  it("leaves any text without $ unchanged", () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes("$")),
        (text) => {
          expect(interpolate(text, {})).toEqual({ kind: "ok", value: text, usedVariables: false });
        },
      ),
    );
  });

  it("substitutes any value verbatim, even one that looks like a reference", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (before, value) => {
        const text = `${before.replaceAll("$", "")}\${X}`;
        expect(interpolate(text, { X: value })).toEqual({
          kind: "ok",
          value: `${before.replaceAll("$", "")}${value}`,
          usedVariables: true,
        });
      }),
    );
  });
});
