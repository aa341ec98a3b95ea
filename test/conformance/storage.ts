/**
 * The storage conformance suite, written once and run on every backend: the same
 * generated corpus (10,000 events) and the same queries must give the same ids in the
 * same order as the in-memory evaluator, counts must agree, paging must be seamless,
 * retried batches must not duplicate, SQL-injection payloads must change nothing, and
 * retention must delete exactly what is older than the cutoff.
 *
 * @example
 * runStorageConformance("sqlite", async () => createSqlBackend(config));
 *
 * @module
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import type { QueryNode } from "../../src/query/ast.js";
import { compileQuery } from "../../src/query/evaluate.js";
import { parse } from "../../src/query/parse.js";
import type { QuerySpec, StorageBackend, StoredRecord } from "../../src/storage/backend.js";
import { CORPUS_START, generateCorpus, TENANTS, toRecords } from "./corpus.js";
import { QUERY_CASES } from "./queries.js";

/** How the suite is run. */
export interface ConformanceOptions {
  /** Events in the corpus; default 10,000. */
  readonly corpusSize?: number;
  /** Events per `write` call; default 500. */
  readonly batchSize?: number;
  /** Turns each clear record into the one written (encryption: the envelope line). Default none. */
  readonly encode?: (record: StoredRecord) => StoredRecord;
}

/** (timestamp, id) by UTF-16 code units: the one order every backend uses. */
function compare(a: AuditEvent, b: AuditEvent): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** What every backend must answer: the corpus filtered by the evaluator, sorted, paged. */
export function referenceSearch(corpus: readonly AuditEvent[], spec: QuerySpec): AuditEvent[] {
  const query = spec.where === undefined ? () => true : compileQuery(spec.where);
  const tenant = spec.tenant;
  const matches = (e: AuditEvent) => (tenant === undefined || e.tenant === tenant) && query(e);
  const from = spec.from?.getTime() ?? Number.NEGATIVE_INFINITY;
  const to = spec.to?.getTime() ?? Number.POSITIVE_INFINITY;
  const sorted = corpus
    .filter((e) => {
      const t = Date.parse(e.timestamp);
      return t >= from && t < to && matches(e);
    })
    .sort(compare);
  if (spec.order === "desc") sorted.reverse();
  let out = sorted;
  const after = spec.after;
  if (after !== undefined) {
    const position = { timestamp: after.timestamp, id: after.id } as AuditEvent;
    out = out.filter((e) => (spec.order === "asc" ? compare(e, position) > 0 : compare(e, position) < 0));
  }
  return spec.limit === undefined ? out : out.slice(0, spec.limit);
}

async function ids(backend: StorageBackend, spec: QuerySpec): Promise<string[]> {
  const out: string[] = [];
  for await (const event of backend.query(spec)) out.push(event.id);
  return out;
}

function where(query: string | QueryNode): QueryNode {
  return typeof query === "string" ? parse(query) : query;
}

/**
 * Registers the suite for one backend. `makeBackend` returns a fresh, empty backend
 * (not yet opened); the suite opens it, writes the corpus with
 * `write(records, { sync: false })` in batches, and closes it at the end.
 */
export function runStorageConformance(
  name: string,
  makeBackend: () => Promise<StorageBackend>,
  options: ConformanceOptions = {},
): void {
  describe(`storage conformance: ${name}`, () => {
    const corpus = generateCorpus(options.corpusSize ?? 10_000);
    const clear = toRecords(corpus);
    const lineById = new Map(clear.map((r) => [r.event.id, r.line]));
    const encode = options.encode;
    const records = encode === undefined ? clear : clear.map(encode);
    const batchSize = options.batchSize ?? 500;
    let backend: StorageBackend;

    beforeAll(async () => {
      backend = await makeBackend();
      await backend.open();
      for (let i = 0; i < records.length; i += batchSize) {
        await backend.write(records.slice(i, i + batchSize), { sync: false });
      }
    }, 180_000);

    afterAll(async () => {
      await backend?.close();
    }, 60_000);

    it("stores every event once and returns it byte for byte", async () => {
      const expected = referenceSearch(corpus, { order: "asc" });
      const got: AuditEvent[] = [];
      for await (const event of backend.query({ order: "asc" })) got.push(event);
      expect(got.map((e) => e.id)).toEqual(expected.map((e) => e.id));
      for (const event of got) expect(JSON.stringify(event)).toBe(lineById.get(event.id));
      expect(await backend.count({ order: "desc" })).toBe(corpus.length);
    });

    it("writes a retried batch without duplicating it", async () => {
      await backend.write(records.slice(0, batchSize), { sync: false });
      await backend.write(records.slice(batchSize - 10, batchSize + 10), { sync: false });
      expect(await backend.count({ order: "asc" })).toBe(corpus.length);
    });

    it.each(QUERY_CASES)("$title: same ids, same order, same count", async (c) => {
      const base = { where: where(c.query), from: c.from, to: c.to };
      for (const order of ["desc", "asc"] as const) {
        const spec: QuerySpec = { ...base, order, limit: 60 };
        expect(await ids(backend, spec)).toEqual(referenceSearch(corpus, spec).map((e) => e.id));
      }
      const full = referenceSearch(corpus, { ...base, order: "asc" });
      expect(await backend.count({ ...base, order: "asc" })).toBe(full.length);
    });

    it("binds a search to one tenant exactly, whatever the query asks", async () => {
      for (const tenant of [...TENANTS, "nobody"]) {
        for (const query of [
          "",
          "tenant:ACME",
          "* OR tenant:globex",
          "NOT tenant:acme",
          "category:database",
        ]) {
          const base = { where: parse(query), tenant };
          for (const order of ["desc", "asc"] as const) {
            const spec: QuerySpec = { ...base, order, limit: 40 };
            const got = await ids(backend, spec);
            expect(got).toEqual(referenceSearch(corpus, spec).map((e) => e.id));
          }
          const full = referenceSearch(corpus, { ...base, order: "asc" });
          expect(await backend.count({ ...base, order: "asc" })).toBe(full.length);
          for (const e of full) expect(e.tenant).toBe(tenant);
        }
      }
      // the binding is exact: "acme" never includes "Acme" or "ACME"
      const acme = await backend.count({ order: "asc", tenant: "acme" });
      const anyCase = await backend.count({ order: "asc", where: parse("tenant:acme") });
      expect(acme).toBeGreaterThan(0);
      expect(anyCase).toBeGreaterThan(acme);
    });

    it("topValues, where a backend offers it, gives the evaluator's top values or declines", async () => {
      if (backend.topValues === undefined) return;
      let answered = 0;
      for (const field of [
        "action.category",
        "action.type",
        "actor.username",
        "result.status",
        "severity",
        "tenant",
      ]) {
        for (const [query, tenant] of [
          ["", undefined],
          ["category:database OR category:api", undefined],
          ["NOT status:success", "acme"],
          ["user:alice", undefined],
          ["alice", undefined], // a bare term: not exact in SQL, declined
        ] as const) {
          const spec: QuerySpec = {
            where: parse(query),
            order: "asc",
            from: new Date(CORPUS_START + 86_400_000),
            ...(tenant ? { tenant } : {}),
          };
          const got = await backend.topValues(spec, field, 10);
          if (got === undefined) continue;
          answered++;
          const counts = new Map<string, number>();
          for (const e of referenceSearch(corpus, spec)) {
            const v = field
              .split(".")
              .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], e);
            if (typeof v === "string") counts.set(v, (counts.get(v) ?? 0) + 1);
          }
          const expected = [...counts]
            .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
            .slice(0, 10)
            .map(([value, count]) => ({ value, count }));
          expect(got, `${field} / ${query}`).toEqual(expected);
        }
      }
      expect(answered).toBeGreaterThan(0);
    });

    it("streams every match across many pages without a limit", async () => {
      for (const query of ["status:success", "NOT category:database", "said OR user:alice"]) {
        const spec: QuerySpec = { where: parse(query), order: "desc" };
        expect(await ids(backend, spec)).toEqual(referenceSearch(corpus, spec).map((e) => e.id));
      }
    });

    it("pages through the matches with `after`, in both orders, with nothing lost or repeated", async () => {
      for (const query of ["category:database OR category:api", "result.duration_ms:>200", "alice", ""]) {
        for (const order of ["asc", "desc"] as const) {
          const all = referenceSearch(corpus, { where: parse(query), order }).map((e) => e.id);
          const seen: string[] = [];
          let after: QuerySpec["after"];
          for (;;) {
            const page: AuditEvent[] = [];
            for await (const e of backend.query({ where: parse(query), order, after, limit: 997 }))
              page.push(e);
            if (page.length === 0) break;
            seen.push(...page.map((e) => e.id));
            const last = page[page.length - 1] as AuditEvent;
            after = { timestamp: last.timestamp, id: last.id };
          }
          expect(seen).toEqual(all);
        }
      }
    });

    it("resumes after a position that is not an event, including a tie on timestamp", async () => {
      const sorted = referenceSearch(corpus, { order: "asc" });
      const tie = sorted.find((e, i) => sorted[i + 1]?.timestamp === e.timestamp) as AuditEvent;
      for (const after of [
        { timestamp: tie.timestamp, id: tie.id },
        { timestamp: tie.timestamp, id: "" },
        { timestamp: tie.timestamp, id: "\uffff" },
        { timestamp: new Date(CORPUS_START + 86_400_000).toISOString(), id: "m" },
      ]) {
        for (const order of ["asc", "desc"] as const) {
          const spec: QuerySpec = { order, after, limit: 25 };
          expect(await ids(backend, spec)).toEqual(referenceSearch(corpus, spec).map((e) => e.id));
        }
      }
    });

    it("honours limit 1 and limit 0", async () => {
      const spec1: QuerySpec = { where: parse("user:bob"), order: "desc", limit: 1 };
      expect(await ids(backend, spec1)).toEqual(referenceSearch(corpus, spec1).map((e) => e.id));
      expect(await ids(backend, { order: "asc", limit: 0 })).toEqual([]);
    });

    it("binds SQL-injection payloads in cursor positions as plain values", async () => {
      for (const after of [
        { timestamp: "2026' OR '1'='1", id: "x' --" },
        { timestamp: "2026-03-04T00:00:00.000Z'; DROP TABLE t; --", id: '") OR 1=1 --' },
      ]) {
        for (const order of ["asc", "desc"] as const) {
          const spec: QuerySpec = { order, after, limit: 30 };
          expect(await ids(backend, spec)).toEqual(referenceSearch(corpus, spec).map((e) => e.id));
        }
      }
      expect(await backend.count({ order: "asc" })).toBe(corpus.length);
    });

    it("is healthy after all of the above, with the store intact", async () => {
      expect(backend.health().healthy).toBe(true);
      expect(await backend.count({ order: "asc" })).toBe(corpus.length);
    });

    it("retention deletes exactly the events older than the cutoff", async () => {
      const cutoff = new Date(CORPUS_START + 2 * 86_400_000);
      const older = corpus.filter((e) => Date.parse(e.timestamp) < cutoff.getTime()).length;
      expect(older).toBeGreaterThan(0);
      expect((await backend.applyRetention(cutoff, { dryRun: true })).deletedEvents).toBe(older);
      expect(await backend.count({ order: "asc" })).toBe(corpus.length);
      expect((await backend.applyRetention(cutoff, { dryRun: false })).deletedEvents).toBe(older);
      const remaining = corpus.filter((e) => Date.parse(e.timestamp) >= cutoff.getTime());
      expect(await backend.count({ order: "asc" })).toBe(remaining.length);
      const spec: QuerySpec = { where: parse("category:database"), order: "asc", limit: 50 };
      expect(await ids(backend, spec)).toEqual(referenceSearch(remaining, spec).map((e) => e.id));
      expect((await backend.applyRetention(cutoff, { dryRun: false })).deletedEvents).toBe(0);
    });
  });
}
