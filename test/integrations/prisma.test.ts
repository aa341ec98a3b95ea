/**
 * `auditPrisma` on a real Prisma Client (7, `prisma-client` generator, query compiler and
 * the better-sqlite3 driver adapter: nothing downloaded). The client is generated here, into
 * a temporary folder inside the project (so it resolves `@prisma/client`), and removed after.
 * `prisma generate` never runs the schema engine; the CLI only insists that one exists, so
 * `PRISMA_SCHEMA_ENGINE_BINARY` names `/bin/false` — were it ever run, generation would fail.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { withAuditScope } from "../../src/capture/scope.js";
import type { AuditEvent } from "../../src/event/types.js";
import { auditPrisma, type PrismaAuditOptions } from "../../src/integrations/prisma/index.js";
import { ofType, type TestEngine, testEngine } from "./helpers.js";

const generated = join(import.meta.dirname, `.prisma-${process.pid}-${randomBytes(3).toString("hex")}`);
const dbDir = mkdtempSync(join(tmpdir(), "vigil-prisma-"));
const dbFile = join(dbDir, "app.db");

interface UserRow {
  id: number;
  email: string;
  password: string | null;
}
/** The slice of the generated client these tests use. */
interface Client {
  user: {
    create(a: object): Promise<UserRow>;
    findMany(a?: object): Promise<UserRow[]>;
    findFirst(a?: object): Promise<UserRow | null>;
    updateMany(a: object): Promise<{ count: number }>;
    deleteMany(a?: object): Promise<{ count: number }>;
    count(a?: object): Promise<number>;
  };
  $queryRaw(strings: TemplateStringsArray, ...values: unknown[]): Promise<unknown[]>;
  $executeRawUnsafe(sql: string, ...values: unknown[]): Promise<number>;
  $transaction<R>(fn: (tx: Client) => Promise<R>): Promise<R>;
  $disconnect(): Promise<void>;
}
type ClientClass = new (options: { adapter: unknown }) => { $extends(e: unknown): Client };

let PrismaClient: ClientClass;
let t: TestEngine;
const clients: Client[] = [];

function client(options: PrismaAuditOptions = {}): Client {
  const c = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: `file:${dbFile}` }) }).$extends(
    auditPrisma({ engine: t.engine, database: "app", ...options }),
  );
  clients.push(c);
  return c;
}
const queries = (): AuditEvent[] => ofType(t.events(), "QUERY_EXECUTION");

beforeAll(async () => {
  mkdirSync(generated);
  writeFileSync(
    join(generated, "schema.prisma"),
    `generator client {
  provider     = "prisma-client"
  output       = "./client"
  moduleFormat = "esm"
}
datasource db {
  provider = "sqlite"
}
model User {
  id       Int     @id @default(autoincrement())
  email    String  @unique
  password String?
}
`,
  );
  const cli = createRequire(import.meta.url).resolve("prisma/build/index.js");
  execFileSync(process.execPath, [cli, "generate", "--schema", join(generated, "schema.prisma")], {
    cwd: generated,
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: "/bin/false", PRISMA_HIDE_UPDATE_MESSAGE: "1" },
    stdio: "pipe",
  });
  ({ PrismaClient } = (await import(join(generated, "client", "client.ts"))) as {
    PrismaClient: ClientClass;
  });
}, 120_000);
afterAll(() => {
  rmSync(generated, { recursive: true, force: true });
  rmSync(dbDir, { recursive: true, force: true });
});
beforeEach(() => {
  t = testEngine();
  const db = new Database(dbFile);
  db.exec(`DROP TABLE IF EXISTS "User";
CREATE TABLE "User" (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, password TEXT)`);
  db.close();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.$disconnect()));
  await t.dispose();
});

describe("auditPrisma", () => {
  it("records each model operation: SQL verb, model, operation, redacted args, row count, duration", async () => {
    const prisma = client();
    await prisma.user.create({ data: { email: "alice@example.com", password: "hunter2-secret" } });
    await prisma.user.create({ data: { email: "bob@example.com" } });
    expect((await prisma.user.findMany({ orderBy: { id: "asc" } })).map((u) => u.email)).toEqual([
      "alice@example.com",
      "bob@example.com",
    ]);
    expect(await prisma.user.updateMany({ where: { id: { gt: 0 } }, data: { password: null } })).toEqual({
      count: 2,
    });
    expect(await prisma.user.deleteMany({ where: { email: "bob@example.com" } })).toEqual({ count: 1 });
    const events = queries();
    expect(events.map((e) => [e.action.method, e.result.count])).toEqual([
      ["INSERT", 1],
      ["INSERT", 1],
      ["SELECT", 2],
      ["UPDATE", 2],
      ["DELETE", 1],
    ]);
    const [create] = events;
    expect(create!.action).toMatchObject({
      type: "QUERY_EXECUTION",
      category: "DATABASE",
      resource: { type: "database", name: "app" },
    });
    expect(create!.params).toMatchObject({ model: "User", operation: "create", args: { data: {} } });
    expect(JSON.stringify(create!.params)).not.toContain("hunter2-secret");
    expect(create!.metadata).toEqual({ driver: "prisma", orm: "prisma" });
    expect(typeof create!.result.duration_ms).toBe("number");
  });

  it("records raw queries like a driver statement", async () => {
    const prisma = client();
    const rows = await prisma.$queryRaw`SELECT ${41} + 1 AS v`;
    expect(rows).toEqual([{ v: 42 }]);
    expect(await prisma.$executeRawUnsafe(`INSERT INTO "User" (email) VALUES (?)`, "raw-user")).toBe(1);
    const [q, x] = queries();
    expect(q!.params).toEqual({ sql: "SELECT ? + 1 AS v", values: [41] });
    expect(q!.action.method).toBe("SELECT");
    expect(q!.result.count).toBe(1);
    expect(x!.params).toEqual({ sql: `INSERT INTO "User" (email) VALUES (?)`, values: ["raw-user"] });
    expect(x!.action.method).toBe("INSERT");
    expect(x!.result.count).toBe(1);
  });

  it("records a failure with Prisma's code, and the caller gets the same error", async () => {
    const prisma = client();
    await prisma.user.create({ data: { email: "carol@example.com" } });
    const error = await prisma.user.create({ data: { email: "carol@example.com" } }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe("P2002");
    const failed = queries().filter((e) => e.result.status === "FAILURE");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.severity).toBe("ERROR");
    expect(failed[0]!.result.error).toMatchObject({ code: "P2002" });
  });

  it("audits the operations of an interactive transaction, committed or rolled back", async () => {
    const prisma = client();
    await prisma.$transaction(async (tx) => {
      await tx.user.create({ data: { email: "dave@example.com" } });
    });
    await expect(
      prisma.$transaction(async (tx) => {
        await tx.user.create({ data: { email: "erin@example.com" } });
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    expect((await prisma.user.findMany()).map((u) => u.email)).toEqual(["dave@example.com"]);
    expect(queries().map((e) => e.action.method)).toEqual(["INSERT", "INSERT", "SELECT"]);
  });

  it("carries each scope's actor through 200 concurrent operations", async () => {
    const prisma = client();
    const found = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        // (Prisma's promises are lazy: an operation runs, and is audited, where it is awaited)
        withAuditScope({ actor: { id: `user-${i}` } }, async () => {
          await new Promise((r) => setTimeout(r, i % 7));
          return await prisma.user.findFirst({ where: { email: `user-${i}` } });
        }),
      ),
    );
    expect(found.every((f) => f === null)).toBe(true);
    const events = queries();
    expect(events).toHaveLength(200);
    for (const e of events) {
      const email = (e.params as { args: { where: { email: string } } }).args.where.email;
      expect(e.actor?.id).toBe(email);
      expect(e.result.count).toBe(0);
    }
  });

  it("skips Model.operation or SQL, leaves args out with captureValues false, and rejects bad options", async () => {
    const prisma = client({ skip: ["User.count", /^SELECT 1/], captureValues: false });
    await prisma.user.count();
    await prisma.$queryRaw`SELECT 1`;
    await prisma.user.findMany({ where: { email: "x" } });
    const events = queries();
    expect(events).toHaveLength(1);
    expect(events[0]!.params).toEqual({ model: "User", operation: "findMany" });
    expect(() => auditPrisma({ skip: 5 as never })).toThrow(/auditPrisma: options.skip must be/);
  });
});
