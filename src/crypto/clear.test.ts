import { describe, expect, test } from "vitest";
import type { AuditEvent } from "../event/types.js";
import { clearFieldTest, clearView } from "./clear.js";

const event = {
  id: "0192f0c4-0000-7000-8000-000000000001",
  timestamp: "2026-11-26T12:00:00.000Z",
  severity: "INFO",
  actor: { id: "42", username: "alice" },
  action: { type: "QUERY", category: "DATABASE", resource: { path: "/a" } },
  result: { status: "SUCCESS" },
  integrity: { chain: "c", seq: 1, prev: "0".repeat(64), hash: "1".repeat(64) },
} as unknown as AuditEvent;

describe("clearFieldTest", () => {
  test("id and timestamp always; a listed field and what is inside it; nothing else", () => {
    const clear = clearFieldTest(["action.category", "result"]);
    for (const f of ["id", "timestamp", "action.category", "result", "result.status", "result.error.message"])
      expect(clear(f), f).toBe(true);
    for (const f of ["action", "action.type", "actor.username", "severity", "action.categoryx", "results"])
      expect(clear(f), f).toBe(false);
  });
});

describe("clearView", () => {
  test("keeps id, timestamp, integrity and the listed fields only", () => {
    expect(clearView(["action.category", "severity", "metadata.tenant"])(event)).toEqual({
      id: event.id,
      timestamp: event.timestamp,
      integrity: event.integrity,
      action: { category: "DATABASE" },
      severity: "INFO",
    });
    expect(JSON.stringify(clearView([])(event))).not.toContain("alice");
  });

  test("a field listed with its parent never writes into the event's own objects", () => {
    const action = { ...event.action };
    const view = clearView(["action", "action.category"])({ ...event, action });
    expect(view.action).toBe(action);
    expect(Object.keys(action)).toEqual(["type", "category", "resource"]);
  });

  test("a member named __proto__ is copied as a member", () => {
    const odd = JSON.parse('{"id":"x","timestamp":"t","metadata":{"__proto__":{"a":1}}}') as AuditEvent;
    const view = clearView(["metadata.__proto__"])(odd) as unknown as { metadata: object };
    expect(Object.getPrototypeOf(view.metadata)).toBe(Object.prototype);
    expect(JSON.stringify(view)).toBe('{"id":"x","timestamp":"t","metadata":{"__proto__":{"a":1}}}');
  });
});
