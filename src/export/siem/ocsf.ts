/**
 * The audit event in the Open Cybersecurity Schema Framework (OCSF 1.8.0): one OCSF event
 * per audit event, in the class that fits — Authentication (3002), Account Change (3001),
 * API Activity (6003) — or the generic Base Event (0). Used by `vigil export --format ocsf`
 * (NDJSON) and usable by any transport. `docs/siem.md` documents the mapping; the tests
 * validate every mapped event of a varied corpus against the published schema files
 * vendored under `test/fixtures/ocsf/`.
 *
 * An event goes to a specific class only when it carries what that class requires
 * (Authentication: the user; API Activity: an actor and a source address; Account Change:
 * the account); otherwise it is a Base Event. Fields OCSF has no place for go under
 * `unmapped`, so nothing is lost.
 *
 * @module
 */
import type { AuditEvent, Severity } from "../../event/types.js";

/** The OCSF version the mapping targets (`metadata.version`). */
export const OCSF_VERSION = "1.8.0";

/** `metadata.product` of every mapped event. */
export const OCSF_PRODUCT = { name: "vigil", vendor_name: "vigil-audit" } as const;

/** An OCSF event as plain JSON. */
export type OcsfEvent = Record<string, unknown>;

interface OcsfClass {
  readonly uid: number;
  readonly name: string;
  readonly category_uid: number;
  readonly category_name: string;
}

const BASE_EVENT: OcsfClass = { uid: 0, name: "Base Event", category_uid: 0, category_name: "Uncategorized" };
const ACCOUNT_CHANGE: OcsfClass = {
  uid: 3001,
  name: "Account Change",
  category_uid: 3,
  category_name: "Identity & Access Management",
};
const AUTHENTICATION: OcsfClass = {
  uid: 3002,
  name: "Authentication",
  category_uid: 3,
  category_name: "Identity & Access Management",
};
const API_ACTIVITY: OcsfClass = {
  uid: 6003,
  name: "API Activity",
  category_uid: 6,
  category_name: "Application Activity",
};

/** `severity_id` and its caption for each vigil severity. */
const SEVERITY: Readonly<Record<Severity, readonly [number, string]>> = {
  DEBUG: [1, "Informational"],
  INFO: [1, "Informational"],
  WARNING: [3, "Medium"],
  ERROR: [4, "High"],
  CRITICAL: [5, "Critical"],
};

/** Account Change activities, by a word of `action.type` (first match wins). */
const ACCOUNT_ACTIVITIES: readonly (readonly [RegExp, number, string])[] = [
  [/PASSWORD_?RESET/, 4, "Password Reset"],
  [/PASSWORD/, 3, "Password Change"],
  [/MFA.*(DISABLE|REMOVE)/, 11, "MFA Factor Disable"],
  [/MFA/, 10, "MFA Factor Enable"],
  [/UNLOCK/, 12, "Unlock"],
  [/LOCK/, 9, "Lock"],
  [/DETACH|REVOKE|UNASSIGN/, 8, "Detach Policy"],
  [/ATTACH|GRANT|ASSIGN/, 7, "Attach Policy"],
  [/DISABLE|SUSPEND|DEACTIVATE/, 5, "Disable"],
  [/ENABLE|ACTIVATE/, 2, "Enable"],
  [/CREATE|REGISTER|SIGNUP|SIGN_UP|INVITE/, 1, "Create"],
  [/DELETE|REMOVE/, 6, "Delete"],
];

/** API Activity activities by HTTP method. */
const API_ACTIVITIES: Readonly<Record<string, readonly [number, string]>> = {
  POST: [1, "Create"],
  GET: [2, "Read"],
  HEAD: [2, "Read"],
  PUT: [3, "Update"],
  PATCH: [3, "Update"],
  DELETE: [4, "Delete"],
};

const isAuthentication = (e: AuditEvent): boolean =>
  /^(AUTH|AUTHENTICATION)$/.test(e.action.category) ||
  /(^|_)(LOGIN|LOGON|LOGOUT|LOGOFF|SIGN_?IN|SIGN_?OUT)(_|$)/.test(e.action.type);
const isAccountChange = (e: AuditEvent): boolean =>
  /(^|_)(USER|ACCOUNT|PASSWORD|MFA)(_|$)/.test(e.action.type) ||
  /^(ACCOUNT|USER|IAM)$/.test(e.action.category);
const isApi = (e: AuditEvent): boolean =>
  e.action.category === "API" || e.action.type === "HTTP_REQUEST" || e.result.http_status !== undefined;

function definedOnly<T extends Record<string, unknown>>(o: T): T | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length === 0 ? undefined : (out as T);
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** The OCSF `user` of the event's actor, or undefined when it names nobody. */
function actorUser(e: AuditEvent): Record<string, unknown> | undefined {
  const a = e.actor;
  if (a === undefined || (str(a.id) === undefined && str(a.username) === undefined)) return undefined;
  const roles = Array.isArray(a.roles)
    ? a.roles.filter((r): r is string => typeof r === "string" && r !== "")
    : [];
  return definedOnly({
    uid: str(a.id),
    name: str(a.username),
    groups: roles.length > 0 ? roles.map((name) => ({ name })) : undefined,
  });
}

/** The OCSF `actor`: the user and their session, or undefined when neither is known. */
function actorOf(e: AuditEvent): Record<string, unknown> | undefined {
  const user = actorUser(e);
  const session = str(e.actor?.session_id);
  return definedOnly({ user, session: session === undefined ? undefined : { uid: session } });
}

/** The account an Account Change is about: the resource when it names one, else the actor. */
function changedAccount(e: AuditEvent): Record<string, unknown> | undefined {
  const r = e.action.resource;
  const named = r !== undefined && (str(r.id) !== undefined || str(r.name) !== undefined);
  if (named && (r.type === undefined || /user|account|member|principal/i.test(r.type)))
    return definedOnly({ uid: str(r.id), name: str(r.name) });
  return actorUser(e);
}

function httpRequest(e: AuditEvent): Record<string, unknown> | undefined {
  const path = str(e.action.resource?.path);
  return definedOnly({
    http_method: str(e.action.method),
    url: path === undefined ? undefined : { path },
    user_agent: str(e.actor?.user_agent),
    uid: str(e.correlation?.request_id),
  });
}

/** Everything OCSF has no attribute for, under `unmapped` (absent parts left out). */
function unmappedOf(e: AuditEvent, classUid: number): Record<string, unknown> | undefined {
  const { request_id: _requestId, ...correlation } = e.correlation ?? {};
  const inHttp = classUid === API_ACTIVITY.uid;
  const resource = e.action.resource;
  return definedOnly({
    schema_version: e.schema_version,
    security_event: e.security_event,
    action: definedOnly({
      type: e.action.type,
      category: e.action.category,
      method: inHttp ? undefined : e.action.method,
      resource:
        resource === undefined
          ? undefined
          : definedOnly({ ...resource, path: inHttp ? undefined : resource.path }),
    }),
    application: e.application,
    result: definedOnly({
      count: e.result.count,
      duration_ms: e.result.duration_ms,
      http_status: inHttp ? undefined : e.result.http_status,
      error: e.result.error,
      value: e.result.value,
    }),
    actor:
      inHttp || e.actor === undefined
        ? undefined
        : definedOnly({ ip: e.actor.ip, user_agent: e.actor.user_agent }),
    correlation: Object.keys(correlation).length === 0 ? undefined : correlation,
    params: e.params,
    metadata: e.metadata,
    integrity: e.integrity,
  });
}

/**
 * One audit event as an OCSF event.
 *
 * @param productVersion - `metadata.product.version` (vigil's version).
 */
export function toOcsf(e: AuditEvent, productVersion?: string): OcsfEvent {
  const actor = actorOf(e);
  const ip = str(e.actor?.ip);
  const user = actorUser(e);
  let cls = BASE_EVENT;
  let activity: readonly [number, string] = [99, e.action.type];
  const specific: Record<string, unknown> = {};
  if (isAuthentication(e) && user !== undefined) {
    cls = AUTHENTICATION;
    const t = e.action.type;
    activity = /LOGOUT|LOGOFF|SIGN_?OUT/.test(t)
      ? [2, "Logoff"]
      : /LOGIN|LOGON|SIGN_?IN/.test(t)
        ? [1, "Logon"]
        : [99, t];
    specific.user = user;
    specific.service = definedOnly({ name: e.application.name, version: str(e.application.version) });
    if (ip !== undefined) specific.src_endpoint = { ip };
    const http = httpRequest(e);
    if (http !== undefined && e.result.http_status !== undefined) specific.http_request = http;
    if (e.result.http_status !== undefined) specific.http_response = { code: e.result.http_status };
  } else if (isAccountChange(e) && changedAccount(e) !== undefined) {
    cls = ACCOUNT_CHANGE;
    const match = ACCOUNT_ACTIVITIES.find(([re]) => re.test(e.action.type));
    activity = match === undefined ? [99, e.action.type] : [match[1], match[2]];
    specific.user = changedAccount(e);
    if (ip !== undefined) specific.src_endpoint = { ip };
  } else if (isApi(e) && actor !== undefined && ip !== undefined) {
    cls = API_ACTIVITY;
    const method = str(e.action.method)?.toUpperCase();
    activity = (method !== undefined ? API_ACTIVITIES[method] : undefined) ?? [99, method ?? e.action.type];
    specific.api = { operation: method ?? e.action.type };
    specific.src_endpoint = { ip };
    const http = httpRequest(e);
    if (http !== undefined) specific.http_request = http;
    if (e.result.http_status !== undefined) specific.http_response = { code: e.result.http_status };
    const r = e.action.resource;
    if (r !== undefined && (str(r.name) !== undefined || str(r.id) !== undefined))
      specific.resources = [definedOnly({ name: str(r.name), uid: str(r.id), type: str(r.type) })];
  }
  const [severityId, severity] = SEVERITY[e.severity] ?? [0, "Unknown"];
  const ok = e.result.status === "SUCCESS";
  const time = Date.parse(e.timestamp);
  const error = e.result.error;
  const who = e.actor?.username ?? e.actor?.id;
  return {
    activity_id: activity[0],
    activity_name: activity[1],
    category_uid: cls.category_uid,
    category_name: cls.category_name,
    class_uid: cls.uid,
    class_name: cls.name,
    type_uid: cls.uid * 100 + activity[0],
    type_name: `${cls.name}: ${activity[1]}`,
    severity_id: severityId,
    severity,
    status_id: ok ? 1 : 2,
    status: ok ? "Success" : "Failure",
    ...(error?.message !== undefined ? { status_detail: error.message } : {}),
    ...(error !== undefined ? { status_code: error.code ?? error.type } : {}),
    time,
    ...(e.result.duration_ms !== undefined
      ? {
          duration: Math.round(e.result.duration_ms),
          start_time: time,
          end_time: time + Math.round(e.result.duration_ms),
        }
      : {}),
    message: `${e.action.category} ${e.action.type} ${e.result.status}${who !== undefined ? ` by ${who}` : ""}`,
    metadata: definedOnly({
      version: OCSF_VERSION,
      product: { ...OCSF_PRODUCT, ...(productVersion !== undefined ? { version: productVersion } : {}) },
      uid: e.id,
      original_time: e.timestamp,
      log_name: e.action.category,
      correlation_uid: str(e.correlation?.request_id),
      tenant_uid: str(e.tenant),
      sequence: e.integrity?.seq,
    }),
    ...(actor !== undefined ? { actor } : {}),
    ...specific,
    ...(() => {
      const unmapped = unmappedOf(e, cls.uid);
      return unmapped === undefined ? {} : { unmapped };
    })(),
  };
}
