/**
 * Erasure by crypto-shredding (GDPR art. 17) and access (art. 15), through the real engine:
 * personal fields never reach the disk or the database in clear, read back while the person's
 * key exists, are gone for good once it is destroyed — and the signed store still verifies.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, test } from "vitest";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import { ConfigError, VigilError } from "../../src/errors.js";
import type { AuditEvent } from "../../src/event/types.js";
import { databaseConfig, dropTable, POSTGRES, pgQuery, uniqueTable } from "../conformance/sql-servers.js";
import { tempDir } from "../helpers.js";

const tmp = tempDir("vigil-erasure-");
afterAll(() => tmp.cleanup());

const MASTER = "5a".repeat(32);
const SECRET = "an-hmac-secret-of-enough-length-0123";

const ALICE = { id: "42", username: "alice", ip: "10.9.8.7", roles: ["admin"] };
const BOB = { id: "7", username: "bob", ip: "10.1.1.1" };

/** Every byte under `dir`, as text (the whole store: data, checkpoints, keys). */
function allBytes(dir: string): string {
  let out = "";
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    out += statSync(path).isDirectory() ? allBytes(path) : readFileSync(path, "latin1");
  }
  return out;
}

function logSome(engine: AuditEngine): void {
  for (let i = 0; i < 20; i++) {
    engine.log({
      action: "QUERY",
      category: "DATABASE",
      actor: i % 2 === 0 ? ALICE : BOB,
      resource: { type: "table", name: "orders", id: String(i) },
      metadata: { address: i % 2 === 0 ? "12 Elm Street" : "9 Oak Road", request: i },
    });
  }
  engine.log({ action: "LOGIN", category: "AUTHENTICATION", actor: { username: "carol", ip: "10.3.3.3" } });
}

/** `word` not inside a longer run of base64 or word characters. */
const asWord = (word: string) =>
  new RegExp(`(?<![A-Za-z0-9+/])${word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![A-Za-z0-9+/=])`);

const names = (events: AuditEvent[]) => events.map((e) => e.actor?.username ?? null);

describe("erasure on a signed file store", () => {
  const dir = join(tmp.dir, "files");
  const config: VigilConfig = {
    storage: { backends: [{ type: "file", directory: dir }] },
    security: { signing: { enabled: true, secret_key: SECRET } },
    compliance: { gdpr: { erasure: { enabled: true, key: MASTER, fields: ["metadata.address"] } } },
  };

  test("personal fields are sealed on disk, readable through vigil, and erasable without breaking verification", async () => {
    const writer = new AuditEngine({ config, env: {} });
    logSome(writer);
    await writer.close(); // the final checkpoint: the store verifies from here on
    const engine = new AuditEngine({ config, env: {}, readOnly: true });

    // on disk: no name, address or e-mail anywhere in the store (data, checkpoints, key files)
    const bytes = allBytes(dir);
    // as whole words: base64 ciphertext spells a three-letter name now and then ("…Ebob5CA==")
    for (const secret of ["alice", "10.9.8.7", "12 Elm Street", "bob", "carol", "10.3.3.3"])
      expect(bytes, secret).not.toMatch(asWord(secret));
    const stored = readdirSync(dir)
      .filter((n) => n.endsWith(".log"))
      .flatMap((n) => readFileSync(join(dir, n), "utf8").trim().split("\n"))
      .map((l) => JSON.parse(l) as AuditEvent);
    expect(stored).toHaveLength(21);
    const first = stored.find((e) => e.action.resource?.id === "0")!;
    expect(first.actor).toEqual({ id: "42", roles: ["admin"] });
    expect(first.metadata).toEqual({ request: 0 });
    expect(Object.keys(first.subject!).sort()).toEqual(["ct", "iv", "kid", "ref", "tag"]);

    // read back: the fields are restored, searchable by name
    const found = await engine.search({ query: "actor.username:alice", order: "asc" });
    expect(found).toHaveLength(10);
    expect(found[0]!.actor).toEqual({ ...ALICE });
    expect(found[0]!.metadata).toEqual({ request: 0, address: "12 Elm Street" });
    expect(await engine.count({ query: "12 Elm Street" })).toBe(10);
    const exported = [];
    for await (const e of engine.exportSubject("42")) exported.push(e);
    expect(names(exported)).toEqual(Array(10).fill("alice"));
    expect((await engine.verify()).ok).toBe(true);

    // erase alice: her key file goes, the events stay, her fields are gone
    const keyFiles = () =>
      readdirSync(join(dir, "subjects"), { recursive: true }).filter((n) => String(n).endsWith(".json"));
    expect(keyFiles()).toHaveLength(3);
    const erased = await engine.eraseSubject("42");
    expect(erased).toMatchObject({ subject: "42", erased: true });
    expect(keyFiles()).toHaveLength(2);
    const after = [];
    for await (const e of engine.exportSubject("42")) after.push(e);
    expect(after).toHaveLength(10);
    for (const e of after) {
      expect(e.actor).toEqual({ id: "42", roles: ["admin"] });
      expect(e.metadata).toEqual({ request: Number(e.action.resource!.id) });
      expect(e.subject).toEqual({ ref: erased.ref, erased: true });
    }
    expect(await engine.count({ query: "actor.username:alice" })).toBe(0);
    expect(await engine.count({ query: "12 Elm Street" })).toBe(0);
    // bob is untouched
    expect(names(await engine.search({ query: "actor.id:7" }))).toEqual(Array(10).fill("bob"));
    const verified = await engine.verify();
    expect(verified).toMatchObject({ ok: true, status: "intact", events: 21 });
    expect(await engine.eraseSubject("42")).toMatchObject({ erased: false });

    // alice seen again: a new key, readable
    const later = new AuditEngine({ config, env: {} });
    later.log({ action: "LOGOUT", category: "AUTHENTICATION", actor: ALICE });
    await later.close();
    const again = await engine.search({ query: "actor.username:alice" });
    expect(again.map((e) => e.action.type)).toEqual(["LOGOUT"]);

    // a person known only by username is found and erased by it
    const carol = [];
    for await (const e of engine.exportSubject("carol")) carol.push(e);
    expect(carol.map((e) => e.actor?.username)).toEqual(["carol"]);
    expect(await engine.eraseSubject("carol")).toMatchObject({ erased: true });
    const carolAfter = [];
    for await (const e of engine.exportSubject("carol")) carolAfter.push(e);
    expect(carolAfter).toHaveLength(1);
    expect(carolAfter[0]!.actor).toBeUndefined();
    expect(carolAfter[0]!.subject?.erased).toBe(true);
    expect(await engine.verify()).toMatchObject({ ok: true, chains: 2, events: 22 });
    await engine.close();
  });

  test("a wrong master key cannot open the key files and says so", async () => {
    const engine = new AuditEngine({
      config: { ...config, compliance: { gdpr: { erasure: { enabled: true, key: "6b".repeat(32) } } } },
      env: {},
      readOnly: true,
    });
    await expect(engine.search({ query: "actor.id:7" })).rejects.toThrow(
      /cannot be opened with compliance\.gdpr\.erasure\.key/,
    );
  });
});

describe("erasure on database backends gives the same answers", () => {
  const cases = [
    {
      name: "sqlite",
      connection: () => ({ dialect: "sqlite" as const, filename: join(tmp.dir, "erasure.db") }),
    },
    { name: "postgresql", connection: () => POSTGRES },
  ];
  test.each(cases)(
    "$name: rows hold no personal data; search, export and erase work",
    async ({ name, connection }) => {
      const table = uniqueTable("vigil_erasure");
      const keyStore = join(tmp.dir, `keys-${name}`);
      const engine = new AuditEngine({
        config: {
          storage: { backends: [databaseConfig(connection(), table)] },
          compliance: {
            gdpr: {
              erasure: { enabled: true, key: MASTER, fields: ["metadata.address"], key_store: keyStore },
            },
          },
        },
        env: {},
      });
      try {
        logSome(engine);
        await engine.flush();
        const rows =
          name === "sqlite"
            ? (new Database(join(tmp.dir, "erasure.db")).prepare(`SELECT * FROM ${table}`).all() as Record<
                string,
                unknown
              >[])
            : await pgQuery(`SELECT * FROM ${table}`);
        expect(rows).toHaveLength(21);
        const text = JSON.stringify(rows);
        for (const secret of ["alice", "10.9.8.7", "12 Elm Street", "carol"])
          expect(text, secret).not.toContain(secret);

        expect(await engine.count({ query: "actor.username:alice" })).toBe(10);
        expect(await engine.count({ query: "12 Elm Street" })).toBe(10);
        expect(await engine.count({ query: "actor.id:42 AND NOT actor.ip:10.9.8.7" })).toBe(0);
        await engine.eraseSubject("42");
        expect(await engine.count({ query: "actor.username:alice" })).toBe(0);
        const after = [];
        for await (const e of engine.exportSubject("42")) after.push(e);
        expect(after).toHaveLength(10);
        expect(after.every((e) => e.subject?.erased === true && e.actor?.username === undefined)).toBe(true);
        expect(await engine.count({ query: "actor.username:bob" })).toBe(10);
      } finally {
        await engine.close();
        if (name === "postgresql") await dropTable("postgresql", table);
      }
    },
  );
});

describe("configuration and misuse", () => {
  test("erasure without a master key, or with a field outside the sealable parts, is a ConfigError naming the path", () => {
    let error: unknown;
    try {
      new AuditEngine({
        config: { compliance: { gdpr: { erasure: { enabled: true, fields: ["timestamp", "actor.id"] } } } },
        env: {},
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "vigil.compliance.gdpr.erasure.key",
        "vigil.compliance.gdpr.erasure.fields[0]",
        "vigil.compliance.gdpr.erasure.fields[1]",
      ]),
    );
  });

  test("eraseSubject without erasure enabled rewrites instead of destroying a key; an empty subject is an invalid argument", async () => {
    const engine = new AuditEngine({
      config: { storage: { backends: [{ type: "file", directory: join(tmp.dir, "plain") }] } },
      env: {},
    });
    engine.log({ action: "LOGIN", actor: { id: "42", username: "alice" } });
    expect(await engine.eraseSubject("42")).toMatchObject({ subject: "42", erased: false, rewritten: 1 });
    expect(
      readFileSync(join(tmp.dir, "plain", readdirSync(join(tmp.dir, "plain"))[0]!), "utf8"),
    ).not.toContain("alice");
    await expect(engine.eraseSubject("")).rejects.toBeInstanceOf(VigilError);
    await engine.close();
    expect(existsSync(join(tmp.dir, "plain", "subjects"))).toBe(false);
  });
});
