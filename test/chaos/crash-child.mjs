// A writer for the crash matrix (test/chaos/crash.ts): logs numbered events into the store
// its configuration names until it is killed, and tells the parent on stdout (a pipe:
// synchronous on Linux, so a line printed before SIGKILL has reached the parent) what it
// logged and what was acknowledged.
//   L <i>  every event up to <i> has returned from log()          (async mode)
//   A <i>  event <i> is acknowledged: written under durability: event, or logDurable resolved
//   D <i>  log() dropped event <i> (a full queue): counted and recorded as EVENTS_DROPPED
// Imports the built package (dist/), so a restart costs a fraction of a second.
import { AuditEngine } from "../../dist/index.js";

const { config, mode, run } = JSON.parse(process.env.VIGIL_CHAOS ?? "{}");
const engine = new AuditEngine({ config, env: {} });
engine.on("error", (err) => process.stderr.write(`error ${err.code ?? ""} ${err.message}\n`));
const out = (line) => process.stdout.write(`${line}\n`);
const input = (i) => ({ action: "CHAOS_WRITE", category: "CHAOS", metadata: { run, i } });
// a busy server: about 5,000 events/s (logDurable is paced by its acknowledgements)
const pause = () => new Promise((resolve) => setTimeout(resolve, 10));

// Ready once the store is open and has taken one event: the kill's random moment then falls
// while writing, not while a database connects and migrates (which a loaded machine slows).
await engine.logDurable({ action: "CHAOS_READY", category: "CHAOS" });
out("ready");
let i = 0;
for (;;) {
  if (mode === "durable") {
    // an application awaiting each acknowledgement, 16 requests at a time
    await Promise.all(
      Array.from({ length: 16 }, () => {
        const n = i++;
        return engine.logDurable(input(n)).then(() => out(`A ${n}`));
      }),
    );
  } else if (mode === "event") {
    for (let k = 0; k < 50; k++, i++) {
      out(engine.log(input(i)) === undefined ? `D ${i}` : `A ${i}`);
    }
    await pause();
  } else {
    for (let k = 0; k < 50; k++, i++) if (engine.log(input(i)) === undefined) out(`D ${i}`);
    out(`L ${i - 1}`);
    await pause();
  }
}
