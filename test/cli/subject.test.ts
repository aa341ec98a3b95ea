/**
 * `vigil subject export ID` and `vigil subject erase ID` as a user runs them: the real
 * program as a child process over a signed file store written without crypto-shredding.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { ago, createStore, lines, run, type TestStore } from "./helpers.js";

const SECRET = "test-signing-secret-0123456789abcdef";
const SIGNED = `  security:
    signing:
      enabled: true
      algorithm: hmac-sha256
      secret_key: ${JSON.stringify(SECRET)}
  compliance:
    gdpr:
      erasure:
        enabled: false
        fields: [metadata.address]
`;

describe("vigil subject", () => {
  let store: TestStore;
  const logged: AuditEvent[] = [];
  beforeAll(async () => {
    store = createStore(SIGNED);
    for (let i = 0; i < 12; i++)
      logged.push(
        store.log({
          action: i % 2 === 0 ? "LOGIN" : "QUERY",
          category: i % 2 === 0 ? "SECURITY" : "DATABASE",
          actor: i % 3 === 0 ? { id: "42", username: "alice", ip: "10.9.8.7" } : { id: "7", username: "bob" },
          metadata: { address: i % 3 === 0 ? "12 Elm Street" : "elsewhere", n: i },
          timestamp: ago(60 - i),
        }),
      );
    await store.engine.close();
  });
  afterAll(() => store.cleanup());

  it("help: vigil subject lists export and erase; each documents --config", async () => {
    const top = await store.run(["subject", "--help"]);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^ {2}export \[options\] <id>/m);
    expect(top.stdout).toMatch(/^ {2}erase \[options\] <id>/m);
    for (const verb of ["export", "erase"]) {
      const r = await store.run(["subject", verb, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: vigil subject ${verb} \\[options\\] <id>`, "m"));
      expect(r.stdout).toContain("--config <path>");
    }
  });

  it("export writes every event about the person as a JSON array, oldest first, and says how many", async () => {
    const r = await store.run(["subject", "export", "42"]);
    expect(r.code).toBe(0);
    const events = JSON.parse(r.stdout) as AuditEvent[];
    expect(events.map((e) => e.id)).toEqual(logged.filter((e) => e.actor?.id === "42").map((e) => e.id));
    expect(events[0]!.actor).toMatchObject({ id: "42", username: "alice", ip: "10.9.8.7" });
    expect(r.stderr).toBe('vigil: exported 4 events about subject "42" to stdout (json)\n');
  });

  it("export by username, as NDJSON into a file", async () => {
    const r = await store.run([
      "subject",
      "export",
      "alice",
      "--format",
      "ndjson",
      "--output",
      "alice.ndjson",
    ]);
    expect(r.code).toBe(0);
    const text = readFileSync(join(store.dir, "alice.ndjson"), "utf8");
    expect(lines(text).map((l) => (JSON.parse(l) as AuditEvent).actor?.username)).toEqual([
      "alice",
      "alice",
      "alice",
      "alice",
    ]);
    // an existing file is not overwritten
    const again = await store.run(["subject", "export", "alice", "--output", "alice.ndjson"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^vigil: cannot write alice\.ndjson: EEXIST/);
  });

  it("an unknown subject: nothing found, exit 0, an empty array", async () => {
    const r = await store.run(["subject", "export", "nobody"]);
    expect(r).toMatchObject({
      code: 0,
      stdout: "[]\n",
      stderr: 'vigil: nothing found about subject "nobody"\n',
    });
    const e = await store.run(["subject", "erase", "nobody", "--yes"]);
    expect(e).toMatchObject({
      code: 0,
      stdout: "",
      stderr: 'vigil: nothing found about subject "nobody": nothing erased\n',
    });
  });

  it("bad input: an empty id, an unknown format, a missing id exit 2 with one line", async () => {
    const empty = await store.run(["subject", "erase", " ", "--yes"]);
    expect(empty).toMatchObject({
      code: 2,
      stderr: "vigil: subject: expected a non-empty actor id or username\n",
    });
    const format = await store.run(["subject", "export", "42", "--format", "xml"]);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/option '--format <format>' argument 'xml' is invalid/);
    const missing = await store.run(["subject", "erase"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument 'id'/);
  });

  it("erase asks first: no answer (or anything but y) erases nothing", async () => {
    const none = await store.run(["subject", "erase", "42"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /^Erase the personal fields of subject "42" from 4 events in file\? This cannot be undone\. \[y\/N\] vigil: not confirmed: nothing erased/,
    );
    const no = await run(["subject", "erase", "42"], { cwd: store.dir, input: "n\n" });
    expect(no.code).toBe(2);
    const all = (await store.run(["subject", "export", "42"])).stdout;
    expect(all).toContain("alice");
  });

  it("erase with y rewrites, prints each replacement, and vigil verify stays OK", async () => {
    const r = await run(["subject", "erase", "42"], { cwd: store.dir, input: "y\n" });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^Erasure of subject "42":\n {2}file: rewrote 4 events in 2 files; signed 2 erasure records\n/,
    );
    expect(
      r.stdout.match(
        / {4}traffictracer_audit_\w+_\d{4}-\d{2}-\d{2}\.log\.1:\d+ {2}seq \d+ {2}actor\.ip, actor\.username, metadata\.address\n/g,
      ),
    ).toHaveLength(4);
    expect(r.stdout).toMatch(/\n4 events rewritten\.\n$/);
    const exported = JSON.parse((await store.run(["subject", "export", "42"])).stdout) as AuditEvent[];
    expect(exported).toHaveLength(4);
    for (const e of exported) {
      expect(e.actor).toEqual({ id: "42", ip: "[ERASED]", username: "[ERASED]" });
      expect(e.metadata).toMatchObject({ address: "[ERASED]" });
    }
    const v = await store.run(["verify"]);
    expect(v.stdout).toMatch(/^OK: 12 events .*; 4 events rewritten under signed erasure records\n$/);
    expect(v.code).toBe(0);
  });

  it("a line about the person modified after writing is not rewritten: listed, exit 1, verify still names it", async () => {
    const other = createStore(SIGNED);
    try {
      for (let i = 0; i < 3; i++)
        other.log({
          action: "LOGIN",
          category: "SECURITY",
          actor: { id: "9", username: "dave" },
          metadata: { n: i },
        });
      await other.engine.close();
      const file = readdirSync(other.logDir).find((n) => n.endsWith(".log"))!;
      const path = join(other.logDir, file);
      const text = readFileSync(path, "utf8");
      writeFileSync(path, text.replace('"n":1', '"n":100'));
      const r = await other.run(["subject", "erase", "9", "--yes"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/ {2}file: rewrote 2 events in 1 file; signed 1 erasure record\n/);
      expect(r.stdout).toMatch(/ {4}NOT REWRITTEN .*\.log\.1:2: its content does not match its hash/);
      expect(r.stderr).toMatch(
        /^vigil: 1 line about subject "9" was not rewritten because it was modified after writing \(listed above\): run vigil verify\n$/,
      );
      const after = readdirSync(other.logDir)
        .filter((n) => n.includes(".log"))
        .map((n) => readFileSync(join(other.logDir, n), "utf8"))
        .join("");
      expect(after.match(/dave/g)).toHaveLength(1); // the modified line, kept as it was
      const v = await other.run(["verify"]);
      expect(v.code).toBe(1);
      expect(v.stdout).toMatch(/modified/);
    } finally {
      await other.cleanup();
    }
  });
});
