import { describe, expect, it } from "vitest";
import { loadConfig } from "../config/index.js";
import type { AuditEvent } from "../event/types.js";
import { parseRecord } from "../integrity/records.js";
import { createRedactor, ERASED_MARKER } from "./redact.js";

const config = (fields: string[]) =>
  loadConfig({ compliance: { gdpr: { erasure: { enabled: false, fields } } } }, { env: {} });

const event = (): AuditEvent =>
  ({
    schema_version: 1,
    id: "0192f0c4-0000-7000-8000-000000000001",
    timestamp: "2026-12-03T10:00:00.000Z",
    severity: "INFO",
    security_event: false,
    application: { name: "t" },
    actor: { id: "42", username: "alice", ip: "10.0.0.1", user_agent: "ua", roles: ["admin"] },
    action: { type: "QUERY", category: "DATABASE", resource: { type: "table", name: "orders" } },
    result: { status: "SUCCESS" },
    metadata: { address: { street: "Elm" }, n: 1 },
    params: { phone: "555" },
  }) as AuditEvent;

describe("the redaction of one person's events", () => {
  it("replaces every actor member but id and roles, and each configured path present, by the marker", () => {
    const redact = createRedactor(config(["metadata.address", "params.phone", "metadata.missing"]));
    const e = event();
    expect(redact(e, "42")).toEqual([
      "actor.username",
      "actor.ip",
      "actor.user_agent",
      "metadata.address",
      "params.phone",
    ]);
    expect(e.actor).toEqual({
      id: "42",
      username: ERASED_MARKER,
      ip: ERASED_MARKER,
      user_agent: ERASED_MARKER,
      roles: ["admin"],
    });
    expect(e.metadata).toEqual({ address: ERASED_MARKER, n: 1 });
    expect(e.params).toEqual({ phone: ERASED_MARKER });
    expect(e.action.resource).toEqual({ type: "table", name: "orders" });
    // again: nothing left to replace
    expect(redact(e, "42")).toEqual([]);
  });

  it("matches the person by actor.id or actor.username, and nobody else", () => {
    const redact = createRedactor(config([]));
    expect(redact(event(), "alice")).toHaveLength(3);
    expect(redact(event(), "7")).toEqual([]);
    const anonymous = event();
    delete (anonymous as { actor?: unknown }).actor;
    expect(redact(anonymous, "42")).toEqual([]);
  });

  it("a configured field that is not a dotted path is a configuration error naming it", () => {
    expect(() => createRedactor(config(["metadata"]))).toThrow(
      /vigil\.compliance\.gdpr\.erasure\.fields\[0\]: expected a dotted path/,
    );
  });
});

describe("erasure records as read back", () => {
  const good = {
    v: 1,
    type: "erasure",
    chain: "c",
    replacements: [{ seq: 3, old: "a".repeat(64), new: "b".repeat(64), at: "f.log:3" }],
    fields: ["actor.username"],
    marker: "[ERASED]",
    time: "2026-12-03T10:00:00.000Z",
    alg: "hmac-sha256",
    key_id: "k",
    sig: "s",
  };
  it("a well-formed record parses; a malformed one says what is wrong", () => {
    expect(parseRecord(JSON.stringify(good))).toMatchObject({ type: "erasure", chain: "c" });
    expect(parseRecord(JSON.stringify({ ...good, replacements: [] }))).toBe(
      "erasure record without replacements",
    );
    expect(parseRecord(JSON.stringify({ ...good, replacements: [{ seq: 0, old: "x", new: "y" }] }))).toBe(
      "erasure record with a replacement without a valid seq, old and new hash",
    );
    expect(parseRecord(JSON.stringify({ ...good, marker: undefined }))).toBe(
      "erasure record without fields or marker",
    );
  });
});
