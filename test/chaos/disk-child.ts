/**
 * A writer for the disk scenarios that need a process of their own (test/chaos/disk.ts):
 * one running as an unprivileged user (root ignores file modes), one under a small
 * `ulimit -n`. It logs `events` numbered events, 20 every 2 ms, and prints on stdout:
 *   mark <name>     when it reaches an event index named in `marks`; it goes on once the
 *                   parent, having acted, answers a line on stdin
 *   result <json>   at the end: what log() returned, errors and warnings, the metrics
 * A mark named `hog` makes it open /dev/null until EMFILE (keeping the descriptors) and log
 * into a second category from then on (a file to open: a new category or a new day), one
 * named `release` closes the descriptors again.
 */
import { closeSync, openSync } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import { kindOf } from "./disk.js";

const { config, events, marks } = JSON.parse(process.env.VIGIL_DISK_CHILD ?? "{}") as {
  config: VigilConfig;
  events: number;
  marks: Record<string, string>;
};
const engine = new AuditEngine({ config, env: {} });
const errors: { code: string; kind: string; message: string }[] = [];
const warnings: { at: number; message: string }[] = [];
engine.on("error", (err) => errors.push({ code: err.code, kind: kindOf(err), message: err.message }));
engine.on("warning", (message) => warnings.push({ at: Date.now(), message }));

const acks = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const hogs: number[] = [];
let threw = 0;
let dropped = 0;
const marked: Record<string, number> = {};
let category = "CHAOS";
for (let i = 0; i < events; ) {
  for (let k = 0; k < 20 && i < events; k++, i++) {
    const name = marks[String(i)];
    if (name !== undefined) {
      marked[name] = Date.now();
      if (name === "hog") {
        try {
          for (;;) hogs.push(openSync("/dev/null", "r"));
        } catch {
          // EMFILE: every descriptor this process may have is taken
        }
        category = "CHAOS_LATE";
      } else if (name === "release") {
        for (const fd of hogs.splice(0)) closeSync(fd);
      }
      process.stdout.write(`mark ${name} ${hogs.length}\n`);
      await acks.next();
    }
    try {
      if (
        engine.log({ action: "CHAOS_WRITE", category, metadata: { i, pad: "x".repeat(160) } }) === undefined
      )
        dropped++;
    } catch {
      threw++;
    }
  }
  await sleep(2);
}
for (const fd of hogs.splice(0)) closeSync(fd);
// the store may still be refusing: give the retry a moment, as a running service would have
for (let t = 0; t < 50 && engine.metrics().queue_depth > 0; t++) await sleep(100);
await engine.flush();
const metrics = engine.metrics();
await engine.close();
process.stdin.destroy();
process.stdout.write(
  `result ${JSON.stringify({ offered: events, dropped, threw, errors, warnings, marked, metrics })}\n`,
);
