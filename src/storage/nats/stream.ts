/**
 * What the NATS backend and `vigil ingest` share: loading the optional client
 * (`@nats-io/transport-node`, `@nats-io/jetstream`), connecting with credentials and TLS,
 * the subject layout, and creating or checking the stream.
 *
 * Subjects (`P` = `subject_prefix`):
 * ```
 * P.events.<chain token>    the events of one hash chain, in chain order
 * P.records.<chain token>   its signed checkpoints (and retention records)
 * P.dead                    what `vigil ingest` could not use (dead letters)
 * ```
 * The stream holds `P.>`; `vigil ingest` consumes `P.*.*` (events and records, not the dead letters).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { NatsStreamConfig } from "../../config/types.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { loadDriver } from "../sql/driver.js";

/** The parts of the client vigil uses (`@nats-io/transport-node` + `@nats-io/jetstream`). */
export interface NatsModules {
  readonly core: typeof import("@nats-io/transport-node");
  readonly js: typeof import("@nats-io/jetstream");
}

export type NatsConnection = import("@nats-io/transport-node").NatsConnection;
export type JetStreamClient = import("@nats-io/jetstream").JetStreamClient;
export type JetStreamManager = import("@nats-io/jetstream").JetStreamManager;

/** Imports the optional client, or fails with `VIGIL_ERR_MISSING_DEPENDENCY` naming both packages. */
export async function loadNats(): Promise<NatsModules> {
  const core = await loadDriver<NatsModules["core"]>(
    "@nats-io/transport-node",
    "@nats-io/transport-node",
    "nats",
  );
  const js = await loadDriver<NatsModules["js"]>("@nats-io/jetstream", "@nats-io/jetstream", "nats");
  return { core, js };
}

/** A subject token for a chain id (`host:pid:time:rand`): safe characters, unique by a hash when changed. */
export function chainToken(chain: string): string {
  const safe = chain.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 120);
  if (safe === chain) return safe;
  return `${safe}-${createHash("sha256").update(chain).digest("hex").slice(0, 10)}`;
}

/** The subjects of a stream configuration. */
export function subjectsOf(settings: Pick<NatsStreamConfig, "subject_prefix">): {
  readonly all: string;
  readonly consumed: string;
  readonly dead: string;
  readonly events: (chain: string) => string;
  readonly records: (chain: string) => string;
} {
  const p = settings.subject_prefix;
  return {
    all: `${p}.>`,
    consumed: `${p}.*.*`,
    dead: `${p}.dead`,
    events: (chain) => `${p}.events.${chainToken(chain)}`,
    records: (chain) => `${p}.records.${chainToken(chain)}`,
  };
}

/**
 * Connects (the client reconnects by itself for ever afterwards, with jitter). A missing
 * credentials or TLS file is a `VIGIL_ERR_CONFIG` naming the key.
 */
export async function connectNats(
  modules: NatsModules,
  settings: NatsStreamConfig,
  where: string,
  options: { readonly name: string; readonly timeoutMs?: number },
): Promise<NatsConnection> {
  const { core } = modules;
  let authenticator: ReturnType<typeof core.credsAuthenticator> | undefined;
  if (settings.credentials_file !== undefined) {
    authenticator = core.credsAuthenticator(
      readSetting(settings.credentials_file, `${where}.credentials_file`),
    );
  }
  const tls = settings.tls;
  if (tls) {
    for (const key of ["ca", "cert", "key"] as const) {
      const file = tls[key];
      if (file !== undefined) readSetting(file, `${where}.tls.${key}`);
    }
  }
  return core.connect({
    servers: [...settings.servers],
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    timeout: options.timeoutMs ?? 5000,
    pingInterval: 5000,
    maxPingOut: 2,
    ...(authenticator ? { authenticator } : {}),
    ...(tls
      ? {
          tls: {
            ...(tls.ca !== undefined ? { caFile: tls.ca } : {}),
            ...(tls.cert !== undefined ? { certFile: tls.cert } : {}),
            ...(tls.key !== undefined ? { keyFile: tls.key } : {}),
          },
        }
      : {}),
  });
}

function readSetting(file: string, path: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new VigilError(
      ErrorCodes.CONFIG,
      `${path}: cannot read ${JSON.stringify(file)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Creates the stream with the documented settings, or checks an existing one: its subjects
 * must cover `P.>`, its retention must be `limits`, its duplicate window at least the
 * configured one (otherwise `VIGIL_ERR_NATS_STREAM`). A different max age or replica count
 * is only reported through `onWarning` (an operator may have tuned them).
 */
export async function ensureStream(
  modules: NatsModules,
  jsm: JetStreamManager,
  settings: NatsStreamConfig,
  onWarning: (message: string) => void,
): Promise<void> {
  const { js } = modules;
  const subjects = subjectsOf(settings);
  const windowNs = settings.duplicate_window_seconds * 1e9;
  const maxAgeNs = settings.max_age_seconds * 1e9;
  let info: Awaited<ReturnType<JetStreamManager["streams"]["info"]>> | undefined;
  try {
    info = await jsm.streams.info(settings.stream);
  } catch (error) {
    if (apiErrorCode(error) !== 10059) throw error; // stream not found
  }
  if (info === undefined) {
    try {
      await jsm.streams.add({
        name: settings.stream,
        subjects: [subjects.all],
        retention: js.RetentionPolicy.Limits,
        storage: js.StorageType.File,
        discard: js.DiscardPolicy.Old,
        max_age: maxAgeNs,
        num_replicas: settings.replicas,
        duplicate_window: windowNs,
      });
      return;
    } catch (error) {
      // another process created it meanwhile: check that one
      info = await jsm.streams.info(settings.stream).catch(() => {
        throw error;
      });
    }
  }
  const c = info.config;
  const problems: string[] = [];
  const covered = (c.subjects ?? []).some(
    (s) => s === subjects.all || s === ">" || coversAll(s, settings.subject_prefix),
  );
  if (!covered)
    problems.push(`its subjects ${JSON.stringify(c.subjects ?? [])} do not include ${subjects.all}`);
  if (c.retention !== js.RetentionPolicy.Limits)
    problems.push(`its retention is ${c.retention}, vigil needs limits (several consumers, replays)`);
  if ((c.duplicate_window ?? 0) < windowNs)
    problems.push(
      `its duplicate window is ${(c.duplicate_window ?? 0) / 1e9} s, shorter than duplicate_window_seconds ${settings.duplicate_window_seconds}`,
    );
  if (problems.length > 0) {
    throw new VigilError(
      ErrorCodes.NATS_STREAM,
      `NATS stream ${settings.stream} exists with settings vigil cannot use: ${problems.join("; ")}. ` +
        "Change the stream (nats stream edit) or configure another stream name",
    );
  }
  if ((c.max_age ?? 0) !== maxAgeNs)
    onWarning(
      `NATS stream ${settings.stream} keeps messages ${(c.max_age ?? 0) / 1e9} s (max_age_seconds says ${settings.max_age_seconds}): left as it is`,
    );
  if ((c.num_replicas ?? 1) !== settings.replicas)
    onWarning(
      `NATS stream ${settings.stream} has ${c.num_replicas} replica(s) (replicas says ${settings.replicas}): left as it is`,
    );
}

function coversAll(subject: string, prefix: string): boolean {
  const s = subject.split(".");
  const p = prefix.split(".");
  for (let i = 0; i < s.length; i++) {
    if (s[i] === ">") return i <= p.length;
    if (i >= p.length) return false;
    if (s[i] !== "*" && s[i] !== p[i]) return false;
  }
  return false;
}

/** The JetStream API error code of `error`, if it is one (10071: wrong last sequence). */
export function apiErrorCode(error: unknown): number | undefined {
  const e = error as { apiError?: () => { err_code?: number } };
  if (typeof e?.apiError === "function") return e.apiError().err_code;
  return undefined;
}
