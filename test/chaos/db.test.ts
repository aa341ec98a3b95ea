/**
 * Databases misbehaving, short form (the long form is `npm run chaos db`): a private
 * PostgreSQL stopped and started, a private MariaDB killed and restarted, the network path
 * slowed, the application's own pool exhausted — while an application logs 1,000 events a
 * second. Nothing accepted is lost or doubled, every drop is counted and recorded, the
 * backlog stays within `queue_size`, writing resumes by itself, and `logDurable()` never
 * resolves for an event that is not in the table. Timings are figures of the long form only.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DB_FAULTS, type DbServers, dbCell, destroyDbServers, startDbServers } from "./db.js";

let servers: DbServers | undefined;

beforeAll(async () => {
  servers = await startDbServers();
}, 120_000);

afterAll(() => destroyDbServers(servers), 60_000);

describe("an application logging through the database backend", () => {
  test.each(DB_FAULTS)(
    "%s: nothing accepted lost or doubled, drops counted and recorded, backlog bounded, writing resumes",
    async (fault) => {
      // at the target rate 1,500 events fall into the fault: more than queue_size
      const cell = await dbCell(servers!, {
        fault,
        rate: 1000,
        beforeMs: 500,
        faultMs: 1500,
        afterMs: 1000,
        queueSize: 500,
      });
      // how many events the application got out depends on the machine (a starved event loop
      // skips ticks); the bound's bite is proven in outage.test.ts — here the invariants hold
      // whatever the count
      expect(cell.logged).toBeGreaterThan(0);
      expect(cell.missing).toBe(0);
      expect(cell.duplicates).toBe(0);
      expect(cell.droppedSeen).toBeLessThanOrEqual(cell.droppedMetric);
      expect(cell.droppedRecorded).toBe(cell.droppedMetric);
      expect(cell.maxBacklog).toBeLessThanOrEqual(cell.backlogBound);
      expect(cell.outageBacklog).toBeLessThanOrEqual(cell.backlogBound);
      expect(cell.durableLost).toBe(0);
      // probes were answered; how many resolved depends on how long the starved loop ran before
      // the fault (the warm-up probe proved resolution already)
      expect(cell.durableResolved + cell.durableRejected).toBeGreaterThan(0);
      if (fault === "pg-restart" || fault === "mariadb-kill") {
        expect(cell.unhealthySeen).toBe(true);
        // the outage held more than the bound allows: the rest was dropped, counted, recorded
        expect(cell.droppedSeen).toBeGreaterThan(0);
        expect(cell.outageBacklog).toBeGreaterThan(0);
      }
      if (fault === "pool-exhausted") {
        // the application's statements waited for its pool, then ran and were audited
        expect(cell.appStatements).toBe(20);
        expect(cell.appAudited).toBe(20);
        expect(cell.droppedSeen).toBe(0);
      }
    },
    120_000,
  );
});
