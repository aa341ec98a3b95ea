/**
 * The `type: database` storage backend, for every dialect: batched inserts, one
 * transaction per batch (one statement, one round trip, where it fits), an in-memory buffer that rides out database outages,
 * keyset-paged queries judged by the in-memory evaluator, counting, retention and
 * erasure through one explicit deletion path.
 *
 * **Write contract.** `write()` resolves once the batch is committed. When the
 * database cannot be reached it rejects with a {@link SqlWriteError}:
 * - `buffered: true` — the batch is held in memory (up to `bufferLimit` events) and
 *   will be written, in order and without duplicates, when the database is back;
 *   it is *not durable yet*. Do not write the same batch again (it would be harmless —
 *   ids are the primary key — but it counts twice against the buffer).
 * - `buffered: false` — the batch was not kept: the buffer is full, or the rows were
 *   refused by the database itself (`failedIds` names them); those events are lost
 *   for this backend.
 * While batches are buffered, later writes join the buffer without waiting for the
 * next reconnection attempt, so a caller is never blocked by a dead server.
 *
 * @module
 */
import type { DatabaseBackendConfig } from "../../config/types.js";
import { ErrorCodes, StorageError, VigilError } from "../../errors.js";
import type { AuditEvent } from "../../event/types.js";
import type { QueryNode } from "../../query/ast.js";
import { compileQuery, type EventPredicate } from "../../query/evaluate.js";
import {
  BaseBackend,
  type QuerySpec,
  type RetentionResult,
  type StoredRecord,
  type ValueCount,
} from "../backend.js";
import {
  type BackoffOptions,
  BatchBuffer,
  BufferedWriteError,
  backoffDelay,
  Outage,
  SerialQueue,
} from "../retry.js";
import {
  andConds,
  COLUMN_CHARS,
  COLUMN_OF_PATH,
  type Cond,
  columnLeaves,
  compileWhere,
  condSql,
  isExact,
  type LeafCompiler,
} from "./compile.js";
import { type Connected, isCanonicalTs, type KeysetPosition, type SqlBackendOptions } from "./dialect.js";
import { isPermanentError, type Row } from "./driver.js";
import { isMissingTable, migrate, migrateSync, rebuildMissingTable } from "./schema.js";
import { join, type Rendered, raw, render, type Sql, sql } from "./sql.js";

/** Why a batch was not (yet) written. See the module comment for the contract. */
export class SqlWriteError extends BufferedWriteError {
  /** Ids the database refused (data errors); these are never retried. */
  readonly failedIds: readonly string[];

  constructor(
    backend: string,
    message: string,
    details: { buffered: boolean; events: number; failedIds?: readonly string[]; cause?: unknown },
  ) {
    super(backend, message, details);
    this.name = "SqlWriteError";
    this.failedIds = details.failedIds ?? [];
  }
}

/** Opens the connection and builds the dialect; one per dialect file. */
export type Connector = (onIdleError: (error: Error) => void) => Promise<Connected>;

/** The same, synchronously, where the driver allows it (SQLite). */
export type SyncConnector = () => Connected;

/** Problems that retrying will not fix: stop and report them. */
function isFatalOpenError(error: unknown): boolean {
  if (error instanceof VigilError) return true;
  const e = error as { code?: unknown; sqlState?: unknown };
  const state = typeof e?.sqlState === "string" ? e.sqlState : typeof e?.code === "string" ? e.code : "";
  // 28: invalid authorization; 3D: unknown database; 42: syntax or permissions.
  return (
    /^(28|3D|42)[0-9A-Z]{3}$/.test(state) ||
    e?.code === "ER_ACCESS_DENIED_ERROR" ||
    e?.code === "ER_BAD_DB_ERROR"
  );
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * How long to wait before reconnection attempt `attempt` (0 for the first): `retryInitialMs`
 * (200) doubled after each failure up to `retryMaxMs` (2,000), less up to a quarter of
 * jitter. The cap is short on purpose: while the backend waits, the events it holds count
 * against the engine's `queue_size`, so every second spent waiting on a server that is
 * already back can cost dropped events; a refused connection attempt every 2 s costs nothing.
 */
export function reconnectDelay(
  attempt: number,
  options: Pick<SqlBackendOptions, "retryInitialMs" | "retryMaxMs">,
  random: () => number = Math.random,
): number {
  return backoffDelay(attempt, reconnectBackoff(options), random);
}

function reconnectBackoff(options: Pick<SqlBackendOptions, "retryInitialMs" | "retryMaxMs">): BackoffOptions {
  return { initialMs: options.retryInitialMs ?? 200, maxMs: options.retryMaxMs ?? 2000 };
}

/** One page of rows in keyset order. */
interface PageRow {
  readonly ts: string;
  readonly id: string;
  readonly e: string;
}

/** The SQL database backend. Build it with `createSqlBackend`. */
export class SqlBackend extends BaseBackend {
  readonly type = "database";
  readonly #connect: Connector;
  readonly #connectSync: SyncConnector | undefined;
  readonly #config: DatabaseBackendConfig;
  readonly #options: SqlBackendOptions;
  readonly #pageSize: number;
  #connected: Connected | undefined;
  #connecting: Promise<Connected> | undefined;
  readonly #warnings: string[] = [];
  /** Batches not yet written, oldest first. */
  readonly #pending: BatchBuffer<StoredRecord>;
  /** Serializes writes, buffer flushes and close. */
  readonly #queue = new SerialQueue();
  /**
   * The batches waiting behind the commit in flight, to be committed together in the next
   * one (up to `commitRows` events); closed when its turn comes or when any other job
   * (signed records, erasure, a flush) queues behind it, so nothing overtakes it.
   */
  #open: Commit | undefined;
  readonly #commitRows: number;
  readonly #outage: Outage;
  #closed = false;
  readonly #commits = { commits: 0, events: 0 };

  constructor(
    config: DatabaseBackendConfig,
    connect: Connector,
    options: SqlBackendOptions = {},
    connectSync?: SyncConnector,
  ) {
    super(config.name);
    this.#connect = connect;
    this.#connectSync = connectSync;
    this.#config = config;
    this.#options = options;
    this.#pending = new BatchBuffer(options.bufferLimit ?? 10_000);
    this.#outage = new Outage(
      reconnectBackoff(options),
      {
        warn: (text) => this.#warn(text),
        healthy: () => this.markHealthy(),
        unhealthy: (error) => this.markUnhealthy(error),
        attempt: () => void this.#serial(() => this.#retry()),
        closed: () => this.#closed,
      },
      {
        down: (reason) => `${this.name}: database unreachable: ${reason}; buffering events`,
        up: `${this.name}: database reachable again; buffered events written`,
        unhealthy: (reason) => `database unreachable: ${reason}; ${this.#pending.items} event(s) buffered`,
      },
    );
    this.#pageSize = Math.max(1, Math.min(options.pageSize ?? 500, 10_000));
    this.#commitRows = Math.max(1, options.commitRows ?? 5000);
  }

  /** Warnings raised so far: durability settings, in-memory databases, outages. */
  warnings(): readonly string[] {
    return this.#warnings.slice();
  }

  /** Inserts committed and the events they carried: the rows per commit the load made. */
  commitStats(): { readonly commits: number; readonly events: number } {
    return { ...this.#commits };
  }

  /** Events held in memory, waiting for the database. */
  pendingEvents(): number {
    return this.#pending.items;
  }

  #warn(text: string): void {
    this.#warnings.push(text);
    if (this.#warnings.length > 100) this.#warnings.shift();
    this.#options.onWarning?.(text);
  }

  /**
   * Connects, creates or migrates the table and checks durability settings. Rejects
   * for problems retrying cannot fix (missing driver, bad credentials, unknown database,
   * a schema newer than this vigil); an unreachable server only makes the backend
   * unhealthy: writes are buffered and the connection is retried with backoff.
   */
  override async open(): Promise<void> {
    try {
      await this.#ready();
    } catch (error) {
      if (isFatalOpenError(error)) throw error;
      this.#outage.failed(message(error));
      this.#warn(`${this.name}: database unreachable at startup (${message(error)}); will retry`);
    }
  }

  #ready(): Promise<Connected> {
    if (this.#connected !== undefined) return Promise.resolve(this.#connected);
    if (this.#closed) return Promise.reject(this.#closedError());
    this.#connecting ??= (async () => {
      const connected = await this.#connect((error) => {
        this.#warn(`${this.name}: an idle connection was closed: ${error.message}`);
      });
      if (this.#connected !== undefined) {
        // a synchronous write opened it meanwhile (see #openSync): keep that connection
        await connected.client.close();
        return this.#connected;
      }
      try {
        await migrate(connected.client, connected.dialect.migration);
        await connected.dialect.prepare?.(connected.client);
        for (const w of connected.warnings) this.#warn(w);
        for (const w of await connected.dialect.durabilityWarnings(connected.client)) this.#warn(w);
      } catch (error) {
        await connected.client.close().catch(() => undefined);
        throw error;
      }
      if (this.#connected !== undefined) {
        await connected.client.close();
        return this.#connected;
      }
      this.#connected = connected;
      return connected;
    })().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #closedError(): VigilError {
    return new VigilError(ErrorCodes.CLOSED, `${this.name}: the database backend is closed`);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    this.#open = undefined;
    return this.#queue.run(fn);
  }

  /**
   * One statement (PostgreSQL's `unnest`, any size; MySQL's multi-row `VALUES` up to its
   * rows per statement) or one transaction (SQLite's one prepared statement row after row;
   * MySQL's statements of 1,000 rows); on a data error, row by row so that one bad
   * event spares the others. Retrying a batch whose commit went unanswered is harmless:
   * every dialect's insert skips ids already stored.
   */
  async #insert(
    c: Connected,
    batch: readonly StoredRecord[],
    rebuilt = false,
  ): Promise<{ id: string; error: unknown }[]> {
    const max = c.dialect.maxRowsPerInsert;
    try {
      await c.dialect.beforeInsert?.(c.client, batch);
      if (batch.length <= max && c.client.sync === undefined) {
        // One statement is atomic on its own: over the network it costs one round trip
        // instead of three (BEGIN, INSERT, COMMIT), which is the batch rate on a slow path.
        await c.client.run(c.dialect.insert(batch));
      } else {
        await c.client.transaction(async (s) => {
          for (let i = 0; i < batch.length; i += max) await s.run(c.dialect.insert(batch.slice(i, i + max)));
        });
      }
      this.#commits.commits++;
      this.#commits.events += batch.length;
      return [];
    } catch (error) {
      // the table was dropped while its migrations table survived: create it again, once
      if (!rebuilt && isMissingTable(error)) {
        if (await rebuildMissingTable(c.client, c.dialect.migration)) {
          await c.dialect.prepare?.(c.client); // partitions went with the table
          this.#warn(
            `${this.name}: the audit table ${c.dialect.table} was missing (dropped?) though its migrations table remained; created it again`,
          );
        }
        return this.#insert(c, batch, true);
      }
      if (!isPermanentError(error)) throw error;
    }
    const failed: { id: string; error: unknown }[] = [];
    for (const record of batch) {
      try {
        await c.client.run(c.dialect.insert([record]));
      } catch (error) {
        if (!isPermanentError(error)) throw error;
        failed.push({ id: idOf(record), error });
      }
    }
    return failed;
  }

  /**
   * Writes buffered batches in order; a batch leaves the buffer once committed. Consecutive
   * batches go together, up to `commitRows` events per commit: after an outage the buffer
   * drains in a few round trips, while the engine drops what it cannot queue.
   */
  async #flushPending(c: Connected): Promise<void> {
    const max = this.#commitRows;
    for (let first = this.#pending.peek(); first !== undefined; first = this.#pending.peek()) {
      const held = this.#pending.all();
      let n = 1;
      let rows = first.length;
      while (n < held.length && rows + (held[n] as readonly StoredRecord[]).length <= max)
        rows += (held[n++] as readonly StoredRecord[]).length;
      const batch = n === 1 ? first : held.slice(0, n).flat();
      const failed = await this.#insert(c, batch);
      for (let i = 0; i < n; i++) this.#pending.shift();
      if (failed.length > 0) {
        this.#warn(
          `${this.name}: the database refused ${failed.length} buffered event(s) (${failed
            .slice(0, 5)
            .map((f) => f.id)
            .join(", ")}): ${message(failed[0]?.error)}`,
        );
      }
    }
  }

  async #retry(): Promise<void> {
    if (this.#closed) return;
    try {
      const c = await this.#ready();
      await this.#flushPending(c);
      this.#outage.recovered();
    } catch (error) {
      this.#outage.failed(message(error));
    }
  }

  /** Keeps a batch for later, or refuses it when the buffer is full. */
  #bufferOrDrop(batch: readonly StoredRecord[], cause: unknown): SqlWriteError {
    if (!this.#pending.offer(batch)) {
      return new SqlWriteError(
        this.name,
        `database unreachable and the buffer is full (${this.#pending.items} of ${this.#pending.limit} events): ` +
          `${batch.length} event(s) not written`,
        { buffered: false, events: batch.length, cause },
      );
    }
    this.markUnhealthy(
      new Error(`database unreachable: ${message(cause)}; ${this.#pending.items} event(s) buffered`),
    );
    return new SqlWriteError(
      this.name,
      `database unreachable (${message(cause)}): ${batch.length} event(s) buffered in memory, not yet durable`,
      { buffered: true, events: batch.length, cause },
    );
  }

  /**
   * Queues `records` for the next commit: batches handed over while a commit is in flight
   * go together in the one after it (up to `commitRows` events), so the rows per commit
   * grow with the load while a lone batch is committed at once. Each batch's promise
   * settles on its own outcome, once the commit that carries it is done.
   */
  override write(records: readonly StoredRecord[], _options: { readonly sync: boolean }): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (records.length === 0) return Promise.resolve();
    const batch = this.#rowsOf(records);
    let commit = this.#open;
    if (commit === undefined || commit.rows + batch.length > this.#commitRows) {
      const next: Commit = { batches: [], rows: 0 };
      // #commit answers each batch; anything unforeseen still reaches them (settled ones ignore it)
      void this.#serial(() => this.#commit(next)).catch((error: unknown) => {
        for (const b of next.batches) b.reject(error);
      });
      this.#open = commit = next;
    }
    const held = commit;
    return new Promise<void>((resolve, reject) => {
      held.batches.push({ rows: batch, resolve, reject });
      held.rows += batch.length;
    });
  }

  /** Writes one commit's batches (see {@link write}); never rejects: each batch hears its outcome. */
  async #commit(commit: Commit): Promise<void> {
    if (this.#open === commit) this.#open = undefined;
    const { batches } = commit;
    if (batches.length === 0) return; // written synchronously meanwhile (writeSync)
    const each = (fn: (b: readonly StoredRecord[]) => unknown) => {
      for (const b of batches) b.reject(fn(b.rows));
    };
    if (!this.#pending.empty && this.#outage.waiting) {
      each((b) => this.#bufferOrDrop(b, new Error("waiting to reconnect")));
      return;
    }
    let c: Connected;
    try {
      c = await this.#ready();
      await this.#flushPending(c);
    } catch (error) {
      if (isFatalOpenError(error) && this.#connected === undefined) {
        each(() => error);
        return;
      }
      this.#outage.failed(message(error));
      each((b) => this.#bufferOrDrop(b, error));
      return;
    }
    const rows = batches.length === 1 ? batches[0]!.rows : batches.flatMap((b) => b.rows);
    let failed: { id: string; error: unknown }[];
    try {
      failed = await this.#insert(c, rows);
    } catch (error) {
      each((b) => this.#bufferOrDrop(b, error));
      this.#outage.failed(message(error));
      return;
    }
    this.#outage.recovered();
    const refused = new Map(failed.map((f) => [f.id, f.error]));
    for (const b of batches) {
      const mine = refused.size === 0 ? [] : b.rows.map(idOf).filter((id) => refused.has(id));
      if (mine.length === 0) {
        b.resolve();
        continue;
      }
      const cause = refused.get(mine[0]!);
      b.reject(
        new SqlWriteError(
          this.name,
          `the database refused ${mine.length} of ${b.rows.length} event(s): ${message(cause)}`,
          { buffered: false, events: mine.length, failedIds: mine, cause },
        ),
      );
    }
  }

  /**
   * SQLite only (its driver is synchronous): writes buffered batches and then `batch`
   * in one transaction and returns true. Returns false, keeping nothing, where it
   * cannot (other dialects, not open yet, a transaction in progress, an error).
   */
  override writeSync(records: readonly StoredRecord[], _options: { readonly sync: boolean }): boolean {
    const c = this.#connected ?? this.#openSync();
    const sync = c?.client.sync;
    if (c === undefined || sync === undefined || this.#closed) return false;
    const batch = this.#rowsOf(records);
    const max = c.dialect.maxRowsPerInsert;
    // batches waiting for the next asynchronous commit go first, in order, and are done
    const waiting = this.#open?.batches ?? [];
    try {
      sync.transaction((s) => {
        for (const b of [...this.#pending.all(), ...waiting.map((w) => w.rows), batch]) {
          for (let i = 0; i < b.length; i += max) s.run(c.dialect.insert(b.slice(i, i + max)));
        }
      });
    } catch {
      return false;
    }
    this.#pending.clear();
    for (const w of waiting.splice(0)) w.resolve();
    this.#outage.recovered();
    return true;
  }

  /**
   * Opens the database synchronously (SQLite) for a write that cannot wait for `open()`:
   * `durability: event` promises the event is stored when `log()` returns, also right
   * after the engine was created. Undefined where the driver cannot, or on any error (the
   * write then goes the asynchronous way, which reports it).
   */
  #openSync(): Connected | undefined {
    if (this.#connectSync === undefined || this.#closed || !this.#pending.empty) return undefined;
    let connected: Connected;
    try {
      connected = this.#connectSync();
    } catch {
      return undefined;
    }
    try {
      migrateSync(connected.client.sync!, connected.dialect.migration);
    } catch {
      void connected.client.close().catch(() => undefined);
      return undefined;
    }
    for (const w of connected.warnings) this.#warn(w);
    void connected.dialect.durabilityWarnings(connected.client).then(
      (warnings) => {
        for (const w of warnings) this.#warn(w);
      },
      () => undefined,
    );
    this.#connected = connected;
    return connected;
  }

  /** Tries to write the buffer now; resolves when it is empty, rejects if the database is still unreachable. */
  drain(): Promise<void> {
    return this.#serial(async () => {
      if (this.#pending.empty) return;
      const c = await this.#ready();
      await this.#flushPending(c);
      this.#outage.recovered();
    });
  }

  async #readable(): Promise<Connected> {
    try {
      return await this.#ready();
    } catch (error) {
      throw new StorageError(this.name, `cannot query: ${message(error)}`, { cause: error });
    }
  }

  /** Rows in `ts, id` order matching `where`, in keyset pages. */
  async *#rows(
    c: Connected,
    spec: Pick<QuerySpec, "from" | "to" | "order" | "after">,
    where: Cond,
    pageLimit: () => number,
  ): AsyncGenerator<PageRow> {
    const desc = spec.order !== "asc";
    const from = spec.from?.toISOString();
    const to = spec.to?.toISOString();
    const filter: Sql[] = where === true ? [] : [condSql(where)];
    const direction = desc ? "DESC" : "ASC";
    let after = spec.after;
    for (;;) {
      const conds: Sql[] = [];
      // The range's bound on the side the pages move away from is left out once the keyset
      // implies it: SQLite takes one upper (lower) bound of `ts` as its index range, and with
      // `ts < to` kept it would walk every row already returned before each page.
      if (from !== undefined && (desc || !keysetImplies(after, from, false)))
        conds.push(c.dialect.leaves.timestampCompare(">=", from));
      if (to !== undefined && (!desc || !keysetImplies(after, to, true)))
        conds.push(c.dialect.leaves.timestampCompare("<", to));
      conds.push(...filter);
      if (after !== undefined) conds.push(c.dialect.keyset(after, desc));
      const size = pageLimit();
      // The texts are named apart from the columns: ORDER BY takes an output name first, and
      // PostgreSQL would sort every row of the range by the formatted text instead of reading
      // the (ts, id) index in order (native order is code-unit order for what it stores).
      const statement = sql`SELECT ${raw(c.dialect.tsText)} AS ts_text, ${raw(c.dialect.idText)} AS id_text, ${raw(c.dialect.eventText)} AS e FROM ${raw(c.dialect.table)}${
        conds.length > 0 ? sql` WHERE ${join(conds, " AND ")}` : raw("")
      } ORDER BY ts ${raw(direction)}, id ${raw(direction)} LIMIT ${raw(String(size))}`;
      let rows: readonly Row[];
      try {
        rows = await c.client.all(render(statement, c.dialect.placeholders));
      } catch (error) {
        throw new StorageError(this.name, `query failed: ${message(error)}`, { cause: error });
      }
      for (const row of rows) yield { ts: String(row.ts_text), id: String(row.id_text), e: String(row.e) };
      if (rows.length < size) return;
      const last = rows[rows.length - 1] as Row;
      after = { timestamp: String(last.ts_text), id: String(last.id_text) };
    }
  }

  /** `QuerySpec.tenant` as an exact condition on the indexed column (readable under encryption too). */
  #tenantCond(c: Connected, spec: QuerySpec): Sql | true {
    return spec.tenant === undefined ? true : c.dialect.leaves.columnIs("tenant", spec.tenant);
  }

  /** How conditions become SQL: on columns only when the lines are opaque (encryption). */
  #leaves(c: Connected): LeafCompiler {
    return this.#options.opaqueLines ? columnLeaves(c.dialect.leaves) : c.dialect.leaves;
  }

  /** A stored line's event (decrypted and opened, with encryption or erasure on). */
  #event(text: string): AuditEvent {
    return this.#options.decode ? this.#options.decode(text) : (JSON.parse(text) as AuditEvent);
  }

  /** The batch as its rows are written: indexed columns from `columnsFrom` (encryption). */
  #rowsOf(batch: readonly StoredRecord[]): readonly StoredRecord[] {
    const columnsFrom = this.#options.columnsFrom;
    return columnsFrom === undefined
      ? batch
      : batch.map((r) => ({ event: columnsFrom(r.event), line: r.line }));
  }

  override async *query(spec: QuerySpec): AsyncIterable<AuditEvent> {
    let remaining = spec.limit ?? Number.POSITIVE_INFINITY;
    if (remaining <= 0) return;
    const c = await this.#readable();
    const pred = compileWhere(spec.where, this.#leaves(c), this.#options.sealed);
    // The evaluator has the last word on every row, exact SQL or not.
    const judge = judgeOf(spec);
    const exactSql = isExact(pred);
    const pageLimit = () => (exactSql ? Math.max(1, Math.min(remaining, this.#pageSize)) : this.#pageSize);
    const where = andConds([this.#tenantCond(c, spec), pred.sup]);
    for await (const row of this.#rows(c, spec, where, pageLimit)) {
      const event = this.#event(row.e);
      if (judge !== undefined && !judge(event)) continue;
      yield event;
      if (--remaining <= 0) return;
    }
  }

  override async count(spec: QuerySpec): Promise<number> {
    const c = await this.#readable();
    const pred = compileWhere(spec.where, this.#leaves(c), this.#options.sealed);
    const range: Sql[] = [];
    if (spec.from !== undefined) range.push(c.dialect.leaves.timestampCompare(">=", spec.from.toISOString()));
    if (spec.to !== undefined) range.push(c.dialect.leaves.timestampCompare("<", spec.to.toISOString()));
    const bound = this.#tenantCond(c, spec);
    if (bound !== true) range.push(bound);
    let total = 0;
    if (pred.sub !== false) {
      const where = andConds([...range, pred.sub]);
      const statement = sql`SELECT COUNT(*) AS n FROM ${raw(c.dialect.table)}${
        where === true ? raw("") : sql` WHERE ${condSql(where)}`
      }`;
      let rows: readonly Row[];
      try {
        rows = await c.client.all(render(statement, c.dialect.placeholders));
      } catch (error) {
        throw new StorageError(this.name, `query failed: ${message(error)}`, { cause: error });
      }
      total += Number(rows[0]?.n ?? 0);
    }
    if (isExact(pred)) return total;
    // Rows SQL cannot decide: fetch them and let the evaluator judge.
    const judge = compileQuery(spec.where as QueryNode);
    const undecided = andConds([
      bound,
      pred.sup,
      pred.sub === false ? true : c.dialect.leaves.not(condSql(pred.sub)),
    ]);
    const scan = { from: spec.from, to: spec.to, order: "asc" as const };
    for await (const row of this.#rows(c, scan, undecided, () => this.#pageSize)) {
      const event = this.#event(row.e);
      if (judge(event) && (spec.tenant === undefined || event.tenant === spec.tenant)) total++;
    }
    return total;
  }

  /**
   * The most frequent values of a field kept in an indexed column, grouped by SQL, when the
   * query compiles exactly and the column holds the field readable; `undefined` otherwise
   * (the engine then counts from a stream). Counts string values, as the column does.
   */
  async topValues(spec: QuerySpec, field: string, limit: number): Promise<readonly ValueCount[] | undefined> {
    const column = Object.hasOwn(COLUMN_OF_PATH, field) ? COLUMN_OF_PATH[field] : undefined;
    if (column === undefined || this.#options.sealed?.(field)) return undefined;
    const c = await this.#readable();
    const pred = compileWhere(spec.where, this.#leaves(c), this.#options.sealed);
    if (!isExact(pred)) return undefined;
    const conds: Sql[] = [raw(`${column} IS NOT NULL`)];
    if (spec.from !== undefined) conds.push(c.dialect.leaves.timestampCompare(">=", spec.from.toISOString()));
    if (spec.to !== undefined) conds.push(c.dialect.leaves.timestampCompare("<", spec.to.toISOString()));
    const bound = this.#tenantCond(c, spec);
    if (bound !== true) conds.push(bound);
    if (pred.sub !== true) conds.push(condSql(pred.sub));
    const key = c.dialect.leaves.groupKey(column);
    const fetch = FACET_FETCH;
    const statement = sql`SELECT ${raw(key)} AS v, COUNT(*) AS n FROM ${raw(c.dialect.table)} WHERE ${join(conds, " AND ")} GROUP BY ${raw(key)} ORDER BY n DESC LIMIT ${raw(String(fetch))}`;
    let rows: readonly Row[];
    try {
      rows = await c.client.all(render(statement, c.dialect.placeholders));
    } catch (error) {
      throw new StorageError(this.name, `query failed: ${message(error)}`, { cause: error });
    }
    const values = rows.map((r) => ({
      value: Buffer.isBuffer(r.v) ? r.v.toString("utf8") : String(r.v),
      count: Number(r.n),
    }));
    // a value cut to the column's width may stand for several: count those from events
    if (values.some((v) => v.value.length >= COLUMN_CHARS)) return undefined;
    values.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    // when the groups fetched end in a tie that reaches into the top, the order is not known
    if (
      rows.length === fetch &&
      values[Math.min(limit, values.length) - 1]?.count === values[values.length - 1]?.count
    )
      return undefined;
    return values.slice(0, limit);
  }

  /** The one path that deletes rows: lifts the guard inside each bounded transaction. */
  async #deleteInBatches(c: Connected, statement: (limit: number) => Rendered): Promise<number> {
    const size = Math.max(1, this.#options.deleteBatchSize ?? 5000);
    let total = 0;
    for (;;) {
      const rendered = statement(size);
      const n = await c.client.transaction((session) => session.run(rendered), c.dialect.deletion);
      total += n;
      if (n < size) return total;
    }
  }

  /**
   * How verification names this table: `<dialect>:<table>` (a problem reads
   * `sqlite:vigil_audit_events row 42`).
   */
  get source(): string {
    return `${this.#config.connection.dialect}:${this.#config.table_name}`;
  }

  /** How verification names the signed-records table: `<dialect>:<table>_checkpoints`. */
  get recordsSource(): string {
    return `${this.source}_checkpoints`;
  }

  /**
   * Every stored line (the exact text the pipeline handed over) with its row id, in row-id
   * (insertion) order, fetched in keyset pages of `pageSize` rows so memory stays flat.
   * With `from`/`to`: the rows from the first to the last whose `timestamp` is in
   * `[from, to)`, all of them in between. With `olderThan`: only rows with `ts` before it.
   */
  async *storedLines(
    options: {
      readonly from?: Date;
      readonly to?: Date;
      readonly olderThan?: Date;
      readonly pageSize?: number;
    } = {},
  ): AsyncGenerator<{ readonly at: number; readonly line: string }> {
    const c = await this.#readable();
    const { rowId, table, eventText, placeholders } = c.dialect;
    const size = Math.max(1, Math.trunc(options.pageSize ?? 5000));
    const bounds: Sql[] = [];
    if (options.from !== undefined || options.to !== undefined) {
      const range: Sql[] = [];
      if (options.from !== undefined)
        range.push(c.dialect.leaves.timestampCompare(">=", options.from.toISOString()));
      if (options.to !== undefined)
        range.push(c.dialect.leaves.timestampCompare("<", options.to.toISOString()));
      const rows = await this.#all(
        c,
        sql`SELECT MIN(${raw(rowId)}) AS lo, MAX(${raw(rowId)}) AS hi FROM ${raw(table)} WHERE ${join(range, " AND ")}`,
      );
      const lo = rows[0]?.lo;
      const hi = rows[0]?.hi;
      if (lo === null || lo === undefined || hi === null || hi === undefined) return;
      bounds.push(sql`${raw(rowId)} >= ${Number(lo)}`, sql`${raw(rowId)} <= ${Number(hi)}`);
    }
    if (options.olderThan !== undefined)
      bounds.push(c.dialect.leaves.timestampCompare("<", options.olderThan.toISOString()));
    let after: number | undefined;
    for (;;) {
      const conds = after === undefined ? bounds : [...bounds, sql`${raw(rowId)} > ${after}`];
      const statement = sql`SELECT ${raw(rowId)} AS r, ${raw(eventText)} AS e FROM ${raw(table)}${
        conds.length > 0 ? sql` WHERE ${join(conds, " AND ")}` : raw("")
      } ORDER BY ${raw(rowId)} LIMIT ${raw(String(size))}`;
      const rows = await this.#all(c, statement, placeholders);
      for (const row of rows) yield { at: Number(row.r), line: row.e === null ? "" : String(row.e) };
      if (rows.length < size) return;
      after = Number(rows[rows.length - 1]?.r);
    }
  }

  /** The signed records (`<table>_checkpoints`) as stored, with their ids, oldest first, in pages. */
  async *signedRecords(): AsyncGenerator<{ readonly at: number; readonly text: string }> {
    const c = await this.#readable();
    const size = 5000;
    let after = 0;
    for (;;) {
      const rows = await this.#all(
        c,
        sql`SELECT id, record FROM ${raw(c.dialect.records)} WHERE id > ${after} ORDER BY id LIMIT ${raw(String(size))}`,
      );
      for (const row of rows) yield { at: Number(row.id), text: String(row.record) };
      if (rows.length < size) return;
      after = Number(rows[rows.length - 1]?.id);
    }
  }

  /**
   * Appends signed records (checkpoints, retention records) to `<table>_checkpoints` in one
   * transaction, after the batches already handed to {@link write} (and any buffered ones):
   * a checkpoint is never committed before the events it covers. Rejects when the database
   * cannot be reached; nothing is kept for later (the caller keeps and retries). During an
   * outage it fails at once until the next reconnection attempt is due, unless `retryNow`
   * (a last attempt at close) asks to try the connection anyway.
   */
  appendSignedRecords(
    rows: readonly {
      readonly type: string;
      readonly chain: string;
      readonly seq: number;
      readonly text: string;
    }[],
    options: { readonly retryNow?: boolean } = {},
  ): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (rows.length === 0) return Promise.resolve();
    return this.#serial(async () => {
      if (!options.retryNow && !this.#pending.empty && this.#outage.waiting)
        throw new StorageError(this.name, "database unreachable: signed records not written yet");
      let c: Connected;
      try {
        c = await this.#ready();
        await this.#flushPending(c);
      } catch (error) {
        this.#outage.failed(message(error));
        throw new StorageError(this.name, `database unreachable: ${message(error)}`, { cause: error });
      }
      this.#outage.recovered();
      const insert = (r: (typeof rows)[number]) =>
        render(
          sql`INSERT INTO ${raw(c.dialect.records)} (type, chain, seq, record) VALUES (${r.type}, ${r.chain}, ${r.seq}, ${r.text})`,
          c.dialect.placeholders,
        );
      await c.client.transaction(async (s) => {
        for (const r of rows) await s.run(insert(r));
      });
    });
  }

  /**
   * Erasure by rewriting: replaces the stored line (and indexed columns) of each row, and
   * appends the signed records that authorize it, in one transaction through the guarded
   * erasure path — both are committed or neither. Runs after the batches already handed to
   * {@link write}. Each row keeps its id and row id.
   *
   * @throws {StorageError} when a row is gone or its id changed (nothing is committed then).
   */
  rewriteRows(
    rows: readonly { readonly at: number; readonly record: StoredRecord }[],
    records: readonly {
      readonly type: string;
      readonly chain: string;
      readonly seq: number;
      readonly text: string;
    }[],
  ): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (rows.length === 0 && records.length === 0) return Promise.resolve();
    return this.#serial(async () => {
      const c = await this.#ready();
      await this.#flushPending(c);
      const columned = this.#rowsOf(rows.map((r) => r.record));
      await c.client.transaction(async (s) => {
        for (const r of records)
          await s.run(
            render(
              sql`INSERT INTO ${raw(c.dialect.records)} (type, chain, seq, record) VALUES (${r.type}, ${r.chain}, ${r.seq}, ${r.text})`,
              c.dialect.placeholders,
            ),
          );
        for (let i = 0; i < rows.length; i++) {
          const changed = await s.run(c.dialect.rewrite(rows[i]!.at, columned[i]!));
          if (changed !== 1)
            throw new StorageError(
              this.name,
              `erasure: ${this.source} row ${rows[i]!.at} (event ${columned[i]!.event.id}) was not found to rewrite; nothing committed`,
            );
        }
      }, c.dialect.rewriting);
    });
  }

  /**
   * Deletes the rows with `ts < cutoff` and a row id of at most `maxRow` (the rows a
   * retention pass read and signed for), through the guarded deletion path in bounded
   * batches. Returns how many were deleted.
   */
  async deleteRetained(cutoff: Date, maxRow: number): Promise<number> {
    const c = await this.#readable();
    const iso = cutoff.toISOString();
    const dropped = (await c.dialect.dropBefore?.(c.client, cutoff, maxRow)) ?? 0;
    return dropped + (await this.#deleteInBatches(c, (limit) => c.dialect.deleteOlder(iso, limit, maxRow)));
  }

  async #all(c: Connected, statement: Sql, style = c.dialect.placeholders): Promise<readonly Row[]> {
    try {
      return await c.client.all(render(statement, style));
    } catch (error) {
      throw new StorageError(this.name, `query failed: ${message(error)}`, { cause: error });
    }
  }

  /**
   * Deletes events older than `cutoff` (by `timestamp`), at most `deleteBatchSize`
   * rows per statement and transaction so no lock is held for long. With `dryRun`,
   * only counts them.
   */
  override async applyRetention(
    cutoff: Date,
    options: { readonly dryRun: boolean },
  ): Promise<RetentionResult> {
    const c = await this.#readable();
    const iso = cutoff.toISOString();
    if (options.dryRun) {
      const rows = await c.client.all(
        render(
          sql`SELECT COUNT(*) AS n FROM ${raw(c.dialect.table)} WHERE ${c.dialect.leaves.timestampCompare("<", iso)}`,
          c.dialect.placeholders,
        ),
      );
      return { deletedEvents: Number(rows[0]?.n ?? 0) };
    }
    const dropped = (await c.dialect.dropBefore?.(c.client, cutoff)) ?? 0;
    return {
      deletedEvents: dropped + (await this.#deleteInBatches(c, (limit) => c.dialect.deleteOlder(iso, limit))),
    };
  }

  /**
   * Deletes every event matching `where` (GDPR erasure: `actor.username:alice`),
   * through the same guarded path as retention, in bounded batches of ids chosen by
   * the evaluator. With `dryRun`, only counts them. Returns how many were (or would
   * be) deleted.
   */
  async erase(where: QueryNode, options: { readonly dryRun: boolean }): Promise<number> {
    if (options.dryRun) return this.count({ where, order: "asc" });
    const c = await this.#readable();
    const size = Math.max(1, this.#options.deleteBatchSize ?? 5000);
    let total = 0;
    for (;;) {
      const ids: string[] = [];
      for await (const event of this.query({ where, order: "asc", limit: size })) ids.push(event.id);
      if (ids.length === 0) return total;
      const statement = sql`DELETE FROM ${raw(c.dialect.table)} WHERE id IN (${join(
        ids.map((id) => sql`${id}`),
        ", ",
      )})`;
      const rendered = render(statement, c.dialect.placeholders);
      const deleted = await c.client.transaction((session) => session.run(rendered), c.dialect.deletion);
      if (deleted === 0) {
        throw new StorageError(
          this.name,
          `erase made no progress: ${ids.length} matching event(s) were not deleted`,
        );
      }
      total += deleted;
      if (ids.length < size) return total;
    }
  }

  /**
   * Stops retrying, writes what is buffered if the database is reachable, and closes
   * the connections. Rejects with a {@link SqlWriteError} (after closing) when buffered
   * events could not be written: they are lost for this backend.
   */
  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#outage.stop();
    const lastError = await this.#serial(async () => {
      this.#closed = true;
      if (this.#pending.empty || this.#connected === undefined) return undefined;
      try {
        await this.#flushPending(this.#connected);
        return undefined;
      } catch (error) {
        return error;
      }
    });
    const c = this.#connected ?? (await this.#connecting?.catch(() => undefined));
    this.#connected = undefined;
    await c?.client.close();
    if (this.#pending.items > 0) {
      const lost = this.#pending.clear();
      throw new SqlWriteError(
        this.name,
        `closed with ${lost} buffered event(s) that could not be written${lastError ? `: ${message(lastError)}` : ""}`,
        { buffered: false, events: lost, cause: lastError },
      );
    }
  }
}

/** Batches committed together; each hears its own outcome. */
interface Commit {
  readonly batches: {
    readonly rows: readonly StoredRecord[];
    readonly resolve: () => void;
    readonly reject: (error: unknown) => void;
  }[];
  rows: number;
}

function idOf(record: StoredRecord): string {
  return String((record.event as { id?: unknown }).id);
}

/** Groups fetched for `topValues` (then ranked in JavaScript, by count then value). */
const FACET_FETCH = 1000;

/**
 * Whether the keyset from `after` implies the range's bound `bound` (an ISO instant) behind
 * the pages: descending, `ts <= after` implies `ts < bound` when `after`
 * is before `bound`; ascending, `ts >= after` implies `ts >= bound` when `after` is not
 * before it. Only a canonical position is compared (a cursor may carry any text).
 */
function keysetImplies(after: KeysetPosition | undefined, bound: string, desc: boolean): boolean {
  if (after === undefined || !isCanonicalTs(after.timestamp)) return false;
  return desc ? after.timestamp < bound : after.timestamp >= bound;
}

/** The final judge of a fetched row: the query, and the tenant exactly. */
function judgeOf(spec: QuerySpec): EventPredicate | undefined {
  const query = spec.where === undefined ? undefined : compileQuery(spec.where);
  const tenant = spec.tenant;
  if (tenant === undefined) return query;
  return (event) => (event as AuditEvent).tenant === tenant && (query === undefined || query(event));
}
