import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { ago, collect, createStore, lines, start, type TestStore } from "./helpers.js";

let store: TestStore;
beforeEach(() => {
  store = createStore();
});
afterEach(() => store.cleanup());

const ids = (text: string) => lines(text).map((l) => (JSON.parse(l) as AuditEvent).id);

describe("vigil tail", () => {
  it("prints the last n events oldest first, then exits", async () => {
    const logged = [1, 2, 3, 4].map((i) =>
      store.log({ action: `STEP_${i}`, category: "SYSTEM", timestamp: ago(10 - i) }),
    );
    const r = await store.run(["tail", "-n", "2", "--format", "ndjson"]);
    expect(r.code).toBe(0);
    expect(ids(r.stdout)).toEqual([logged[2]!.id, logged[3]!.id]);
    const table = await store.run(["tail", "-n", "3"]);
    const out = lines(table.stdout);
    expect(out[0]).toMatch(/^TIME\s+SEVERITY\s+CATEGORY/);
    expect(out.slice(1).map((l) => /STEP_\d/.exec(l)?.[0])).toEqual(["STEP_2", "STEP_3", "STEP_4"]);
  });

  it("filters by query", async () => {
    store.log({ action: "LOGIN", category: "AUTHENTICATION", status: "FAILURE" });
    const ok = store.log({ action: "LOGIN", category: "AUTHENTICATION" });
    store.log({ action: "QUERY", category: "DATABASE" });
    const r = await store.run(["tail", "type:LOGIN AND status:SUCCESS", "--format", "ndjson"]);
    expect(ids(r.stdout)).toEqual([ok.id]);
  });

  it("with -f, prints events stored after it started, until SIGTERM stops it cleanly", async () => {
    const before = store.log({ action: "BEFORE", category: "SYSTEM" });
    const child = start(
      [
        "tail",
        "-f",
        "-n",
        "1",
        "--interval",
        "100",
        "--format",
        "ndjson",
        "category:SECURITY OR type:BEFORE",
      ],
      {
        cwd: store.dir,
      },
    );
    const out = collect(child);
    await out.waitFor((text) => lines(text).length >= 1);
    expect(ids(out.stdout())).toEqual([before.id]);

    const a = store.log({
      action: "PERMISSION_DENIED",
      category: "SECURITY",
      actor: { username: "mallory" },
    });
    store.log({ action: "NOISE", category: "DATABASE" }); // does not match the query
    const b = store.log({ action: "ROLE_CHANGED", category: "SECURITY" });
    await out.waitFor((text) => lines(text).length >= 3);
    // an event stamped a little in the past, reaching the store late, is still shown
    const late = store.log({ action: "LATE", category: "SECURITY", timestamp: ago(1) });
    await out.waitFor((text) => lines(text).length >= 4);

    child.kill("SIGTERM");
    const { code, signal } = await out.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(ids(out.stdout())).toEqual([before.id, a.id, b.id, late.id]);
    expect(out.stderr()).toBe("");
  });

  it("with -f and -n 0, shows only what arrives after it started", async () => {
    store.log({ action: "OLD", category: "SYSTEM" });
    const child = start(["tail", "-f", "-n", "0", "--interval", "100"], { cwd: store.dir });
    const out = collect(child);
    // the header is printed once what was already stored has been noted as seen
    await out.waitFor((text) => text.startsWith("TIME"));
    store.log({ action: "NEW_ONE", category: "SYSTEM", actor: { username: "esc\x1b[31m" } });
    await out.waitFor((text) => text.includes("NEW_ONE"));
    child.kill("SIGINT");
    expect((await out.exited).code).toBe(0);
    const body = lines(out.stdout()).slice(1);
    expect(body).toHaveLength(1);
    expect(body[0]).toContain("esc\\x1b[31m");
    expect(out.stdout()).not.toContain("OLD");
    expect(out.stdout()).not.toContain("\x1b");
  });
});
