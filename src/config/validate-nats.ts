/**
 * The NATS JetStream settings: a `type: nats` backend and `vigil.ingest.source` share them
 * (SPEC §6, §10): `servers`, `stream`, `subject_prefix`, `credentials_file`, `tls`, and the
 * settings a stream is created with.
 *
 * @module
 */
import { describe, type Section } from "./checker.js";
import type { IngestConfig, NatsBackendConfig, NatsStreamConfig, NatsTlsConfig } from "./types.js";

/** Defaults of every NATS key (see docs/configuration.md). */
export const DEFAULT_NATS = Object.freeze({
  servers: Object.freeze(["nats://127.0.0.1:4222"]),
  stream: "VIGIL",
  subject_prefix: "vigil",
  max_age_seconds: 7 * 24 * 3600,
  replicas: 1,
  duplicate_window_seconds: 120,
  durable: "vigil-ingest",
});

/** A JetStream stream or consumer name: no spaces, dots, `*`, `>`, path separators. */
const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Subject tokens of letters, digits, `_` and `-`, joined by dots. */
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/;
const SERVER_PROTOCOLS = ["nats:", "tls:", "ws:", "wss:"];

function readServers(section: Section): string[] {
  // one URL may be written as a string (`servers: "${NATS_URL}"`)
  const one = section.read("servers");
  const items =
    one.state === "value" && typeof one.value === "string"
      ? [{ value: one.value, path: section.pathOf("servers") }]
      : section.stringItems("servers", "a list of nats:// URLs");
  if (items === undefined) return [...DEFAULT_NATS.servers];
  if (items.length === 0 && !section.lenient) {
    section.report("servers", "at least one nats:// URL", "an empty list");
  }
  for (const item of items) {
    const text = item.value.includes("://") ? item.value : `nats://${item.value}`;
    let ok = false;
    try {
      ok = SERVER_PROTOCOLS.includes(new URL(text).protocol);
    } catch {
      ok = false;
    }
    if (!ok) {
      section.checker.report(
        item.path,
        "a server URL such as nats://127.0.0.1:4222 (nats, tls, ws or wss)",
        describe(item.value),
      );
    }
  }
  return items.map((i) => i.value);
}

function readTls(section: Section): NatsTlsConfig | undefined {
  if (!section.has("tls")) return undefined;
  const tls = section.child("tls", "natsTls");
  const ca = tls.string("ca");
  const cert = tls.string("cert");
  const key = tls.string("key");
  if ((cert === undefined) !== (key === undefined) && !tls.lenient) {
    tls.report(
      cert === undefined ? "cert" : "key",
      "cert and key together (a client certificate needs its key)",
      "missing",
    );
  }
  return {
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
  };
}

/** The stream settings shared by the backend and `vigil.ingest.source`. */
export function readNatsStream(section: Section): NatsStreamConfig {
  const d = DEFAULT_NATS;
  const servers = readServers(section);
  const stream = section.string("stream", d.stream);
  if (!STREAM_NAME.test(stream)) {
    section.report(
      "stream",
      "a stream name of letters, digits, '_' or '-' (at most 64; no dots, spaces, * or >)",
      describe(stream),
    );
  }
  const subject_prefix = section.string("subject_prefix", d.subject_prefix);
  if (!SUBJECT_PREFIX.test(subject_prefix)) {
    section.report(
      "subject_prefix",
      "subject tokens of letters, digits, '_' or '-' joined by dots (no wildcards), e.g. vigil or audit.prod",
      describe(subject_prefix),
    );
  }
  const credentials_file = section.string("credentials_file");
  const tls = readTls(section);
  return {
    servers,
    stream,
    subject_prefix,
    ...(credentials_file !== undefined ? { credentials_file } : {}),
    ...(tls !== undefined ? { tls } : {}),
    max_age_seconds: section.int("max_age_seconds", d.max_age_seconds, { min: 0 }),
    replicas: section.int("replicas", d.replicas, { min: 1, max: 5 }),
    duplicate_window_seconds: section.int("duplicate_window_seconds", d.duplicate_window_seconds, {
      min: 1,
      max: 86_400,
    }),
  };
}

/** A `type: nats` backend (keys already checked by the caller). */
export function readNatsBackend(section: Section): (name: string) => NatsBackendConfig {
  const settings = readNatsStream(section);
  return (name) => ({ type: "nats", name, enabled: true, ...settings });
}

/** `vigil.ingest`, or undefined when it is not written. */
export function readIngest(root: Section): IngestConfig | undefined {
  if (!root.has("ingest")) return undefined;
  const ingest = root.child("ingest", "ingest");
  if (!ingest.has("source")) {
    ingest.report("source", "the stream to read: a mapping with the keys of a nats backend", "missing");
    return undefined;
  }
  const source = ingest.child("source", "ingestSource");
  const settings = readNatsStream(source);
  const durable = source.string("durable", DEFAULT_NATS.durable);
  if (!STREAM_NAME.test(durable)) {
    source.report(
      "durable",
      "a consumer name of letters, digits, '_' or '-' (at most 64; no dots, spaces, * or >)",
      describe(durable),
    );
  }
  return { source: { ...settings, durable } };
}
