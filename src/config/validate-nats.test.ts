// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" is the configuration's own syntax under test.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { resolveConfig } from "./validate.js";

function problems(input: unknown, env: Record<string, string> = {}) {
  try {
    resolveConfig(input, { env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("type: nats", () => {
  it("fills the documented defaults and reads ${VAR}", () => {
    const config = resolveConfig(
      { storage: { backends: [{ type: "nats", servers: ["${NATS_URL}"], credentials_file: "${CREDS:-}" }] } },
      { env: { NATS_URL: "nats://10.0.0.1:4222" } },
    );
    expect(config.storage.backends[0]).toEqual({
      type: "nats",
      name: "nats",
      enabled: true,
      servers: ["nats://10.0.0.1:4222"],
      stream: "VIGIL",
      subject_prefix: "vigil",
      max_age_seconds: 604800,
      replicas: 1,
      duplicate_window_seconds: 120,
    });
  });

  it("reports every bad key with its path", () => {
    expect(
      problems({
        storage: {
          backends: [
            {
              type: "nats",
              servers: ["http://x"],
              stream: "a.b",
              subject_prefix: "vigil.>",
              tls: { cert: "c.pem" },
              replicas: 9,
              strem: "x",
            },
          ],
        },
      }),
    ).toEqual([
      {
        path: "vigil.storage.backends[0].strem",
        expected: "a known key",
        found: '"strem"',
        hint: 'did you mean "stream"?',
      },
      {
        path: "vigil.storage.backends[0].servers[0]",
        expected: "a server URL such as nats://127.0.0.1:4222 (nats, tls, ws or wss)",
        found: '"http://x"',
      },
      {
        path: "vigil.storage.backends[0].stream",
        expected: "a stream name of letters, digits, '_' or '-' (at most 64; no dots, spaces, * or >)",
        found: '"a.b"',
      },
      {
        path: "vigil.storage.backends[0].subject_prefix",
        expected:
          "subject tokens of letters, digits, '_' or '-' joined by dots (no wildcards), e.g. vigil or audit.prod",
        found: '"vigil.>"',
      },
      {
        path: "vigil.storage.backends[0].tls.key",
        expected: "cert and key together (a client certificate needs its key)",
        found: "missing",
      },
      { path: "vigil.storage.backends[0].replicas", expected: "an integer from 1 to 5", found: "9" },
    ]);
  });

  it("takes one server written as a string", () => {
    const config = resolveConfig(
      { storage: { backends: [{ type: "nats", servers: "${NATS_URL}" }] } },
      { env: { NATS_URL: "127.0.0.1:4223" } },
    );
    expect(config.storage.backends[0]).toMatchObject({ servers: ["127.0.0.1:4223"] });
    expect(problems({ storage: { backends: [{ type: "nats", servers: "http://x" }] } })).toEqual([
      {
        path: "vigil.storage.backends[0].servers",
        expected: "a server URL such as nats://127.0.0.1:4222 (nats, tls, ws or wss)",
        found: '"http://x"',
      },
    ]);
  });

  it("allows unset variables in a disabled nats backend", () => {
    expect(
      resolveConfig({
        storage: { backends: [{ type: "file" }, { type: "nats", enabled: false, servers: ["${NOPE}"] }] },
      }).storage.backends[1],
    ).toEqual({ type: "nats", name: "nats", enabled: false });
  });
});

describe("vigil.ingest", () => {
  it("is absent unless written, and takes the nats keys plus durable", () => {
    expect(resolveConfig({}).ingest).toBeUndefined();
    const config = resolveConfig({ ingest: { source: { stream: "AUDIT", durable: "central-1" } } });
    expect(config.ingest).toEqual({
      source: {
        servers: ["nats://127.0.0.1:4222"],
        stream: "AUDIT",
        subject_prefix: "vigil",
        max_age_seconds: 604800,
        replicas: 1,
        duplicate_window_seconds: 120,
        durable: "central-1",
      },
    });
    expect(resolveConfig({ ingest: { source: {} } }).ingest?.source.durable).toBe("vigil-ingest");
  });

  it("requires a source and checks its keys", () => {
    expect(problems({ ingest: {} })).toEqual([
      {
        path: "vigil.ingest.source",
        expected: "the stream to read: a mapping with the keys of a nats backend",
        found: "missing",
      },
    ]);
    expect(problems({ ingest: { source: { durable: "a b", type: "nats" } } })).toEqual([
      {
        path: "vigil.ingest.source.type",
        expected: "a known key",
        found: '"type"',
        hint: expect.any(String),
      },
      {
        path: "vigil.ingest.source.durable",
        expected: "a consumer name of letters, digits, '_' or '-' (at most 64; no dots, spaces, * or >)",
        found: '"a b"',
      },
    ]);
  });
});
