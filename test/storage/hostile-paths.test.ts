/**
 * Hostile paths (issue 12, item 7): a symbolic link planted where a log file belongs, a
 * world-writable store directory, a file planted by another user in a sticky shared
 * directory, a symlinked store directory owned by another user — each refused with
 * VIGIL_ERR_UNSAFE_PATH and nothing written through it; and the modes vigil gives the files
 * and directories it creates. The tests run as root (the CI machine): "another user" is
 * `nobody` (65534), set with chown/lchown.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import type { VigilError } from "../../src/errors.js";

const NOBODY = 65534;
let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "vigil-hostile-"));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const today = () => new Date().toISOString().slice(0, 10);

async function run(directory: string, extra: Partial<VigilConfig> = {}): Promise<VigilError[]> {
  const engine = new AuditEngine({
    config: {
      storage: { backends: [{ type: "file", directory, filename_pattern: "audit_{category}_{date}.log" }] },
      ...extra,
    },
    env: {},
  });
  const errors: VigilError[] = [];
  engine.on("error", (e) => errors.push(e));
  engine.on("warning", () => undefined);
  engine.log({ action: "LOGIN", category: "AUTH" });
  await engine.flush();
  await engine.close();
  return errors;
}

describe("refused", () => {
  test("a symbolic link where the log file belongs is never written through", async () => {
    const dir = join(base, "logs");
    mkdirSync(dir, { mode: 0o750 });
    const victim = join(base, "victim");
    writeFileSync(victim, "precious\n");
    symlinkSync(victim, join(dir, `audit_auth_${today()}.log`));
    const errors = await run(dir);
    expect(errors.map((e) => e.code)).toContain("VIGIL_ERR_UNSAFE_PATH");
    expect(errors.map((e) => e.message).join("\n")).toMatch(
      /is a symbolic link; a log file is never written through one/,
    );
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
  });

  test("a store directory writable by every user without the sticky bit", async () => {
    const dir = join(base, "open");
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const errors = await run(dir);
    expect(errors.map((e) => e.code)).toContain("VIGIL_ERR_UNSAFE_PATH");
    expect(errors.map((e) => e.message).join("\n")).toMatch(
      /writable by every user \(mode 777\) without the sticky bit/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  test("in a sticky shared directory, a log file another user planted", async () => {
    const dir = join(base, "shared");
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    const planted = join(dir, `audit_auth_${today()}.log`);
    writeFileSync(planted, "");
    chownSync(planted, NOBODY, NOBODY);
    const errors = await run(dir);
    expect(errors.map((e) => e.code)).toContain("VIGIL_ERR_UNSAFE_PATH");
    expect(errors.map((e) => e.message).join("\n")).toMatch(/belongs to uid 65534/);
    expect(readFileSync(planted, "utf8")).toBe("");
  });

  test("a store directory that is a symbolic link owned by another user", async () => {
    const target = join(base, "elsewhere");
    mkdirSync(target);
    const link = join(base, "logs");
    symlinkSync(target, link);
    lchownSync(link, NOBODY, NOBODY);
    const errors = await run(link);
    expect(errors.map((e) => e.code)).toContain("VIGIL_ERR_UNSAFE_PATH");
    expect(errors.map((e) => e.message).join("\n")).toMatch(/is a symbolic link owned by uid 65534/);
    expect(readdirSync(target)).toEqual([]);
  });
});

describe("accepted", () => {
  test("a sticky shared directory (/tmp-like): the files are our own", async () => {
    const dir = join(base, "shared");
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    expect(await run(dir)).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.endsWith(".log"))).toHaveLength(1);
  });

  test("a symbolic link of our own to the store directory", async () => {
    const target = join(base, "data");
    mkdirSync(target);
    symlinkSync(target, join(base, "logs"));
    expect(await run(join(base, "logs"))).toEqual([]);
    expect(readdirSync(target).filter((n) => n.endsWith(".log"))).toHaveLength(1);
  });
});

test("modes: directories 0750, log and checkpoint files 0640, SQLite files 0640 (umask 022)", async () => {
  const old = process.umask(0o022);
  try {
    const dir = join(base, "a", "logs");
    expect(
      await run(dir, {
        security: {
          signing: {
            enabled: true,
            algorithm: "hmac-sha256",
            secret_key: "hostile-paths-secret-0123456789abcdef",
          },
        },
      }),
    ).toEqual([]);
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(join(base, "a"))).toBe(0o750);
    expect(mode(dir)).toBe(0o750);
    const entries = readdirSync(dir, { recursive: true, encoding: "utf8" }).map((n) => join(dir, n));
    const dirs = entries.filter((p) => statSync(p).isDirectory());
    const files = entries.filter((p) => !statSync(p).isDirectory());
    expect(files.length).toBeGreaterThanOrEqual(2); // the log and the checkpoints
    for (const d of dirs) expect([d, mode(d)]).toEqual([d, 0o750]);
    for (const f of files) expect([f, mode(f)]).toEqual([f, 0o640]);
    const db = join(base, "db", "audit.db");
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "database", connection: { dialect: "sqlite", filename: db } }] },
      },
      env: {},
    });
    engine.log({ action: "X" });
    await engine.close();
    expect(mode(join(base, "db"))).toBe(0o750);
    expect(mode(db)).toBe(0o640);
    if (existsSync(`${db}-wal`)) expect(mode(`${db}-wal`)).toBe(0o640);
  } finally {
    process.umask(old);
  }
});
