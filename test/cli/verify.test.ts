import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { GENESIS, sealEvent, type VerifyResult } from "../../src/integrity/index.js";
import { ago, createStore, lines, run, type TestStore } from "./helpers.js";

const DAY_MIN = 24 * 60;
const SECRET = "test-signing-secret-0123456789abcdef";
const HMAC = `  security:
    signing:
      enabled: true
      algorithm: hmac-sha256
      secret_key: ${JSON.stringify(SECRET)}
`;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the tests look for.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;
const CATEGORIES = ["API", "DATABASE", "SECURITY"] as const;

/** The store's event files, sorted by name. */
function eventFiles(store: TestStore): string[] {
  return readdirSync(store.logDir)
    .filter((n) => n.endsWith(".log"))
    .sort();
}

/** A configuration file beside the store's, for the same files, with `security` as given. */
function writeConfig(store: TestStore, name: string, extraYaml: string, backendYaml = ""): string {
  const path = join(store.dir, "config", name);
  writeFileSync(
    path,
    `vigil:
  core:
    application_name: traffictracer
  storage:
    backends:
      - type: file
        directory: ${JSON.stringify(store.logDir)}
        filename_pattern: "traffictracer_audit_{category}_{date}.log"
${backendYaml}${extraYaml}`,
  );
  return path;
}

/** 30 events: 3 categories over 3 days, logged oldest first. */
function logSpread(store: TestStore): void {
  for (let i = 0; i < 30; i++) {
    const day = 2 - Math.floor(i / 10);
    store.log({
      action: `ACTION_${i}`,
      category: CATEGORIES[i % 3]!,
      actor: { id: `u${i}`, username: `user${i}` },
      timestamp: ago(day * DAY_MIN + 40 - i),
    });
  }
}

describe("vigil verify on an HMAC-signed store", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = createStore(HMAC);
    logSpread(store);
    await store.engine.close(); // the final checkpoint
  });
  afterAll(() => store.cleanup());

  it("says OK with the counts and exits 0 when the store is intact", async () => {
    const r = await store.run(["verify"]);
    expect(r.code).toBe(0);
    const files = eventFiles(store).length;
    expect(files).toBeGreaterThanOrEqual(6);
    expect(r.stdout).toBe(`OK: 30 events in 1 chain across ${files} files, 1 checkpoint verified\n`);
    expect(r.stderr).toBe("");
  });

  it("prints the result object with --format json", async () => {
    const r = await store.run(["verify", "--format", "json"]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as VerifyResult;
    expect(result).toMatchObject({
      ok: true,
      status: "intact",
      chains: 1,
      events: 30,
      files: eventFiles(store).length,
      checkpoints: 1,
      retained: 0,
      erased: 0,
      problems: [],
      omittedProblems: 0,
    });
  });

  it("draws progress on stderr with --progress and clears it at the end", async () => {
    const r = await store.run(["verify", "--progress"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^\rverifying \[[^\]]*\] \d+% \d+\/\d+ files · /);
    expect(r.stderr.endsWith("\r\x1b[K")).toBe(true);
    expect(r.stdout).toMatch(/^OK: 30 events/);
  });

  it("reads only the days in --from/--to", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const r = await store.run(["verify", "--from", today, "--format", "json"]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as VerifyResult;
    expect(result.ok).toBe(true);
    const todays = eventFiles(store).filter((n) => n.includes(today)).length;
    expect(result.files).toBe(todays);
    expect(result.events).toBeLessThan(30);
  });

  it("accepts a witness directory that holds the same checkpoints", async () => {
    const witness = join(store.dir, "witness");
    cpSync(join(store.logDir, "checkpoints"), witness, { recursive: true });
    const r = await store.run(["verify", "--witness", witness]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK: 30 events in 1 chain across \d+ files, 2 checkpoints verified\n$/);
  });

  it("never changes the store it reads (no gzip of old files, no new directories)", async () => {
    const reader = writeConfig(
      store,
      "reader.yaml",
      HMAC,
      `        rotation: { enabled: true, compress: true, compress_after_days: 1 }\n`,
    );
    const old = join(store.logDir, eventFiles(store)[0]!);
    const longAgo = new Date(Date.now() - 30 * DAY_MIN * 60_000);
    utimesSync(old, longAgo, longAgo);
    const before = readdirSync(store.logDir).sort();
    const r = await store.run(["verify", "--config", reader]);
    expect(r.code).toBe(0);
    expect(readdirSync(store.logDir).sort()).toEqual(before);
    expect(Math.round(statSync(old).mtimeMs)).toBe(longAgo.getTime()); // utimes keeps ms; stat may add float noise
  });
});

describe("vigil verify finds tampering", () => {
  let store: TestStore;
  afterEach(() => store.cleanup());

  it("names the file and line of a byte changed in the middle of a file, and exits 1", async () => {
    store = createStore(HMAC);
    logSpread(store);
    await store.engine.close();
    const [name] = eventFiles(store)
      .map((n) => [n, readFileSync(join(store.logDir, n), "utf8")] as const)
      .sort((a, b) => b[1].length - a[1].length)[0]!;
    const path = join(store.logDir, name);
    const text = readFileSync(path, "utf8");
    // one byte of the middle line: a letter of the user name ("user12" becomes "xser12")
    const fileLines = text.split("\n");
    const line = Math.ceil((fileLines.length - 1) / 2);
    const at = text.indexOf('"username":"user', fileLines.slice(0, line - 1).join("\n").length) + 12;
    expect(text.slice(0, at).split("\n").length).toBe(line);
    writeFileSync(path, `${text.slice(0, at)}x${text.slice(at + 1)}`);

    const r = await store.run(["verify"]);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^modified {7}/);
    expect(out[0]).toContain(`${path}:${line}: `);
    expect(out[0]).toMatch(/seq \d+/);
    expect(out[1]).toMatch(
      /^TAMPERED: 1 problem; 30 events in 1 chain across \d+ files, 1 checkpoint verified$/,
    );
    expect(r.stderr).toBe("vigil: the store is not intact: 1 problem\n");

    const json = await store.run(["verify", "--format", "json"]);
    expect(json.code).toBe(1);
    const result = JSON.parse(json.stdout) as VerifyResult;
    expect(result).toMatchObject({ ok: false, status: "tampered" });
    expect(result.problems).toEqual([expect.objectContaining({ kind: "modified", file: path, line })]);
  });

  it("counts the running writer's events after its last checkpoint as pending (exit 0); --strict: unverifiable (exit 1)", async () => {
    store = createStore(HMAC);
    for (let i = 0; i < 5; i++) store.log({ action: "LOGIN", category: "AUTHENTICATION" });
    // the writer (this process) is still running: no checkpoint covers its events yet
    const live = await store.run(["verify"]);
    expect(live.stderr).toBe("");
    expect(live.code).toBe(0);
    expect(lines(live.stdout)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^pending {8}chain [^ ]+:${process.pid}:\\d+:[0-9a-f]{8}: 5 events pending \\(seq 1\\.\\.5; writer alive, pid ${process.pid} on this host, no checkpoint yet, chain started \\d+\\.\\d s ago\\)$`,
        ),
      ),
      "OK: 5 events in 1 chain across 1 file, 0 checkpoints verified; 5 events pending in 1 chain of a running writer",
    ]);

    const r = await store.run(["verify", "--strict"]);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^unverifiable {3}.*has no signed checkpoint: its 5 events cannot be verified/);
    expect(out.at(-1)).toMatch(
      /^UNVERIFIABLE: 1 problem; 5 events in 1 chain across 1 file, 0 checkpoints verified$/,
    );
    expect(r.stderr).toBe("vigil: the store cannot be fully verified: 1 problem\n");
  });

  it("neutralizes control characters that a forged line puts into its messages", async () => {
    store = createStore(HMAC);
    const event = store.log({ action: "LOGIN", category: "AUTHENTICATION" });
    await store.engine.close();
    const [name] = eventFiles(store);
    const path = join(store.logDir, name!);
    // a well-hashed line of a made-up chain whose id would clear the screen and retitle the terminal
    const { integrity: _, ...bare } = event;
    const forged = sealEvent(bare as AuditEvent, "evil\x1b[2J\x1b]0;pwned\x07", 1, GENESIS).line;
    writeFileSync(path, `${readFileSync(path, "utf8")}${forged}\n`);
    const r = await store.run(["verify"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("evil\\x1b[2J\\x1b]0;pwned\\x07");
    expect(r.stdout).not.toMatch(CONTROL);
    const json = await store.run(["verify", "--format", "json"]);
    expect(json.stdout).not.toMatch(CONTROL);
    expect((JSON.parse(json.stdout) as VerifyResult).problems.some((p) => p.chain?.includes("\x1b[2J"))).toBe(
      true,
    );
  });
});

describe("vigil retention with signing, then vigil verify", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = createStore(HMAC);
    // one event per day for 10 days, then today: one file per day, in chain order
    for (let day = 10; day >= 0; day--)
      for (let i = 0; i < 2; i++)
        store.log({ action: `DAY_${day}`, category: "API", timestamp: ago(day * DAY_MIN + 60 - i) });
    await store.engine.close();
  });
  afterAll(() => store.cleanup());

  it("--dry-run says how many retention records it would sign and changes nothing", async () => {
    const before = readdirSync(store.logDir).sort();
    const r = await store.run(["retention", "--days", "5", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)[1]).toMatch(
      /^file: would delete \d+ events in \d+ files; would sign 1 retention record$/,
    );
    expect(readdirSync(store.logDir).sort()).toEqual(before);
    expect(existsSync(join(store.logDir, "checkpoints", "retention.jsonl"))).toBe(false);
  });

  it("leaves a signed retention record, so verify accepts the gap (exit 0)", async () => {
    const r = await store.run(["retention", "--days", "5"]);
    expect(r.code).toBe(0);
    const m = /^file: deleted (\d+) events in (\d+) files; signed 1 retention record$/.exec(
      lines(r.stdout)[1]!,
    );
    expect(m).not.toBeNull();
    const deleted = Number(m![1]);
    expect(deleted).toBeGreaterThanOrEqual(10);
    expect(existsSync(join(store.logDir, "checkpoints", "retention.jsonl"))).toBe(true);

    const v = await store.run(["verify"]);
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    expect(v.stdout).toBe(
      `OK: ${22 - deleted} events in 1 chain across ${eventFiles(store).length} files, 2 checkpoints verified; ${deleted} events deleted under signed retention records\n`,
    );
  });

  it("verifies with --secret-key-file: the secret as a key file holds it, trailing newline included", async () => {
    const keyFile = join(store.dir, "config", "signing.key");
    const auditor = writeConfig(store, "auditor-hmac.yaml", "");
    for (const content of [`${SECRET}\n`, `${SECRET}\r\n`, SECRET]) {
      writeFileSync(keyFile, content);
      const r = await store.run(["verify", "--config", auditor, "--secret-key-file", keyFile]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^OK: /);
    }
    writeFileSync(keyFile, `${SECRET.slice(0, 10)} ${SECRET.slice(10)}\n`);
    const spaced = await store.run(["verify", "--config", auditor, "--secret-key-file", keyFile]);
    expect(spaced.code).toBe(2);
    expect(spaced.stderr).toBe(
      `vigil: --secret-key-file ${keyFile}: the secret has whitespace at character 11 of ${SECRET.length + 1} (only one trailing newline is allowed)\n`,
    );
    writeFileSync(keyFile, `${SECRET}\n`);
    const wrong = await store.run([
      "verify",
      "--config",
      auditor,
      "--secret-key-file",
      keyFile,
      "--public-key",
      keyFile,
    ]);
    expect(wrong.code).toBe(2);
  });

  it("still reports a file deleted by hand, naming the files around the gap (exit 1)", async () => {
    const files = eventFiles(store);
    expect(files.length).toBeGreaterThanOrEqual(4);
    const [before, gone, after] = files.slice(1, 4) as [string, string, string];
    unlinkSync(join(store.logDir, gone));
    const r = await store.run(["verify"]);
    expect(r.code).toBe(1);
    const out = lines(r.stdout);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^deleted {8}2 events deleted: seq \d+\.\.\d+ of chain /);
    expect(out[0]).toContain(
      `after ${join(store.logDir, before)}:2 and before ${join(store.logDir, after)}:1`,
    );
    expect(out[0]).toContain("a whole file between them may be missing");
    expect(out[1]).toMatch(/^TAMPERED: 1 problem; /);
  });
});

describe("vigil verify with Ed25519 keys from vigil keygen", () => {
  let keys: string;
  let store: TestStore;
  beforeAll(async () => {
    keys = mkdtempSync(join(tmpdir(), "vigil-keys-"));
    for (const name of ["store", "other"]) {
      const r = await run(["keygen", "--algorithm", "ed25519", "--out", ".", "--name", name], { cwd: keys });
      expect(r.code).toBe(0);
    }
    const privatePem = readFileSync(join(keys, "store.pem"), "utf8");
    store = createStore(`  security:
    signing:
      enabled: true
      algorithm: ed25519
      private_key: ${JSON.stringify(privatePem)}
`);
    logSpread(store);
    await store.engine.close();
  });
  afterAll(async () => {
    await store.cleanup();
    rmSync(keys, { recursive: true, force: true });
  });

  it("verifies with --public-key and a configuration that holds no key at all", async () => {
    const auditor = writeConfig(store, "auditor.yaml", "");
    const r = await store.run(["verify", "--config", auditor, "--public-key", join(keys, "store.pub.pem")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK: 30 events in 1 chain across \d+ files, 1 checkpoint verified\n$/);
  });

  it("verifies with a configuration that holds only the public key", async () => {
    const publicPem = readFileSync(join(keys, "store.pub.pem"), "utf8");
    const auditor = writeConfig(
      store,
      "auditor-pub.yaml",
      `  security:
    signing:
      enabled: true
      algorithm: ed25519
      public_key: ${JSON.stringify(publicPem)}
`,
    );
    const r = await store.run(["verify", "--config", auditor]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK: 30 events/);
  });

  it("reports the wrong public key by key id (exit 1)", async () => {
    const auditor = writeConfig(store, "auditor.yaml", "");
    const r = await store.run(["verify", "--config", auditor, "--public-key", join(keys, "other.pub.pem")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^wrong-key {6}.*signed with key id [0-9a-f]{16}, but the verifying key has id [0-9a-f]{16}/m,
    );
  });

  it("refuses a private key given as --public-key without printing it (exit 2)", async () => {
    const r = await store.run(["verify", "--public-key", join(keys, "store.pem")]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)).toEqual([
      `vigil: --public-key ${join(keys, "store.pem")} is a private key: give the public half (the .pub.pem file from vigil keygen)`,
    ]);
  });
});

describe("vigil verify: bad input is one line and exit status 2", () => {
  let store: TestStore;
  beforeAll(async () => {
    store = createStore(HMAC);
    store.log({ action: "LOGIN", category: "AUTHENTICATION" });
    await store.engine.close();
  });
  afterAll(() => store.cleanup());

  it.each([
    [
      ["--from", "26/11/2025"],
      'vigil: --from: expected an ISO 8601 date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]), found "26/11/2025"',
    ],
    [
      ["--from", "2025-10-02", "--to", "2025-10-01"],
      /^vigil: --from 2025-10-02T00:00:00\.000Z is after --to 2025-10-01T00:00:00\.000Z$/,
    ],
    [["--public-key", "missing.pem"], "vigil: --public-key missing.pem: no such file"],
    [["--witness", "no-such-dir"], "vigil: --witness no-such-dir: no such directory"],
    [["--config", "nope.yaml"], /^vigil: config file not found: nope\.yaml/],
    [["--format", "xml"], /^vigil: option '--format <format>' argument 'xml' is invalid/],
  ])("verify %j", async (args, message) => {
    const r = await store.run(["verify", ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const err = lines(r.stderr);
    expect(err).toHaveLength(1);
    if (typeof message === "string") expect(err[0]).toBe(message);
    else expect(err[0]).toMatch(message);
  });

  it("says which key is missing when the configuration has none", async () => {
    const plain = writeConfig(store, "plain.yaml", "");
    const r = await store.run(["verify", "--config", plain]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      `vigil: no key to verify with: security.signing in ${plain} has no secret_key (hmac-sha256); set it, or pass --public-key FILE for an Ed25519 store`,
    ]);
  });

  it("says so when the store directory does not exist", async () => {
    const elsewhere = join(store.dir, "config", "elsewhere.yaml");
    writeFileSync(
      elsewhere,
      `vigil:\n  storage:\n    backends:\n      - type: file\n        directory: ${JSON.stringify(join(store.dir, "nothing-here"))}\n${HMAC}`,
    );
    const r = await store.run(["verify", "--config", elsewhere]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      `vigil: the store directory ${join(store.dir, "nothing-here")} does not exist (storage.backends[0].directory in ${elsewhere})`,
    ]);
    expect(existsSync(join(store.dir, "nothing-here"))).toBe(false);
  });
});
