/**
 * The pieces the database integrations share: statement verbs, secret-column detection
 * and option checking.
 */
import { describe, expect, it } from "vitest";
import { createDbContext, mentionsSecret, statementVerb } from "../../src/integrations/db-common.js";

describe("statementVerb", () => {
  it.each([
    ["SELECT 1", "SELECT"],
    ["  insert into t values (1)", "INSERT"],
    ["-- note\n/* block */ (SELECT 1) UNION (SELECT 2)", "SELECT"],
    ["WITH x AS (SELECT 1) SELECT * FROM x", "WITH"],
    [";; begin", "BEGIN"],
    ["", undefined],
    ["/* unterminated", undefined],
    ["42", undefined],
  ])("%j → %j", (sql, verb) => {
    expect(statementVerb(sql)).toBe(verb);
  });
});

describe("mentionsSecret", () => {
  it("finds secret-looking columns and parameters, whole words only", () => {
    expect(mentionsSecret("INSERT INTO users (name, password_hash) VALUES ($1, $2)", [])).toBe(true);
    expect(mentionsSecret("UPDATE keys SET apiKey = :apiKey", [])).toBe(true);
    expect(mentionsSecret("SELECT * FROM sessions WHERE token = ?", [])).toBe(true);
    expect(mentionsSecret("SELECT author, tokens_used FROM posts", [])).toBe(false);
    expect(mentionsSecret("SELECT * FROM people WHERE nin = ?", [])).toBe(false);
    expect(mentionsSecret("SELECT * FROM people WHERE nin = ?", ["NIN"])).toBe(true);
  });
});

describe("createDbContext", () => {
  it("rejects malformed options, naming them", () => {
    expect(() => createDbContext("auditX", "x", { captureValues: "yes" as never }, () => undefined)).toThrow(
      /auditX: options\.captureValues must be a boolean, found "yes"/,
    );
    expect(() => createDbContext("auditX", "x", { skip: "SELECT 1" as never }, () => undefined)).toThrow(
      /auditX: options\.skip must be a function/,
    );
    expect(() => createDbContext("auditX", "x", { engine: {} as never }, () => undefined)).toThrow(
      /auditX: options\.engine must be an AuditEngine/,
    );
  });

  it("matches skip strings ignoring case, spacing and a trailing semicolon; a throwing predicate skips nothing", () => {
    const ctx = createDbContext("auditX", "x", { skip: ["SELECT 1", /^\s*show\b/i] }, () => undefined);
    expect(ctx.skipped("  select   1 ;")).toBe(true);
    expect(ctx.skipped("SELECT 10")).toBe(false);
    expect(ctx.skipped("SHOW TABLES")).toBe(true);
    const throwing = createDbContext(
      "auditX",
      "x",
      {
        skip: () => {
          throw new Error("bad predicate");
        },
      },
      () => undefined,
    );
    expect(throwing.skipped("SELECT 1")).toBe(false);
  });
});
