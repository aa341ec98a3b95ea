/**
 * Every error vigil raises is a {@link VigilError} with a stable `code`
 * (`VIGIL_ERR_*`). Each code is documented in `docs/errors.md`; a test checks that.
 *
 * @module
 */

/** The stable error codes. Add a code here and a section in `docs/errors.md` together. */
export const ErrorCodes = {
  /** The configuration is invalid; `problems` lists every problem with its path. */
  CONFIG: "VIGIL_ERR_CONFIG",
  /** A configuration file could not be read or parsed as YAML. */
  CONFIG_FILE: "VIGIL_ERR_CONFIG_FILE",
  /** A query string has a syntax error; `offset`, `line`, `column` locate it. */
  QUERY_SYNTAX: "VIGIL_ERR_QUERY_SYNTAX",
  /** Search options (time range, limit, order, cursor, filters) are invalid. */
  QUERY_OPTIONS: "VIGIL_ERR_QUERY_OPTIONS",
  /** A storage backend failed to write, read or open. */
  STORAGE: "VIGIL_ERR_STORAGE",
  /** A search, count or export reached a write-only backend (`type: otlp`) and no backend can answer. */
  NOT_QUERYABLE: "VIGIL_ERR_NOT_QUERYABLE",
  /**
   * Tamper evidence failed: a store did not verify (`vigil verify`), or a checkpoint or a
   * retention record could not be written, so later verification will report a gap.
   */
  INTEGRITY: "VIGIL_ERR_INTEGRITY",
  /** `logDurable()` could not put the event on stable storage. */
  NOT_DURABLE: "VIGIL_ERR_NOT_DURABLE",
  /** The engine was used after `close()`. */
  CLOSED: "VIGIL_ERR_CLOSED",
  /** An optional peer dependency (a driver, exceljs, ...) is not installed. */
  MISSING_DEPENDENCY: "VIGIL_ERR_MISSING_DEPENDENCY",
  /** Input to a public function had the wrong shape. */
  INVALID_ARGUMENT: "VIGIL_ERR_INVALID_ARGUMENT",
  /** The web viewer refused a request: no identity, or a viewer token expired, tampered or malformed (401). */
  VIEWER_AUTH: "VIGIL_ERR_VIEWER_AUTH",
  /** The viewer's identity lacks the scope an endpoint needs, or a wrong Host header (403, 421). */
  VIEWER_FORBIDDEN: "VIGIL_ERR_VIEWER_FORBIDDEN",
  /** No such viewer route, asset or event (404), or a method the route does not take (405). */
  VIEWER_NOT_FOUND: "VIGIL_ERR_VIEWER_NOT_FOUND",
  /** A viewer limit was exceeded: query or body too long (413), too many live tails (429). */
  VIEWER_LIMIT: "VIGIL_ERR_VIEWER_LIMIT",
  /** A viewer request ran longer than its time limit and was cancelled (504). */
  VIEWER_TIMEOUT: "VIGIL_ERR_VIEWER_TIMEOUT",
  /** An unexpected failure inside the viewer (500); the message's first line says what. */
  VIEWER_INTERNAL: "VIGIL_ERR_VIEWER_INTERNAL",
  /**
   * The transactional outbox could not write an event's row in the application's transaction
   * (the transaction must not commit without it), or its relay could not move committed rows.
   */
  OUTBOX: "VIGIL_ERR_OUTBOX",
  /**
   * A store path another user could redirect or tamper with was refused: a log file that is a
   * symbolic link, a world-writable directory without the sticky bit, a symbolic link or file
   * owned by another user.
   */
  UNSAFE_PATH: "VIGIL_ERR_UNSAFE_PATH",
  /**
   * A NATS JetStream stream exists with settings vigil cannot use (subjects, retention,
   * duplicate window), or a chain's subject holds messages this writer did not publish (a fork).
   */
  NATS_STREAM: "VIGIL_ERR_NATS_STREAM",
  /** `vigil ingest` cannot run: no `vigil.ingest.source`, or the central configuration cannot receive events. */
  INGEST: "VIGIL_ERR_INGEST",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class of every error vigil raises. */
export class VigilError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "VigilError";
    this.code = code;
  }
}

/** One problem found in a configuration. */
export interface ConfigProblem {
  /** Dotted path with indexes, e.g. `vigil.storage.backends[1].connection.dialect`. */
  readonly path: string;
  /** What was expected there, e.g. `one of sqlite, postgresql, mysql`. */
  readonly expected: string;
  /** What was found, rendered for a human (`"postgress"`, `a number`, `missing`). */
  readonly found: string;
  /** A suggestion, e.g. `did you mean "batch_size"?`. */
  readonly hint?: string;
}

/** An invalid configuration: `problems` has every problem, not just the first. */
export class ConfigError extends VigilError {
  readonly problems: readonly ConfigProblem[];
  readonly source: string | undefined;

  constructor(problems: readonly ConfigProblem[], source?: string) {
    const where = source ? ` in ${source}` : "";
    const lines = problems.map(
      (p) => `  - ${p.path}: expected ${p.expected}, found ${p.found}${p.hint ? ` (${p.hint})` : ""}`,
    );
    super(
      ErrorCodes.CONFIG,
      `invalid vigil configuration${where}: ${problems.length} problem${problems.length === 1 ? "" : "s"}\n${lines.join("\n")}`,
    );
    this.name = "ConfigError";
    this.problems = problems;
    this.source = source;
  }
}

/** A query string that does not parse. */
export class QuerySyntaxError extends VigilError {
  /** 0-based offset into the query string. */
  readonly offset: number;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** The query that failed. */
  readonly query: string;

  constructor(message: string, query: string, offset: number) {
    const before = query.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - before.lastIndexOf("\n");
    const lineText = query.split("\n")[line - 1] ?? "";
    const excerpt = `${lineText}\n${" ".repeat(Math.max(0, column - 1))}^`;
    super(ErrorCodes.QUERY_SYNTAX, `${message} at line ${line}, column ${column}\n${excerpt}`);
    this.name = "QuerySyntaxError";
    this.offset = offset;
    this.line = line;
    this.column = column;
    this.query = query;
  }
}

/** A storage backend failure; `backend` names the backend. */
export class StorageError extends VigilError {
  readonly backend: string;

  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.STORAGE, `${backend}: ${message}`, options);
    this.name = "StorageError";
    this.backend = backend;
  }
}
