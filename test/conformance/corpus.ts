/**
 * The conformance corpus: a deterministic, varied set of audit events that every
 * storage backend must store and answer about identically. It is built to hit the
 * corners where SQL and the in-memory evaluator could disagree: ASCII-only case
 * folding (`É`, the Kelvin sign, Greek sigma), numbers written as strings, arrays,
 * nested and missing fields, JSON `null`, quotes, backslashes, `%` and `_` (LIKE
 * metacharacters), NUL and unpaired surrogates (which JSONB and MariaDB's JSON refuse),
 * SQL-injection payloads as data, equal timestamps (ties broken by id), and several days.
 *
 * @module
 */
import type { AuditEvent } from "../../src/event/types.js";
import type { StoredRecord } from "../../src/storage/backend.js";

/** A small seeded PRNG (mulberry32), so the corpus is the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where the corpus starts: 2026-03-02T00:00:00.000Z; it spans seven days. */
export const CORPUS_START = Date.UTC(2026, 2, 2);
export const CORPUS_DAYS = 7;

export const USERNAMES = [
  "alice",
  "Alice",
  "ALICE",
  "bob",
  "carol",
  "dave.o'brien",
  "erin@example.com",
  "Émile",
  "émile",
  "\u212Aelvin", // KELVIN SIGN: lower() folds it to "k" in some databases, the query language does not
  "kelvin",
  "ΑΣ", // Greek capital alpha + sigma
  "ασ",
  "名前",
  "🙂user",
  "robert'); DROP TABLE students;--",
  'quote"man',
  "back\\slash",
  "under_score",
  "percent%user",
  "x".repeat(250), // longer than the indexed column keeps
];

export const CATEGORIES = [
  "DATABASE",
  "AUTHENTICATION",
  "AUTH",
  "API",
  "SYSTEM",
  "TEST",
  "SECURITY",
  "DÉPÔT",
  "AUDIT",
];
export const TYPES = [
  "QUERY",
  "LOGIN",
  "LOGOUT",
  "HTTP_REQUEST",
  "CONNECTION_CREATE",
  "EXPORT",
  "DELETE",
  "UPDATE",
];
/**
 * Tenants: case variants (a bound viewer compares exactly, the query language ignores
 * ASCII case), LIKE metacharacters, unicode and the longest allowed id.
 */
export const TENANTS = ["acme", "Acme", "ACME", "globex", "t%_x", "tëñånt 🙂", "x".repeat(128)];
const SEVERITIES = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;
const ROLES = [["admin"], ["Admin", "auditor"], [], ["reader"], ["ops", "admin", "reader"], ["ADMIN"]];
const PATHS = [
  "/api/v1/health",
  "/api/v1/users/42",
  "/api/v1/users/420",
  "/files/100%_done",
  "/files/100x-done",
  "/a_b/c",
  "/axb/c",
  "/search?q=' OR '1'='1",
  "/unicode/ünïcødé",
  "/emoji/🙂",
];
const NOTES = [
  "plain note",
  'he said "hi"',
  "tab\there",
  "new\nline",
  "back\\slash \\u0041",
  "' OR 1=1 --",
  "'; DROP TABLE vigil_audit_events; --",
  '") OR ("1"="1',
  "naïve café",
  "ǅ digraph",
  "100% sure_thing",
  "",
  "   spaced   ",
  "nul\u0000inside",
  "lone \ud800 surrogate",
  "pair 😀 ok",
];

function hex(rand: () => number, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += Math.floor(rand() * 16).toString(16);
  return s;
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

/**
 * `count` events (default 10,000) spread over {@link CORPUS_DAYS} days. Deterministic
 * for a given seed. Every tenth event shares its timestamp with the previous one, so
 * that ordering must fall back to the id.
 */
export function generateCorpus(count = 10_000, seed = 20261126): AuditEvent[] {
  const rand = prng(seed);
  // a separate sequence, so adding tenants left every other field of the corpus as it was
  const tenantRand = prng(seed ^ 0x7e4a47);
  const events: AuditEvent[] = [];
  const span = CORPUS_DAYS * 86_400_000;
  let previousTs = CORPUS_START;
  for (let i = 0; i < count; i++) {
    const ts = i % 10 === 9 ? previousTs : CORPUS_START + Math.floor(rand() * span);
    previousTs = ts;
    const id = `${hex(rand, 8)}-${hex(rand, 4)}-7${hex(rand, 3)}-${pick(rand, ["8", "9", "a", "b"])}${hex(rand, 3)}-${hex(rand, 12)}`;
    const r = rand();
    const event: Record<string, unknown> = {
      schema_version: 1,
      id,
      timestamp: new Date(ts).toISOString(),
      severity: pick(rand, SEVERITIES),
      security_event: rand() < 0.2,
      application: {
        name: "traffictracer",
        version: "2.0.0",
        environment: pick(rand, ["production", "staging"]),
      },
    };
    if (r < 0.9) {
      const actor: Record<string, unknown> = { username: pick(rand, USERNAMES) };
      if (rand() < 0.7) actor.id = pick(rand, ["42", "0042", "7", "1e3", "abc", " 42"]);
      if (rand() < 0.6) actor.ip = `10.0.${Math.floor(rand() * 4)}.${Math.floor(rand() * 255)}`;
      if (rand() < 0.5) actor.roles = pick(rand, ROLES);
      if (rand() < 0.05) actor.roles = ["reader", 42, true, null, ["nested"]];
      event.actor = actor;
    }
    const action: Record<string, unknown> = { type: pick(rand, TYPES), category: pick(rand, CATEGORIES) };
    if (rand() < 0.5) action.method = pick(rand, ["GET", "POST", "DELETE"]);
    if (rand() < 0.6) {
      const resource: Record<string, unknown> = { path: pick(rand, PATHS) };
      if (rand() < 0.5) resource.type = pick(rand, ["table", "file", "endpoint"]);
      if (rand() < 0.3) resource.id = String(Math.floor(rand() * 100));
      action.resource = resource;
    }
    event.action = action;
    const result: Record<string, unknown> = { status: rand() < 0.8 ? "SUCCESS" : "FAILURE" };
    if (rand() < 0.8) result.duration_ms = Math.round(rand() * 50_000) / 100;
    if (rand() < 0.5) result.http_status = pick(rand, [200, 201, 204, 301, 400, 401, 403, 404, 500, 503]);
    if (rand() < 0.3) result.count = Math.floor(rand() * 1000);
    if (result.status === "FAILURE" && rand() < 0.7) {
      result.error = { type: pick(rand, ["AuthError", "TimeoutError", "Error"]), message: pick(rand, NOTES) };
    }
    event.result = result;
    if (rand() < 0.4) event.correlation = { request_id: `req-${hex(rand, 6)}` };
    if (rand() < 0.3)
      event.params = {
        sql: pick(rand, ["SELECT 1", "SELECT * FROM t WHERE name = 'x'"]),
        params: [1, "a", null],
      };
    if (rand() < 0.7) {
      const metadata: Record<string, unknown> = {};
      if (rand() < 0.5) metadata.version = pick(rand, ["2.0.0", "2.0.1", "10.0.0"]);
      if (rand() < 0.4)
        metadata.count = rand() < 0.5 ? Math.floor(rand() * 100) : String(Math.floor(rand() * 100));
      if (rand() < 0.2)
        metadata.amount = pick(rand, [0, -1.5, 1e21, 1e-7, 2.71, 100, "100.0", "1e2", "-0", 42]);
      if (rand() < 0.3) metadata.note = pick(rand, NOTES);
      if (rand() < 0.2)
        metadata.nested = { deep: { value: pick(rand, ["x", "Y", 7, true, false]) }, list: [1, 2, 3] };
      if (rand() < 0.1) metadata.flag = rand() < 0.5;
      if (rand() < 0.1) metadata.empty = null;
      if (rand() < 0.1) metadata.tags = pick(rand, [["a", "b"], ["DATABASE"], [1, 2], [], ["x y", "z"]]);
      if (rand() < 0.05) metadata["x-request"] = pick(rand, ["one", "two"]);
      if (rand() < 0.05) metadata["@type"] = pick(rand, ["Event", "event"]);
      if (rand() < 0.05)
        metadata.when = pick(rand, [
          "2026-03-04",
          "2026-03-04T12:00:00Z",
          "not a date",
          "2026-03-05T00:00:00.000+02:00",
        ]);
      if (rand() < 0.03) metadata.category = "shadow"; // a path that looks like an alias
      event.metadata = metadata;
    }
    if (rand() < 0.3) {
      event.integrity = {
        chain: `web-1:4711:${hex(rand, 6)}`,
        seq: i,
        prev: hex(rand, 64),
        hash: hex(rand, 64),
      };
    }
    if (tenantRand() < 0.8) event.tenant = pick(tenantRand, TENANTS);
    events.push(event as unknown as AuditEvent);
  }
  return events;
}

/** The records a backend is given: the event and its JSON line. */
export function toRecords(events: readonly AuditEvent[]): StoredRecord[] {
  return events.map((event) => ({ event, line: JSON.stringify(event) }));
}
