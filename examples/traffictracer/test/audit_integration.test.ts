/**
 * The seed's Testing Plan, unit part, and Step 7 — against the example's real
 * `config/audit.yaml` (async, batched), with the logs in a temporary directory.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ExcelJS from "exceljs";
import { AuditQuery, getDefaultEngine } from "vigil-audit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getAuditEngine, initializeAudit, logAuditEvent, shutdownAudit } from "../src/audit_init.js";
import { AuthenticationError, createLogin, UserDirectory } from "../src/authentication.js";
import { ConnectionManager } from "../src/connection_manager.js";
import { MainWindowOrchestrator } from "../src/ui_actions.js";
import {
  eventsOnDisk,
  initializeForTest,
  type RecordingLogger,
  rawText,
  recordingLogger,
  tempDir,
} from "./helpers.js";

const today = new Date().toISOString().slice(0, 10);
let tmp: ReturnType<typeof tempDir>;
let logDir: string;
let logger: RecordingLogger;
const connections = new ConnectionManager();

beforeAll(() => {
  tmp = tempDir();
  logDir = join(tmp.dir, "audit");
  logger = recordingLogger();
  initializeForTest(logDir, logger);
});

afterAll(async () => {
  connections.closeAll();
  await shutdownAudit();
  tmp.cleanup();
});

describe("initializeAudit", () => {
  it("loads config/audit.yaml and makes its engine vigil's default engine", () => {
    const audit = getAuditEngine();
    expect(getDefaultEngine()).toBe(audit);
    expect(audit.config.core.application_name).toBe("traffictracer");
    expect(audit.config.performance.async.enabled).toBe(true);
    expect(audit.config.storage.backends[0]).toMatchObject({ type: "file", directory: logDir });
    expect(logger.messages.info[0]).toMatch(/^Vigil initialized successfully from .*config\/audit\.yaml$/);
  });

  it("falls back to the built-in defaults when the config is invalid, and says why", async () => {
    const dir = tempDir();
    const cwd = process.cwd();
    const bad = join(dir.dir, "audit.yaml");
    writeFileSync(bad, "vigil:\n  core:\n    enabeld: true\n");
    const fallbackLogger = recordingLogger();
    process.chdir(dir.dir); // the defaults write under ./logs/audit
    try {
      const engine = initializeAudit(bad, { logger: fallbackLogger });
      expect(fallbackLogger.messages.error).toHaveLength(1);
      expect(fallbackLogger.messages.error[0]).toMatch(
        /^Failed to initialize Vigil: .*enabeld.*did you mean "enabled"/s,
      );
      expect(engine.config.core.application_name).toBe("vigil");
      expect(getDefaultEngine()).toBe(engine);
      engine.log({ action: "FALLBACK_CHECK", category: "SYSTEM" });
      await engine.flush();
      expect(eventsOnDisk(join(dir.dir, "logs", "audit")).map((e) => e.action.type)).toEqual([
        "FALLBACK_CHECK",
      ]);
    } finally {
      await shutdownAudit();
      process.chdir(cwd);
      dir.cleanup();
      initializeForTest(logDir, logger);
    }
  });

  it("logAuditEvent logs on the application engine, and a filtered category is reported once", () => {
    const event = logAuditEvent("REPORT_OPENED", { category: "UI_ACTION", resource: "reports/daily" });
    expect(event).toMatchObject({ action: { type: "REPORT_OPENED", category: "UI_ACTION" } });
    expect(logAuditEvent("PING", { category: "HEARTBEAT" })).toBeUndefined();
    expect(logAuditEvent("PING", { category: "HEARTBEAT" })).toBeUndefined();
    const warnings = logger.messages.warn.filter((m) => m.includes("HEARTBEAT"));
    expect(warnings).toHaveLength(1);
    expect(getAuditEngine().metrics().filtered_by_category).toMatchObject({ HEARTBEAT: 2 });
  });
});

describe("Step 7: test_audit_logging", () => {
  it("finds a TEST_EVENT in the last hour, and writes it to the TEST file", async () => {
    const audit = getAuditEngine();
    audit.log({ action: "TEST_EVENT", category: "TEST" });
    const events = await AuditQuery.search({ timeRange: "last_1h", category: "TEST" });
    expect(events.length).toBeGreaterThan(0);
    expect(events[0]).toMatchObject({
      action: { type: "TEST_EVENT", category: "TEST" },
      application: { name: "traffictracer", version: "2.0.0", environment: "production" },
    });
    expect(readdirSync(logDir)).toContain(`traffictracer_audit_test_${today}.log`);
  });
});

describe("test_audit_decorator_on_query", () => {
  it("records DATABASE / QUERY for executeQuery, with the SQL, parameters and row count", async () => {
    const connector = connections.createConnection({ database: "traffictracer" });
    const result = connector.executeQuery("SELECT 1");
    expect(result).toEqual([{ "1": 1 }]);

    const last = getAuditEngine().getLastEvent()!;
    expect(last.action.category).toBe("DATABASE");
    expect(last.action.type).toBe("QUERY");
    expect(last.params).toEqual({ sql: "SELECT 1" }); // the arguments passed: the default `params` is not one
    expect(last.result).toMatchObject({ status: "SUCCESS", count: 1 });

    connector.executeScript("CREATE TABLE segments (road TEXT, speed REAL)");
    expect(
      connector.executeQuery("INSERT INTO segments VALUES (?, ?), (?, ?)", ["A12", 54.5, "E40", 92]),
    ).toMatchObject({ changes: 2 });
    expect(getAuditEngine().getLastEvent()?.result.count).toBe(2);
    await getAuditEngine().flush();
    const onDisk = eventsOnDisk(logDir).filter((e) => e.action.type === "QUERY");
    expect(onDisk.map((e) => (e.params as { sql: string }).sql)).toEqual([
      "SELECT 1",
      "INSERT INTO segments VALUES (?, ?), (?, ?)",
    ]);
  });

  it("records a failing query as FAILURE and rethrows the driver's error unchanged", () => {
    const connector = connections.get("traffictracer")!;
    let thrown: unknown;
    try {
      connector.executeQuery("SELECT * FROM no_such_table");
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).name).toBe("SqliteError");
    expect(getAuditEngine().getLastEvent()).toMatchObject({
      severity: "ERROR",
      action: { type: "QUERY" },
      result: { status: "FAILURE", error: { type: "SqliteError", message: "no such table: no_such_table" } },
    });
  });

  it("redacts secrets in captured parameters", () => {
    const connector = connections.get("traffictracer")!;
    connector.executeScript("CREATE TABLE accounts (email TEXT, password TEXT)");
    connector.executeQuery("INSERT INTO accounts VALUES (@email, @password)", {
      email: "yannick.verrydt@example.com",
      password: "hunter2-secret",
    });
    const params = getAuditEngine().getLastEvent()?.params as { params: Record<string, string> };
    expect(params.params.password).toBe("[REDACTED]");
    expect(params.params.email).not.toContain("yannick.verrydt");
  });
});

describe("createConnection (AuditContext)", () => {
  it("records CONNECTION_CREATE with the database as resource", () => {
    connections.createConnection({ database: "reporting" });
    expect(getAuditEngine().getLastEvent()).toMatchObject({
      action: { type: "CONNECTION_CREATE", category: "DATABASE", resource: { path: "reporting" } },
      result: { status: "SUCCESS" },
      metadata: { driver: "better-sqlite3", filename: ":memory:" },
    });
  });

  it("with auditStatements, the driver also records each statement as QUERY_EXECUTION", async () => {
    const audited = new ConnectionManager({ auditStatements: true });
    try {
      const connector = audited.createConnection({ database: "statements" });
      expect(connector.executeQuery("SELECT ? AS speed_kmh", [54.5])).toEqual([{ speed_kmh: 54.5 }]);
      await getAuditEngine().flush();
      const onDisk = eventsOnDisk(logDir).filter(
        (e) => (e.params as { sql?: string } | undefined)?.sql === "SELECT ? AS speed_kmh",
      );
      expect(onDisk.map((e) => [e.action.type, e.result.count])).toEqual([
        ["QUERY_EXECUTION", 1],
        ["QUERY", 1],
      ]);
      expect(onDisk[0]).toMatchObject({
        action: { method: "SELECT" },
        params: { values: [54.5] },
        metadata: { driver: "better-sqlite3" },
      });
    } finally {
      audited.closeAll();
    }
  });

  it("records a connection that cannot open as FAILURE and rethrows", () => {
    const missing = join(tmp.dir, "missing.db");
    expect(() =>
      connections.createConnection({ database: "archive", filename: missing, fileMustExist: true }),
    ).toThrow(/unable to open database file/);
    expect(getAuditEngine().getLastEvent()).toMatchObject({
      action: { type: "CONNECTION_CREATE", resource: { path: "archive" } },
      result: { status: "FAILURE", error: { type: "SqliteError" } },
    });
    expect(connections.get("archive")).toBeUndefined();
  });
});

describe("login (audited)", () => {
  const users = new UserDirectory();
  const login = createLogin(users);
  beforeAll(() =>
    users.addUser("yannick.verrydt", "correct horse battery", { roles: ["analyst"], id: "42" }),
  );

  it("records a successful LOGIN as a security event with the username", async () => {
    const session = await login("yannick.verrydt", "correct horse battery");
    expect(session.user).toEqual({ id: "42", username: "yannick.verrydt", roles: ["analyst"] });
    expect(getAuditEngine().getLastEvent()).toMatchObject({
      security_event: true,
      actor: { username: "yannick.verrydt" },
      action: { type: "LOGIN", category: "AUTHENTICATION" },
      result: { status: "SUCCESS" },
    });
  });

  it("throws AuthenticationError for a wrong password or an unknown user, records FAILURE, never the password", async () => {
    await expect(login("yannick.verrydt", "wrong-password-1")).rejects.toBeInstanceOf(AuthenticationError);
    await expect(login("nobody", "wrong-password-2")).rejects.toThrow("invalid username or password");
    const last = getAuditEngine().getLastEvent()!;
    expect(last).toMatchObject({
      actor: { username: "nobody" },
      result: {
        status: "FAILURE",
        error: { type: "AuthenticationError", message: "invalid username or password" },
      },
    });
    expect(last.params).toBeUndefined();
    await getAuditEngine().flush();
    const text = rawText(logDir);
    expect(text).toContain('"username":"nobody"');
    for (const secret of ["correct horse battery", "wrong-password-1", "wrong-password-2"])
      expect(text).not.toContain(secret);
  });
});

describe("onExportClick", () => {
  it("exports the security events to an Excel workbook and records UI_ACTION / EXPORT", async () => {
    const expected = await AuditQuery.count({ filters: { security_event: true } });
    expect(expected).toBe(3); // the three logins above
    const window = new MainWindowOrchestrator({ exportDirectory: join(tmp.dir, "exports") });
    const result = await window.onExportClick();
    expect(result).toMatchObject({ format: "xlsx", count: 3, path: window.exportPath });

    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.readFile(window.exportPath);
    const sheet = workbook.worksheets[0]!;
    const headers = (sheet.getRow(1).values as unknown[]).slice(1);
    const typeColumn = headers.indexOf("action.type") + 1;
    const userColumn = headers.indexOf("actor.username") + 1;
    expect(sheet.rowCount).toBe(4);
    const rows = [2, 3, 4].map((r) => [
      sheet.getCell(r, typeColumn).value,
      sheet.getCell(r, userColumn).value,
    ]);
    expect(rows).toEqual([
      ["LOGIN", "yannick.verrydt"],
      ["LOGIN", "yannick.verrydt"],
      ["LOGIN", "nobody"],
    ]);

    expect(getAuditEngine().getLastEvent()).toMatchObject({
      action: { type: "EXPORT", category: "UI_ACTION", resource: { type: "excel" } },
      result: { status: "SUCCESS", count: 3 },
    });
  });
});
