/**
 * `vigil-audit/outbox`: the audit record commits with the change (a transactional outbox).
 *
 * Inside the application's own transaction, `outbox.log(tx, input)` writes the event into
 * an outbox table of the application's database — in that transaction, so a rollback
 * takes the event with it and a commit keeps it even if the process dies a moment later.
 * A relay moves committed rows, in commit order, into the audit pipeline (chain,
 * signing, every backend) with `logDurable()`, and deletes them once stored. Each row's
 * id is the event's UUIDv7, assigned at insert: a relay that dies after storing an event
 * and before deleting its row finds, on restart, that the row was already handed over
 * (`attempts > 0`), looks the id up in the store (`engine.getEvent`) and only deletes it.
 *
 * Transactions it writes in: a `pg` Client or PoolClient (after `BEGIN`), a better-sqlite3
 * Database inside `db.transaction()` (also `auditSqlite`'s), a Kysely `Transaction`, a
 * Drizzle transaction (node-postgres or better-sqlite3). The relay needs its own way into the
 * same database: a `pg` Pool (or Client) or the better-sqlite3 Database.
 *
 * @example
 * import { createAuditOutbox } from "vigil-audit/outbox";
 *
 * const outbox = createAuditOutbox({ engine, database: pool });
 * await outbox.migrate();
 * outbox.startRelay();
 * await db.transaction().execute(async (trx) => {
 *   await trx.updateTable("orders").set({ status: "paid" }).where("id", "=", 17).execute();
 *   await outbox.log(trx, { action: "ORDER_PAID", category: "BUSINESS", resource: { type: "order", id: "17" } });
 * });
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { currentScope } from "../capture/scope.js";
import { getDefaultEngine } from "../default-engine.js";
import type { AuditEngine } from "../engine.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { buildEvent } from "../event/build.js";
import type { Application, AuditEvent, LogInput, Mutable } from "../event/types.js";
import { compilePrepare, type Prepare } from "../pipeline/prepare.js";
import {
  type OutboxDialect,
  type OutboxStatements,
  outboxStatements,
  sqliteLeaseStatements,
  validTableName,
} from "./sql.js";

export type { OutboxDialect } from "./sql.js";

/** Options of {@link createAuditOutbox}. */
export interface AuditOutboxOptions {
  /** The engine the relay hands events to; default the default engine, looked up when used. */
  readonly engine?: AuditEngine;
  /**
   * The relay's own way into the application's database: a `pg` Pool (the relay holds one
   * client of it while it runs) or Client, a better-sqlite3 Database, or a Drizzle database
   * on one of these (its `$client`). It decides the dialect.
   */
  readonly database: object;
  /** The outbox table; default `vigil_outbox`. A plain identifier (letters, digits, `_`; at most 41). */
  readonly table?: string;
  /** Rows handed to the pipeline per round; default 500 (1–10000). */
  readonly batchSize?: number;
  /**
   * How often the relay looks for committed rows, in milliseconds; default 1000 (10–3600000).
   * PostgreSQL also wakes it at once on each commit (`NOTIFY`); SQLite, after each
   * `log`/`logSync` of this process.
   */
  readonly intervalMs?: number;
  /**
   * SQLite: how long the relay's lease lasts without renewal, in milliseconds; default
   * 30000. Another process takes over a lease that expired, or whose holder on this host
   * is gone. PostgreSQL uses a session advisory lock instead, freed when its connection ends.
   */
  readonly leaseMs?: number;
  /** Failures of the relay (the rows stay and are retried); default the engine's `error` event when it has listeners, else a process warning. */
  readonly onError?: (error: VigilError) => void;
}

/** What {@link AuditOutbox.log} writes in: a transaction of one of the supported libraries. */
export type OutboxTransaction = object;

/** One round's outcome. */
export interface RelayResult {
  /** Events handed to the pipeline and stored. */
  readonly relayed: number;
  /** Rows found already stored (a relay that died before deleting them) and only deleted. */
  readonly recovered: number;
}

/** A transactional outbox; see the module documentation. */
export interface AuditOutbox {
  /** The database the outbox lives in. */
  readonly dialect: OutboxDialect;
  /** The outbox table's name. */
  readonly table: string;
  /** Create the table (and, on PostgreSQL, its commit-order trigger) if missing. Safe to run concurrently. */
  migrate(): Promise<void>;
  /**
   * Write `input` into the outbox inside the transaction `tx`; resolves the event's id
   * (undefined when the engine is disabled: nothing is written). The event is built now —
   * time, id, the ambient scope's actor, correlation, tenant and metadata — and made safe
   * and redacted before it is stored in the table. Rejects with `VIGIL_ERR_OUTBOX` when the
   * row cannot be written, so the transaction does not commit without its record.
   */
  log(tx: OutboxTransaction, input: LogInput): Promise<string | undefined>;
  /**
   * `log` for synchronous transactions (a better-sqlite3 Database inside
   * `db.transaction(fn)`, a Drizzle better-sqlite3 transaction): the row is written before
   * it returns. Throws `VIGIL_ERR_OUTBOX` when it cannot be, and `VIGIL_ERR_INVALID_ARGUMENT`
   * for an asynchronous transaction.
   */
  logSync(tx: OutboxTransaction, input: LogInput): string | undefined;
  /** Relay in the background (every `intervalMs`, and at once after a commit); idempotent. */
  startRelay(): void;
  /** Relay everything committed now, in commit order; resolves what was done (0 and 0 when another process's relay holds the lead). */
  relayOnce(): Promise<RelayResult>;
  /** Committed rows waiting for the relay. */
  pending(): Promise<number>;
  /** Stop the relay (waiting for a round in progress) and give up its lead. The rows stay for the next start. */
  close(): Promise<void>;
}

type Row = Record<string, unknown>;

/** How one database object runs a statement. */
interface Executor {
  readonly sync: boolean;
  run(sql: string, params: readonly unknown[]): Row[] | Promise<Row[]>;
}

interface PgClientLike {
  query(text: string, values?: readonly unknown[]): Promise<{ rows: Row[] }>;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
  release?(error?: unknown): void;
  connect?(): Promise<PgClientLike>;
  readonly totalCount?: number;
}

interface SqliteLike {
  prepare(sql: string): {
    readonly reader: boolean;
    all(...params: unknown[]): Row[];
    run(...params: unknown[]): unknown;
  };
  exec(sql: string): unknown;
  readonly inTransaction?: boolean;
}

function invalid(message: string): VigilError {
  return new VigilError(ErrorCodes.INVALID_ARGUMENT, message);
}

function shown(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

const isFn = (v: unknown): v is (...a: never[]) => unknown => typeof v === "function";

type SqliteStatement = ReturnType<SqliteLike["prepare"]>;
/** Prepared outbox statements per database (a handful of texts each). */
const statementCache = new WeakMap<object, Map<string, SqliteStatement>>();

function sqliteExecutor(db: SqliteLike): Executor {
  let cache = statementCache.get(db);
  if (cache === undefined) {
    cache = new Map();
    statementCache.set(db, cache);
  }
  const prepared = cache;
  return {
    sync: true,
    run(sql, params) {
      let stmt = prepared.get(sql);
      if (stmt === undefined) {
        stmt = db.prepare(sql);
        // the IN (...) lists vary with the batch: keep the cache small
        if (prepared.size < 64) prepared.set(sql, stmt);
      }
      if (stmt.reader) return stmt.all(...params);
      stmt.run(...params);
      return [];
    },
  };
}

function pgExecutor(client: PgClientLike): Executor {
  return {
    sync: false,
    async run(sql, params) {
      return (await client.query(sql, params as unknown[])).rows;
    },
  };
}

const NOT_A_TRANSACTION =
  "expected a transaction: a pg Client or PoolClient, a better-sqlite3 Database inside db.transaction(), a Kysely Transaction or a Drizzle transaction";

/** How to write in the transaction `tx`. */
function transactionExecutor(tx: unknown, owner: string): Executor {
  if (tx === null || typeof tx !== "object")
    throw invalid(`${owner}: ${NOT_A_TRANSACTION}, found ${shown(tx)}`);
  const o = tx as Record<string, unknown>;
  // Drizzle: a transaction (or database) runs on its session's driver client
  const session = o.session as { client?: unknown } | undefined;
  if (session !== null && typeof session === "object" && "client" in session && isFn(o.select))
    return transactionExecutor(session.client, owner);
  if (isFn(o.prepare) && isFn(o.exec)) {
    if (o.inTransaction === false)
      throw invalid(
        `${owner}: the better-sqlite3 Database is not inside a transaction: call it from the function given to db.transaction()`,
      );
    return sqliteExecutor(tx as SqliteLike);
  }
  if (isFn(o.executeQuery) && isFn(o.selectFrom)) {
    if (o.isTransaction !== true)
      throw invalid(
        `${owner}: a Kysely instance is not a transaction: pass the trx of db.transaction().execute(async (trx) => ...)`,
      );
    const executeQuery = o.executeQuery as (q: object) => Promise<{ rows: Row[] }>;
    return {
      sync: false,
      async run(sql, parameters) {
        // a CompiledQuery of raw SQL, as Kysely's CompiledQuery.raw builds it
        const query = {
          sql,
          parameters,
          query: { kind: "RawNode", sqlFragments: [sql], parameters: [] },
          queryId: { queryId: "vigil-outbox" },
        };
        return (await executeQuery.call(tx, query)).rows;
      },
    };
  }
  if (isFn(o.query)) {
    if (typeof o.totalCount === "number")
      throw invalid(
        `${owner}: a pg Pool is not a transaction: pass the client you ran BEGIN on (const client = await pool.connect())`,
      );
    return pgExecutor(tx as PgClientLike);
  }
  throw invalid(`${owner}: ${NOT_A_TRANSACTION}, found an object without any of their methods`);
}

/** The relay's database: its dialect and how it reaches it. */
type RelayDatabase =
  | { readonly dialect: "sqlite"; readonly db: SqliteLike }
  | {
      readonly dialect: "postgres";
      readonly pool: PgClientLike | undefined;
      readonly client: PgClientLike | undefined;
    };

function relayDatabase(database: unknown): RelayDatabase {
  if (database === null || typeof database !== "object")
    throw invalid(
      `createAuditOutbox: options.database must be a pg Pool or Client, a better-sqlite3 Database or a Drizzle database, found ${shown(database)}`,
    );
  const o = database as Record<string, unknown>;
  if ("$client" in o && o.$client !== null && typeof o.$client === "object") return relayDatabase(o.$client);
  if (isFn(o.prepare) && isFn(o.exec)) return { dialect: "sqlite", db: database as SqliteLike };
  if (isFn(o.query)) {
    const isPool = typeof o.totalCount === "number" && isFn(o.connect);
    return isPool
      ? { dialect: "postgres", pool: database as PgClientLike, client: undefined }
      : { dialect: "postgres", pool: undefined, client: database as PgClientLike };
  }
  throw invalid(
    "createAuditOutbox: options.database must be a pg Pool or Client, a better-sqlite3 Database or a Drizzle database (a Kysely instance: pass its pool or database instead)",
  );
}

function intOption(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
    throw invalid(
      `createAuditOutbox: options.${name} must be an integer from ${min} to ${max}, found ${typeof value === "number" ? value : shown(value)}`,
    );
  return value;
}

const PLACEHOLDER_APP = {} as Application;

/** The stored event as `log()` input that rebuilds it: every value explicit, nothing left to the relay's scope. */
function inputOf(event: AuditEvent): Record<string, unknown> {
  const { status, ...result } = event.result;
  return {
    action: event.action.type,
    category: event.action.category,
    ...(event.action.method !== undefined ? { method: event.action.method } : {}),
    ...(event.action.resource !== undefined ? { resource: event.action.resource } : {}),
    ...(event.actor !== undefined ? { actor: event.actor } : {}),
    status,
    result,
    severity: event.severity,
    securityEvent: event.security_event,
    ...(event.correlation !== undefined ? { correlation: event.correlation } : {}),
    ...(event.metadata !== undefined ? { metadata: event.metadata } : {}),
    ...(event.params !== undefined ? { params: event.params } : {}),
    ...(event.tenant !== undefined ? { tenant: event.tenant } : {}),
    timestamp: event.timestamp,
  };
}

class Outbox implements AuditOutbox {
  readonly dialect: OutboxDialect;
  readonly table: string;
  readonly #fixedEngine: AuditEngine | undefined;
  readonly #database: RelayDatabase;
  readonly #sql: OutboxStatements;
  readonly #batchSize: number;
  readonly #intervalMs: number;
  readonly #leaseMs: number;
  readonly #onError: ((error: VigilError) => void) | undefined;
  readonly #holder = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  #prepare: { engine: AuditEngine; prepare: Prepare } | undefined;
  #started = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<RelayResult> | undefined;
  #again = false;
  /** PostgreSQL: the relay's own connection, holding the lead (advisory lock) and listening. */
  #leader: PgClientLike | undefined;
  #leaderFromPool = false;
  #onNotify = (): void => this.#wake();
  #reported = new Set<string>();

  constructor(options: AuditOutboxOptions) {
    if (options === null || typeof options !== "object")
      throw invalid(`createAuditOutbox: expected options like { engine, database }, found ${shown(options)}`);
    const o = options;
    if (o.engine !== undefined && !isFn((o.engine as { logDurable?: unknown }).logDurable))
      throw invalid(`createAuditOutbox: options.engine must be an AuditEngine, found ${shown(o.engine)}`);
    const table = o.table ?? "vigil_outbox";
    if (!validTableName(table))
      throw invalid(
        `createAuditOutbox: options.table must be a plain identifier (a letter or _, then letters, digits or _; at most 41), found ${JSON.stringify(table)}`,
      );
    if (o.onError !== undefined && !isFn(o.onError))
      throw invalid(`createAuditOutbox: options.onError must be a function, found ${shown(o.onError)}`);
    this.#database = relayDatabase(o.database);
    this.dialect = this.#database.dialect;
    this.table = table;
    this.#sql = outboxStatements(this.dialect, table);
    this.#fixedEngine = o.engine;
    this.#batchSize = intOption(o.batchSize, "batchSize", 1, 10_000, 500);
    this.#intervalMs = intOption(o.intervalMs, "intervalMs", 10, 3_600_000, 1000);
    this.#leaseMs = intOption(o.leaseMs, "leaseMs", 100, 3_600_000, 30_000);
    this.#onError = o.onError;
  }

  #engine(): AuditEngine {
    return this.#fixedEngine ?? getDefaultEngine();
  }

  #report(error: unknown, what: string): void {
    const e =
      error instanceof VigilError
        ? error
        : new VigilError(
            ErrorCodes.OUTBOX,
            `outbox ${this.table}: ${what}: ${(error as Error)?.message ?? String(error)}`,
            {
              cause: error,
            },
          );
    try {
      if (this.#onError) {
        this.#onError(e);
        return;
      }
      let engine: AuditEngine | undefined;
      try {
        engine = this.#engine();
      } catch {
        engine = undefined;
      }
      if (engine !== undefined && engine.listenerCount("error") > 0) engine.emit("error", e);
      else if (!this.#reported.has(e.message)) {
        this.#reported.add(e.message);
        process.emitWarning(e.message, { code: e.code });
      }
    } catch {
      // reporting never throws into the relay
    }
  }

  /** The relay's executor (PostgreSQL: the lead connection when there is one, else the pool). */
  #relayExecutor(): Executor {
    const d = this.#database;
    if (d.dialect === "sqlite") return sqliteExecutor(d.db);
    return pgExecutor(this.#leader ?? d.client ?? d.pool!);
  }

  async migrate(): Promise<void> {
    const d = this.#database;
    try {
      if (d.dialect === "sqlite") {
        for (const statement of this.#sql.migrate) d.db.exec(statement);
        return;
      }
      const client = d.client ?? (await d.pool!.connect!());
      try {
        await client.query("BEGIN");
        try {
          for (const statement of this.#sql.migrate) await client.query(statement);
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK").catch(() => {});
          throw error;
        }
      } finally {
        if (d.client === undefined) client.release?.();
      }
    } catch (error) {
      throw new VigilError(
        ErrorCodes.OUTBOX,
        `outbox ${this.table}: cannot create the table: ${(error as Error)?.message ?? String(error)}`,
        { cause: error },
      );
    }
  }

  /** The row for `input`, or undefined when the engine is disabled. */
  #row(input: LogInput): [string, string, string] | undefined {
    const engine = this.#engine();
    if (!engine.enabled) return undefined;
    if (this.#prepare?.engine !== engine) this.#prepare = { engine, prepare: compilePrepare(engine.config) };
    const event: Mutable<AuditEvent> = buildEvent(input, PLACEHOLDER_APP, currentScope(), (e) =>
      this.#report(e, "log()"),
    );
    this.#prepare.prepare(event);
    return [event.id, JSON.stringify(inputOf(event)), new Date().toISOString()];
  }

  #failed(error: unknown): VigilError {
    if (error instanceof VigilError) return error;
    return new VigilError(
      ErrorCodes.OUTBOX,
      `outbox ${this.table}: cannot write the event in the transaction (it must not commit without it): ${(error as Error)?.message ?? String(error)}`,
      { cause: error },
    );
  }

  async log(tx: OutboxTransaction, input: LogInput): Promise<string | undefined> {
    try {
      const exec = transactionExecutor(tx, "outbox.log");
      const row = this.#row(input);
      if (row === undefined) return undefined;
      await exec.run(this.#sql.insert, row);
      if (exec.sync) this.#soon();
      return row[0];
    } catch (error) {
      throw this.#failed(error);
    }
  }

  logSync(tx: OutboxTransaction, input: LogInput): string | undefined {
    let exec: Executor;
    try {
      exec = transactionExecutor(tx, "outbox.logSync");
    } catch (error) {
      throw this.#failed(error);
    }
    if (!exec.sync)
      throw invalid(
        "outbox.logSync: the transaction is asynchronous (pg, Kysely, Drizzle on node-postgres): use await outbox.log(tx, input)",
      );
    try {
      const row = this.#row(input);
      if (row === undefined) return undefined;
      exec.run(this.#sql.insert, row);
      this.#soon();
      return row[0];
    } catch (error) {
      throw this.#failed(error);
    }
  }

  async pending(): Promise<number> {
    const rows = await this.#relayExecutor().run(this.#sql.pending, []);
    return Number(rows[0]?.n ?? 0);
  }

  startRelay(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#wake();
  }

  /** A round after the current transaction (SQLite: this process just wrote a row). */
  #soon(): void {
    if (this.#started && !this.#closed) setImmediate(() => this.#wake());
  }

  #wake(): void {
    if (!this.#started || this.#closed) return;
    if (this.#round !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    void this.relayOnce()
      .catch(() => ({ relayed: 0, recovered: 0 }))
      .then(() => {
        if (!this.#started || this.#closed) return;
        if (this.#again) {
          this.#again = false;
          setImmediate(() => this.#wake());
          return;
        }
        this.#timer = setTimeout(() => this.#wake(), this.#intervalMs);
        this.#timer.unref();
      });
  }

  relayOnce(): Promise<RelayResult> {
    if (this.#round !== undefined) {
      this.#again = true;
      return this.#round.then(() => this.relayOnce());
    }
    const round = this.#relay().finally(() => {
      this.#round = undefined;
    });
    this.#round = round;
    return round;
  }

  /** Whether this process leads the relay now (one relay per outbox table). */
  async #lead(): Promise<boolean> {
    const d = this.#database;
    if (d.dialect === "sqlite") {
      const lease = sqliteLeaseStatements(this.table);
      const now = Date.now();
      const h = this.#holder;
      const take = () => d.db.prepare(lease.take).run(h, now + this.#leaseMs, h, now + this.#leaseMs, h, now);
      take();
      const row = d.db.prepare(lease.read).all()[0] as { holder?: string } | undefined;
      if (row?.holder === this.#holder) return true;
      // a holder on this host whose process is gone: take over at once
      const [host, pid] = String(row?.holder ?? "").split(":");
      if (host === hostname() && pid !== undefined && !processAlive(Number(pid))) {
        d.db.prepare(lease.release).run(row!.holder);
        take();
        return (
          (d.db.prepare(lease.read).all()[0] as { holder?: string } | undefined)?.holder === this.#holder
        );
      }
      return false;
    }
    if (this.#leader !== undefined) return true;
    const client = d.client ?? (await d.pool!.connect!());
    let led = false;
    try {
      const rows = (await client.query(`SELECT pg_try_advisory_lock(${this.#sql.relayLock}) AS ok`)).rows;
      led = rows[0]?.ok === true;
      if (led) {
        this.#leader = client;
        this.#leaderFromPool = d.client === undefined;
        client.on?.("notification", this.#onNotify);
        await client.query(`LISTEN ${this.#sql.channel}`);
      }
    } finally {
      if (!led && d.client === undefined) client.release?.();
    }
    return led;
  }

  async #relay(): Promise<RelayResult> {
    let relayed = 0;
    let recovered = 0;
    try {
      const engine = this.#engine();
      if (this.#closed || !engine.enabled) return { relayed, recovered };
      // SQLite: the relay shares the application's connection; inside an open transaction
      // (an async one: Kysely, manual BEGIN) it would see that transaction's uncommitted rows;
      // it waits for the next round
      if (this.#database.dialect === "sqlite" && this.#database.db.inTransaction === true)
        return { relayed, recovered };
      if (!(await this.#lead())) return { relayed, recovered };
      const exec = this.#relayExecutor();
      for (;;) {
        const rows = await exec.run(this.#sql.next, [this.#batchSize]);
        if (rows.length === 0) break;
        // rows are addressed by their key (PostgreSQL: the id; SQLite: the rowid)
        const keys = rows.map((r) => r.key as string | number);
        // committed before the events go to the store: after a crash, these rows are checked, not re-sent
        await exec.run(this.#sql.markAttempt(keys.length), keys);
        const done: (string | number)[] = [];
        const writes: Promise<unknown>[] = [];
        const writing: (string | number)[] = [];
        for (const row of rows) {
          const id = String(row.id);
          const key = row.key as string | number;
          if (Number(row.attempts) > 0 && (await engine.getEvent(id)) !== undefined) {
            if (writes.length === 0) {
              done.push(key);
              recovered++;
            } else {
              writing.push(key);
              writes.push(Promise.resolve("recovered"));
            }
            continue;
          }
          writing.push(key);
          writes.push(engine.logDurable(this.#inputFor(id, row.payload)));
        }
        const outcomes = await Promise.allSettled(writes);
        let failure: unknown;
        for (let i = 0; i < outcomes.length; i++) {
          const o = outcomes[i]!;
          if (o.status === "rejected") {
            failure = o.reason;
            break; // later rows stay, behind this one, in commit order
          }
          done.push(writing[i]!);
          if (o.value === "recovered") recovered++;
          else relayed++;
        }
        if (done.length > 0) await exec.run(this.#sql.remove(done.length), done);
        if (failure !== undefined) {
          this.#report(
            failure,
            "the audit pipeline did not store relayed events; they stay in the outbox and are retried",
          );
          break;
        }
        if (rows.length < this.#batchSize) break;
      }
    } catch (error) {
      this.#report(error, "relay failed; committed rows stay in the outbox and are retried");
      await this.#dropLeader(true);
    }
    return { relayed, recovered };
  }

  /** The `log()` input of a stored row, with the id it was given at insert. */
  #inputFor(id: string, payload: unknown): LogInput {
    try {
      const input = JSON.parse(String(payload)) as Record<string, unknown>;
      if (input === null || typeof input !== "object" || typeof input.action !== "string")
        throw new Error("not an event");
      return { ...input, _id: id } as unknown as LogInput;
    } catch (error) {
      // a damaged row must not stop the relay: it is recorded as what it is
      return {
        action: "OUTBOX_ROW_INVALID",
        category: "SYSTEM",
        status: "FAILURE",
        error,
        metadata: { outbox_table: this.table, outbox_id: id },
        _id: id,
      } as LogInput;
    }
  }

  async #dropLeader(broken: boolean): Promise<void> {
    const client = this.#leader;
    if (client === undefined) return;
    this.#leader = undefined;
    client.removeListener?.("notification", this.#onNotify);
    if (!broken) {
      await client.query(`UNLISTEN ${this.#sql.channel}`).catch(() => {});
      await client.query(`SELECT pg_advisory_unlock(${this.#sql.relayLock})`).catch(() => {});
    }
    if (this.#leaderFromPool)
      client.release?.(broken ? new Error("outbox relay connection failed") : undefined);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#started = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round?.catch(() => {});
    const d = this.#database;
    if (d.dialect === "sqlite") {
      try {
        d.db.prepare(sqliteLeaseStatements(this.table).release).run(this.#holder);
      } catch {
        // the database may be closed already; the lease then expires
      }
    } else await this.#dropLeader(false);
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Create a transactional outbox over the application's database: `log(tx, input)` inside
 * its transactions, `migrate()` once, `startRelay()` in each process (one leads at a time).
 *
 * @throws VigilError `VIGIL_ERR_INVALID_ARGUMENT` for malformed options.
 * @example const outbox = createAuditOutbox({ engine, database: pool, table: "audit_outbox" });
 */
export function createAuditOutbox(options: AuditOutboxOptions): AuditOutbox {
  return new Outbox(options);
}
