/**
 * The conformance queries on the file store, whose reader skips lines by their bytes before
 * decoding them (`src/storage/file/scan.ts`): every query of the suite, with and without a
 * limit, in both orders, bound to each tenant, with time ranges and cursors, must give the
 * ids the in-memory evaluator gives; counts, unordered scans (events and timestamps) and
 * the engine's facets and histograms must agree with it. Run on plain lines and on lines
 * written the ways that defeat a byte search: escaped (`\u0041`, `\/`), spaced JSON, and
 * encrypted envelopes.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import type { FileBackendConfig } from "../../src/config/types.js";
import { createEncryptionStage } from "../../src/crypto/stage.js";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { parse } from "../../src/query/parse.js";
import type { QuerySpec, StorageBackend } from "../../src/storage/backend.js";
import { FileBackend } from "../../src/storage/file/file-backend.js";
import { createBackends } from "../../src/storage/index.js";
import { tempDir } from "../helpers.js";
import { CORPUS_START, generateCorpus, TENANTS, toRecords } from "./corpus.js";
import { QUERY_CASES } from "./queries.js";
import { referenceSearch } from "./storage.js";

const temp = tempDir("vigil-file-conformance-");
afterAll(() => temp.cleanup());

const DAY = 86_400_000;

async function ids(backend: StorageBackend, spec: QuerySpec): Promise<string[]> {
  const out: string[] = [];
  for await (const e of backend.query(spec)) out.push(e.id);
  return out;
}

async function scanned(backend: FileBackend, spec: QuerySpec): Promise<{ ids: string[]; times: string[] }> {
  const events: AuditEvent[] = [];
  const times: string[] = [];
  await backend.scan(spec, { events: (b) => events.push(...b) });
  await backend.scan(spec, { times: (b) => times.push(...b) });
  return { ids: events.map((e) => e.id).sort(), times: times.sort() };
}

/** A JSON line written as another program might: `\u` escapes, `\/`, blanks after colons. */
function foreignLine(line: string, i: number): string {
  if (i % 3 === 0)
    return line.replace(/[a-zA-Z]/, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (i % 3 === 1) return line.replaceAll("/", "\\/");
  return JSON.stringify(JSON.parse(line), null, 1).replaceAll("\n", "");
}

function fileConfig(dir: string): FileBackendConfig {
  const config = loadConfig({ storage: { backends: [{ type: "file", directory: dir }] } }, { env: {} });
  return config.storage.backends[0] as FileBackendConfig;
}

interface Variant {
  readonly name: string;
  readonly corpus: number;
  readonly make: (dir: string, corpus: readonly AuditEvent[]) => Promise<FileBackend>;
}

const VARIANTS: readonly Variant[] = [
  {
    name: "plain lines",
    corpus: 4000,
    async make(dir, corpus) {
      const backend = new FileBackend({ config: fileConfig(dir), application: "conf" });
      await backend.open();
      const records = toRecords(corpus);
      for (let i = 0; i < records.length; i += 500)
        await backend.write(records.slice(i, i + 500), { sync: false });
      return backend;
    },
  },
  {
    name: "lines a byte search cannot read (escapes, blanks)",
    corpus: 800,
    async make(dir, corpus) {
      const backend = new FileBackend({ config: fileConfig(dir), application: "conf" });
      await backend.open();
      const records = toRecords(corpus).map((r, i) => ({ event: r.event, line: foreignLine(r.line, i) }));
      await backend.write(records, { sync: false });
      return backend;
    },
  },
  {
    name: "encrypted envelopes (through createBackends)",
    corpus: 1000,
    async make(dir, corpus) {
      const config = loadConfig(
        {
          storage: { backends: [{ type: "file", directory: dir }] },
          security: { encryption: { enabled: true, key: "6b".repeat(32), key_id: "conf1" } },
        },
        { env: {} },
      );
      const stage = createEncryptionStage(config)!;
      const backend = createBackends(config, { onWarning: () => undefined })[0] as FileBackend;
      await backend.open();
      const records = toRecords(corpus).map((r) => ({
        event: r.event,
        line: stage.encodeLine!(r.line, r.event),
      }));
      await backend.write(records, { sync: false });
      return backend;
    },
  },
];

for (const variant of VARIANTS) {
  describe(`file store conformance: ${variant.name}`, () => {
    const corpus = generateCorpus(variant.corpus);
    const dir = join(temp.dir, variant.name.replace(/\W+/g, "-"));
    let backend: FileBackend;

    beforeAll(async () => {
      mkdirSync(dir, { recursive: true });
      backend = await variant.make(dir, corpus);
    }, 120_000);
    afterAll(() => backend?.close());

    it("every conformance query: same ids in both orders (a page and the whole stream), same count and scan", async () => {
      for (const c of QUERY_CASES) {
        const where = typeof c.query === "string" ? parse(c.query) : c.query;
        const base = { where, ...(c.from ? { from: c.from } : {}), ...(c.to ? { to: c.to } : {}) };
        for (const order of ["desc", "asc"] as const) {
          for (const limit of order === "desc" ? [1, 60, undefined] : [60]) {
            const spec: QuerySpec = { ...base, order, ...(limit !== undefined ? { limit } : {}) };
            expect(await ids(backend, spec), `${c.title} ${order} ${limit}`).toEqual(
              referenceSearch(corpus, spec).map((e) => e.id),
            );
          }
        }
        const full = referenceSearch(corpus, { ...base, order: "asc" });
        expect(await backend.count({ ...base, order: "asc" }), c.title).toBe(full.length);
        const got = await scanned(backend, { ...base, order: "asc" });
        expect(got.ids, c.title).toEqual(full.map((e) => e.id).sort());
        expect(got.times, c.title).toEqual(full.map((e) => e.timestamp).sort());
      }
    }, 900_000);

    it("binds every read to one tenant exactly, with time ranges and cursors", async () => {
      for (const tenant of [...TENANTS, "nobody"]) {
        for (const query of ["", "tenant:ACME", "* OR tenant:globex", "category:database", "alice"]) {
          const base: QuerySpec = {
            where: parse(query),
            tenant,
            order: "desc",
            from: new Date(CORPUS_START + DAY / 2),
            to: new Date(CORPUS_START + 4 * DAY + 3_600_000),
          };
          for (const order of ["desc", "asc"] as const) {
            const spec = { ...base, order, limit: 40 };
            expect(await ids(backend, spec), `${tenant} ${query} ${order}`).toEqual(
              referenceSearch(corpus, spec).map((e) => e.id),
            );
          }
          const full = referenceSearch(corpus, base);
          expect(await backend.count(base)).toBe(full.length);
          expect((await scanned(backend, base)).ids).toEqual(full.map((e) => e.id).sort());
        }
      }
    }, 300_000);

    it("pages with cursors through ties, with nothing lost or repeated", async () => {
      for (const query of ["", "category:database OR category:api", "alice", "NOT status:success"]) {
        for (const order of ["asc", "desc"] as const) {
          for (const limit of [1, 97]) {
            const all = referenceSearch(corpus, { where: parse(query), order }).map((e) => e.id);
            const seen: string[] = [];
            let after: QuerySpec["after"];
            for (let page = 0; page < 40; page++) {
              const got: AuditEvent[] = [];
              for await (const e of backend.query({ where: parse(query), order, after, limit })) got.push(e);
              if (got.length === 0) break;
              seen.push(...got.map((e) => e.id));
              const last = got[got.length - 1]!;
              after = { timestamp: last.timestamp, id: last.id };
            }
            expect(seen).toEqual(all.slice(0, seen.length));
            expect(seen.length).toBe(Math.min(all.length, limit * 40));
          }
        }
      }
    }, 300_000);
  });
}

describe("file store conformance: the engine's facets and histogram over the byte scan", () => {
  it("gives the evaluator's counts", async () => {
    const corpus = generateCorpus(4000);
    const dir = join(temp.dir, "engine");
    mkdirSync(dir, { recursive: true });
    // written as the engine would find them: one file per category and day
    const backend = new FileBackend({ config: fileConfig(dir), application: "conf" });
    await backend.open();
    await backend.write(toRecords(corpus), { sync: false });
    await backend.close();
    writeFileSync(join(dir, "ignored.txt"), "not a store file\n");
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: dir }] },
        core: { application_name: "conf" },
      },
      env: {},
      readOnly: true,
    } as ConstructorParameters<typeof AuditEngine>[0]);
    try {
      const from = new Date(CORPUS_START + DAY / 3);
      const to = new Date(CORPUS_START + 6 * DAY);
      for (const [query, tenant] of [
        ["", undefined],
        ["category:database AND status:success", undefined],
        ["alice OR NOT severity:info", "acme"],
      ] as const) {
        const matches = referenceSearch(corpus, {
          where: parse(query),
          order: "asc",
          from,
          to,
          ...(tenant ? { tenant } : {}),
        });
        const options = { query, from, to, ...(tenant ? { tenant } : {}) };
        const histogram = await engine.aggregate({ ...options, interval: "6h" });
        expect(histogram.total).toBe(matches.length);
        for (const b of histogram.buckets) {
          const start = Date.parse(b.key!);
          const expected = matches.filter((e) => {
            const t = Date.parse(e.timestamp);
            return t >= start && t < start + 6 * 3_600_000;
          }).length;
          expect(b.count, `${query} ${b.key}`).toBe(expected);
        }
        const byStatus = await engine.aggregate({ ...options, groupBy: "status" });
        expect(byStatus.total).toBe(matches.length);
        const facets = await engine.facets(options, ["action.category", "severity"], 50);
        const categories = new Map<string, number>();
        for (const e of matches) {
          const c = e.action?.category;
          if (typeof c === "string") categories.set(c, (categories.get(c) ?? 0) + 1);
        }
        expect(Object.fromEntries(facets["action.category"]!.map((v) => [v.value, v.count]))).toEqual(
          Object.fromEntries(categories),
        );
        expect(await engine.count(options)).toBe(matches.length);
      }
    } finally {
      await engine.close();
    }
  }, 120_000);
});
