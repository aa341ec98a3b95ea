/**
 * The audit event, schema_version 1 (SPEC §2). Stored and returned with snake_case
 * keys; absent values are omitted, never null. The JSON Schema in
 * `schema/event.schema.json` describes the same shape.
 *
 * @module
 */

export const SEVERITIES = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const RESULT_STATUSES = ["SUCCESS", "FAILURE"] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

export interface Application {
  readonly name: string;
  readonly version?: string;
  readonly environment?: string;
  readonly host?: string;
  readonly pid?: number;
}

/** Who did it. */
export interface Actor {
  readonly id?: string;
  readonly username?: string;
  readonly ip?: string;
  readonly user_agent?: string;
  readonly session_id?: string;
  readonly roles?: readonly string[];
}

/** What it was done to. */
export interface Resource {
  readonly type?: string;
  readonly id?: string;
  readonly path?: string;
  readonly name?: string;
}

/** What was done. `type` and `category` are upper case. */
export interface Action {
  readonly type: string;
  readonly category: string;
  readonly method?: string;
  readonly resource?: Resource;
}

export interface ResultError {
  readonly type: string;
  readonly message?: string;
  readonly code?: string;
}

/** How it went. */
export interface Result {
  readonly status: ResultStatus;
  readonly duration_ms?: number;
  readonly count?: number;
  readonly http_status?: number;
  readonly error?: ResultError;
  /** The captured return value (`captureResult`), sanitized. */
  readonly value?: unknown;
}

export interface Correlation {
  readonly request_id?: string;
  readonly trace_id?: string;
  readonly span_id?: string;
  /** The id of the enclosing `AuditContext` event, when scopes nest. */
  readonly parent_id?: string;
}

/** Hash-chain fields (SPEC §9), filled by the integrity stage when signing is on. */
export interface Integrity {
  readonly chain: string;
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
}

export interface AuditEvent {
  readonly schema_version: 1;
  /** UUIDv7: unique and time-ordered. */
  readonly id: string;
  /** ISO 8601 UTC with milliseconds. */
  readonly timestamp: string;
  readonly severity: Severity;
  readonly security_event: boolean;
  readonly application: Application;
  readonly actor?: Actor;
  readonly action: Action;
  readonly result: Result;
  readonly correlation?: Correlation;
  /** Captured arguments, sanitized. */
  readonly params?: unknown;
  /** Free-form, sanitized. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /**
   * The customer or organization the event belongs to (multi-tenancy, SPEC §9): 1–128
   * characters, no control characters. A viewer bound to a tenant sees only its events.
   */
  readonly tenant?: string;
  readonly integrity?: Integrity;
  /** The person's sealed personal fields, when erasure is enabled (docs/privacy.md). */
  readonly subject?: SubjectSection;
  /** Present and true when a value was cut by the size or depth limits. */
  readonly truncated?: true;
}

/**
 * Personal fields sealed under the person's own key (`compliance.gdpr.erasure`). Stored with
 * `ct`, `iv`, `kid` and `tag`; read back as `{ ref }` with the fields restored, or
 * `{ ref, erased: true }` once the person's key was destroyed.
 */
export interface SubjectSection {
  /** A keyed pseudonym of the person (`actor.id`, else `actor.username`). */
  readonly ref: string;
  readonly kid?: string;
  readonly iv?: string;
  readonly ct?: string;
  readonly tag?: string;
  /** The person's key was destroyed: the sealed fields are gone. */
  readonly erased?: true;
}

/** A deep-mutable view, for the pipeline stages that build and fill events. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** What `engine.log()` takes (SPEC §4). `action` is the action type. */
export interface LogInput {
  readonly action: string;
  /** Default `GENERAL`. */
  readonly category?: string;
  /** A string is the resource path; an object gives type/id/path/name. */
  readonly resource?: string | Resource;
  readonly actor?: Actor;
  readonly status?: ResultStatus;
  readonly result?: Partial<Omit<Result, "status">> & { readonly status?: ResultStatus };
  readonly severity?: Severity;
  readonly securityEvent?: boolean;
  readonly method?: string;
  readonly correlation?: Correlation;
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly params?: unknown;
  /** An explicit time (Date, ISO string or epoch ms); default now. */
  readonly timestamp?: Date | string | number;
  /** An error to record as `result.error`; implies FAILURE. */
  readonly error?: unknown;
  /**
   * The tenant (customer, organization) the event belongs to; default the ambient scope's.
   * 1–128 characters without control characters; anything else is reported and the event
   * is recorded without a tenant.
   */
  readonly tenant?: string;
}
