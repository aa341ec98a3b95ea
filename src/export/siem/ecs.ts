/**
 * The audit event in the Elastic Common Schema (ECS 9.4): one ECS document per audit
 * event, with `@timestamp`, `event.*` (kind, category, type, outcome, action, id,
 * duration in nanoseconds), `user.*`, `source.ip`, `user_agent.original`, `http.*`,
 * `url.path`, `trace.id`, `service.*`, `host.hostname`, `process.pid`, `error.*`,
 * `organization.id` (the tenant), and the fields ECS has no place for under the custom
 * namespace `vigil.*`. Used by `vigil export --format ecs` (NDJSON); `docs/siem.md`
 * documents the mapping; the tests validate every mapped event of a varied corpus against
 * `ecs_flat.yml` vendored under `test/fixtures/ecs/`.
 *
 * @module
 */
import type { AuditEvent, Severity } from "../../event/types.js";

/** The ECS version the mapping targets (`ecs.version`). */
export const ECS_VERSION = "9.4.0";

/** An ECS document as plain JSON. */
export type EcsDocument = Record<string, unknown>;

/** `event.severity`: the OpenTelemetry severity numbers, as the `otlp` backend sends them. */
const SEVERITY_NUMBER: Readonly<Record<Severity, number>> = {
  DEBUG: 5,
  INFO: 9,
  WARNING: 13,
  ERROR: 17,
  CRITICAL: 21,
};

const TRACE_ID = /^[0-9a-f]{32}$/i;
const SPAN_ID = /^[0-9a-f]{16}$/i;
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function definedOnly<T extends Record<string, unknown>>(o: T): T | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length === 0 ? undefined : (out as T);
}

/** `event.category` and `event.type` (ECS's allowed values, each type one its category expects). */
function categorize(e: AuditEvent): { category: string[]; type: string[] } {
  const t = e.action.type;
  const failed = e.result.status === "FAILURE";
  if (/^(AUTH|AUTHENTICATION)$/.test(e.action.category) || /(^|_)(LOGIN|LOGON|SIGN_?IN)(_|$)/.test(t))
    return {
      category: ["authentication"],
      type: [/LOGOUT|LOGOFF|SIGN_?OUT/.test(t) ? "end" : /LOGIN|LOGON|SIGN_?IN/.test(t) ? "start" : "info"],
    };
  if (/(^|_)(LOGOUT|LOGOFF|SIGN_?OUT)(_|$)/.test(t)) return { category: ["authentication"], type: ["end"] };
  if (
    /(^|_)(USER|ACCOUNT|PASSWORD|MFA|ROLE|GROUP|PERMISSION)(_|$)/.test(t) ||
    /^(ACCOUNT|USER|IAM)$/.test(e.action.category)
  ) {
    const kind = /GROUP|ROLE/.test(t) ? "group" : "user";
    const change = /CREATE|REGISTER|SIGNUP|INVITE/.test(t)
      ? "creation"
      : /DELETE|REMOVE/.test(t)
        ? "deletion"
        : /READ|GET|LIST|VIEW/.test(t)
          ? "info"
          : "change";
    return { category: ["iam"], type: [kind, change] };
  }
  if (e.action.category === "API" || t === "HTTP_REQUEST" || e.result.http_status !== undefined)
    return { category: ["web"], type: [failed && (e.result.http_status ?? 0) >= 500 ? "error" : "access"] };
  if (e.action.category === "DATABASE") {
    const change = /INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WRITE|EXECUTE/.test(t);
    return { category: ["database"], type: [failed ? "error" : change ? "change" : "access"] };
  }
  if (/CONFIG/.test(e.action.category) || /CONFIG/.test(t))
    return { category: ["configuration"], type: ["change"] };
  return { category: [], type: ["info"] };
}

/**
 * One audit event as an ECS document.
 *
 * @example toEcs(event)["event"] // { kind: "event", category: ["authentication"], type: ["start"], outcome: "success", ... }
 */
export function toEcs(e: AuditEvent): EcsDocument {
  const { category, type } = categorize(e);
  const a = e.actor;
  const roles = Array.isArray(a?.roles) ? a.roles.filter((r): r is string => typeof r === "string") : [];
  const traceId = str(e.correlation?.trace_id);
  const spanId = str(e.correlation?.span_id);
  const error = e.result.error;
  const doc: EcsDocument = {
    "@timestamp": e.timestamp,
    ecs: { version: ECS_VERSION },
    message: `${e.action.category} ${e.action.type} ${e.result.status}${a?.username !== undefined ? ` by ${a.username}` : ""}`,
    event: definedOnly({
      kind: "event",
      ...(category.length > 0 ? { category } : {}),
      type,
      outcome: e.result.status === "SUCCESS" ? "success" : "failure",
      action: e.action.type,
      id: e.id,
      dataset: "vigil.audit",
      module: "vigil",
      provider: str(e.application.name),
      severity: SEVERITY_NUMBER[e.severity],
      duration: e.result.duration_ms === undefined ? undefined : Math.round(e.result.duration_ms * 1_000_000),
      sequence: e.integrity?.seq,
      reason: str(error?.message),
    }),
    log: { level: e.severity.toLowerCase(), logger: "vigil" },
    user: definedOnly({
      id: str(a?.id),
      name: str(a?.username),
      roles: roles.length > 0 ? roles : undefined,
    }),
    source: str(a?.ip) === undefined ? undefined : { ip: a?.ip },
    user_agent: str(a?.user_agent) === undefined ? undefined : { original: a?.user_agent },
    http: definedOnly({
      request: definedOnly({ method: str(e.action.method), id: str(e.correlation?.request_id) }),
      response: e.result.http_status === undefined ? undefined : { status_code: e.result.http_status },
    }),
    url: str(e.action.resource?.path) === undefined ? undefined : { path: e.action.resource?.path },
    trace: traceId !== undefined && TRACE_ID.test(traceId) ? { id: traceId.toLowerCase() } : undefined,
    span: spanId !== undefined && SPAN_ID.test(spanId) ? { id: spanId.toLowerCase() } : undefined,
    service: definedOnly({
      name: str(e.application.name),
      version: str(e.application.version),
      environment: str(e.application.environment),
    }),
    host:
      str(e.application.host) === undefined
        ? undefined
        : { hostname: e.application.host, name: e.application.host },
    process: e.application.pid === undefined ? undefined : { pid: e.application.pid },
    error:
      error === undefined
        ? undefined
        : definedOnly({ type: str(error.type), message: str(error.message), code: str(error.code) }),
    organization: str(e.tenant) === undefined ? undefined : { id: e.tenant },
    labels: { security_event: String(e.security_event === true) },
    vigil: definedOnly({
      schema_version: e.schema_version,
      action: definedOnly({ category: e.action.category, type: e.action.type, resource: e.action.resource }),
      result: definedOnly({ status: e.result.status, count: e.result.count, value: e.result.value }),
      session_id: str(a?.session_id),
      correlation: definedOnly({
        trace_id: traceId !== undefined && !TRACE_ID.test(traceId) ? traceId : undefined,
        span_id: spanId !== undefined && !SPAN_ID.test(spanId) ? spanId : undefined,
        parent_id: str(e.correlation?.parent_id),
      }),
      params: e.params,
      metadata: e.metadata,
      integrity: e.integrity,
    }),
  };
  for (const key of Object.keys(doc)) if (doc[key] === undefined) delete doc[key];
  return doc;
}
