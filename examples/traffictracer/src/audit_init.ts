/**
 * Initialize vigil for TrafficTracer — the seed's Step 3 (`traffictracer/audit_init.py`).
 *
 * One engine for the whole application, made the vigil default engine so that
 * `@auditLog` methods, `audited` functions, `AuditContext`, `AuditQuery` and the
 * Express middleware all record into it. A missing or broken configuration never stops
 * the application: it falls back to vigil's built-in defaults (one file backend under
 * `./logs/audit`), as the seed's `except` branch does.
 *
 * @example
 * import { getAuditEngine, initializeAudit, logAuditEvent } from "./audit_init.js";
 *
 * const audit = initializeAudit(); // config/audit.yaml beside src/, else defaults
 * audit.log({ action: "APPLICATION_STARTUP", category: "SYSTEM", metadata: { version: "2.0.0" } });
 * logAuditEvent("REPORT_OPENED", { category: "UI_ACTION", resource: "reports/daily" });
 *
 * @module
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { AuditEngine, type AuditEvent, type LogInput, setDefaultEngine } from "vigil-audit";

/** Where `initializeAudit()` looks when no file is given: `examples/traffictracer/config/audit.yaml`. */
export const DEFAULT_CONFIG_FILE: string = fileURLToPath(new URL("../config/audit.yaml", import.meta.url));

/** The slice of `console` used to report what initialization did. */
export interface AuditInitLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Options of {@link initializeAudit}. */
export interface InitializeAuditOptions {
  /** Environment for `${VAR}` in the configuration (e.g. `AUDIT_LOG_DIR`). Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Receives initialization messages and the engine's `warning` and `error` events
   * (a filtered category, a failed write). Default `console`.
   */
  readonly logger?: AuditInitLogger;
}

let auditEngine: AuditEngine | undefined;

/**
 * Create TrafficTracer's audit engine and make it vigil's default engine.
 *
 * - `configFile` given: that file. Not given: {@link DEFAULT_CONFIG_FILE}, or — when it
 *   does not exist — the built-in defaults, with a warning.
 * - A configuration that fails to load is logged with every problem vigil found, and the
 *   built-in defaults are used instead, so auditing keeps working.
 *
 * A previous engine created here is flushed and closed in the background.
 *
 * @param configFile - a YAML file; default {@link DEFAULT_CONFIG_FILE}.
 * @returns the engine, also returned by {@link getAuditEngine} from now on.
 * @example const audit = initializeAudit("config/audit.yaml", { env: { ...process.env, AUDIT_LOG_DIR: "/tmp/audit" } });
 */
export function initializeAudit(configFile?: string, options: InitializeAuditOptions = {}): AuditEngine {
  const logger = options.logger ?? console;
  const env = options.env ?? process.env;
  let file = configFile;
  if (file === undefined) {
    file = DEFAULT_CONFIG_FILE;
    if (!existsSync(file)) {
      logger.warn(`Audit config not found at ${file}, using defaults`);
      file = undefined;
    }
  }

  let engine: AuditEngine;
  try {
    engine =
      file !== undefined ? new AuditEngine({ configFile: file, env }) : new AuditEngine({ config: {}, env });
    logger.info(
      `Vigil initialized successfully${file !== undefined ? ` from ${file}` : " with the built-in defaults"}`,
    );
  } catch (err) {
    logger.error(`Failed to initialize Vigil: ${(err as Error).message}`);
    // Fallback to the defaults (file-only, minimal).
    engine = new AuditEngine({ config: {}, env });
  }
  engine.on("warning", (message) => logger.warn(`vigil: ${message}`));
  engine.on("error", (error) => logger.error(`vigil: ${error.code}: ${error.message}`));

  const previous = auditEngine;
  auditEngine = engine;
  setDefaultEngine(engine);
  if (previous !== undefined && previous !== engine) void previous.close().catch(() => {});
  return engine;
}

/**
 * The application's audit engine, initialized with the defaults of
 * {@link initializeAudit} on first use.
 *
 * @example getAuditEngine().getLastEvent()?.action.type
 */
export function getAuditEngine(): AuditEngine {
  return auditEngine ?? initializeAudit();
}

/** Everything `engine.log()` takes besides the action. */
export type AuditEventFields = Omit<LogInput, "action">;

/**
 * Log one event on the application's engine — the seed's `log_audit_event(action, **kwargs)`.
 *
 * @returns the recorded event, or undefined when a filter dropped it or auditing is disabled.
 * @example logAuditEvent("CACHE_CLEARED", { category: "SYSTEM", metadata: { entries: 120 } });
 */
export function logAuditEvent(action: string, fields: AuditEventFields = {}): AuditEvent | undefined {
  return getAuditEngine().log({ ...fields, action });
}

/**
 * Flush and close the application's engine (at shutdown, or between tests). The next
 * {@link getAuditEngine} creates a new one.
 */
export async function shutdownAudit(): Promise<void> {
  const engine = auditEngine;
  auditEngine = undefined;
  await engine?.close();
}
