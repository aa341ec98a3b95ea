/**
 * The process-wide default engine used by `auditLog`, `audited`, `AuditContext`
 * and `AuditQuery` when no `engine` option names another. Created lazily from
 * `$VIGIL_CONFIG`, else `./config/audit.yaml`, else built-in defaults.
 *
 * @module
 */
import type { VigilConfig } from "./config/types.js";
import { AuditEngine } from "./engine.js";

let current: AuditEngine | undefined;

/**
 * The default engine, created on first use. A configuration that fails to load is
 * reported on stderr and the engine falls back to the built-in defaults, so that
 * audited code keeps running and events are still recorded.
 */
export function getDefaultEngine(): AuditEngine {
  if (current) return current;
  try {
    current = new AuditEngine();
  } catch (err) {
    process.stderr.write(
      `vigil: ${(err as Error).message}\nvigil: using the built-in defaults (file backend under ./logs/audit)\n`,
    );
    current = new AuditEngine({ config: {} });
  }
  return current;
}

/** Replace the default engine (the previous one is not closed). */
export function setDefaultEngine(engine: AuditEngine): void {
  current = engine;
}

/**
 * Create the default engine from a configuration object or a YAML file path and make
 * it the default. Throws `ConfigError` for an invalid configuration. The previous
 * default engine is flushed and closed in the background.
 */
export function configure(config: VigilConfig | string): AuditEngine {
  const engine =
    typeof config === "string" ? new AuditEngine({ configFile: config }) : new AuditEngine({ config });
  const previous = current;
  current = engine;
  if (previous && previous !== engine) void previous.close().catch(() => {});
  return engine;
}
