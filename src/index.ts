/**
 * vigil — application audit logging for Node.js. Records who did what, when, to
 * which resource, with what result; keeps it private, durable and queryable.
 *
 * @example
 * import { auditLog, getDefaultEngine } from "vigil-audit";
 * getDefaultEngine().log({ action: "APPLICATION_STARTUP", category: "SYSTEM" });
 *
 * @module
 */
export { AuditContext, type AuditContextOptions, type AuditContextPatch } from "./capture/audit-context.js";
export { type AuditDecorator, type AuditLogOptions, audited, auditLog } from "./capture/audit-log.js";
export { type AuditScope, currentScope, enterAuditScope, withAuditScope } from "./capture/scope.js";
export { ConfigFileError, discoverConfigPath, loadConfig, resolveConfig } from "./config/index.js";
export type { ResolvedConfig, VigilConfig } from "./config/types.js";
export { configure, getDefaultEngine, setDefaultEngine } from "./default-engine.js";
export { AuditEngine, type AuditEngineOptions, type EngineMetrics, type SubjectErasure } from "./engine.js";
export {
  ConfigError,
  type ConfigProblem,
  type ErrorCode,
  ErrorCodes,
  QuerySyntaxError,
  StorageError,
  VigilError,
} from "./errors.js";
export type {
  Action,
  Actor,
  Application,
  AuditEvent,
  Correlation,
  Integrity,
  LogInput,
  Resource,
  Result,
  ResultError,
  ResultStatus,
  Severity,
  SubjectSection,
} from "./event/types.js";
export {
  ECS_VERSION,
  type EcsDocument,
  EXPORT_FORMATS,
  type ExportFormat,
  type ExportOptions,
  type ExportResult,
  exportEvents,
  OCSF_VERSION,
  type OcsfEvent,
  toEcs,
  toOcsf,
} from "./export/index.js";
export type { StoreErasure } from "./privacy/erase-files.js";
export type { AggregateBucket, AggregateResult, AggregateSearchOptions } from "./query/aggregate.js";
export type { QueryNode } from "./query/ast.js";
export { AuditQuery } from "./query/audit-query.js";
export { parse as parseQuery } from "./query/parse.js";
export type { FilterValue, SearchOptions, SearchPage } from "./query/search.js";
export { serialize as serializeQuery } from "./query/serialize.js";
export type {
  BackendHealth,
  QuerySpec,
  StorageBackend,
  StoredRecord,
  ValueCount,
} from "./storage/backend.js";
export { BaseBackend } from "./storage/backend.js";
export { DirectoryError } from "./storage/dirs.js";
export { BufferedWriteError } from "./storage/retry.js";
