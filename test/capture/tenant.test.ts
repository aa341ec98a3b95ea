/**
 * The tenant field (SPEC §2, §9): set by log() input and by the ambient scope, validated,
 * stored as a top-level member, searchable as `tenant:x`, and bound exactly by the
 * `tenant` search option.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withAuditScope } from "../../src/capture/scope.js";
import type { AuditEngine } from "../../src/engine.js";
import type { VigilError } from "../../src/errors.js";
import { eventsOnDisk, fileEngine, tempDir } from "../helpers.js";

describe("tenant", () => {
  let temp: ReturnType<typeof tempDir>;
  let engine: AuditEngine;
  let errors: VigilError[];

  beforeEach(() => {
    temp = tempDir();
    engine = fileEngine(temp.dir);
    errors = [];
    engine.on("error", (e) => errors.push(e));
  });
  afterEach(async () => {
    await engine.close();
    temp.cleanup();
  });

  it("is stored from log() input, after metadata, as a top-level member", async () => {
    engine.log({ action: "LOGIN", metadata: { a: 1 }, tenant: "acme" });
    await engine.flush();
    const [e] = eventsOnDisk(temp.dir);
    expect(e!.tenant).toBe("acme");
    const keys = Object.keys(e!);
    expect(keys.indexOf("tenant")).toBe(keys.indexOf("metadata") + 1);
  });

  it("comes from the scope unless the event names its own; inner scopes win", async () => {
    withAuditScope({ tenant: "outer" }, () => {
      engine.log({ action: "A" });
      withAuditScope({ tenant: "inner" }, () => engine.log({ action: "B" }));
      withAuditScope({ actor: { username: "x" } }, () => engine.log({ action: "C" }));
      engine.log({ action: "D", tenant: "own" });
    });
    engine.log({ action: "E" });
    await engine.flush();
    expect(eventsOnDisk(temp.dir).map((e) => [e.action.type, e.tenant])).toEqual([
      ["A", "outer"],
      ["B", "inner"],
      ["C", "outer"],
      ["D", "own"],
      ["E", undefined],
    ]);
  });

  it("reports a bad tenant precisely and records the event without one", async () => {
    const bad: unknown[] = ["", "x".repeat(129), "a\nb", "tab\there", "del\u007f", 42, "lone\ud800"];
    for (const tenant of bad) engine.log({ action: "BAD", tenant: tenant as string });
    await engine.flush();
    const stored = eventsOnDisk(temp.dir);
    expect(stored).toHaveLength(bad.length);
    for (const e of stored) expect(e.tenant).toBeUndefined();
    expect(errors.map((e) => e.code)).toEqual(bad.map(() => "VIGIL_ERR_INVALID_ARGUMENT"));
    expect(errors[0]!.message).toBe('log(): input.tenant must not be empty (""); recorded without a tenant');
    expect(errors[1]!.message).toContain("must be at most 128 characters, found 129");
    expect(errors[2]!.message).toContain("must not contain control characters");
    expect(errors[5]!.message).toContain("must be a string, found number");
    expect(errors[6]!.message).toContain("unpaired surrogates");
  });

  it("is searchable as tenant:x (ASCII case ignored) and bound exactly by the tenant option", async () => {
    for (const tenant of ["acme", "Acme", "globex"]) engine.log({ action: "X", tenant });
    engine.log({ action: "X" });
    const types = async (o: Parameters<AuditEngine["search"]>[0]) =>
      (await engine.search(o)).map((e) => e.tenant ?? "-").sort();
    expect(await types({ query: "tenant:acme" })).toEqual(["Acme", "acme"]);
    expect(await types({ tenant: "acme" })).toEqual(["acme"]);
    expect(await types({ tenant: "acme", query: "* OR tenant:globex" })).toEqual(["acme"]);
    expect(await types({ tenant: "acme", query: "NOT tenant:acme" })).toEqual([]);
    expect(await types({ tenant: "acme", filters: { tenant: "globex" } })).toEqual([]);
    expect(await engine.count({ tenant: "Acme" })).toBe(1);
    await expect(engine.search({ tenant: "" })).rejects.toThrow("tenant: must not be empty");
  });

  it("getEvent finds an event by id, and not across tenants", async () => {
    const a = engine.log({ action: "X", tenant: "a" })!;
    const b = engine.log({ action: "Y", tenant: "b", timestamp: "2020-01-01T00:00:00.000Z" })!;
    expect((await engine.getEvent(a.id))?.action.type).toBe("X");
    expect((await engine.getEvent(b.id))?.action.type).toBe("Y"); // far from its id's time
    expect(await engine.getEvent(b.id, { tenant: "a" })).toBeUndefined();
    expect((await engine.getEvent(a.id.toUpperCase(), { tenant: "a" }))?.id).toBe(a.id);
    expect(await engine.getEvent("not-an-id")).toBeUndefined();
  });
});
