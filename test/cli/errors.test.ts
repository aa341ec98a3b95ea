import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStore, lines, type RunResult, type TestStore } from "./helpers.js";

let store: TestStore;
beforeAll(() => {
  store = createStore();
  store.log({ action: "LOGIN", category: "AUTHENTICATION" });
});
afterAll(() => store.cleanup());

/** No stack trace: no "    at fn (file:line)" frames, no "Error:" dumps. */
function expectNoStack(r: RunResult): void {
  expect(r.stderr).not.toMatch(/^\s+at .*[:(]/m);
  expect(r.stderr).not.toMatch(/node:internal|\.ts:\d+/);
}

describe("bad input: one clear message, exit status 2", () => {
  it("shows a query syntax error with a caret under the position", async () => {
    const r = await store.run(["search", "action.type:LOGIN AND (result.status:FAILURE"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)).toEqual([
      "vigil: query syntax error: unclosed '(' at line 1, column 23",
      "  action.type:LOGIN AND (result.status:FAILURE",
      "                        ^",
    ]);
    expectNoStack(r);
  });

  it("rejects an unknown --format, naming the choices", async () => {
    const r = await store.run(["search", "--format", "xml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "vigil: option '--format <format>' argument 'xml' is invalid. Allowed choices are table, json, ndjson.\n",
    );
  });

  it("rejects an unknown export format", async () => {
    const r = await store.run(["export", "--format", "pdf", "--output", "x.pdf"]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(
      /argument 'pdf' is invalid\. Allowed choices are excel, xlsx, csv, json, ndjson/,
    );
  });

  it("reports a missing --config file", async () => {
    const r = await store.run(["search", "--config", "nope/audit.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `vigil: config file not found: nope/audit.yaml (${join(store.dir, "nope/audit.yaml")})\n`,
    );
    expectNoStack(r);
  });

  it("reports $VIGIL_CONFIG naming no file", async () => {
    const r = await store.run(["stats"], { VIGIL_CONFIG: "missing.yaml" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^vigil: config file not found: VIGIL_CONFIG is set to "missing.yaml", but .* does not exist\n$/,
    );
  });

  it("lists every problem of an invalid configuration with its path", async () => {
    const bad = join(store.dir, "bad.yaml");
    writeFileSync(bad, "vigil:\n  performance:\n    batching:\n      batch_sise: 5\n");
    const r = await store.run(["search", "--config", "bad.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid vigil configuration in .*bad\.yaml: 1 problem/);
    expect(r.stderr).toMatch(/vigil\.performance\.batching\.batch_sise: .*did you mean "batch_size"\?/);
    expectNoStack(r);
  });

  it("rejects an invalid range, dates and a from after to", async () => {
    const range = await store.run(["search", "--range", "last_fortnight"]);
    expect(range.code).toBe(2);
    expect(range.stderr).toBe(
      "vigil: unknown time range 'last_fortnight': expected last_<n>m|h|d|w, today, yesterday, this_week or this_month\n",
    );
    const date = await store.run(["stats", "--from", "yesterday-ish"]);
    expect(date.code).toBe(2);
    expect(date.stderr).toMatch(/^vigil: invalid 'from': expected a Date, an ISO 8601 date/);
    const order = await store.run([
      "export",
      "--format",
      "json",
      "--from",
      "2025-10-10",
      "--to",
      "2025-10-01",
    ]);
    expect(order.code).toBe(2);
    expect(order.stderr).toMatch(/'from' 2025-10-10T00:00:00.000Z is after 'to' 2025-10-01T00:00:00.000Z/);
  });

  it("rejects bad option values, unknown options and unknown commands", async () => {
    const limit = await store.run(["search", "--limit", "0"]);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toMatch(
      /^vigil: option '-l, --limit <n>' argument '0' is invalid\. expected a positive integer/,
    );
    const unknown = await store.run(["search", "--colour"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^vigil: unknown option '--colour'/);
    const command = await store.run(["serach"]);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/unknown command 'serach'.*\(Did you mean search\?\)/s);
    const interval = await store.run(["stats", "--interval", "1y"]);
    expect(interval.code).toBe(2);
    expect(interval.stderr).toBe(
      'vigil: interval: expected <n>s|m|h|d|w with n >= 1, like "1h" or "5m", found "1y"\n',
    );
  });

  it("does not create the store or an output file when the input is bad", async () => {
    const empty = join(store.dir, "elsewhere");
    mkdirSync(empty);
    const r = await store.run(["export", "type:(", "--output", join(empty, "x.csv")]);
    expect(r.code).toBe(2);
    const { readdirSync } = await import("node:fs");
    expect(readdirSync(empty)).toEqual([]);
  });
});

describe("failures while working: exit status 1", () => {
  it("reports an unreadable store in one line per problem, without a stack trace", async () => {
    const cfg = join(store.dir, "broken.yaml");
    const notADir = join(store.dir, "plain-file");
    writeFileSync(notADir, "not a directory");
    writeFileSync(
      cfg,
      `vigil:\n  storage:\n    backends:\n      - type: file\n        directory: ${JSON.stringify(notADir)}\n`,
    );
    const r = await store.run(["search", "--config", "broken.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ENOTDIR/);
    expectNoStack(r);
  });
});
