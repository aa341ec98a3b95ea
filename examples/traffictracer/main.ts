/**
 * The TrafficTracer demo: the seed's integration plan, run end to end.
 *
 * 1. Shows what the seed's own `config/audit.yaml` does to login events (dropped, with
 *    a warning), and why `config/audit.yaml` here admits more categories.
 * 2. Initializes auditing (Steps 3–4), opens the database, starts the API on 127.0.0.1.
 * 3. Makes real HTTP requests: health, a query, a good login, two failed logins.
 * 4. Opens a connection that fails, clicks "Export", runs the Step 7 check.
 * 5. Prints what was recorded and the answers of the seed's queries and `jq` views.
 *
 * Run from anywhere: `npm run demo`, or `node --import tsx examples/traffictracer/main.ts`.
 * It works in `examples/traffictracer/` (so `./logs/audit` is the example's) and starts
 * from an empty log directory each run. `AUDIT_LOG_DIR` and `TRAFFICTRACER_EXPORT_DIR`
 * move the logs and the workbook elsewhere (the tests use temporary directories).
 *
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { AuditEngine, type AuditEvent, AuditQuery, loadConfig } from "vigil-audit";
import { initializeAudit, shutdownAudit } from "./src/audit_init.js";
import { createLogin, UserDirectory } from "./src/authentication.js";
import { ConnectionManager } from "./src/connection_manager.js";
import { createApp, startServer } from "./src/server.js";
import { MainWindowOrchestrator } from "./src/ui_actions.js";

const EXAMPLE_DIR = dirname(fileURLToPath(import.meta.url));
/** The seed's configuration, byte for byte (the repository's test fixture). */
const SEED_CONFIG = resolve(EXAMPLE_DIR, "../../test/fixtures/seed-audit.yaml");
const INVOKED_FROM = process.cwd();

const USER = "yannick.verrydt";
const PASSWORD = "Tr4fficTracer-2.0!";

const SCHEMA = `
  CREATE TABLE measurements (id INTEGER PRIMARY KEY, road TEXT NOT NULL, measured_at TEXT NOT NULL, speed_kmh REAL NOT NULL);
  INSERT INTO measurements (road, measured_at, speed_kmh) VALUES
    ('A12', '2025-10-10T07:00Z', 54.5), ('A12', '2025-10-10T08:00Z', 38.0), ('A12', '2025-10-10T09:00Z', 71.5),
    ('E40', '2025-10-10T07:00Z', 92.0), ('E40', '2025-10-10T08:00Z', 63.5);
`;

const out = (line = ""): void => {
  process.stdout.write(`${line}\n`);
};
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
/** A path as the user sees it: relative to where the demo was started. */
const shown = (path: string): string => relative(INVOKED_FROM, path) || ".";
/** `items` joined by `joiner`, in lines of at most `width` characters, each indented by `indent`. */
function wrapItems(items: readonly string[], joiner: string, indent: string, width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const item of items) {
    if (line !== "" && indent.length + line.length + joiner.length + item.length > width) {
      lines.push(indent + line + joiner.trimEnd());
      line = item;
    } else line = line === "" ? item : line + joiner + item;
  }
  if (line !== "") lines.push(indent + line);
  return lines;
}
/** The words of `text` in lines of at most `width` characters. */
const wrap = (text: string, indent: string, width = 100): string[] =>
  wrapItems(text.split(" "), " ", indent, width);

/** Remove the files vigil wrote under `dir` in earlier runs (and nothing else). */
function cleanLogs(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    if (name.startsWith("traffictracer_audit_")) rmSync(join(dir, name), { force: true });
  }
}

/** The JSON lines of the log files under `dir` — what `cat logs/audit/*.log | jq` reads. */
function readLogFiles(dir: string): Map<string, AuditEvent[]> {
  const files = new Map<string, AuditEvent[]>();
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith(".log")) continue;
    const text = readFileSync(join(dir, name), "utf8");
    files.set(
      name,
      text
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as AuditEvent),
    );
  }
  return files;
}

/** One event as a table row. */
function row(e: AuditEvent, i: number): string {
  const p = e.params as { sql?: string } | undefined;
  const detail =
    e.action.type === "HTTP_REQUEST"
      ? `${e.action.method} ${e.action.resource?.path} → ${e.result.http_status}`
      : e.action.type === "QUERY"
        ? `${(p?.sql ?? "").slice(0, 36)}… → ${plural(e.result.count ?? 0, "row")}`
        : e.action.type === "LOGIN"
          ? `${e.actor?.username}${e.result.error ? ` (${e.result.error.type})` : ""}`
          : e.action.type === "CONNECTION_CREATE"
            ? `${e.action.resource?.path}${e.result.error ? ` (${e.result.error.type})` : ""}`
            : e.action.type === "EXPORT"
              ? `${plural(e.result.count ?? 0, "row")} → ${e.action.resource?.type}`
              : e.metadata
                ? JSON.stringify(e.metadata)
                : "";
  const req = e.correlation?.request_id ? e.correlation.request_id.slice(0, 8) : "";
  const n = String(i + 1).padStart(2, "0");
  return `  ${n} ${e.action.category.padEnd(16)}${e.action.type.padEnd(20)}${e.result.status.padEnd(8)}${req.padEnd(9)}${detail}`.trimEnd();
}

async function main(): Promise<void> {
  process.chdir(EXAMPLE_DIR);
  const logDir = resolve(process.env.AUDIT_LOG_DIR || "./logs/audit");
  const exportDir = resolve(process.env.TRAFFICTRACER_EXPORT_DIR || "./exports");
  cleanLogs(logDir);
  rmSync(join(exportDir, "security_audit.xlsx"), { force: true });
  out("TrafficTracer × vigil-audit — the seed's integration plan, in TypeScript");
  out(`  logs: ${shown(logDir)} (emptied)   exports: ${shown(exportDir)}`);

  // 1. The seed's config as written: its category filter says AUTH, the login code logs AUTHENTICATION.
  out("\n1. The seed's config/audit.yaml, unchanged: a LOGIN event of category AUTHENTICATION");
  const seed = loadConfig(SEED_CONFIG);
  const seedEngine = new AuditEngine({
    // the seed's core and processing; storage pointed at the demo's directory (nothing gets written)
    config: {
      core: seed.core,
      processing: seed.processing,
      storage: { backends: [{ type: "file", directory: logDir }] },
    },
  });
  const warnings: string[] = [];
  seedEngine.on("warning", (w) => warnings.push(w));
  seedEngine.log({ action: "LOGIN", category: "AUTHENTICATION", actor: { username: USER } });
  seedEngine.log({ action: "LOGIN", category: "AUTHENTICATION", actor: { username: "admin" } });
  await seedEngine.close();
  for (const w of warnings) for (const l of wrap(`vigil warned: ${w}`, "   ")) out(l);
  out(`   filtered_by_category: ${JSON.stringify(seedEngine.metrics().filtered_by_category)} (warned once)`);
  out("   → config/audit.yaml here adds AUTHENTICATION, SYSTEM, UI_ACTION, TEST (and AUDIT).");

  // 2. Steps 3–4: initialize early; the application keeps running if auditing cannot start.
  out("\n2. Startup (Steps 3–4)");
  const logger = {
    info: (m: string) => out(`   [audit_init] ${m.replaceAll(EXAMPLE_DIR + sep, "")}`),
    warn: (m: string) => out(`   [audit_init] WARNING ${m}`),
    error: (m: string) => out(`   [audit_init] ERROR ${m}`),
  };
  let audit: AuditEngine | undefined;
  try {
    audit = initializeAudit(undefined, { logger });
    audit.log({ action: "APPLICATION_STARTUP", category: "SYSTEM", metadata: { version: "2.0.0" } });
  } catch (err) {
    out(`   Warning: Vigil initialization failed: ${(err as Error).message}`);
  }
  const connections = new ConnectionManager();
  const db = connections.createConnection({ database: "traffictracer" });
  db.executeScript(SCHEMA);
  const users = new UserDirectory();
  await users.addUser(USER, PASSWORD, { roles: ["analyst"] });
  const running = await startServer(createApp({ connector: db, login: createLogin(users) }));
  out(`   database "traffictracer" open; API listening on ${running.url.replace(/:\d+$/, ":<port>")}`);

  // 3. Real HTTP requests.
  out("\n3. HTTP requests (Express 5 + expressAuditMiddleware)");
  const calls: string[] = [];
  const call = async (method: "GET" | "POST", path: string, body?: unknown) => {
    const res = await fetch(`${running.url}${path}`, {
      method,
      ...(body !== undefined
        ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }
        : {}),
    });
    const text = await res.text();
    const as = body && typeof body === "object" && "username" in body ? ` as ${String(body.username)}` : "";
    calls.push(`${method} ${path}${as} → ${res.status}`);
    return text;
  };
  await call("GET", "/api/v1/health");
  await call("POST", "/api/v1/query/execute", {
    sql: "SELECT road, ROUND(AVG(speed_kmh), 1) AS avg_kmh FROM measurements WHERE road = ? GROUP BY road",
    params: ["A12"],
  });
  await call("POST", "/api/v1/auth/login", { username: USER, password: PASSWORD });
  await call("POST", "/api/v1/auth/login", { username: "admin", password: "admin123" });
  await call("POST", "/api/v1/auth/login", { username: "mallory", password: "hunter2-guess" });
  const info = JSON.parse(await call("GET", "/api/v1/metrics/info")) as { audit: unknown };
  const prometheus = await call("GET", "/metrics");
  await running.close();
  for (const l of wrapItems(calls, " · ", "   ")) out(l);

  // 4. A connection that cannot be opened, the Export button, Step 7.
  out("\n4. Connection, export, Step 7");
  try {
    connections.createConnection({
      database: "archive_2024",
      filename: "archive_2024.db",
      fileMustExist: true,
    });
  } catch (err) {
    out(
      `   createConnection(archive_2024) threw ${(err as Error).name}: ${(err as Error).message} (recorded)`,
    );
  }
  const window = new MainWindowOrchestrator({ exportDirectory: exportDir });
  const exported = await window.onExportClick();
  out(
    `   onExportClick(): ${exported.count} security events → ${shown(window.exportPath)} (${exported.bytes} bytes)`,
  );
  audit?.log({ action: "TEST_EVENT", category: "TEST" });
  const tests = await AuditQuery.search({ timeRange: "last_1h", category: "TEST" });
  out(
    `   Step 7: ${tests.length > 0 ? "✅" : "❌"} Audit logging is working: ${plural(tests.length, "event")} found`,
  );

  // 5. What was recorded, and the seed's questions.
  const all = await AuditQuery.search({ timeRange: "last_1h", order: "asc" });
  out(`\n5. Recorded: ${all.length} events (request id = correlation.request_id, shared within a request)`);
  out(`   # ${"category".padEnd(16)}${"type".padEnd(20)}${"status".padEnd(8)}${"request".padEnd(9)}detail`);
  for (const [i, e] of all.entries()) out(row(e, i));

  out("\n6. Queries");
  const failed = await AuditQuery.search({
    query: "action.type:LOGIN AND result.status:FAILURE",
    timeRange: "last_24h",
  });
  out(
    `   search("action.type:LOGIN AND result.status:FAILURE", last_24h): ${plural(failed.length, "event")}`,
  );
  for (const e of failed)
    out(`     ${e.actor?.username} from ${e.actor?.ip}: ${e.result.error?.type}: ${e.result.error?.message}`);
  const byCategory = await AuditQuery.aggregate({ groupBy: "action.category", timeRange: "last_1h" });
  out(`   aggregate by action.category: ${byCategory.buckets.map((b) => `${b.key} ${b.count}`).join(", ")}`);
  const block = JSON.stringify(info.audit).replaceAll(',"', ', "');
  for (const l of wrap(`GET /api/v1/metrics/info → "audit": ${block}`, "   ", 110)) out(l);
  const loginFailures = prometheus
    .split("\n")
    .find((l) => l.includes('category="AUTHENTICATION",status="FAILURE"'));
  out(`   GET /metrics → ${loginFailures}`);

  out(`\n7. The seed's jq views, over the JSON lines in ${shown(logDir)}`);
  const files = readLogFiles(logDir);
  const names = [...files.keys()];
  const parts = names.map((n) => /^traffictracer_audit_(.+)_(\d{4}-\d{2}-\d{2})\.log$/.exec(n));
  out(`   ls: traffictracer_audit_{${parts.map((m) => m?.[1]).join(",")}}_${parts[0]?.[2]}.log`);
  out(`   wc -l: ${[...files.values()].map((e) => e.length).join(", ")}`);
  const dbFile = names.find((n) => n.includes("_database_"));
  if (dbFile) {
    const types = (files.get(dbFile) ?? []).map((e) => e.action.type).join(", ");
    out(`   cat ${dbFile} | jq -r '.action.type': ${types}`);
  }
  const lines = [...files.values()].flat();
  const mine = lines.filter((e) => e.actor?.username === USER);
  out(
    `   jq 'select(.actor.username == "${USER}")': ${mine.map((e) => `${e.action.type} ${e.result.status}`).join(", ")}`,
  );
  const counts = new Map<string, number>();
  for (const e of lines) counts.set(e.action.category, (counts.get(e.action.category) ?? 0) + 1);
  const uniq = [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, n]) => `${n} ${c}`);
  out(`   jq -r '.action.category' | sort | uniq -c: ${uniq.join(", ")}`);
  const raw = [...files.keys()].map((name) => readFileSync(join(logDir, name), "utf8")).join("");
  out(
    `   passwords in the logs: ${[PASSWORD, "admin123", "hunter2-guess"].some((p) => raw.includes(p)) ? "FOUND" : "none"}`,
  );

  connections.closeAll();
  await shutdownAudit();
  out("Done: server and engine closed.");
  const env = process.env.AUDIT_LOG_DIR ? `AUDIT_LOG_DIR=${process.env.AUDIT_LOG_DIR} ` : "";
  out(
    `Web viewer: cd examples/traffictracer && ${env}node ../../dist/cli/bin.js serve --config config/audit.yaml --open`,
  );
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stderr.write(`traffictracer demo failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
