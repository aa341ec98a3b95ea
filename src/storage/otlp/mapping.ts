/**
 * The audit event in the OpenTelemetry log data model, in the OTLP/HTTP JSON encoding
 * (`opentelemetry/proto/logs/v1/logs.proto`, JSON mapping of protobuf: lowerCamelCase
 * names, 64-bit integers as decimal strings, enums as numbers, trace and span ids as hex).
 * `docs/opentelemetry.md` shows the mapping as a table; this file is its only source.
 *
 * @module
 */
import type { AuditEvent, Severity } from "../../event/types.js";

/** An OTLP `AnyValue` in JSON. */
export type AnyValue =
  | { readonly stringValue: string }
  | { readonly boolValue: boolean }
  | { readonly intValue: string }
  | { readonly doubleValue: number }
  | { readonly arrayValue: { readonly values: readonly AnyValue[] } }
  | { readonly kvlistValue: { readonly values: readonly KeyValue[] } };

/** An OTLP `KeyValue` in JSON. */
export interface KeyValue {
  readonly key: string;
  readonly value: AnyValue;
}

/** An OTLP `LogRecord` in JSON. */
export interface OtlpLogRecord {
  readonly timeUnixNano: string;
  readonly observedTimeUnixNano: string;
  readonly severityNumber: number;
  readonly severityText: string;
  /** The event name (OTLP 1.5+); `action.type`. Also in the `event.name` attribute for older receivers. */
  readonly eventName: string;
  readonly body: AnyValue;
  readonly attributes: readonly KeyValue[];
  readonly traceId?: string;
  readonly spanId?: string;
}

/** `SeverityNumber` of each severity: the first number of the OpenTelemetry range it names. */
export const SEVERITY_NUMBER: Readonly<Record<Severity, number>> = {
  DEBUG: 5,
  INFO: 9,
  WARNING: 13,
  ERROR: 17,
  CRITICAL: 21,
};

/**
 * Event fields that have an OpenTelemetry semantic convention, by dotted path. Every other
 * field becomes `vigil.<path>`; the `application` goes to the resource.
 */
export const SEMANTIC_ATTRIBUTES: Readonly<Record<string, string>> = {
  id: "log.record.uid",
  "actor.id": "enduser.id",
  "actor.username": "user.name",
  "actor.roles": "user.roles",
  "actor.ip": "client.address",
  "actor.user_agent": "user_agent.original",
  "actor.session_id": "session.id",
  "result.error.type": "exception.type",
  "result.error.message": "exception.message",
};

/** Fields of an HTTP request event (one with `result.http_status`) that have an HTTP convention. */
export const HTTP_ATTRIBUTES: Readonly<Record<string, string>> = {
  "action.method": "http.request.method",
  "action.resource.path": "url.path",
  "result.http_status": "http.response.status_code",
};

/** Fields whose value is free-form (captured data): kept whole, as a nested map or list. */
const FREE_FORM = new Set(["params", "metadata", "result.value"]);

/** Fields that are not attributes: they have a place of their own in the record or the resource. */
const NOT_ATTRIBUTES = new Set(["timestamp", "severity", "application"]);

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/** A trace id as OTLP takes it (32 lower-case hex digits, not all zero), or undefined. */
export function validTraceId(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const id = value.toLowerCase();
  return TRACE_ID.test(id) && !/^0+$/.test(id) ? id : undefined;
}

/** A span id as OTLP takes it (16 lower-case hex digits, not all zero), or undefined. */
export function validSpanId(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const id = value.toLowerCase();
  return SPAN_ID.test(id) && !/^0+$/.test(id) ? id : undefined;
}

/**
 * Nanoseconds since the epoch of an ISO 8601 time, as a decimal string, keeping any digits
 * beyond the millisecond. `undefined` for a time that does not parse.
 */
export function unixNanos(iso: string): string | undefined {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return undefined;
  const fraction = /\.(\d+)/.exec(iso)?.[1] ?? "";
  const belowMs = BigInt((fraction.slice(3, 9) || "0").padEnd(6, "0"));
  return (BigInt(ms) * 1_000_000n + belowMs).toString();
}

/** The event's trace and span ids where valid (a span id only with a trace id). */
function traceContext(event: AuditEvent): { traceId?: string; spanId?: string } {
  const traceId = validTraceId(event.correlation?.trace_id);
  const spanId = traceId === undefined ? undefined : validSpanId(event.correlation?.span_id);
  return { traceId, spanId };
}

/** A JSON value as an OTLP `AnyValue`; `undefined` for what JSON would leave out. */
export function anyValue(value: unknown): AnyValue | undefined {
  switch (typeof value) {
    case "string":
      return { stringValue: value };
    case "boolean":
      return { boolValue: value };
    case "number":
      if (Number.isSafeInteger(value)) return { intValue: String(value) };
      return Number.isFinite(value) ? { doubleValue: value } : { stringValue: String(value) };
    case "bigint":
      return { intValue: value.toString() };
    case "object": {
      if (value === null) return undefined;
      if (Array.isArray(value)) {
        return { arrayValue: { values: value.map((v) => anyValue(v) ?? { stringValue: "" }) } };
      }
      const values: KeyValue[] = [];
      for (const [key, v] of Object.entries(value)) {
        const encoded = anyValue(v);
        if (encoded !== undefined) values.push({ key, value: encoded });
      }
      return { kvlistValue: { values } };
    }
    default:
      return undefined;
  }
}

/** The attributes of one event: semantic conventions where they exist, `vigil.*` otherwise. */
export function eventAttributes(event: AuditEvent): KeyValue[] {
  const http = event.result?.http_status !== undefined;
  const { traceId, spanId } = traceContext(event);
  const out: KeyValue[] = [{ key: "event.name", value: { stringValue: event.action?.type ?? "" } }];
  const visit = (value: unknown, path: string): void => {
    if (value === undefined || value === null) return;
    if (typeof value === "object" && !Array.isArray(value) && !FREE_FORM.has(path)) {
      for (const [k, v] of Object.entries(value)) visit(v, path === "" ? k : `${path}.${k}`);
      return;
    }
    if (NOT_ATTRIBUTES.has(path.split(".")[0] ?? "")) return;
    // valid ids have their own fields; an id that is not valid hex stays, under vigil.*
    if (path === "correlation.trace_id" && traceId !== undefined) return;
    if (path === "correlation.span_id" && spanId !== undefined) return;
    const key = (http ? HTTP_ATTRIBUTES[path] : undefined) ?? SEMANTIC_ATTRIBUTES[path];
    const encoded = anyValue(value);
    if (encoded !== undefined) out.push({ key: key ?? `vigil.${path}`, value: encoded });
  };
  visit(event, "");
  return out;
}

/** The resource attributes of the application that recorded the event. */
export function resourceAttributes(application: AuditEvent["application"] | undefined): KeyValue[] {
  const out: KeyValue[] = [];
  const add = (key: string, value: unknown): void => {
    const encoded = value === undefined || value === "" ? undefined : anyValue(value);
    if (encoded !== undefined) out.push({ key, value: encoded });
  };
  add("service.name", application?.name || "unknown_service");
  add("service.version", application?.version);
  // the current convention, and the older name many backends still read
  add("deployment.environment.name", application?.environment);
  add("deployment.environment", application?.environment);
  add("host.name", application?.host);
  add("process.pid", application?.pid);
  return out;
}

/**
 * One stored event as an OTLP log record.
 *
 * @param event - the event, or the part of it that may leave readable (encryption's clear view).
 * @param line - the stored line (the event's JSON, or its encrypted envelope): the record's body.
 * @param observedNanos - when vigil handed the record to the exporter, as {@link unixNanos}.
 */
export function toLogRecord(event: AuditEvent, line: string, observedNanos: string): OtlpLogRecord {
  const severity = SEVERITY_NUMBER[event.severity] === undefined ? "INFO" : event.severity;
  const { traceId, spanId } = traceContext(event);
  return {
    timeUnixNano: unixNanos(event.timestamp) ?? observedNanos,
    observedTimeUnixNano: observedNanos,
    severityNumber: SEVERITY_NUMBER[severity],
    severityText: event.severity ?? severity,
    eventName: event.action?.type ?? "",
    body: { stringValue: line },
    attributes: eventAttributes(event),
    ...(traceId === undefined ? {} : { traceId }),
    ...(spanId === undefined ? {} : { spanId }),
  };
}

/** One resource (an application instance) and its log records. */
export interface ResourceGroup {
  readonly resource: readonly KeyValue[];
  readonly records: readonly OtlpLogRecord[];
}

/**
 * The `ExportLogsServiceRequest` for records grouped by resource, under the instrumentation
 * scope `vigil-audit`.
 */
export function exportRequest(groups: readonly ResourceGroup[], scopeVersion: string): unknown {
  return {
    resourceLogs: groups.map((g) => ({
      resource: { attributes: g.resource },
      scopeLogs: [{ scope: { name: "vigil-audit", version: scopeVersion }, logRecords: g.records }],
    })),
  };
}

/** A key that tells resources apart: the application's identity. */
export function resourceKey(application: AuditEvent["application"] | undefined): string {
  const a = application;
  return JSON.stringify([a?.name, a?.version, a?.environment, a?.host, a?.pid]);
}
