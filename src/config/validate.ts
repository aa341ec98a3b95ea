/**
 * {@link resolveConfig}: turn what a user wrote (YAML parsed to an object, or an object in
 * code) into a {@link ResolvedConfig} — `${VAR}` references replaced, strings coerced where a
 * number or boolean is expected, every default filled in — or throw a {@link ConfigError}
 * listing every problem at once.
 *
 * @module
 */
import { ConfigError } from "../errors.js";
import { Checker, describe, isMapping, Section } from "./checker.js";
import { DEFAULT_CONFIG, deepFreeze } from "./defaults.js";
import type { Env } from "./interpolate.js";
import { KEYS } from "./schema.js";
import type { ResolvedConfig } from "./types.js";
import { readIngest } from "./validate-nats.js";
import { readProcessing } from "./validate-processing.js";
import { readKey32, readSecurity } from "./validate-security.js";
import { readStorage } from "./validate-storage.js";

/** Options of {@link resolveConfig}. */
export interface ResolveOptions {
  /** Where `${VAR}` references and `VIGIL_ENABLED` are read. Default `process.env`. */
  readonly env?: Env;
  /** Named in the error message (`invalid vigil configuration in <source>`): usually the file path. */
  readonly source?: string;
}

const TRUE_WORDS = ["true", "1", "yes"];
const FALSE_WORDS = ["false", "0", "no"];

/**
 * Validate `input` and fill every default.
 *
 * `input` is the configuration object with or without the top-level `vigil` key;
 * `undefined` or `null` (an empty file) gives the built-in defaults. Unknown keys are errors.
 *
 * @throws {ConfigError} with one {@link ConfigProblem} per problem, each with its path
 *   (`vigil.storage.backends[1].connection.dialect`), what was expected, what was found, and
 *   a suggestion where there is one.
 *
 * @example
 * const config = resolveConfig(
 *   { performance: { batching: { batch_size: "${BATCH:-50}" } } },
 *   { env: {} },
 * );
 * config.performance.batching.batch_size; // 50
 * config.storage.backends[0]?.name;       // "file"
 */
export function resolveConfig(input: unknown, options: ResolveOptions = {}): ResolvedConfig {
  const checker = new Checker(options.env ?? process.env);
  const root = openRoot(checker, input);
  // Sections are read in the order of the reference, so problems come out in that order.
  const ingest = readIngest(root);
  const config: ResolvedConfig = {
    core: readCore(root.child("core", "core")),
    storage: readStorage(root.child("storage", "storage")),
    ...(ingest !== undefined ? { ingest } : {}),
    processing: readProcessing(root.child("processing", "processing")),
    performance: readPerformance(root.child("performance", "performance")),
    compliance: { gdpr: readGdpr(root.child("compliance", "compliance").child("gdpr", "gdpr")) },
    security: readSecurity(root.child("security", "security")),
  };
  if (checker.problems.length > 0) throw new ConfigError(checker.problems, options.source);
  return deepFreeze(config);
}

/** The mapping under `vigil` (or the input itself when it has no `vigil` key). */
function openRoot(checker: Checker, input: unknown): Section {
  const expected = "a mapping: the settings, optionally under a top-level vigil key";
  if (input === undefined || input === null) return Section.open(checker, {}, "vigil", "root", false);
  if (!isMapping(input)) {
    checker.report("vigil", expected, describe(input));
    return Section.open(checker, {}, "vigil", "root", false);
  }
  if (!("vigil" in input)) return Section.open(checker, input, "vigil", "root", false, expected);
  for (const key of Object.keys(input)) {
    if (key === "vigil") continue;
    const rootKeys: readonly string[] = KEYS.root;
    checker.report(
      key,
      "only the key vigil at the top level",
      describe(key),
      rootKeys.includes(key) ? `move ${key} under vigil` : undefined,
    );
  }
  return Section.open(checker, input.vigil, "vigil", "root", false, expected);
}

function readCore(section: Section): ResolvedConfig["core"] {
  const d = DEFAULT_CONFIG.core;
  let enabled = section.bool("enabled", d.enabled);
  const override = section.checker.env.VIGIL_ENABLED?.trim();
  if (override !== undefined && override !== "") {
    const word = override.toLowerCase();
    if (TRUE_WORDS.includes(word)) enabled = true;
    else if (FALSE_WORDS.includes(word)) enabled = false;
    else {
      section.checker.report(
        "$VIGIL_ENABLED",
        `one of ${[...TRUE_WORDS, ...FALSE_WORDS].join(", ")}`,
        describe(override),
        "VIGIL_ENABLED overrides vigil.core.enabled",
      );
    }
  }
  const version = section.string("version");
  const environment = section.string("environment");
  return {
    enabled,
    application_name: section.string("application_name", d.application_name),
    ...(version !== undefined ? { version } : {}),
    ...(environment !== undefined ? { environment } : {}),
  };
}

function readPerformance(section: Section): ResolvedConfig["performance"] {
  const d = DEFAULT_CONFIG.performance;
  const asyncRaw = section.child("async", "async");
  const asyncEnabled = asyncRaw.bool("enabled", d.async.enabled);
  const async = asyncRaw.withLenient(!asyncEnabled);
  const batchingRaw = section.child("batching", "batching");
  const batchingEnabled = batchingRaw.bool("enabled", d.batching.enabled);
  const batching = batchingRaw.withLenient(!batchingEnabled);
  return {
    async: {
      enabled: asyncEnabled,
      worker_threads: async.int("worker_threads", d.async.worker_threads, { min: 0, max: 256 }),
      queue_size: async.int("queue_size", d.async.queue_size, { min: 1 }),
      on_full: async.choice("on_full", ["block", "drop"], d.async.on_full),
    },
    batching: {
      enabled: batchingEnabled,
      batch_size: batching.int("batch_size", d.batching.batch_size, { min: 1 }),
      batch_timeout_seconds: batching.numberAbove(
        "batch_timeout_seconds",
        d.batching.batch_timeout_seconds,
        0,
      ),
    },
    durability: section.choice("durability", ["none", "batch", "event"], d.durability),
  };
}

function readGdpr(raw: Section): ResolvedConfig["compliance"]["gdpr"] {
  const d = DEFAULT_CONFIG.compliance.gdpr;
  const enabled = raw.bool("enabled", d.enabled);
  const section = raw.withLenient(!enabled);
  const retention_days = section.int("retention_days", d.retention_days, { min: 0 });
  const auto_delete = section.bool("auto_delete_after_retention", d.auto_delete_after_retention);
  if (enabled && auto_delete && retention_days === 0 && !section.hasProblem("retention_days")) {
    section.report(
      "retention_days",
      "a number of days greater than 0 when auto_delete_after_retention is true",
      section.has("retention_days") ? section.shown("retention_days") : "missing (0, keep forever)",
    );
  }
  return {
    enabled,
    retention_days,
    auto_delete_after_retention: auto_delete,
    erasure: readErasure(section.child("erasure", "erasure")),
  };
}

/** Paths a subject's personal data may be sealed from (see docs/privacy.md). */
const SEALABLE_PATH = /^(actor|metadata|params|action\.resource)\.[^.\s]+(\.[^.\s]+)*$/;

function readErasure(raw: Section): ResolvedConfig["compliance"]["gdpr"]["erasure"] {
  const enabled = raw.bool("enabled", false);
  const section = raw.withLenient(!enabled);
  const key = readKey32(section, "key");
  if (enabled && key === undefined && !section.hasProblem("key")) {
    section.report(
      "key",
      "a 32-byte master key (64 hex characters or base64) when erasure is enabled",
      "missing",
      "generate one with: vigil keygen --algorithm aes-256-gcm",
    );
  }
  const fields = section.stringList("fields") ?? [];
  fields.forEach((f, i) => {
    if (!SEALABLE_PATH.test(f) || f === "actor.id")
      section.report(
        `fields[${i}]`,
        "a dotted path under actor, metadata, params or action.resource (not actor.id), e.g. metadata.email",
        JSON.stringify(f),
      );
  });
  const key_store = section.string("key_store");
  return {
    enabled,
    ...(key !== undefined ? { key } : {}),
    fields,
    ...(key_store !== undefined ? { key_store } : {}),
  };
}
