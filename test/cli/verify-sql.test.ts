/**
 * `vigil verify --config` on a database-only store (SQLite): the real program, run as a
 * child process, exits 0 when the rows are intact and 1 naming the row when one was changed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditEngine } from "../../src/engine.js";
import { checkLine } from "../../src/integrity/index.js";
import { derivedName } from "../../src/storage/sql/schema.js";
import { lines, run } from "./helpers.js";

const SECRET = "test-signing-secret-0123456789abcdef";

describe("vigil verify on a database-only store", () => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-cli-sql-"));
  const dbFile = join(dir, "data", "audit.db");
  const configPath = join(dir, "config", "audit.yaml");

  beforeAll(async () => {
    mkdirSync(join(dir, "config"), { recursive: true });
    writeFileSync(
      configPath,
      `vigil:
  core:
    application_name: traffictracer
  storage:
    backends:
      - type: database
        name: audit-db
        connection:
          dialect: sqlite
          filename: ${JSON.stringify(dbFile)}
        table_name: audit_events
  security:
    signing:
      enabled: true
      algorithm: hmac-sha256
      secret_key: ${JSON.stringify(SECRET)}
      checkpoint_every: 100
`,
    );
    const engine = new AuditEngine({ configFile: configPath, env: {} });
    for (let i = 0; i < 250; i++)
      engine.log({ action: `ACTION_${i}`, category: "DATABASE", actor: { id: `u${i % 7}` } });
    await engine.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 0 and says OK when the rows are intact", async () => {
    const r = await run(["verify", "--config", configPath], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(["OK: 250 events in 1 chain across 1 table, 3 checkpoints verified"]);
  });

  it("exits 1 naming the table, row and seq of a changed row", async () => {
    const db = new Database(dbFile);
    let seq: number;
    try {
      db.exec(`DROP TRIGGER "${derivedName("audit_events", "no_update")}"`);
      const row = db.prepare("SELECT event FROM audit_events WHERE rowid = 42").get() as { event: string };
      seq = checkLine(row.event)!.seq;
      db.prepare("UPDATE audit_events SET event = ? WHERE rowid = 42").run(
        row.event.replace(`"ACTION_${seq - 1}"`, `"ACTION_${seq - 1}X"`),
      );
    } finally {
      db.close();
    }
    const r = await run(["verify", "--config", configPath, "--format", "json"], { cwd: dir });
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(result.problems).toEqual([
      expect.objectContaining({ kind: "modified", file: "sqlite:audit_events", line: 42, seq }),
    ]);
    const text = await run(["verify", "--config", configPath], { cwd: dir });
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`modified       sqlite:audit_events row 42: seq ${seq} was modified`);
    expect(lines(text.stdout).at(-1)).toMatch(/^TAMPERED: 1 problem; 250 events in 1 chain/);
  });
});
