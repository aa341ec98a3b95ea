/**
 * Erasure by crypto-shredding (GDPR art. 17) that keeps the hash chain valid.
 *
 * On the way in, the `subject` stage (before integrity) moves an event's personal fields —
 * every `actor` member but `id` and `roles`, plus the configured `fields` — into one
 * AES-256-GCM sealed member under a key of that person's own:
 *
 * ```json
 * "actor": { "id": "42", "roles": ["admin"] },
 * "subject": { "ct": "…", "iv": "…", "kid": "1f0c9a2b", "ref": "9b1c…", "tag": "…" }
 * ```
 *
 * The person is `actor.id` (else `actor.username`); `ref` is its keyed pseudonym. The chain
 * hashes the event in this sealed form, so destroying the person's key later
 * ({@link SubjectKeyStore.erase}) changes no stored byte: verification still passes, and the
 * personal fields are gone for good. The associated data binds the sealed member to its
 * event id, so it cannot be moved to another event.
 *
 * On the way out, readers open the sealed member with the person's key when it still exists
 * (the event reads as it was written, with `subject: { ref }`), or mark it
 * `subject: { ref, erased: true }` when it does not.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { join } from "node:path";
import type { ResolvedConfig } from "../config/types.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { AuditEvent, Mutable } from "../event/types.js";
import { canonicalize } from "../integrity/canonical.js";
import { defaultStoreDirectory } from "../integrity/stage.js";
import { defineOwn } from "../pipeline/sanitize/walk.js";
import type { BatchStage } from "../pipeline/stage.js";
import { SubjectKeyStore } from "./key-store.js";

/** `actor` members that stay readable: who it was (pseudonymously) and in which role. */
export const ACTOR_KEPT: ReadonlySet<string> = new Set(["id", "roles"]);

/** The key store of a configuration with erasure enabled; `undefined` when it is off. */
export function subjectKeyStoreFor(config: ResolvedConfig): SubjectKeyStore | undefined {
  const erasure = config.compliance.gdpr.erasure;
  if (!erasure.enabled || erasure.key === undefined) return undefined;
  const directory = erasure.key_store ?? defaultKeyStore(config);
  return new SubjectKeyStore(directory, erasure.key);
}

function defaultKeyStore(config: ResolvedConfig): string {
  const store = defaultStoreDirectory(config);
  if (store === undefined) {
    throw new VigilError(
      ErrorCodes.CONFIG,
      "compliance.gdpr.erasure is enabled but there is no file backend to keep subject keys beside: set compliance.gdpr.erasure.key_store",
    );
  }
  return join(store, "subjects");
}

/** The person an event is about: `actor.id`, else `actor.username`. */
function subjectOf(event: AuditEvent): string | undefined {
  const actor = event.actor;
  if (actor === undefined) return undefined;
  if (typeof actor.id === "string" && actor.id !== "") return actor.id;
  if (typeof actor.username === "string" && actor.username !== "") return actor.username;
  return undefined;
}

/**
 * The `subject` stage: seals each event's personal fields under its person's key. Absent
 * when erasure is off.
 *
 * @example
 * const stage = createSubjectStage(config); // before the integrity stage
 */
export function createSubjectStage(
  config: ResolvedConfig,
  keys: SubjectKeyStore | undefined = subjectKeyStoreFor(config),
  onError: (error: unknown) => void = (err) =>
    process.emitWarning(`vigil: a subject key could not be made: ${(err as Error).message}`),
): BatchStage | undefined {
  if (keys === undefined) return undefined;
  const extra = config.compliance.gdpr.erasure.fields.map((f) => f.split("."));
  return {
    name: "subject",
    processEvent(event) {
      const subject = subjectOf(event);
      if (subject === undefined) return;
      const taken: Record<string, unknown> = {};
      let any = false;
      const actor = event.actor!;
      const keptActor: Record<string, unknown> = {};
      for (const k of Object.keys(actor)) {
        const v = (actor as Record<string, unknown>)[k];
        if (ACTOR_KEPT.has(k)) keptActor[k] = v;
        else if (v !== undefined) {
          taken[`actor.${k}`] = v;
          any = true;
        }
      }
      for (const path of extra) {
        const v = takePath(event, path);
        if (v !== undefined) {
          taken[path.join(".")] = v;
          any = true;
        }
      }
      if (!any) return;
      if (Object.keys(keptActor).length > 0) event.actor = keptActor;
      else delete event.actor;
      const ref = keys.ref(subject);
      let subjectKey: ReturnType<SubjectKeyStore["keyForWriting"]>;
      try {
        subjectKey = keys.keyForWriting(ref);
      } catch (err) {
        // The event is kept (an audit record is never dropped for this), its personal fields
        // are not: stored in clear they could never be erased.
        onError(err);
        event.subject = { ref, erased: true };
        return;
      }
      const { kid, key } = subjectKey;
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(sealAad(event.id, ref, kid));
      const ct = Buffer.concat([cipher.update(canonicalize(taken), "utf8"), cipher.final()]);
      // members in canonical order, so the integrity stage hashes it on its fast path
      event.subject = {
        ct: ct.toString("base64"),
        iv: iv.toString("base64"),
        kid,
        ref,
        tag: cipher.getAuthTag().toString("base64"),
      };
    },
  };
}

/**
 * Opens the sealed member of events read back: the personal fields are put back when the
 * person's key exists; otherwise the event is marked erased. Absent when erasure is off.
 */
export function createSubjectOpener(
  config: ResolvedConfig,
  keys: SubjectKeyStore | undefined = subjectKeyStoreFor(config),
): ((event: AuditEvent) => AuditEvent) | undefined {
  if (keys === undefined) return undefined;
  return (event) => {
    const sealed = event.subject;
    if (sealed === undefined || sealed === null || typeof sealed !== "object" || sealed.ct === undefined)
      return event;
    const out = event as Mutable<AuditEvent>;
    const key = keys.keyForReading(String(sealed.ref), String(sealed.kid));
    if (key === undefined) {
      out.subject = { ref: sealed.ref, erased: true };
      return out;
    }
    let fields: Record<string, unknown>;
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(String(sealed.iv), "base64"), {
        authTagLength: 16,
      });
      decipher.setAAD(sealAad(event.id, sealed.ref, String(sealed.kid)));
      decipher.setAuthTag(Buffer.from(String(sealed.tag), "base64"));
      const text = Buffer.concat([
        decipher.update(Buffer.from(String(sealed.ct), "base64")),
        decipher.final(),
      ]).toString("utf8");
      fields = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new VigilError(
        ErrorCodes.STORAGE,
        `event ${event.id}: its personal fields cannot be opened with the key of subject ${sealed.ref} (the record was modified)`,
        { cause: err },
      );
    }
    for (const [path, value] of Object.entries(fields)) putPath(out, path.split("."), value);
    out.subject = { ref: sealed.ref };
    return out;
  };
}

/**
 * Whether a query field names sealed data (or a parent of it): such conditions cannot be
 * decided on what a database stores, only on opened events.
 */
export function sealedFieldTest(config: ResolvedConfig): (field: string) => boolean {
  const extra = config.compliance.gdpr.erasure.fields;
  return (field) => {
    if (field === "actor") return true;
    if (field.startsWith("actor.")) {
      const member = field.slice("actor.".length).split(".")[0]!;
      if (!ACTOR_KEPT.has(member)) return true;
    }
    return extra.some((p) => field === p || field.startsWith(`${p}.`) || p.startsWith(`${field}.`));
  };
}

function sealAad(id: string, ref: string, kid: string): Buffer {
  return Buffer.from(`vigil-subject:${id}:${ref}:${kid}`, "utf8");
}

/**
 * Remove the value at `path` (at least two segments) from the event and return it. The
 * holding object is replaced by a copy without that member (keeping the others' order);
 * the parts of a prepared event are its own copies, so nothing the caller holds changes.
 */
function takePath(event: Mutable<AuditEvent>, path: readonly string[]): unknown {
  let grandparent: Record<string, unknown> | undefined;
  let holder = event as unknown as Record<string, unknown>;
  for (let i = 0; i < path.length - 1; i++) {
    const next = holder[path[i]!];
    if (next === null || typeof next !== "object" || Array.isArray(next)) return undefined;
    grandparent = holder;
    holder = next as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (grandparent === undefined || !Object.hasOwn(holder, last)) return undefined;
  const value = holder[last];
  const holderKey = path[path.length - 2]!;
  const rest: Record<string, unknown> = {};
  let left = 0;
  for (const k of Object.keys(holder)) {
    if (k === last) continue;
    defineOwn(rest, k, holder[k]);
    left++;
  }
  if (left > 0) grandparent[holderKey] = rest;
  else delete grandparent[holderKey];
  return value;
}

/** Put `value` at `path`, creating objects on the way. */
function putPath(event: Mutable<AuditEvent>, path: readonly string[], value: unknown): void {
  let holder = event as unknown as Record<string, unknown>;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    let next = holder[key];
    if (next === null || typeof next !== "object" || Array.isArray(next)) {
      next = {};
      defineOwn(holder, key, next);
    }
    holder = next as Record<string, unknown>;
  }
  defineOwn(holder, path[path.length - 1]!, value);
}

export { SubjectKeyStore } from "./key-store.js";
