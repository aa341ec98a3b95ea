/**
 * An audit table dropped by hand while its `<table>_migrations` table survived: the
 * migrations say the schema is current, so the table was never created again and every
 * batch failed and was reported. The backend now re-creates it (under the migration lock)
 * on the first insert that finds it missing, says so once, and stores the batch.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { AuditEngine } from "../../src/engine.js";
import type { VigilError } from "../../src/errors.js";
import { TARGETS } from "../integrity/sql-db.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe.each(TARGETS.map((t) => [t.dialect, t] as const))("%s", (_name, target) => {
  test("a dropped audit table is created again and writing goes on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-dropped-"));
    const table = `disk_dropped_${randomBytes(4).toString("hex")}`;
    const connection = target.connection(dir);
    cleanups.push(async () => {
      await target.cleanup(table);
      rmSync(dir, { recursive: true, force: true });
    });
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "database", connection, table_name: table }] },
        performance: { async: { enabled: true }, batching: { batch_size: 10 } },
      },
      env: {},
    });
    const errors: VigilError[] = [];
    const warnings: string[] = [];
    engine.on("error", (e) => errors.push(e));
    engine.on("warning", (w) => warnings.push(w));
    for (let i = 0; i < 10; i++) engine.log({ action: "BEFORE", metadata: { i } });
    await engine.flush();
    const db = await target.open(connection, table);
    try {
      await db.unguard(true);
      await db.run(`DROP TABLE ${db.events}`);
    } finally {
      await db.close();
    }
    for (let batch = 0; batch < 5; batch++) {
      for (let i = 0; i < 10; i++) engine.log({ action: "AFTER", metadata: { i } });
      await engine.flush();
    }
    await engine.close();
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(warnings.filter((w) => /created it again/.test(w))).toHaveLength(1);
    const after = await target.open(connection, table);
    try {
      const rows = await after.all(`SELECT COUNT(*) AS n FROM ${after.events}`);
      expect(Number(rows[0]!.n)).toBe(50);
    } finally {
      await after.close();
    }
  }, 60_000);
});
