// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" is the configuration's own syntax under test.
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigProblem, ErrorCodes } from "../errors.js";
import { DEFAULT_CONFIG } from "./defaults.js";
import type { Env } from "./interpolate.js";
import type { DatabaseBackendConfig, FileBackendConfig } from "./types.js";
import { resolveConfig } from "./validate.js";

/** The problems `resolveConfig` throws for `input`; fails the test if it does not throw. */
function problems(input: unknown, env: Env = {}): ConfigProblem[] {
  try {
    resolveConfig(input, { env });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error("expected a ConfigError");
}

function paths(input: unknown, env: Env = {}): string[] {
  return problems(input, env).map((p) => p.path);
}

function backend(input: Record<string, unknown>, env: Env = {}) {
  return resolveConfig({ storage: { backends: [input] } }, { env }).storage.backends[0];
}

const HEX_KEY = "0123456789abcdef".repeat(4);

describe("defaults", () => {
  it("resolves nothing, an empty object and an empty vigil key to the built-in defaults", () => {
    expect(resolveConfig(undefined, { env: {} })).toEqual(DEFAULT_CONFIG);
    expect(resolveConfig(null, { env: {} })).toEqual(DEFAULT_CONFIG);
    expect(resolveConfig({}, { env: {} })).toEqual(DEFAULT_CONFIG);
    expect(resolveConfig({ vigil: null }, { env: {} })).toEqual(DEFAULT_CONFIG);
  });

  it("has the documented default values", () => {
    const c = resolveConfig({}, { env: {} });
    expect(c.core).toEqual({ enabled: true, application_name: "vigil" });
    expect(c.storage.backends).toEqual([
      {
        type: "file",
        name: "file",
        enabled: true,
        directory: "./logs/audit",
        format: "json",
        filename_pattern: "{application}_audit_{category}_{date}.log",
        rotation: {
          enabled: true,
          when: "midnight",
          max_bytes: 104857600,
          backup_count: 0,
          compress: false,
          compress_after_days: 7,
        },
      },
    ]);
    expect(c.processing).toEqual({
      sanitization: {
        enabled: true,
        redact_patterns: ["password", "credit_card", "ssn", "email"],
        redact_keys: [],
        replacement: "[REDACTED]",
        detect_secrets: true,
      },
      filters: [],
      limits: { max_depth: 32, max_string_length: 65536, max_entries: 1000 },
    });
    expect(c.performance).toEqual({
      async: { enabled: true, worker_threads: 0, queue_size: 10000, on_full: "block" },
      batching: { enabled: true, batch_size: 100, batch_timeout_seconds: 1 },
      durability: "batch",
    });
    expect(c.compliance).toEqual({
      gdpr: {
        enabled: false,
        retention_days: 0,
        auto_delete_after_retention: false,
        erasure: { enabled: false, fields: [] },
      },
    });
    expect(c.security).toEqual({
      encryption: { enabled: false, clear_fields: [] },
      signing: {
        enabled: false,
        algorithm: "hmac-sha256",
        checkpoint_every: 1000,
        checkpoint_interval_seconds: 60,
      },
    });
  });

  it("returns a deeply frozen object", () => {
    const c = resolveConfig({ storage: { backends: [{ type: "file" }] } }, { env: {} });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.storage.backends)).toBe(true);
    expect(Object.isFrozen((c.storage.backends[0] as FileBackendConfig).rotation)).toBe(true);
  });

  it("reads the same settings with or without the top-level vigil key", () => {
    const settings = { core: { application_name: "traffictracer" }, performance: { durability: "event" } };
    expect(resolveConfig({ vigil: settings }, { env: {} })).toEqual(resolveConfig(settings, { env: {} }));
  });

  it("gives the same result when a resolved configuration is resolved again", () => {
    const once = resolveConfig(
      {
        core: { application_name: "app", version: "1" },
        storage: {
          backends: [
            { type: "file", rotation: { when: "size", max_bytes: 10 } },
            { type: "database", connection: { dialect: "postgres", url: "postgres://a:b@h/db" } },
            { type: "database", enabled: false, connection: { host: "${NOPE}" } },
          ],
        },
        processing: { filters: [{ type: "category", include: ["api"] }] },
        security: {
          encryption: { enabled: true, key: Buffer.alloc(32, 7).toString("base64"), key_id: "k1" },
        },
      },
      { env: {} },
    );
    expect(resolveConfig(once, { env: {} })).toEqual(once);
  });
});

describe("problems", () => {
  it("reports every problem at once, with indexed paths", () => {
    expect(
      problems({
        vigil: {
          core: { enabled: "maybe" },
          storage: {
            backends: [
              { type: "file", rotation: { max_bytes: 0 } },
              {
                type: "database",
                connection: { dialect: "postgress", host: "h", database: "d", port: 70000 },
              },
            ],
          },
          performance: { batching: { batch_sise: 10, batch_timeout_seconds: 0 } },
        },
      }),
    ).toEqual([
      { path: "vigil.core.enabled", expected: "true or false", found: '"maybe"' },
      { path: "vigil.storage.backends[0].rotation.max_bytes", expected: "a positive integer", found: "0" },
      {
        path: "vigil.storage.backends[1].connection.dialect",
        expected: "one of sqlite, postgresql, mysql",
        found: '"postgress"',
        hint: 'did you mean "postgresql"?',
      },
      {
        path: "vigil.storage.backends[1].connection.port",
        expected: "an integer from 1 to 65535",
        found: "70000",
      },
      {
        path: "vigil.performance.batching.batch_sise",
        expected: "a known key",
        found: '"batch_sise"',
        hint: 'did you mean "batch_size"?',
      },
      {
        path: "vigil.performance.batching.batch_timeout_seconds",
        expected: "a number greater than 0",
        found: "0",
      },
    ]);
  });

  it("formats one line per problem in the error message, with the source", () => {
    try {
      resolveConfig(
        { performance: { batching: { batch_sise: 10 } } },
        { env: {}, source: "config/audit.yaml" },
      );
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe(ErrorCodes.CONFIG);
      expect((error as ConfigError).source).toBe("config/audit.yaml");
      expect((error as Error).message).toBe(
        "invalid vigil configuration in config/audit.yaml: 1 problem\n" +
          '  - vigil.performance.batching.batch_sise: expected a known key, found "batch_sise" (did you mean "batch_size"?)',
      );
    }
  });

  it("points a misplaced key to where it belongs", () => {
    expect(problems({ performance: { batch_size: 10 } })).toEqual([
      {
        path: "vigil.performance.batch_size",
        expected: "a known key",
        found: '"batch_size"',
        hint: '"batch_size" is a key of vigil.performance.batching',
      },
    ]);
  });

  it("lists the known keys when nothing is close", () => {
    expect(problems({ performance: { batching: { colour: "red" } } })[0]?.hint).toBe(
      "known keys here: enabled, batch_size, batch_timeout_seconds",
    );
  });

  it("points a core key written at the top to vigil.core", () => {
    expect(problems({ enabled: false })).toEqual([
      {
        path: "vigil.enabled",
        expected: "a known key",
        found: '"enabled"',
        hint: '"enabled" is a key of vigil.core',
      },
    ]);
  });

  it("does not pile follow-on problems onto a broken section", () => {
    expect(problems({ storage: { backends: [{ type: "database", connection: "sqlite://x" }] } })).toEqual([
      { path: "vigil.storage.backends[0].connection", expected: "a mapping", found: '"sqlite://x"' },
    ]);
    expect(problems({ security: { signing: { enabled: true, algorithm: "rsa" } } })).toEqual([
      {
        path: "vigil.security.signing.algorithm",
        expected: "one of hmac-sha256, ed25519",
        found: '"rsa"',
      },
    ]);
  });

  it("rejects unknown top-level keys, and keys beside vigil", () => {
    expect(problems({ core: {}, strage: {} })).toEqual([
      { path: "vigil.strage", expected: "a known key", found: '"strage"', hint: 'did you mean "storage"?' },
    ]);
    expect(problems({ vigil: {}, core: {} })).toEqual([
      {
        path: "core",
        expected: "only the key vigil at the top level",
        found: '"core"',
        hint: "move core under vigil",
      },
    ]);
  });

  it("rejects a configuration that is not a mapping", () => {
    expect(problems("core: x")).toEqual([
      {
        path: "vigil",
        expected: "a mapping: the settings, optionally under a top-level vigil key",
        found: '"core: x"',
      },
    ]);
    expect(problems({ vigil: [1] })[0]).toMatchObject({ path: "vigil", found: "a list" });
    expect(problems({ core: "on" })).toEqual([{ path: "vigil.core", expected: "a mapping", found: '"on"' }]);
  });

  it("explains yes/no booleans and numbers where text is expected", () => {
    expect(problems({ core: { enabled: "yes" } })[0]?.hint).toBe(
      "YAML 1.2 reads yes/no/on/off as text; write true or false",
    );
    expect(problems({ core: { version: 2 } })).toEqual([
      {
        path: "vigil.core.version",
        expected: "a string",
        found: "2",
        hint: "put it in quotes to keep it as text",
      },
    ]);
  });

  it("rejects fractions and out-of-range numbers where integers are expected", () => {
    expect(
      problems({
        performance: { async: { worker_threads: -1, queue_size: 2.5 }, batching: { batch_size: "many" } },
        processing: { limits: { max_depth: 0 } },
      }),
    ).toEqual([
      { path: "vigil.processing.limits.max_depth", expected: "a positive integer", found: "0" },
      { path: "vigil.performance.async.worker_threads", expected: "an integer from 0 to 256", found: "-1" },
      { path: "vigil.performance.async.queue_size", expected: "a positive integer", found: "2.5" },
      { path: "vigil.performance.batching.batch_size", expected: "a positive integer", found: '"many"' },
    ]);
  });

  it("checks choices case-insensitively and suggests the closest", () => {
    const c = resolveConfig(
      { performance: { async: { on_full: "DROP" }, durability: "Event" } },
      { env: {} },
    );
    expect(c.performance.async.on_full).toBe("drop");
    expect(c.performance.durability).toBe("event");
    expect(problems({ performance: { durability: "evnt" } })).toEqual([
      {
        path: "vigil.performance.durability",
        expected: "one of none, batch, event",
        found: '"evnt"',
        hint: 'did you mean "event"?',
      },
    ]);
  });
});

describe("environment variables", () => {
  it("replaces ${VAR} and ${VAR:-fallback} in any string", () => {
    const c = resolveConfig(
      {
        core: { application_name: "${APP}", environment: "${ENVIRONMENT:-development}" },
        processing: { sanitization: { redact_keys: ["${EXTRA_KEY}"] } },
      },
      { env: { APP: "traffictracer", EXTRA_KEY: "x-api-token" } },
    );
    expect(c.core).toEqual({ enabled: true, application_name: "traffictracer", environment: "development" });
    expect(c.processing.sanitization.redact_keys).toEqual(["x-api-token"]);
  });

  it("coerces numbers and booleans where they are expected", () => {
    const c = resolveConfig(
      {
        performance: {
          async: { enabled: "${ASYNC}", queue_size: "${QUEUE:-2000}" },
          batching: { batch_timeout_seconds: "0.25" },
        },
      },
      { env: { ASYNC: "false" } },
    );
    expect(c.performance.async).toMatchObject({ enabled: false, queue_size: 2000 });
    expect(c.performance.batching.batch_timeout_seconds).toBe(0.25);
  });

  it("says which text a bad coerced value came from", () => {
    expect(problems({ performance: { async: { queue_size: "${QUEUE}" } } }, { QUEUE: "lots" })).toEqual([
      {
        path: "vigil.performance.async.queue_size",
        expected: "a positive integer",
        found: '"lots" (from "${QUEUE}")',
      },
    ]);
  });

  it("reports an unset variable used by an enabled part, at its path", () => {
    expect(problems({ core: { application_name: "${APP_NAME}" } })).toEqual([
      {
        path: "vigil.core.application_name",
        expected: "environment variable APP_NAME to be set",
        found: '"${APP_NAME}"',
        hint: "environment variable APP_NAME is not set; set it, or give a fallback: ${APP_NAME:-value}",
      },
    ]);
  });

  it("allows unset variables under enabled: false, but still checks the shape there", () => {
    const c = resolveConfig(
      {
        storage: {
          backends: [
            { type: "file" },
            { type: "database", enabled: false, connection: { dialect: "${DB_TYPE}", port: "${DB_PORT}" } },
          ],
        },
        processing: { sanitization: { enabled: false, redact_patterns: ["${PATTERN}"] } },
        security: {
          encryption: { enabled: false, key: "${AUDIT_KEY}" },
          signing: { enabled: false, secret_key: "${AUDIT_SIGNING_KEY}" },
        },
      },
      { env: {} },
    );
    expect(c.storage.backends[1]).toEqual({ type: "database", name: "database", enabled: false });
    expect(c.processing.sanitization.redact_patterns).toEqual([]);
    expect(c.security.encryption).toEqual({ enabled: false, clear_fields: [] });
    expect(c.security.signing.secret_key).toBeUndefined();

    expect(
      problems({
        storage: {
          backends: [
            {
              type: "database",
              enabled: false,
              connection: { dialect: "oracle", host: "${DB_HOST}", port: "0", ssl: true },
              table_name: "audit-events",
            },
          ],
        },
        security: { signing: { enabled: false, algorithm: "rsa" } },
      }),
    ).toEqual([
      {
        path: "vigil.storage.backends[0].connection.ssl",
        expected: "a known key",
        found: '"ssl"',
        hint: "known keys here: dialect, host, port, database, username, password, url, filename",
      },
      {
        path: "vigil.storage.backends[0].connection.dialect",
        expected: "one of sqlite, postgresql, mysql",
        found: '"oracle"',
      },
      {
        path: "vigil.storage.backends[0].connection.port",
        expected: "an integer from 1 to 65535",
        found: '"0"',
      },
      {
        path: "vigil.storage.backends[0].table_name",
        expected: expect.stringContaining("a SQL identifier"),
        found: '"audit-events"',
      },
      { path: "vigil.security.signing.algorithm", expected: "one of hmac-sha256, ed25519", found: '"rsa"' },
    ]);
  });

  it("lets an enabled flag itself come from the environment", () => {
    const input = {
      security: { signing: { enabled: "${SIGN:-false}", secret_key: "${AUDIT_SIGNING_KEY}" } },
    };
    expect(resolveConfig(input, { env: {} }).security.signing.enabled).toBe(false);
    expect(paths(input, { SIGN: "true" })).toEqual(["vigil.security.signing.secret_key"]);
  });

  it("writes a literal ${ for $${", () => {
    const c = resolveConfig({ processing: { sanitization: { replacement: "$${REDACTED}" } } }, { env: {} });
    expect(c.processing.sanitization.replacement).toBe("${REDACTED}");
  });

  it("reports a malformed reference even under enabled: false", () => {
    expect(
      problems({
        security: { encryption: { enabled: false, key: "${AUDIT_KEY" } },
        core: { version: "v${}" },
      }),
    ).toEqual([
      {
        path: "vigil.core.version",
        expected: "${NAME} or ${NAME:-fallback} (write $${ for a literal ${)",
        found: '"${}"',
        hint: 'in "v${}"',
      },
      {
        path: "vigil.security.encryption.key",
        expected: "${NAME} or ${NAME:-fallback} (write $${ for a literal ${)",
        found: '"${AUDIT_KEY"',
      },
    ]);
  });

  it("treats an empty optional value as not written, so ${VAR:-} can leave it out", () => {
    const c = resolveConfig({ core: { version: "${VERSION:-}" } }, { env: {} });
    expect(c.core).toEqual({ enabled: true, application_name: "vigil" });
  });
});

describe("VIGIL_ENABLED", () => {
  it.each(["false", "0", "no", "FALSE", " No "])("%j turns the engine off", (value) => {
    expect(resolveConfig({ core: { enabled: true } }, { env: { VIGIL_ENABLED: value } }).core.enabled).toBe(
      false,
    );
  });

  it.each(["true", "1", "yes", "YES"])("%j turns it on over core.enabled: false", (value) => {
    expect(resolveConfig({ core: { enabled: false } }, { env: { VIGIL_ENABLED: value } }).core.enabled).toBe(
      true,
    );
  });

  it("is ignored when empty", () => {
    expect(resolveConfig({ core: { enabled: false } }, { env: { VIGIL_ENABLED: "" } }).core.enabled).toBe(
      false,
    );
  });

  it("rejects any other value", () => {
    expect(problems({}, { VIGIL_ENABLED: "off" })).toEqual([
      {
        path: "$VIGIL_ENABLED",
        expected: "one of true, 1, yes, false, 0, no",
        found: '"off"',
        hint: "VIGIL_ENABLED overrides vigil.core.enabled",
      },
    ]);
  });
});

describe("storage.backends", () => {
  it("fills the defaults of a partly written file backend", () => {
    expect(
      backend({
        type: "file",
        directory: "/var/log/audit",
        rotation: { when: "size", max_bytes: "1048576" },
      }),
    ).toEqual({
      type: "file",
      name: "file",
      enabled: true,
      directory: "/var/log/audit",
      format: "json",
      filename_pattern: "{application}_audit_{category}_{date}.log",
      rotation: {
        enabled: true,
        when: "size",
        max_bytes: 1048576,
        backup_count: 0,
        compress: false,
        compress_after_days: 7,
      },
    });
  });

  it("names backends by type, numbering repeats and skipping explicit names", () => {
    const c = resolveConfig(
      {
        storage: {
          backends: [
            { type: "file" },
            { type: "file", name: "file-2" },
            { type: "file" },
            { type: "database", connection: { dialect: "sqlite" } },
            { type: "database", enabled: false },
          ],
        },
      },
      { env: {} },
    );
    expect(c.storage.backends.map((b) => b.name)).toEqual([
      "file",
      "file-2",
      "file-3",
      "database",
      "database-2",
    ]);
  });

  it("rejects duplicate and malformed names", () => {
    expect(
      problems({
        storage: {
          backends: [
            { type: "file", name: "main" },
            { type: "file", name: "main", directory: "b" },
            { type: "file", name: "has space" },
          ],
        },
      }),
    ).toEqual([
      {
        path: "vigil.storage.backends[2].name",
        expected: "a name of letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)",
        found: '"has space"',
      },
      {
        path: "vigil.storage.backends[1].name",
        expected: "a backend name used only once",
        found: '"main"',
        hint: "vigil.storage.backends[0].name has the same name",
      },
    ]);
  });

  it("requires a known type, pointing SQL dialects to type: database", () => {
    expect(
      problems({
        storage: {
          backends: [{ directory: "x" }, { type: "fiel" }, { type: "postgres" }, { type: 3 }, "file"],
        },
      }),
    ).toEqual([
      {
        path: "vigil.storage.backends[0].type",
        expected: "one of file, database, otlp, nats",
        found: "missing",
      },
      {
        path: "vigil.storage.backends[1].type",
        expected: "one of file, database, otlp, nats",
        found: '"fiel"',
        hint: 'did you mean "file"?',
      },
      {
        path: "vigil.storage.backends[2].type",
        expected: "one of file, database, otlp, nats",
        found: '"postgres"',
        hint: "write type: database with connection: { dialect: postgresql }",
      },
      { path: "vigil.storage.backends[3].type", expected: "one of file, database, otlp, nats", found: "3" },
      {
        path: "vigil.storage.backends[4]",
        expected: "a backend (a mapping with a type: file, database, otlp, nats)",
        found: '"file"',
      },
    ]);
  });

  it("checks keys against the backend's type", () => {
    expect(problems({ storage: { backends: [{ type: "file", table_name: "t" }] } })).toEqual([
      {
        path: "vigil.storage.backends[0].table_name",
        expected: "a known key",
        found: '"table_name"',
        hint: '"table_name" is a key of a backend with type: database',
      },
    ]);
  });

  it("wants a non-empty list", () => {
    expect(problems({ storage: { backends: { type: "file" } } })).toEqual([
      {
        path: "vigil.storage.backends",
        expected: "a list of backends",
        found: "a mapping",
        hint: 'start each item with "- "',
      },
    ]);
    expect(problems({ storage: { backends: [] } })).toEqual([
      {
        path: "vigil.storage.backends",
        expected: "at least one backend",
        found: "an empty list",
        hint: "leave storage.backends out to get the default file backend, or set core.enabled: false",
      },
    ]);
  });

  it("checks placeholders in filename_pattern", () => {
    expect(
      problems({
        storage: { backends: [{ type: "file", filename_pattern: "{app}_{categroy}_{date}.log" }] },
      }),
    ).toEqual([
      {
        path: "vigil.storage.backends[0].filename_pattern",
        expected: "placeholders among {category}, {date}, {application}, {hour}",
        found: '{app} in "{app}_{categroy}_{date}.log"',
      },
      {
        path: "vigil.storage.backends[0].filename_pattern",
        expected: "placeholders among {category}, {date}, {application}, {hour}",
        found: '{categroy} in "{app}_{categroy}_{date}.log"',
        hint: "did you mean {category}?",
      },
    ]);
  });

  it("accepts rotation aliases and checks rotation values", () => {
    const b = backend({ type: "file", format: "jsonl", rotation: { when: "daily" } }) as FileBackendConfig;
    expect(b.rotation.when).toBe("midnight");
    expect(b.format).toBe("json");
    expect(
      problems({ storage: { backends: [{ type: "file", rotation: { when: "dayly", backup_count: -1 } }] } }),
    ).toEqual([
      {
        path: "vigil.storage.backends[0].rotation.when",
        expected: "one of midnight, hourly, size, none",
        found: '"dayly"',
        hint: 'did you mean "daily" (the same as "midnight")?',
      },
      {
        path: "vigil.storage.backends[0].rotation.backup_count",
        expected: "an integer of 0 or more",
        found: "-1",
      },
    ]);
  });
});

describe("database backends", () => {
  it("normalizes dialect aliases", () => {
    const db = (dialect: string) =>
      (
        backend({
          type: "database",
          connection: { dialect, host: "h", database: "d" },
        }) as DatabaseBackendConfig
      ).connection.dialect;
    expect(db("postgres")).toBe("postgresql");
    expect(db("PostgreSQL")).toBe("postgresql");
    expect(db("mariadb")).toBe("mysql");
    expect(db("mysql")).toBe("mysql");
    expect(db("sqlite3")).toBe("sqlite");
  });

  it("defaults table_name and the SQLite file, and keeps only what SQLite uses", () => {
    expect(backend({ type: "database", connection: { dialect: "sqlite", host: "ignored" } })).toEqual({
      type: "database",
      name: "database",
      enabled: true,
      connection: { dialect: "sqlite", filename: "./logs/audit.db" },
      table_name: "vigil_audit_events",
      partitioning: "none",
    });
  });

  it("resolves a server connection with a numeric port", () => {
    expect(
      backend(
        {
          type: "database",
          connection: {
            dialect: "mysql",
            host: "${H}",
            port: "${P}",
            database: "audit",
            username: "u",
            password: "",
          },
          table_name: "audit.events",
        },
        { H: "db", P: "3306" },
      ),
    ).toEqual({
      type: "database",
      name: "database",
      enabled: true,
      connection: {
        dialect: "mysql",
        host: "db",
        port: 3306,
        database: "audit",
        username: "u",
        password: "",
      },
      table_name: "audit.events",
      partitioning: "none",
    });
  });

  it("requires a dialect when enabled", () => {
    expect(problems({ storage: { backends: [{ type: "database" }] } })).toEqual([
      {
        path: "vigil.storage.backends[0].connection.dialect",
        expected: "one of sqlite, postgresql, mysql",
        found: "missing",
      },
    ]);
  });

  it("requires host and database, or url, for a server", () => {
    expect(
      problems({
        storage: { backends: [{ type: "database", connection: { dialect: "postgresql", port: 5432 } }] },
      }),
    ).toEqual([
      {
        path: "vigil.storage.backends[0].connection.host",
        expected: "a host name for postgresql (or connection.url)",
        found: "missing",
      },
      {
        path: "vigil.storage.backends[0].connection.database",
        expected: "a database name for postgresql (or connection.url)",
        found: "missing",
      },
    ]);
    expect(
      paths(
        {
          storage: {
            backends: [
              { type: "database", connection: { dialect: "postgresql", host: "${H}", database: "d" } },
            ],
          },
        },
        { H: "" },
      ),
    ).toEqual(["vigil.storage.backends[0].connection.host"]);
    expect(
      backend({
        type: "database",
        connection: { dialect: "postgresql", url: "postgresql://u:p@db:5432/audit" },
      }),
    ).toMatchObject({ connection: { dialect: "postgresql", url: "postgresql://u:p@db:5432/audit" } });
  });

  it("checks url against the dialect, never printing its password", () => {
    const found = problems({
      storage: {
        backends: [
          { type: "database", connection: { dialect: "mysql", url: "postgres://admin:s3cret@db/audit" } },
          { type: "database", connection: { dialect: "postgresql", url: "not a url" } },
          { type: "database", connection: { dialect: "postgresql", url: "postgres://db/a", host: "db" } },
          { type: "database", connection: { dialect: "sqlite", url: "postgres://db/a" } },
        ],
      },
    });
    expect(found).toEqual([
      {
        path: "vigil.storage.backends[0].connection.url",
        expected: "a mysql:// or mariadb:// URL for dialect mysql",
        found: '"postgres://admin:***@db/audit"',
      },
      {
        path: "vigil.storage.backends[1].connection.url",
        expected: "a connection URL such as postgresql://user:pass@host:5432/db",
        found: "text that is not a URL",
      },
      {
        path: "vigil.storage.backends[2].connection.url",
        expected: "either url or host and database, not both",
        found: "url and host both written",
      },
      {
        path: "vigil.storage.backends[3].connection.url",
        expected: "no url with dialect sqlite (write connection.filename)",
        found: '"postgres://db/a"',
      },
    ]);
    expect(JSON.stringify(found)).not.toContain("s3cret");
  });

  it("never prints a password", () => {
    const found = problems({
      storage: {
        backends: [
          { type: "database", connection: { dialect: "sqlite", password: 12345678, username: "${U}" } },
        ],
      },
    });
    expect(found).toEqual([
      {
        path: "vigil.storage.backends[0].connection.username",
        expected: "environment variable U to be set",
        found: '"${U}"',
        hint: expect.any(String),
      },
      {
        path: "vigil.storage.backends[0].connection.password",
        expected: "a string",
        found: "12345678",
        hint: "put it in quotes to keep it as text",
      },
    ]);
  });

  it("accepts only safe SQL identifiers as table_name", () => {
    for (const ok of ["audit_events", "_t", "audit.events", "A".repeat(63)]) {
      expect(backend({ type: "database", connection: { dialect: "sqlite" }, table_name: ok })).toMatchObject({
        table_name: ok,
      });
    }
    for (const bad of ["1events", "audit-events", "a.b.c", "events; DROP TABLE x", "A".repeat(64), "a."]) {
      expect(
        paths({
          storage: { backends: [{ type: "database", connection: { dialect: "sqlite" }, table_name: bad }] },
        }),
      ).toEqual(["vigil.storage.backends[0].table_name"]);
    }
  });

  it("checks the port range", () => {
    for (const port of [0, 65536, -1, "80a", 1.5]) {
      expect(
        problems({
          storage: {
            backends: [
              { type: "database", connection: { dialect: "mysql", host: "h", database: "d", port } },
            ],
          },
        }),
      ).toEqual([
        {
          path: "vigil.storage.backends[0].connection.port",
          expected: "an integer from 1 to 65535",
          found: typeof port === "string" ? JSON.stringify(port) : String(port),
        },
      ]);
    }
  });
});

describe("processing", () => {
  it("keeps built-in rules and valid regular expressions", () => {
    const c = resolveConfig(
      {
        processing: {
          sanitization: { redact_patterns: ["password", "\\bACME-\\d{6}\\b"], redact_keys: ["x-token"] },
        },
      },
      { env: {} },
    );
    expect(c.processing.sanitization).toEqual({
      enabled: true,
      redact_patterns: ["password", "\\bACME-\\d{6}\\b"],
      redact_keys: ["x-token"],
      replacement: "[REDACTED]",
      detect_secrets: true,
    });
  });

  it("reads detect_secrets, and rejects it false while redact_patterns lists secrets", () => {
    const off = resolveConfig({ processing: { sanitization: { detect_secrets: false } } }, { env: {} });
    expect(off.processing.sanitization.detect_secrets).toBe(false);
    const listed = resolveConfig(
      { processing: { sanitization: { redact_patterns: ["secrets"] } } },
      { env: {} },
    );
    expect(listed.processing.sanitization).toMatchObject({
      redact_patterns: ["secrets"],
      detect_secrets: true,
    });
    expect(() =>
      resolveConfig(
        { processing: { sanitization: { redact_patterns: ["password", "secrets"], detect_secrets: false } } },
        { env: {} },
      ),
    ).toThrow(
      /vigil\.processing\.sanitization\.detect_secrets: expected true when redact_patterns lists secrets/,
    );
  });

  it("rejects a regex that does not compile, one that can backtrack badly, and a misspelt rule", () => {
    expect(
      problems({
        processing: { sanitization: { redact_patterns: ["email", "([a-z]+", "(\\d+)+$", "emial"] } },
      }),
    ).toEqual([
      {
        path: "vigil.processing.sanitization.redact_patterns[1]",
        expected: "a safe regular expression",
        found: '"([a-z]+"',
        hint: "it does not compile: Invalid regular expression: /([a-z]+/: Unterminated group",
      },
      {
        path: "vigil.processing.sanitization.redact_patterns[2]",
        expected: "a safe regular expression",
        found: '"(\\\\d+)+$"',
        hint: expect.stringContaining(
          'the group "(\\\\d+)+" repeats something that itself repeats without bound',
        ),
      },
      {
        path: "vigil.processing.sanitization.redact_patterns[3]",
        expected: "one of password, credit_card, ssn, email, secrets, or a regular expression",
        found: '"emial"',
        hint: 'did you mean "email"? (to redact the text "emial" itself, write (?:emial))',
      },
    ]);
  });

  it("upper-cases severities and categories in filters", () => {
    const c = resolveConfig(
      {
        processing: {
          filters: [
            { type: "severity", levels: ["info", "Warn", "ERROR"] },
            { type: "Category", include: ["database", "Api"], exclude: ["heartbeat"] },
            { type: "category", exclude: ["test"] },
          ],
        },
      },
      { env: {} },
    );
    expect(c.processing.filters).toEqual([
      { type: "severity", levels: ["INFO", "WARNING", "ERROR"] },
      { type: "category", include: ["DATABASE", "API"], exclude: ["HEARTBEAT"] },
      { type: "category", exclude: ["TEST"] },
    ]);
  });

  it("reports bad filters with their indexes", () => {
    expect(
      problems({
        processing: {
          filters: [
            { type: "severity", levels: ["INFO", "WARNNG"] },
            { type: "severity", levels: [] },
            { type: "category" },
            { type: "category", include: ["API", "AUTH"], exclude: ["auth"] },
            { type: "category", levels: ["INFO"], include: ["API"] },
            { type: "level" },
          ],
        },
      }),
    ).toEqual([
      {
        path: "vigil.processing.filters[0].levels[1]",
        expected: "one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        found: '"WARNNG"',
        hint: 'did you mean "WARNING"?',
      },
      {
        path: "vigil.processing.filters[1].levels",
        expected:
          "a list of severities (DEBUG, INFO, WARNING, ERROR, CRITICAL); an empty list would drop every event",
        found: "an empty list",
      },
      { path: "vigil.processing.filters[2]", expected: "include or exclude (or both)", found: "neither" },
      {
        path: "vigil.processing.filters[3].exclude[0]",
        expected: "a category that is not also in include",
        found: '"auth"',
      },
      {
        path: "vigil.processing.filters[4].levels",
        expected: "a known key",
        found: '"levels"',
        hint: '"levels" is a key of a filter with type: severity',
      },
      { path: "vigil.processing.filters[5].type", expected: "one of severity, category", found: '"level"' },
    ]);
  });
});

describe("compliance.gdpr", () => {
  it("wants a retention period when old events are to be deleted", () => {
    expect(problems({ compliance: { gdpr: { enabled: true, auto_delete_after_retention: true } } })).toEqual([
      {
        path: "vigil.compliance.gdpr.retention_days",
        expected: "a number of days greater than 0 when auto_delete_after_retention is true",
        found: "missing (0, keep forever)",
      },
    ]);
    const c = resolveConfig(
      {
        compliance: {
          gdpr: { enabled: true, retention_days: "${DAYS}", auto_delete_after_retention: "true" },
        },
      },
      { env: { DAYS: "30" } },
    );
    expect(c.compliance.gdpr).toEqual({
      enabled: true,
      retention_days: 30,
      auto_delete_after_retention: true,
      erasure: { enabled: false, fields: [] },
    });
  });

  it("checks erasure's master key and fields only when erasure is enabled", () => {
    expect(
      problems({
        compliance: { gdpr: { erasure: { enabled: true, key: "short", fields: ["metadata"] } } },
      }).map((p) => p.path),
    ).toEqual(["vigil.compliance.gdpr.erasure.key", "vigil.compliance.gdpr.erasure.fields[0]"]);
    // disabled: an unset variable in its key is no problem
    expect(() =>
      resolveConfig(
        { compliance: { gdpr: { erasure: { enabled: false, key: "${ERASURE_KEY}" } } } },
        { env: {} },
      ),
    ).not.toThrow();
    const c = resolveConfig(
      {
        compliance: {
          gdpr: { erasure: { enabled: true, key: "ab".repeat(32), fields: ["metadata.email"] } },
        },
      },
      { env: {} },
    );
    expect(c.compliance.gdpr.erasure).toEqual({
      enabled: true,
      key: "ab".repeat(32),
      fields: ["metadata.email"],
    });
  });
});

describe("security.encryption", () => {
  it("requires a key and a key id when enabled", () => {
    expect(problems({ security: { encryption: { enabled: true } } })).toEqual([
      {
        path: "vigil.security.encryption.key",
        expected: "a 32-byte key: 64 hex characters, or base64, when encryption is enabled",
        found: "missing",
        hint: "generate one with: openssl rand -hex 32",
      },
      {
        path: "vigil.security.encryption.key_id",
        expected:
          "a key id of letters, digits, '.', '_' or '-' (1 to 64 characters), when encryption is enabled",
        found: "missing",
      },
    ]);
  });

  it("accepts hex and base64 keys, normalized to lower-case hex", () => {
    const bytes = Buffer.alloc(32, 0xab);
    for (const key of [
      bytes.toString("hex").toUpperCase(),
      bytes.toString("base64"),
      bytes.toString("base64url"),
    ]) {
      const c = resolveConfig(
        { security: { encryption: { enabled: true, key, key_id: "2026-01" } } },
        { env: {} },
      );
      expect(c.security.encryption).toEqual({
        enabled: true,
        key: "ab".repeat(32),
        key_id: "2026-01",
        clear_fields: [],
      });
    }
  });

  it("rejects keys of the wrong size without printing them", () => {
    const found = problems({
      security: {
        encryption: {
          enabled: true,
          key: "deadbeef",
          key_id: "k 1",
          previous_keys: { old: Buffer.alloc(16).toString("base64"), k2: HEX_KEY },
        },
      },
    });
    expect(found).toEqual([
      {
        path: "vigil.security.encryption.key",
        expected: "a 32-byte key: 64 hex characters, or base64",
        found: "8 hex characters",
        hint: "generate one with: openssl rand -hex 32",
      },
      {
        path: "vigil.security.encryption.key_id",
        expected: "a key id of letters, digits, '.', '_' or '-' (1 to 64 characters)",
        found: '"k 1"',
      },
      {
        path: "vigil.security.encryption.previous_keys.old",
        expected: "a 32-byte key: 64 hex characters, or base64",
        found: "base64 of 16 bytes",
        hint: "generate one with: openssl rand -hex 32",
      },
    ]);
    expect(JSON.stringify(found)).not.toContain("deadbeef");
  });

  it("reads clear_fields as dotted field paths and names each one that is not", () => {
    const c = resolveConfig(
      {
        security: {
          encryption: {
            enabled: true,
            key: HEX_KEY,
            key_id: "k1",
            clear_fields: ["action.category", "severity"],
          },
        },
      },
      { env: {} },
    );
    expect(c.security.encryption.clear_fields).toEqual(["action.category", "severity"]);
    expect(
      problems({
        security: {
          encryption: {
            enabled: true,
            key: HEX_KEY,
            key_id: "k1",
            clear_fields: ["action..type", "ok", "a b", 3],
          },
        },
      }),
    ).toEqual([
      { path: "vigil.security.encryption.clear_fields[3]", expected: "a non-empty string", found: "3" },
      {
        path: "vigil.security.encryption.clear_fields[0]",
        expected: "a dotted event field path, e.g. action.category",
        found: '"action..type"',
      },
      {
        path: "vigil.security.encryption.clear_fields[2]",
        expected: "a dotted event field path, e.g. action.category",
        found: '"a b"',
      },
    ]);
  });

  it("keeps previous keys by id, apart from the current one", () => {
    const c = resolveConfig(
      {
        security: {
          encryption: { enabled: true, key: HEX_KEY, key_id: "k2", previous_keys: { k1: HEX_KEY } },
        },
      },
      { env: {} },
    );
    expect(c.security.encryption.previous_keys).toEqual({ k1: HEX_KEY });
    expect(
      problems({
        security: {
          encryption: { enabled: true, key: HEX_KEY, key_id: "k2", previous_keys: { k2: HEX_KEY } },
        },
      }),
    ).toEqual([
      {
        path: "vigil.security.encryption.previous_keys.k2",
        expected: "a key id other than the current key_id",
        found: '"k2"',
      },
    ]);
  });
});

describe("security.signing", () => {
  const pair = generateKeyPairSync("ed25519");
  const privatePem = pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const publicPem = pair.publicKey.export({ format: "pem", type: "spki" }).toString();
  const otherPublic = generateKeyPairSync("ed25519")
    .publicKey.export({ format: "pem", type: "spki" })
    .toString();

  it("needs secret_key for hmac-sha256 when enabled", () => {
    expect(
      problems({ security: { signing: { enabled: true, secret_key: "${AUDIT_SIGNING_KEY}" } } }),
    ).toEqual([
      {
        path: "vigil.security.signing.secret_key",
        expected: "environment variable AUDIT_SIGNING_KEY to be set",
        found: '"${AUDIT_SIGNING_KEY}"',
        hint: "environment variable AUDIT_SIGNING_KEY is not set; set it, or give a fallback: ${AUDIT_SIGNING_KEY:-value}",
      },
    ]);
    expect(problems({ security: { signing: { enabled: true } } })[0]).toMatchObject({
      path: "vigil.security.signing.secret_key",
      found: "missing",
    });
    expect(problems({ security: { signing: { enabled: true, secret_key: "short" } } })).toEqual([
      {
        path: "vigil.security.signing.secret_key",
        expected: "a secret of at least 16 characters",
        found: "a string of 5 characters",
        hint: "generate one with: openssl rand -hex 32",
      },
    ]);
    const c = resolveConfig(
      {
        security: { signing: { enabled: true, secret_key: "${AUDIT_SIGNING_KEY}", checkpoint_every: "500" } },
      },
      { env: { AUDIT_SIGNING_KEY: HEX_KEY } },
    );
    expect(c.security.signing).toEqual({
      enabled: true,
      algorithm: "hmac-sha256",
      secret_key: HEX_KEY,
      checkpoint_every: 500,
      checkpoint_interval_seconds: 60,
    });
  });

  it("needs a private key, or a public key alone to verify, for ed25519", () => {
    expect(paths({ security: { signing: { enabled: true, algorithm: "ed25519" } } })).toEqual([
      "vigil.security.signing.private_key",
    ]);
    const signing = resolveConfig(
      {
        security: {
          signing: { enabled: true, algorithm: "Ed25519", private_key: privatePem, public_key: publicPem },
        },
      },
      { env: {} },
    ).security.signing;
    expect(signing).toMatchObject({ algorithm: "ed25519", private_key: privatePem, public_key: publicPem });
    const verifyOnly = resolveConfig(
      { security: { signing: { enabled: true, algorithm: "ed25519", public_key: publicPem } } },
      { env: {} },
    ).security.signing;
    expect(verifyOnly.public_key).toBe(publicPem);
  });

  it("reads PEM with \\n escapes, as environment variables carry it", () => {
    const escaped = privatePem.trimEnd().replaceAll("\n", "\\n");
    const c = resolveConfig(
      { security: { signing: { enabled: true, algorithm: "ed25519", private_key: "${SIGNING_PEM}" } } },
      { env: { SIGNING_PEM: escaped } },
    );
    expect(c.security.signing.private_key).toBe(privatePem.trimEnd());
  });

  it("rejects malformed, misplaced and mismatched keys", () => {
    const found = problems({
      security: {
        signing: { enabled: true, algorithm: "ed25519", private_key: "not a key", public_key: privatePem },
      },
    });
    expect(found).toEqual([
      {
        path: "vigil.security.signing.private_key",
        expected: "a PEM Ed25519 private key (-----BEGIN PRIVATE KEY-----)",
        found: "a string of 9 characters",
        hint: "generate one with: openssl genpkey -algorithm ed25519",
      },
      {
        path: "vigil.security.signing.public_key",
        expected: "a PEM Ed25519 public key (-----BEGIN PUBLIC KEY-----)",
        found: `a string of ${privatePem.length} characters`,
        hint: "this is a private key; never put it in public_key",
      },
    ]);
    expect(
      problems({
        security: {
          signing: { enabled: true, algorithm: "ed25519", private_key: privatePem, public_key: otherPublic },
        },
      }),
    ).toEqual([
      {
        path: "vigil.security.signing.public_key",
        expected: "the public half of private_key",
        found: "a different Ed25519 public key",
        hint: "remove public_key (it is derived from private_key) or correct it",
      },
    ]);
  });

  it("checks checkpoint settings", () => {
    expect(
      problems({ security: { signing: { checkpoint_every: 0, checkpoint_interval_seconds: "-5" } } }),
    ).toEqual([
      { path: "vigil.security.signing.checkpoint_every", expected: "a positive integer", found: "0" },
      {
        path: "vigil.security.signing.checkpoint_interval_seconds",
        expected: "a number greater than 0",
        found: '"-5"',
      },
    ]);
  });
});
