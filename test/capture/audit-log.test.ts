import ts from "typescript";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuditContext } from "../../src/capture/audit-context.js";
import { audited, auditLog } from "../../src/capture/audit-log.js";
import { parameterNames } from "../../src/capture/params.js";
import { withAuditScope } from "../../src/capture/scope.js";
import { getDefaultEngine, setDefaultEngine } from "../../src/default-engine.js";
import type { AuditEngine } from "../../src/engine.js";
import { eventsOnDisk, fileEngine, tempDir } from "../helpers.js";

let dir: string;
let cleanup: () => void;
let engine: AuditEngine;

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  engine = fileEngine(dir);
  setDefaultEngine(engine);
});
afterEach(async () => {
  await engine.close();
  cleanup();
});

/**
 * Compile TypeScript the way a user's `tsc` would (TC39 decorators by default,
 * legacy ones with `experimentalDecorators`) and evaluate it with vigil's auditLog.
 */
function compileTs<T>(source: string, experimentalDecorators: boolean): T {
  const out = ts.transpileModule(source, {
    compilerOptions: {
      experimentalDecorators,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
    },
  }).outputText;
  expect(out).toContain(experimentalDecorators ? "__decorate" : "__esDecorate");
  const mod = { exports: {} as unknown };
  new Function("module", "exports", "auditLog", out)(mod, mod.exports, auditLog);
  return mod.exports as T;
}

interface Connector {
  rows: unknown[];
  executeQuery(sql: string, params?: unknown[]): Promise<unknown[]>;
  close(): string;
  onExportClick(): void;
}

const CONNECTOR_SOURCE = `
class DatabaseConnector {
  rows: unknown[];
  constructor(rows: unknown[]) { this.rows = rows; }

  @auditLog({ category: "DATABASE", actionType: "QUERY", captureParams: true, captureResultCount: true })
  async executeQuery(sql: string, params?: unknown[]): Promise<unknown[]> {
    await new Promise((r) => setTimeout(r, 2));
    if (sql.startsWith("BAD")) throw new SyntaxError(\`near "\${sql}"\`);
    return params ? this.rows.slice(0, params.length) : this.rows;
  }

  @auditLog
  close(): string {
    return \`closed \${this.rows.length}\`;
  }

  @auditLog({ category: "UI_ACTION", actionType: "EXPORT", resourceType: "excel" })
  onExportClick(): void {
    throw new RangeError("no rows");
  }
}
module.exports = DatabaseConnector;
`;
const DatabaseConnector = compileTs<new (rows: unknown[]) => Connector>(CONNECTOR_SOURCE, false);

describe("auditLog as a TC39 decorator", () => {
  it("records the seed's decorated query with params and result count, keeping this and the return value", async () => {
    const db = new DatabaseConnector([{ a: 1 }, { a: 2 }, { a: 3 }]);
    const rows = await db.executeQuery("SELECT * FROM orders WHERE id = $1", [7]);
    expect(rows).toEqual([{ a: 1 }]);
    const last = engine.getLastEvent()!;
    expect(last.action).toEqual({ type: "QUERY", category: "DATABASE" });
    expect(last.params).toEqual({ sql: "SELECT * FROM orders WHERE id = $1", params: [7] });
    expect(last.result).toMatchObject({ status: "SUCCESS", count: 1 });
    expect(last.result.duration_ms).toBeGreaterThanOrEqual(1);
    expect(eventsOnDisk(dir)).toHaveLength(1);
  });

  it("bare @auditLog: category GENERAL, type from the method name, sync stays sync", () => {
    const db = new DatabaseConnector([1, 2]);
    const out = db.close();
    expect(out).toBe("closed 2"); // not a promise
    expect(engine.getLastEvent()!.action).toEqual({ type: "CLOSE", category: "GENERAL" });
  });

  it("re-throws the very same error object and records FAILURE with severity ERROR", async () => {
    const db = new DatabaseConnector([]);
    const caught = await db.executeQuery("BAD SQL").catch((e: unknown) => e);
    expect(caught).toBeInstanceOf(SyntaxError);
    let syncErr: unknown;
    try {
      db.onExportClick();
    } catch (e) {
      syncErr = e;
    }
    expect(syncErr).toBeInstanceOf(RangeError);
    const [q, exp] = eventsOnDisk(dir);
    expect(q).toMatchObject({
      severity: "ERROR",
      result: { status: "FAILURE", error: { type: "SyntaxError", message: 'near "BAD SQL"' } },
    });
    expect(exp).toMatchObject({
      action: { type: "EXPORT", category: "UI_ACTION", resource: { type: "excel" } },
      result: { status: "FAILURE" },
    });
  });
});

describe("auditLog as a legacy experimentalDecorators decorator (NestJS style)", () => {
  it("works bare and with options when compiled by tsc with experimentalDecorators", () => {
    const source = `
      class Service {
        n = 5;
        @auditLog({ category: "DATABASE", actionType: "CONNECTION", captureParams: ["info"] })
        createConnection(info: { port: number }, secret: string) { return this.n + info.port; }
        @auditLog
        refreshCache() { return "ok"; }
      }
      module.exports = Service;`;
    const Service = compileTs<
      new () => { createConnection(i: unknown, s: string): number; refreshCache(): string }
    >(source, true);
    const s = new Service();
    expect(s.createConnection({ port: 5432 }, "hunter2")).toBe(5437);
    expect(s.refreshCache()).toBe("ok");
    const [conn, refresh] = eventsOnDisk(dir);
    expect(conn).toMatchObject({
      action: { type: "CONNECTION", category: "DATABASE" },
      params: { info: { port: 5432 } },
    });
    expect(JSON.stringify(conn)).not.toContain("hunter2");
    expect(refresh!.action).toEqual({ type: "REFRESH_CACHE", category: "GENERAL" });
  });
});

describe("plain functions", () => {
  it("audited() wraps the seed's login as a security event, keeping the password out", async () => {
    const login = audited(
      {
        actionType: "LOGIN",
        category: "AUTHENTICATION",
        captureExceptions: true,
        securityEvent: true,
        captureParams: true,
      },
      async (username: string, password: string) => {
        if (password !== "s3cret!") throw Object.assign(new Error("bad credentials"), { name: "AuthError" });
        return { session: `${username}-session` };
      },
    );
    await expect(login("alice", "s3cret!")).resolves.toEqual({ session: "alice-session" });
    await expect(login("mallory", "guess")).rejects.toThrow("bad credentials");
    const [ok, bad] = eventsOnDisk(dir);
    expect(ok).toMatchObject({
      security_event: true,
      action: { type: "LOGIN", category: "AUTHENTICATION" },
      result: { status: "SUCCESS" },
    });
    expect(bad).toMatchObject({
      params: { username: "mallory", password: "[REDACTED]" },
      result: { status: "FAILURE", error: { type: "AuthError" } },
    });
    expect(JSON.stringify([ok, bad])).not.toMatch(/s3cret|guess/);
  });

  it("auditLog(options)(fn) wraps a plain function and keeps name, length and this", () => {
    const obj = {
      factor: 3,
      mul: auditLog({ category: "MATH" })(function mul(this: { factor: number }, x: number) {
        return x * this.factor;
      }),
    };
    expect(obj.mul(2)).toBe(6);
    expect(obj.mul.name).toBe("mul");
    expect(obj.mul.length).toBe(1);
    expect(engine.getLastEvent()!.action).toEqual({ type: "MUL", category: "MATH" });
  });

  it("looks the default engine up at call time, not at decoration time", () => {
    const fn = audited({ category: "LATE" }, () => 1);
    const { dir: other, cleanup: cleanOther } = tempDir();
    const second = fileEngine(other);
    setDefaultEngine(second);
    fn();
    expect(eventsOnDisk(other)).toHaveLength(1);
    expect(eventsOnDisk(dir)).toHaveLength(0);
    setDefaultEngine(engine);
    void second.close().then(cleanOther);
  });

  it("options that throw never change the result", () => {
    const warnings: string[] = [];
    engine.on("warning", (w) => warnings.push(w));
    const fn = audited(
      {
        metadata: () => {
          throw new Error("metadata broke");
        },
        resource: () => {
          throw new Error("x");
        },
      },
      (a: number) => a + 1,
    );
    expect(fn(1)).toBe(2);
    expect(eventsOnDisk(dir)).toHaveLength(1);
    expect(warnings.join()).toMatch(/metadata option threw: metadata broke/);
  });

  it("with the engine disabled, calls are plain calls", async () => {
    const { dir: off, cleanup: cleanOff } = tempDir();
    const disabled = fileEngine(off, { core: { enabled: false } });
    const fn = audited({ engine: disabled }, (x: number) => x * 2);
    expect(fn(21)).toBe(42);
    expect(eventsOnDisk(off)).toHaveLength(0);
    await disabled.close();
    cleanOff();
  });
});

describe("AuditContext.run", () => {
  it("records one event with duration and ctx.set() additions; nested contexts name their parent", async () => {
    const conn = await AuditContext.run(
      { action: "CONNECTION_CREATE", category: "DATABASE", resource: "orders_db" },
      async (ctx) => {
        ctx.set({ metadata: { pool: "main" } });
        await AuditContext.run(
          { action: "HANDSHAKE", category: "DATABASE" },
          async () => new Promise((r) => setTimeout(r, 2)),
        );
        ctx.set({ metadata: { tls: true }, count: 1 });
        return "conn-1";
      },
    );
    expect(conn).toBe("conn-1");
    const [inner, outer] = eventsOnDisk(dir);
    expect(outer).toMatchObject({
      action: { type: "CONNECTION_CREATE", category: "DATABASE", resource: { path: "orders_db" } },
      metadata: { pool: "main", tls: true },
      result: { status: "SUCCESS", count: 1 },
    });
    expect(inner!.correlation).toEqual({ parent_id: outer!.id });
    expect(outer!.result.duration_ms).toBeGreaterThan(inner!.result.duration_ms! - 0.001);
  });

  it("re-throws the error unchanged and records FAILURE", () => {
    const err = new Error("refused");
    expect(() =>
      AuditContext.run({ action: "CONNECTION_CREATE", category: "DATABASE" }, () => {
        throw err;
      }),
    ).toThrow(err);
    expect(engine.getLastEvent()!.result).toMatchObject({
      status: "FAILURE",
      error: { type: "Error", message: "refused" },
    });
  });

  it("events inside carry the ambient scope", async () => {
    await withAuditScope({ actor: { username: "carol" } }, () =>
      AuditContext.run({ action: "X" }, () => engine.log({ action: "Y" })),
    );
    expect(eventsOnDisk(dir).map((e) => e.actor?.username)).toEqual(["carol", "carol"]);
  });
});

describe("parameterNames", () => {
  it("reads names from functions, methods, arrows, defaults and rest; arg<i> for destructuring", () => {
    expect(
      parameterNames(function f(sql: string, params = [1, 2]) {
        return [sql, params];
      }),
    ).toEqual(["sql", "params"]);
    expect(
      parameterNames(async (a: number, { b }: { b: number }, ...rest: number[]) => [a, b, rest]),
    ).toEqual(["a", "arg1", "rest"]);
    expect(parameterNames(((x: number) => x) as (x: number) => number)).toEqual(["x"]);
    expect(parameterNames(Math.max)).toEqual([]); // native: "function max() { [native code] }"
    expect(getDefaultEngine()).toBe(engine);
  });
});
