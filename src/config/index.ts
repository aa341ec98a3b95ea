/**
 * Configuration (SPEC §6): load YAML or an object, interpolate `${VAR}`, validate every key
 * with precise messages, and fill every default. See `docs/configuration.md`.
 *
 * @example
 * import { loadConfig } from "./config/index.js";
 * const config = loadConfig(); // $VIGIL_CONFIG, else ./config/audit.yaml, else defaults
 *
 * @module
 */
export { DEFAULT_CONFIG, DEFAULT_FILE_BACKEND } from "./defaults.js";
export { DEFAULT_CONFIG_PATH, discoverConfigPath } from "./discover.js";
export { type Env, type Interpolated, interpolate } from "./interpolate.js";
export { decodeKey32 } from "./keys.js";
export { ConfigFileError, type LoadOptions, loadConfig, loadConfigFile, parseYaml } from "./load.js";
export type {
  BackendConfig,
  BackendInput,
  ConfigInput,
  DatabaseBackendConfig,
  DatabaseConnectionConfig,
  DisabledBackendConfig,
  EnabledBackendConfig,
  FileBackendConfig,
  FileRotationConfig,
  FilterConfig,
  LimitsConfig,
  RedactPattern,
  ResolvedConfig,
  RotationWhen,
  SanitizationConfig,
  SqlDialect,
  VigilConfig,
} from "./types.js";
export { type ResolveOptions, resolveConfig } from "./validate.js";
