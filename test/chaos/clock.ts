/**
 * Time (issue 12, item 5): the wall clock stepped back an hour — across midnight — and
 * forward a day while a signed file store is being written. Ids must stay unique and in
 * creation order, every event must land in its own day's file, time-range queries must
 * stay right, and the chain must verify.
 *
 * The clock is faked by replacing `Date.now` (what vigil reads for ids and timestamps)
 * for the length of the scenario.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditEngine } from "../../src/engine.js";

export interface ClockFigures {
  readonly events: number;
  readonly uniqueIds: number;
  /** Ids in the order log() returned them that sort before their predecessor: must be 0. */
  readonly idsOutOfOrder: number;
  /** Events stored in a file whose date is not their timestamp's UTC day: must be 0. */
  readonly wrongDayFile: number;
  readonly files: readonly string[];
  /** Per phase (before, after stepping back, after stepping forward): matches of a time-range query. */
  readonly rangeCounts: readonly number[];
  readonly verify: string;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;

export async function clockScenario(perPhase = 300): Promise<ClockFigures> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-chaos-clock-"));
  const realNow = Date.now;
  let offset = 0;
  Date.now = () => realNow() + offset;
  try {
    const config = {
      core: { application_name: "clock" },
      storage: {
        backends: [
          {
            type: "file",
            directory: dir,
            filename_pattern: "clock_{category}_{date}.log",
            rotation: { enabled: true, when: "midnight" },
          },
        ],
      },
      performance: { async: { enabled: true }, batching: { batch_size: 50 } },
      security: {
        signing: {
          enabled: true,
          algorithm: "hmac-sha256",
          secret_key: "chaos-clock-secret-0123456789abcdef",
          checkpoint_every: 100,
        },
      },
    } as const;
    // half an hour after a UTC midnight; stepping back an hour lands in the day before
    const start = Math.floor(realNow() / DAY) * DAY + HOUR / 2;
    offset = start - realNow();
    const engine = new AuditEngine({ config, env: {} });
    const ids: string[] = [];
    const phases: { action: string; from: number; to: number }[] = [];
    const phase = async (action: string) => {
      const from = Date.now();
      for (let i = 0; i < perPhase; i++) ids.push(engine.log({ action, metadata: { i } })!.id);
      await engine.flush();
      phases.push({ action, from: from - 1000, to: Date.now() + 1000 });
    };
    await phase("BEFORE");
    offset -= HOUR; // the clock steps back an hour, into yesterday
    await phase("STEPPED_BACK");
    offset += DAY + HOUR; // ... then forward a day
    await phase("STEPPED_FORWARD");
    await engine.close();
    offset = 0;

    let idsOutOfOrder = 0;
    for (let i = 1; i < ids.length; i++) if (ids[i]! <= ids[i - 1]!) idsOutOfOrder++;
    let wrongDayFile = 0;
    const files = readdirSync(dir).filter((n) => n.endsWith(".log"));
    for (const name of files) {
      const day = /(\d{4}-\d{2}-\d{2})/.exec(name)![1]!;
      for (const line of readFileSync(join(dir, name), "utf8").split("\n")) {
        if (line !== "" && (JSON.parse(line) as { timestamp: string }).timestamp.slice(0, 10) !== day)
          wrongDayFile++;
      }
    }
    const reader = new AuditEngine({ config, env: {}, readOnly: true });
    try {
      const rangeCounts: number[] = [];
      for (const p of phases) {
        rangeCounts.push(
          await reader.count({
            query: `action.type:${p.action}`,
            from: new Date(p.from).toISOString(),
            to: new Date(p.to).toISOString(),
          }),
        );
      }
      const verify = (await reader.verify()).status;
      return {
        events: ids.length,
        uniqueIds: new Set(ids).size,
        idsOutOfOrder,
        wrongDayFile,
        files: files.sort(),
        rangeCounts,
        verify,
      };
    } finally {
      await reader.close();
    }
  } finally {
    Date.now = realNow;
    rmSync(dir, { recursive: true, force: true });
  }
}
