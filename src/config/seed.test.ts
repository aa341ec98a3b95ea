// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" is the configuration's own syntax under test.
/**
 * The seed's `config/audit.yaml` (test/fixtures/seed-audit.yaml, copied byte for byte)
 * must load unchanged (SPEC §6).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import type { Env } from "./interpolate.js";
import { loadConfigFile, parseYaml } from "./load.js";
import { resolveConfig } from "./validate.js";

const SEED = fileURLToPath(new URL("../../test/fixtures/seed-audit.yaml", import.meta.url));
const SEED_TEXT = readFileSync(SEED, "utf8");
const DB_ENV: Env = {
  DB_TYPE: "postgresql",
  DB_HOST: "db.internal",
  DB_PORT: "5432",
  DB_NAME: "traffictracer",
  DB_USER: "tt",
  DB_PASSWORD: "tt-secret",
};

/** The seed with its database backend switched on (the only change: `enabled: false` → `true`). */
function seedWithDatabaseEnabled(env: Env) {
  const marker = "enabled: false  # Enable when ready";
  expect(SEED_TEXT).toContain(marker);
  return resolveConfig(parseYaml(SEED, SEED_TEXT.replace(marker, "enabled: true")), { env });
}

describe("the seed's config/audit.yaml", () => {
  it("loads unchanged with DB_* unset, every value as written and every default filled", () => {
    const config = loadConfigFile(SEED, { env: {} });
    expect(config).toEqual({
      core: { enabled: true, application_name: "traffictracer", version: "2.0.0", environment: "production" },
      storage: {
        backends: [
          {
            type: "file",
            name: "file",
            enabled: true,
            directory: "./logs/audit",
            format: "json",
            filename_pattern: "traffictracer_audit_{category}_{date}.log",
            rotation: {
              enabled: true,
              when: "midnight",
              max_bytes: 104857600, // not in the seed: the default
              backup_count: 90,
              compress: true,
              compress_after_days: 7,
            },
          },
          // Disabled, and its ${DB_*} references are unset: only its type and name are kept.
          { type: "database", name: "database", enabled: false },
        ],
      },
      processing: {
        sanitization: {
          enabled: true,
          redact_patterns: ["password", "credit_card", "ssn", "email"],
          redact_keys: [],
          replacement: "[REDACTED]",
          detect_secrets: true,
        },
        filters: [
          { type: "severity", levels: ["INFO", "WARNING", "ERROR", "CRITICAL"] },
          // AUTH as written, although the seed's login code logs AUTHENTICATION (SPEC §7).
          { type: "category", include: ["DATABASE", "API", "AUTH", "SECURITY"], exclude: ["HEARTBEAT"] },
        ],
        limits: { max_depth: 32, max_string_length: 65536, max_entries: 1000 },
      },
      performance: {
        async: { enabled: true, worker_threads: 2, queue_size: 5000, on_full: "block" },
        batching: { enabled: true, batch_size: 50, batch_timeout_seconds: 5 },
        durability: "batch",
      },
      compliance: {
        gdpr: {
          enabled: true,
          retention_days: 90,
          auto_delete_after_retention: true,
          erasure: { enabled: false, fields: [] },
        },
      },
      security: {
        encryption: { enabled: false, clear_fields: [] },
        signing: {
          enabled: false,
          algorithm: "hmac-sha256",
          checkpoint_every: 1000,
          checkpoint_interval_seconds: 60,
        },
      },
    });
  });

  it("loads the same with DB_* set while the database stays disabled", () => {
    expect(loadConfigFile(SEED, { env: DB_ENV })).toEqual(loadConfigFile(SEED, { env: {} }));
  });

  it("resolves the database backend when enabled with DB_* set, the port as a number", () => {
    const backend = seedWithDatabaseEnabled(DB_ENV).storage.backends[1];
    expect(backend).toEqual({
      type: "database",
      name: "database",
      enabled: true,
      connection: {
        dialect: "postgresql",
        host: "db.internal",
        port: 5432,
        database: "traffictracer",
        username: "tt",
        password: "tt-secret",
      },
      table_name: "traffictracer_audit_events",
      partitioning: "none",
    });
  });

  it("normalizes DB_TYPE aliases", () => {
    const mariadb = seedWithDatabaseEnabled({ ...DB_ENV, DB_TYPE: "mariadb", DB_PORT: "3306" }).storage
      .backends[1];
    expect(mariadb).toMatchObject({ connection: { dialect: "mysql", port: 3306 } });
    const sqlite = seedWithDatabaseEnabled({ ...DB_ENV, DB_TYPE: "sqlite" }).storage.backends[1];
    expect(sqlite).toMatchObject({ connection: { dialect: "sqlite", filename: "./logs/audit.db" } });
  });

  it("names DB_HOST precisely when the database is enabled and DB_HOST is unset", () => {
    const { DB_HOST: _unset, ...env } = DB_ENV;
    try {
      seedWithDatabaseEnabled(env);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([
        {
          path: "vigil.storage.backends[1].connection.host",
          expected: "environment variable DB_HOST to be set",
          found: '"${DB_HOST}"',
          hint: "environment variable DB_HOST is not set; set it, or give a fallback: ${DB_HOST:-value}",
        },
      ]);
      expect((error as Error).message).toContain(
        'vigil.storage.backends[1].connection.host: expected environment variable DB_HOST to be set, found "${DB_HOST}" (environment variable DB_HOST is not set;',
      );
    }
  });

  it("names every unset DB_* variable when enabled with none set, never showing the password", () => {
    try {
      seedWithDatabaseEnabled({});
      expect.unreachable();
    } catch (error) {
      const problems = (error as ConfigError).problems;
      expect(problems.map((p) => [p.path, p.expected])).toEqual([
        ["vigil.storage.backends[1].connection.dialect", "environment variable DB_TYPE to be set"],
        ["vigil.storage.backends[1].connection.host", "environment variable DB_HOST to be set"],
        ["vigil.storage.backends[1].connection.port", "environment variable DB_PORT to be set"],
        ["vigil.storage.backends[1].connection.database", "environment variable DB_NAME to be set"],
        ["vigil.storage.backends[1].connection.username", "environment variable DB_USER to be set"],
        ["vigil.storage.backends[1].connection.password", "environment variable DB_PASSWORD to be set"],
      ]);
    }
  });

  it("rejects a bad DB_PORT, saying where the value came from", () => {
    try {
      seedWithDatabaseEnabled({ ...DB_ENV, DB_PORT: "54x2" });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        {
          path: "vigil.storage.backends[1].connection.port",
          expected: "an integer from 1 to 65535",
          found: '"54x2" (from "${DB_PORT}")',
        },
      ]);
    }
  });
});
