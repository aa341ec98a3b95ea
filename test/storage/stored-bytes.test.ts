/**
 * The stored bytes do not change (issue 13): SQL backends and stores written by earlier
 * versions depend on them. The corpus (test/fixtures/stored-bytes) runs through the
 * writer's stages; every line must hash to what the writer stored before the serialization
 * work (`golden-*.json`), equal its definition (`JSON.stringify` of the prepared event, or
 * its RFC 8785 canonical form when signed, U+2028/U+2029 escaped), and reach the file
 * byte for byte as `Buffer.from(lines.join("\n") + "\n")` would have written it.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import type { FileBackendConfig, ResolvedConfig } from "../../src/config/types.js";
import { createEnvelopeOpener } from "../../src/crypto/decode.js";
import { createEncryptionStage } from "../../src/crypto/index.js";
import { canonicalize } from "../../src/integrity/canonical.js";
import { createSubjectStage } from "../../src/privacy/subjects.js";
import type { StoredRecord } from "../../src/storage/backend.js";
import { FileBackend } from "../../src/storage/file/file-backend.js";
import { corpusConfig, storedLines } from "../fixtures/stored-bytes/corpus.js";
import { tempDir } from "../helpers.js";

const tmp = tempDir("vigil-stored-bytes-");
afterAll(() => tmp.cleanup());

interface Golden {
  readonly sha256: string;
  readonly length: number;
  readonly head: string;
}

const golden = (mode: string): Golden[] =>
  JSON.parse(
    readFileSync(join(__dirname, `../fixtures/stored-bytes/golden-${mode}.json`), "utf8"),
  ) as Golden[];
const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");
const escapeSeparators = (line: string): string =>
  line.replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

let dirs = 0;
function configFor(mode: Parameters<typeof corpusConfig>[1]): ResolvedConfig {
  return loadConfig(corpusConfig(join(tmp.dir, `${mode}-${++dirs}`), mode), { env: {} });
}

/** Writes the records through a file backend (batches of `size`, several files) and reads back every file's bytes. */
async function throughFileBackend(
  config: ResolvedConfig,
  records: StoredRecord[],
  size = 7,
): Promise<Map<string, Buffer>> {
  const backendConfig = config.storage.backends[0] as FileBackendConfig;
  const backend = new FileBackend({ config: backendConfig, application: "corpus" });
  for (let i = 0; i < records.length; i += size)
    await backend.write(records.slice(i, i + size), { sync: false });
  await backend.close();
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(backendConfig.directory))
    if (name.endsWith(".log")) out.set(name, readFileSync(join(backendConfig.directory, name)));
  return out;
}

/** What the file backend wrote before: each file's lines, in order, joined, as one `Buffer.from`. */
function expectedFiles(backend: FileBackend, records: StoredRecord[]): Map<string, Buffer> {
  const lines = new Map<string, string[]>();
  for (const r of records) {
    const name = backend.fileNameFor(r.event);
    lines.set(name, [...(lines.get(name) ?? []), r.line]);
  }
  return new Map([...lines].map(([name, ls]) => [name, Buffer.from(`${ls.join("\n")}\n`)]));
}

describe.each(["unsigned", "signed"] as const)("%s lines", (mode) => {
  const config = configFor(mode);
  const records = storedLines(config);

  test("hash to the bytes stored before", () => {
    const expected = golden(mode);
    expect(records).toHaveLength(expected.length);
    records.forEach(({ line }, i) => {
      expect({ i, length: line.length, head: line.slice(0, 400) }).toEqual({
        i,
        length: expected[i]!.length,
        head: expected[i]!.head,
      });
      expect({ i, sha256: sha256(line) }).toEqual({ i, sha256: expected[i]!.sha256 });
    });
  });

  test("equal their definition", () => {
    for (const { event, line } of records) {
      const text = mode === "signed" ? canonicalize(event) : JSON.stringify(event);
      expect(line).toBe(escapeSeparators(text));
    }
  });

  test("reach the files byte for byte", async () => {
    const files = await throughFileBackend(config, records);
    const backend = new FileBackend({
      config: config.storage.backends[0] as FileBackendConfig,
      application: "corpus",
    });
    const expected = expectedFiles(backend, records);
    await backend.close();
    expect([...files.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [name, bytes] of expected) expect(files.get(name)!.equals(bytes), name).toBe(true);
  });
});

test("encrypted lines decrypt to the signed lines stored before", async () => {
  const config = configFor("encrypted");
  const encryption = createEncryptionStage(config)!;
  const records = storedLines(config, [], [encryption]);
  const open = createEnvelopeOpener(config.security.encryption);
  const expected = golden("signed");
  records.forEach(({ line }, i) => {
    expect(line.startsWith("{") && line.includes(expected[i]!.head.slice(0, 40))).toBe(false);
    expect({ i, sha256: sha256(open(line)) }).toEqual({ i, sha256: expected[i]!.sha256 });
  });
  const files = await throughFileBackend(config, records);
  const backend = new FileBackend({
    config: config.storage.backends[0] as FileBackendConfig,
    application: "corpus",
  });
  const want = expectedFiles(backend, records);
  await backend.close();
  for (const [name, bytes] of want) expect(files.get(name)!.equals(bytes), name).toBe(true);
});

test("erasure-sealed events: the stored line is their canonical form, on disk byte for byte", async () => {
  const config = configFor("erasure");
  const subject = createSubjectStage(config)!;
  const records = storedLines(config, [subject]);
  expect(records.filter((r) => r.event.subject !== undefined).length).toBeGreaterThan(5);
  for (const { event, line } of records) expect(line).toBe(escapeSeparators(canonicalize(event)));
  const files = await throughFileBackend(config, records);
  const backend = new FileBackend({
    config: config.storage.backends[0] as FileBackendConfig,
    application: "corpus",
  });
  const want = expectedFiles(backend, records);
  await backend.close();
  for (const [name, bytes] of want) expect(files.get(name)!.equals(bytes), name).toBe(true);
});

test("a batch larger than the buffer the file backend keeps reaches the files byte for byte", async () => {
  const config = configFor("unsigned");
  const once = storedLines(config);
  const records = [...once, ...once, ...once, ...once, ...once, ...once];
  expect(records.reduce((n, r) => n + r.line.length, 0) * 3).toBeGreaterThan(4 * 1024 * 1024);
  const files = await throughFileBackend(config, records, records.length);
  const backend = new FileBackend({
    config: config.storage.backends[0] as FileBackendConfig,
    application: "corpus",
  });
  const want = expectedFiles(backend, records);
  await backend.close();
  for (const [name, bytes] of want) expect(files.get(name)!.equals(bytes), name).toBe(true);
});
