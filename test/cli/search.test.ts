// biome-ignore-all lint/suspicious/noControlCharactersInRegex: the tests look for raw control characters in output.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { ago, createStore, lines, type TestStore } from "./helpers.js";

let store: TestStore;
const logged: AuditEvent[] = [];

beforeAll(() => {
  store = createStore();
  const log = (input: Parameters<TestStore["log"]>[0]) => logged.push(store.log(input));
  // three days of events, oldest first
  log({
    action: "LOGIN",
    category: "AUTHENTICATION",
    status: "FAILURE",
    actor: { username: "mallory", ip: "10.0.0.66" },
    timestamp: ago(3 * 24 * 60),
  });
  log({
    action: "LOGIN",
    category: "AUTHENTICATION",
    status: "SUCCESS",
    actor: { username: "alice" },
    timestamp: ago(120),
  });
  log({
    action: "LOGIN",
    category: "AUTHENTICATION",
    status: "FAILURE",
    actor: { username: "bob" },
    timestamp: ago(90),
  });
  log({
    action: "QUERY",
    category: "DATABASE",
    actor: { username: "alice" },
    resource: { name: "orders" },
    result: { duration_ms: 12.5 },
    timestamp: ago(60),
  });
  log({
    action: "HTTP_REQUEST",
    category: "API",
    method: "GET",
    resource: "/api/v1/health",
    result: { http_status: 200, duration_ms: 3 },
    timestamp: ago(30),
  });
  log({
    action: "LOGIN",
    category: "AUTHENTICATION",
    status: "FAILURE",
    actor: { username: "evil\x1b[2J\x1b]0;pwned\x07\u202egnp.exe", ip: "10.0.0.99" },
    metadata: { note: "c1\u009b31m" },
    timestamp: ago(10),
  });
});
afterAll(() => store.cleanup());

describe("vigil search", () => {
  it("prints the seed's query results as a table, newest first", async () => {
    const r = await store.run([
      "search",
      "action.type:LOGIN AND result.status:FAILURE",
      "--range",
      "last_24h",
    ]);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^TIME\s+SEVERITY\s+CATEGORY\s+TYPE\s+ACTOR\s+STATUS\s+MS\s+RESOURCE$/);
    expect(out).toHaveLength(3); // header + 2 (mallory's is 3 days old)
    expect(out[1]).toMatch(/WARNING\s+AUTHENTICATION\s+LOGIN\s+evil/);
    expect(out[2]).toMatch(/WARNING\s+AUTHENTICATION\s+LOGIN\s+bob\s+FAILURE/);
    expect(r.stderr).toBe("");
  });

  it("accepts the query as several unquoted words", async () => {
    const r = await store.run(["search", "type:LOGIN", "AND", "user:alice", "--format", "ndjson"]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).map((l) => (JSON.parse(l) as AuditEvent).id)).toEqual([logged[1]!.id]);
  });

  it("prints ndjson and json that parse back to the stored events", async () => {
    const nd = await store.run(["search", "--format", "ndjson", "--order", "asc"]);
    expect(lines(nd.stdout).map((l) => JSON.parse(l))).toEqual(logged);
    const js = await store.run(["search", "--format", "json", "--category", "DATABASE,API"]);
    expect((JSON.parse(js.stdout) as AuditEvent[]).map((e) => e.action.type)).toEqual([
      "HTTP_REQUEST",
      "QUERY",
    ]);
  });

  it("restricts by --range, --from/--to, --category and --filter", async () => {
    const ids = async (...args: string[]) =>
      lines((await store.run(["search", "--format", "ndjson", "--order", "asc", ...args])).stdout).map(
        (l) => (JSON.parse(l) as AuditEvent).id,
      );
    expect(await ids("--range", "last_1h")).toEqual([logged[4]!.id, logged[5]!.id]);
    expect(await ids("--from", logged[2]!.timestamp, "--to", logged[4]!.timestamp)).toEqual([
      logged[2]!.id,
      logged[3]!.id,
    ]);
    expect(await ids("--category", "database")).toEqual([logged[3]!.id]);
    expect(await ids("--filter", "actor.username=alice", "--filter", "type=QUERY")).toEqual([logged[3]!.id]);
  });

  it("pages with --limit and --cursor, saying on stderr how to get the next page", async () => {
    const first = await store.run(["search", "--limit", "4", "--format", "ndjson"]);
    expect(lines(first.stdout)).toHaveLength(4);
    const cursor = /--cursor (\S+)/.exec(first.stderr)?.[1];
    expect(first.stderr).toMatch(/^vigil: 4 events shown; more match: next page with --cursor \S+\n$/);
    const second = await store.run(["search", "--limit", "4", "--format", "ndjson", "--cursor", cursor!]);
    const ids = [...lines(first.stdout), ...lines(second.stdout)].map(
      (l) => (JSON.parse(l) as AuditEvent).id,
    );
    expect(ids).toEqual(logged.map((e) => e.id).reverse());
    expect(second.stderr).toBe("");
  });

  it("says so on stderr when nothing matches, and prints nothing on stdout", async () => {
    const r = await store.run(["search", "user:nobody"]);
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "vigil: no events match\n" });
  });

  it("neutralizes control characters and ANSI escapes in the table", async () => {
    const r = await store.run(["search", "actor.ip:10.0.0.99"], { COLUMNS: "300" });
    expect(r.code).toBe(0);
    // no raw escape, bell, C1 control or bidi override reaches the terminal
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(r.stdout).toContain("evil\\x1b[2J\\x1b]0;pwned\\x07\\u20");
  });

  it("keeps JSON output free of raw C1 controls while preserving the values", async () => {
    const r = await store.run(["search", "actor.ip:10.0.0.99", "--format", "json"]);
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect((JSON.parse(r.stdout) as AuditEvent[])[0]).toEqual(logged[5]);
  });

  it("fits the table to $COLUMNS, cutting the widest columns", async () => {
    const r = await store.run(["search", "--range", "last_24h"], { COLUMNS: "100" });
    for (const line of lines(r.stdout)) expect(line.length).toBeLessThanOrEqual(100);
    expect(r.stdout).toContain("…");
  });
});

describe("vigil search --tenant", () => {
  it("binds the search to one tenant exactly, whatever the query says", async () => {
    const own = createStore();
    try {
      const acme = own.log({ action: "LOGIN", tenant: "acme" });
      own.log({ action: "LOGIN", tenant: "Acme" });
      own.log({ action: "LOGIN" });
      const ids = async (...args: string[]) =>
        lines((await own.run(["search", "--format", "ndjson", ...args])).stdout).map(
          (l) => (JSON.parse(l) as AuditEvent).id,
        );
      expect(await ids("--tenant", "acme")).toEqual([acme.id]);
      expect(await ids("--tenant", "acme", "--", "NOT tenant:acme OR tenant:Acme")).toEqual([acme.id]);
      expect(await ids("tenant:acme")).toHaveLength(2);
      const bad = await own.run(["search", "--tenant", ""]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe("vigil: tenant: must not be empty\n");
    } finally {
      await own.cleanup();
    }
  });
});
