/**
 * Turning `log()` input into an event: id, timestamp, severity default,
 * application, and the ambient scope. Only what is cheap happens here, on the
 * caller's thread; making values safe and redacting them happens in the pipeline's
 * `prepare` step, off the caller's path in async mode.
 *
 * @module
 */
import type { AuditScope } from "../capture/scope.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { tenantProblem } from "./tenant.js";
import type {
  Action,
  Application,
  AuditEvent,
  Correlation,
  LogInput,
  Mutable,
  Resource,
  Result,
  ResultStatus,
} from "./types.js";
import { RESULT_STATUSES, SEVERITIES } from "./types.js";
import { uuidv7 } from "./uuid.js";

const SEVERITY_SET = new Set<string>(SEVERITIES);
const STATUS_SET = new Set<string>(RESULT_STATUSES);

/** Problems with `log()` input: reported, never thrown; the event is still recorded. */
export type InputProblem = (error: VigilError) => void;

function problem(report: InputProblem, message: string): void {
  report(new VigilError(ErrorCodes.INVALID_ARGUMENT, `log(): ${message}`));
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value;
}

/**
 * Copies `source`'s own enumerable string-keyed properties onto `target`, as an object
 * spread would (`__proto__` becomes an own key, never the prototype). Spread is avoided on
 * this path: Node 20's V8 takes a slow path of 2–3 µs when a property is added to an object
 * made by spread (`{ ...a }` then `x.status = …`, `{ ...a, k: v }`, `{ ...a, ...b }`), against
 * ~0.1 µs for this loop — most of what `log()` cost its caller.
 */
function copyOnto<T extends object>(target: T, source: unknown): T {
  if (source === null || source === undefined) return target;
  const from = source as Record<string, unknown>;
  const to = target as Record<string, unknown>;
  const keys = Object.keys(from);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key === "__proto__")
      Object.defineProperty(to, key, {
        value: from[key],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else to[key] = from[key];
  }
  return target;
}

/** Upper-cased names seen so far: categories and types repeat, so most calls are one lookup. */
const upperNames = new Map<string, string>();

function toUpperName(value: unknown, what: string, fallback: string, report: InputProblem): string {
  if (typeof value === "string") {
    const known = upperNames.get(value);
    if (known !== undefined) return known;
    const name = value.trim().toUpperCase();
    if (name !== "") {
      if (upperNames.size < 10_000) upperNames.set(value, name);
      return name;
    }
  }
  if (value !== undefined) problem(report, `${what} must be a non-empty string, found ${describe(value)}`);
  else if (what === "input.action")
    problem(report, 'input.action is required (the action type, e.g. "LOGIN")');
  return fallback;
}

let lastMs = Number.NaN;
let lastIso = "";
let lastSecond = Number.NaN;
/** `YYYY-MM-DDTHH:MM:SS.` of `lastSecond`. */
let secondPrefix = "";

/**
 * `new Date(ms).toISOString()` for the clock's current time, remembered for the last
 * millisecond (bursts share it); within a second only the milliseconds are written anew.
 */
function isoOf(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    const second = Math.floor(ms / 1000) * 1000;
    if (second !== lastSecond) {
      const iso = new Date(ms).toISOString();
      // a four-digit year (every clock this century): the prefix is the first 20 characters
      if (iso.length !== 24) {
        lastIso = iso;
        return iso;
      }
      lastSecond = second;
      secondPrefix = iso.slice(0, 20);
    }
    const milli = ms - second;
    lastIso = `${secondPrefix}${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z`;
  }
  return lastIso;
}

function timestampOf(value: LogInput["timestamp"], nowMs: number, report: InputProblem): string {
  if (value === undefined) return isoOf(nowMs);
  const ms = value instanceof Date ? value.getTime() : typeof value === "number" ? value : Date.parse(value);
  if (typeof ms === "number" && Number.isFinite(ms) && Math.abs(ms) <= 8.64e15)
    return new Date(ms).toISOString();
  problem(
    report,
    `input.timestamp must be a Date, an ISO 8601 string or epoch milliseconds, found ${describe(value)}; used the current time`,
  );
  return new Date(nowMs).toISOString();
}

/**
 * A plain object with `value`'s own enumerable string-keyed members, in their order (what
 * `{ ...value }` gives, less symbol keys, which no stored event has). Not a spread: on
 * Node 20 an object made by spread is slow to extend — each member added to it afterwards
 * (`status`, `error`, `parent_id`) cost 1–3 µs, against tens of ns for this copy.
 */
export function copyMembers(value: unknown): Record<string, unknown> {
  return copyOnto({}, value);
}

/** The parts of the error object vigil records: its type (class name or code) and message. */
export function describeError(error: unknown): { type: string; message?: string; code?: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      type: error.name || error.constructor?.name || "Error",
      message: error.message,
      ...(typeof code === "string" || typeof code === "number" ? { code: String(code) } : {}),
    };
  }
  if (error !== null && typeof error === "object") {
    const o = error as { name?: unknown; message?: unknown };
    return {
      type: typeof o.name === "string" ? o.name : "Error",
      ...(typeof o.message === "string" ? { message: o.message } : {}),
    };
  }
  return { type: typeof error, message: String(error) };
}

/**
 * Build the event for `input`. Never throws: malformed input is reported through
 * `report` and replaced by a default, so the event is still recorded.
 */
export function buildEvent(
  input: LogInput,
  application: Application,
  scope: AuditScope | undefined,
  report: InputProblem,
  failedByException = false,
): Mutable<AuditEvent> {
  if (input === null || typeof input !== "object") {
    problem(report, `input must be an object like { action: "LOGIN" }, found ${describe(input)}`);
    input = { action: "UNSPECIFIED" };
  }
  const nowMs = Date.now();
  // set by AuditContext, which knows its event's id before the event exists
  const internal = input as { readonly _id?: unknown; readonly _parentId?: unknown };
  const timestamp = timestampOf(input.timestamp, nowMs, report);
  const type = toUpperName(input.action, "input.action", "UNSPECIFIED", report);
  const category =
    input.category === undefined
      ? "GENERAL"
      : toUpperName(input.category, "input.category", "GENERAL", report);

  const action: Mutable<Action> = { type, category };
  if (input.method !== undefined) action.method = String(input.method);
  const resource = input.resource;
  if (typeof resource === "string") action.resource = { path: resource } as Mutable<Resource>;
  else if (resource !== undefined && resource !== null) action.resource = resource as Mutable<Resource>;

  let status: ResultStatus | undefined = input.status ?? input.result?.status;
  if (status !== undefined && !STATUS_SET.has(status)) {
    problem(report, `input.status must be SUCCESS or FAILURE, found ${describe(status)}`);
    status = undefined;
  }
  const result = copyOnto({}, input.result) as Mutable<Result>;
  if (input.error !== undefined) {
    result.error = describeError(input.error);
    status ??= "FAILURE";
  }
  result.status = status ?? (result.error ? "FAILURE" : "SUCCESS");

  let severity = input.severity;
  if (severity !== undefined && !SEVERITY_SET.has(severity)) {
    problem(report, `input.severity must be one of ${SEVERITIES.join(", ")}, found ${describe(severity)}`);
    severity = undefined;
  }
  severity ??=
    result.status === "SUCCESS"
      ? "INFO"
      : failedByException || input.error !== undefined
        ? "ERROR"
        : "WARNING";

  const actor = input.actor ?? scope?.actor;
  let correlation = input.correlation ?? scope?.correlation;
  if (typeof internal._parentId === "string") {
    const withParent = copyOnto<Record<string, unknown>>({}, correlation);
    withParent.parent_id = internal._parentId;
    correlation = withParent as Correlation;
  }
  const metadata =
    scope?.metadata && input.metadata
      ? copyOnto(copyOnto({}, scope.metadata), input.metadata)
      : (input.metadata ?? scope?.metadata);
  // Keys in the documented order, so stored lines read the same way every time
  // (assigned one by one: no temporary objects on the caller's path).
  const event = {
    schema_version: 1,
    id: typeof internal._id === "string" ? internal._id : uuidv7(nowMs),
    timestamp,
    severity,
    security_event: input.securityEvent === true,
    application,
  } as Mutable<AuditEvent>;
  if (actor !== undefined) event.actor = actor as Mutable<AuditEvent>["actor"];
  event.action = action;
  event.result = result;
  if (correlation !== undefined) event.correlation = correlation as Mutable<AuditEvent>["correlation"];
  if (input.params !== undefined) event.params = input.params;
  if (metadata !== undefined) event.metadata = metadata as Record<string, unknown>;
  const tenant = input.tenant ?? scope?.tenant;
  if (tenant !== undefined) {
    const bad = tenantProblem(tenant);
    if (bad === undefined) event.tenant = tenant;
    else
      problem(
        report,
        `${input.tenant !== undefined ? "input.tenant" : "the scope's tenant"} ${bad} (${describe(tenant)}); recorded without a tenant`,
      );
  }
  return event;
}
