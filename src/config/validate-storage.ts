/**
 * `vigil.storage`: the list of backends, each checked for its type (`file`, `database`, `otlp`),
 * given a unique name, and resolved with every default filled in.
 *
 * @module
 */
import { type Checker, describe, isMapping, type Read, Section } from "./checker.js";
import {
  DEFAULT_FILE_BACKEND,
  DEFAULT_ROTATION,
  DEFAULT_SQLITE_FILENAME,
  DEFAULT_TABLE_NAME,
} from "./defaults.js";
import { closest } from "./suggest.js";
import type {
  BackendConfig,
  DatabaseBackendConfig,
  DatabaseConnectionConfig,
  FileBackendConfig,
  FileRotationConfig,
  OtlpBackendConfig,
  ResolvedConfig,
  SqlDialect,
} from "./types.js";
import { readNatsBackend } from "./validate-nats.js";

const BACKEND_TYPES = ["file", "database", "otlp", "nats"] as const;
const DIALECTS = ["sqlite", "postgresql", "mysql"] as const satisfies readonly SqlDialect[];
const DIALECT_ALIASES: Readonly<Record<string, SqlDialect>> = {
  postgres: "postgresql",
  mariadb: "mysql",
  sqlite3: "sqlite",
};
const URL_PROTOCOLS: Readonly<Record<SqlDialect, readonly string[]>> = {
  sqlite: [],
  postgresql: ["postgres:", "postgresql:"],
  mysql: ["mysql:", "mariadb:"],
};
const PLACEHOLDERS = ["category", "date", "application", "hour"];
const BACKEND_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SQL_IDENTIFIER = /^(?:[A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A backend read but not yet named: names are given once every explicit name is known. */
interface Draft {
  readonly type: BackendConfig["type"];
  readonly name: string | undefined;
  readonly namePath: string;
  readonly build: (name: string) => BackendConfig;
}

/** Read `vigil.storage`. */
export function readStorage(section: Section): ResolvedConfig["storage"] {
  const items = section.list("backends", "a list of backends");
  if (items === undefined) {
    return { backends: section.has("backends") ? [] : [DEFAULT_FILE_BACKEND] };
  }
  if (items.length === 0) {
    section.report(
      "backends",
      "at least one backend",
      "an empty list",
      "leave storage.backends out to get the default file backend, or set core.enabled: false",
    );
    return { backends: [] };
  }
  const drafts: Draft[] = [];
  for (const item of items) {
    const draft = readBackend(section.checker, item.raw, item.path, section.lenient);
    if (draft) drafts.push(draft);
  }
  return { backends: nameBackends(section.checker, drafts) };
}

/**
 * Give every backend its name: explicit names must be unique; the others get their type,
 * then `type-2`, `type-3`, ... skipping names already taken.
 */
function nameBackends(checker: Checker, drafts: readonly Draft[]): BackendConfig[] {
  const taken = new Map<string, string>();
  for (const draft of drafts) {
    if (draft.name === undefined) continue;
    const first = taken.get(draft.name);
    if (first === undefined) {
      taken.set(draft.name, draft.namePath);
    } else {
      checker.report(
        draft.namePath,
        "a backend name used only once",
        describe(draft.name),
        `${first} has the same name`,
      );
    }
  }
  return drafts.map((draft) => {
    if (draft.name !== undefined) return draft.build(draft.name);
    let name: string = draft.type;
    for (let n = 2; taken.has(name); n++) name = `${draft.type}-${n}`;
    taken.set(name, draft.namePath);
    return draft.build(name);
  });
}

function readBackend(checker: Checker, raw: unknown, path: string, lenient: boolean): Draft | undefined {
  if (!isMapping(raw)) {
    checker.report(path, `a backend (a mapping with a type: ${BACKEND_TYPES.join(", ")})`, describe(raw));
    return undefined;
  }
  // Keys are checked once the type, and so the place, is known.
  const section = Section.unchecked(checker, raw, path, lenient);
  const typeRead = section.read("type");
  const type = readBackendType(section, typeRead);
  if (type === undefined) return undefined;
  section.checkKeys(
    type === "file"
      ? "fileBackend"
      : type === "otlp"
        ? "otlpBackend"
        : type === "nats"
          ? "natsBackend"
          : "databaseBackend",
  );

  const name = section.string("name");
  if (name !== undefined && !BACKEND_NAME.test(name)) {
    section.report(
      "name",
      "a name of letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)",
      describe(name),
    );
  }
  const enabledRead = section.boolRead("enabled");
  const enabled = enabledRead ?? !section.has("enabled");
  // Under enabled: false (or an enabled that could not be read), unset variables are allowed.
  const inner = section.withLenient(
    lenient || !enabled || (section.has("enabled") && enabledRead === undefined),
  );
  const build =
    type === "file"
      ? readFileBackend(inner)
      : type === "otlp"
        ? readOtlpBackend(inner)
        : type === "nats"
          ? readNatsBackend(inner)
          : readDatabaseBackend(inner);
  return {
    type,
    name,
    namePath: section.pathOf("name"),
    build: (resolvedName) => (enabled ? build(resolvedName) : { type, name: resolvedName, enabled: false }),
  };
}

function readBackendType(section: Section, r: Read): BackendConfig["type"] | undefined {
  if (r.state === "absent") {
    section.report("type", `one of ${BACKEND_TYPES.join(", ")}`, "missing");
    return undefined;
  }
  if (r.state === "invalid") return undefined;
  const value = typeof r.value === "string" ? r.value.trim().toLowerCase() : undefined;
  if (value === "file" || value === "database" || value === "otlp" || value === "nats") return value;
  const dialect =
    value === undefined ? undefined : (DIALECT_ALIASES[value] ?? DIALECTS.find((d) => d === value));
  let hint: string | undefined;
  if (dialect !== undefined) {
    hint = `write type: database with connection: { dialect: ${dialect} }`;
  } else if (value !== undefined) {
    const near = closest(value, BACKEND_TYPES);
    if (near !== undefined) hint = `did you mean ${JSON.stringify(near)}?`;
  }
  section.report("type", `one of ${BACKEND_TYPES.join(", ")}`, describe(r.value, { from: r.from }), hint);
  return undefined;
}

function readFileBackend(section: Section): (name: string) => FileBackendConfig {
  const d = DEFAULT_FILE_BACKEND;
  const directory = section.string("directory", d.directory);
  const format = section.choice("format", ["json"], d.format, { jsonl: "json", ndjson: "json" });
  const filename_pattern = section.string("filename_pattern", d.filename_pattern);
  checkFilenamePattern(section, filename_pattern);
  const rotation = readRotation(section.child("rotation", "rotation"));
  return (name) => ({ type: "file", name, enabled: true, directory, format, filename_pattern, rotation });
}

function checkFilenamePattern(section: Section, pattern: string): void {
  for (const match of pattern.matchAll(/\{([^{}]*)\}/g)) {
    const placeholder = match[1] ?? "";
    if (PLACEHOLDERS.includes(placeholder)) continue;
    const near = closest(placeholder, PLACEHOLDERS);
    section.report(
      "filename_pattern",
      `placeholders among ${PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}`,
      `{${placeholder}} in ${describe(pattern)}`,
      near === undefined ? undefined : `did you mean {${near}}?`,
    );
  }
}

function readRotation(raw: Section): FileRotationConfig {
  const d = DEFAULT_ROTATION;
  const enabled = raw.bool("enabled", d.enabled);
  const section = raw.withLenient(raw.lenient || !enabled);
  return {
    enabled,
    when: section.choice("when", ["midnight", "hourly", "size", "none"], d.when, { daily: "midnight" }),
    max_bytes: section.int("max_bytes", d.max_bytes, { min: 1 }),
    backup_count: section.int("backup_count", d.backup_count, { min: 0 }),
    compress: section.bool("compress", d.compress),
    compress_after_days: section.int("compress_after_days", d.compress_after_days, { min: 0 }),
  };
}

function readDatabaseBackend(section: Section): (name: string) => DatabaseBackendConfig {
  const connection = readConnection(section.child("connection", "connection"));
  const table_name = section.string("table_name", DEFAULT_TABLE_NAME);
  if (!SQL_IDENTIFIER.test(table_name)) {
    section.report(
      "table_name",
      "a SQL identifier: a letter or _, then letters, digits or _ (at most 63), optionally after one schema. prefix",
      describe(table_name),
    );
  }
  const partitioning = section.choice("partitioning", ["none", "daily", "monthly"], "none", {
    day: "daily",
    month: "monthly",
  });
  if (partitioning !== "none" && connection !== undefined && connection.dialect !== "postgresql") {
    section.report(
      "partitioning",
      "none: partitioning is a PostgreSQL feature",
      `${describe(partitioning)} with dialect ${describe(connection.dialect)}`,
    );
  }
  return (name) => ({
    type: "database",
    name,
    enabled: true,
    // Only reached when enabled, where a missing dialect has been reported.
    connection: connection ?? { dialect: "sqlite", filename: DEFAULT_SQLITE_FILENAME },
    table_name,
    partitioning,
  });
}

function readConnection(section: Section): DatabaseConnectionConfig | undefined {
  // Requirements are checked only in an enabled backend whose connection is a mapping.
  const strict = !section.lenient && !section.isBroken();
  const dialect = section.choiceRead("dialect", DIALECTS, DIALECT_ALIASES);
  if (strict && !section.has("dialect")) {
    section.report("dialect", `one of ${DIALECTS.join(", ")}`, "missing");
  }
  const host = section.string("host");
  const port = section.intRead("port", { min: 1, max: 65_535 });
  const database = section.string("database");
  const username = section.string("username");
  const password = section.string("password", undefined, { allowEmpty: true, secret: true });
  const url = readUrl(section, dialect);
  const filename = section.string("filename", DEFAULT_SQLITE_FILENAME);

  if (dialect === undefined) return undefined;
  if (dialect === "sqlite") {
    return { dialect, filename };
  }
  if (strict) {
    if (url !== undefined && (host !== undefined || database !== undefined)) {
      section.report(
        "url",
        "either url or host and database, not both",
        `url and ${host !== undefined ? "host" : "database"} both written`,
      );
    }
    if (url === undefined && !section.hasProblem("url")) {
      if (host === undefined && !section.hasProblem("host")) {
        section.report("host", `a host name for ${dialect} (or connection.url)`, section.shown("host"));
      }
      if (database === undefined && !section.hasProblem("database")) {
        section.report(
          "database",
          `a database name for ${dialect} (or connection.url)`,
          section.shown("database"),
        );
      }
    }
  }
  return dropUndefined({ dialect, host, port, database, username, password, url });
}

/** Check `url` parses and its scheme suits the dialect; its password never appears in a message. */
function readUrl(section: Section, dialect: SqlDialect | undefined): string | undefined {
  const r = section.read("url", true);
  if (r.state !== "value") return undefined;
  if (typeof r.value !== "string") {
    section.report("url", "a connection URL string", describe(r.value));
    return undefined;
  }
  if (r.value === "") return undefined;
  let parsed: URL;
  try {
    parsed = new URL(r.value);
  } catch {
    section.report(
      "url",
      "a connection URL such as postgresql://user:pass@host:5432/db",
      "text that is not a URL",
    );
    return undefined;
  }
  if (parsed.password !== "") parsed.password = "***";
  const shown = describe(parsed.href);
  if (dialect === "sqlite") {
    section.report("url", "no url with dialect sqlite (write connection.filename)", shown);
    return undefined;
  }
  if (dialect !== undefined && !URL_PROTOCOLS[dialect].includes(parsed.protocol)) {
    section.report(
      "url",
      `a ${URL_PROTOCOLS[dialect].map((p) => `${p}//`).join(" or ")} URL for dialect ${dialect}`,
      shown,
    );
  }
  return r.value;
}

/** The OTLP/HTTP logs endpoint of a local Collector. */
export const DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318/v1/logs";
/** Headers vigil sets itself on every OTLP request. */
const OTLP_OWN_HEADERS = ["content-type", "content-encoding", "content-length", "transfer-encoding", "host"];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function readOtlpBackend(section: Section): (name: string) => OtlpBackendConfig {
  const endpoint = readOtlpEndpoint(section);
  const headers = readHeaders(section);
  const compression = section.choice("compression", ["gzip", "none"], "gzip", { identity: "none" });
  const timeout_seconds = section.numberAbove("timeout_seconds", 10, 0);
  const max_batch_size = section.int("max_batch_size", 512, { min: 1, max: 100_000 });
  const buffer_size = section.int("buffer_size", 10_000, { min: 0 });
  return (name) => ({
    type: "otlp",
    name,
    enabled: true,
    endpoint,
    headers,
    compression,
    timeout_seconds,
    max_batch_size,
    buffer_size,
  });
}

/**
 * `endpoint`: an http(s) URL. A bare collector address (no path, as in
 * `OTEL_EXPORTER_OTLP_ENDPOINT`) gets the logs path `/v1/logs`; the gRPC port 4317 is refused.
 */
function readOtlpEndpoint(section: Section): string {
  const r = section.read("endpoint");
  if (r.state !== "value") return DEFAULT_OTLP_ENDPOINT;
  if (typeof r.value !== "string" || r.value.trim() === "") {
    section.report("endpoint", "an OTLP/HTTP URL such as http://127.0.0.1:4318/v1/logs", describe(r.value));
    return DEFAULT_OTLP_ENDPOINT;
  }
  let url: URL;
  try {
    url = new URL(r.value.trim());
  } catch {
    section.report(
      "endpoint",
      "an OTLP/HTTP URL such as http://127.0.0.1:4318/v1/logs",
      describe(r.value, { from: r.from }),
    );
    return DEFAULT_OTLP_ENDPOINT;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    section.report("endpoint", "an http:// or https:// URL", describe(r.value, { from: r.from }));
    return DEFAULT_OTLP_ENDPOINT;
  }
  if (url.port === "4317") {
    section.report(
      "endpoint",
      "the OTLP/HTTP port (4318 by default)",
      describe(r.value, { from: r.from }),
      "4317 is the OTLP/gRPC port; vigil sends OTLP/HTTP",
    );
  }
  if (url.pathname === "/" || url.pathname === "") url.pathname = "/v1/logs";
  return url.href;
}

/** `headers`: a mapping of header names to strings; values are never echoed in messages. */
function readHeaders(section: Section): Readonly<Record<string, string>> {
  const raw = section.raw("headers");
  if (raw === undefined || raw === null) return {};
  if (!isMapping(raw)) {
    section.report("headers", "a mapping of header names to values", describe(raw));
    return {};
  }
  const inner = Section.unchecked(section.checker, raw, section.pathOf("headers"), section.lenient);
  const headers: Record<string, string> = {};
  for (const key of Object.keys(raw)) {
    if (!HEADER_NAME.test(key)) {
      inner.report(key, "an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)", describe(key));
      continue;
    }
    if (OTLP_OWN_HEADERS.includes(key.toLowerCase())) {
      inner.report(
        key,
        "a header vigil does not set itself",
        describe(key),
        "vigil sets this header; remove it",
      );
      continue;
    }
    const r = inner.read(key, true);
    if (r.state !== "value") continue;
    const value = typeof r.value === "number" || typeof r.value === "boolean" ? String(r.value) : r.value;
    if (typeof value !== "string" || /[\r\n\0]/.test(value)) {
      inner.report(key, "a header value (text on one line)", describe(r.value, { secret: true }));
      continue;
    }
    headers[key] = value;
  }
  return headers;
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
