/**
 * Small validators over the published schema files vendored under `test/fixtures/`:
 * - OCSF (`test/fixtures/ocsf/`, from github.com/ocsf/ocsf-schema at v1.8.0): the class
 *   file with its `extends` chain and `$include`d profiles, the dictionary's types, the
 *   objects with theirs; every attribute present must be known where it is, of its type
 *   (arrays where `is_array`), `required` attributes present, `at_least_one` constraints
 *   met, enum values legal (`activity_id` merged over the chain), and the derived ids
 *   (`class_uid`, `category_uid`, `type_uid`) consistent.
 * - ECS (`test/fixtures/ecs/ecs_flat.yml`, from github.com/elastic/ecs at v9.4.0): every
 *   leaf outside the custom `vigil.*` namespace must be an ECS field of the right type,
 *   arrays where ECS normalizes to arrays, allowed values for `event.kind`, `category`,
 *   `type`, `outcome`, and each `event.type` one its `event.category` expects.
 * Each returns the list of problems (empty when valid), each naming the path.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse } from "yaml";

const fixture = (path: string) => new URL(`../fixtures/${path}`, import.meta.url);
const readJson = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(fixture(`ocsf/${path}`), "utf8")) as Record<string, unknown>;

interface OcsfAttribute {
  readonly requirement?: string;
  readonly type?: string;
  readonly is_array?: boolean;
  readonly enum?: Record<string, unknown>;
}
interface OcsfShape {
  readonly attributes: Record<string, OcsfAttribute>;
  readonly constraints?: { at_least_one?: string[]; just_one?: string[] };
}

const dictionary = readJson("dictionary.json") as {
  attributes: Record<string, OcsfAttribute>;
  types: { attributes: Record<string, { type?: string }> };
};
const categories = (readJson("categories.json") as { attributes: Record<string, { uid: number }> })
  .attributes;
/** The OCSF version of the vendored schema. */
export const OCSF_SCHEMA_VERSION = (readJson("version.json") as { version: string }).version;

/** Merges `child` over `parent`: attributes key by key (enums merged), constraints replaced. */
function merge(parent: OcsfShape, child: OcsfShape): OcsfShape {
  const attributes: Record<string, OcsfAttribute> = { ...parent.attributes };
  for (const [k, v] of Object.entries(child.attributes)) {
    const p = attributes[k];
    attributes[k] = { ...p, ...v, ...(p?.enum || v.enum ? { enum: { ...p?.enum, ...v.enum } } : {}) };
  }
  return {
    attributes,
    ...((child.constraints ?? parent.constraints)
      ? { constraints: child.constraints ?? parent.constraints }
      : {}),
  };
}

/** A class or object file with its `$include`s and `extends` chain resolved. */
function resolve(file: Record<string, unknown>, parentOf: (name: string) => OcsfShape): OcsfShape {
  const raw = { ...(file.attributes as Record<string, OcsfAttribute>) };
  const includes = (raw.$include as unknown as string[] | undefined) ?? [];
  delete raw.$include;
  let own: OcsfShape = { attributes: {} };
  for (const inc of includes) {
    // a profile's attributes are allowed; they are required only where the event applies
    // the profile (metadata.profiles), which these mappings do not
    const profile = readJson(inc) as { attributes: Record<string, OcsfAttribute> };
    const optional = Object.fromEntries(
      Object.entries(profile.attributes).map(([k, v]) => [k, { ...v, requirement: "optional" }]),
    );
    own = merge(own, { attributes: optional });
  }
  own = merge(own, {
    attributes: raw,
    ...(file.constraints ? { constraints: file.constraints as OcsfShape["constraints"] } : {}),
  });
  const base = typeof file.extends === "string" ? parentOf(file.extends) : { attributes: {} };
  return merge(base, own);
}

const objectCache = new Map<string, OcsfShape>();
function ocsfObject(name: string): OcsfShape {
  let shape = objectCache.get(name);
  if (shape === undefined) {
    shape = resolve(readJson(`objects/${name}.json`), ocsfObject);
    objectCache.set(name, shape);
  }
  return shape;
}

const CLASS_FILES: Readonly<Record<number, string>> = {
  0: "events/base_event.json",
  3001: "events/iam/account_change.json",
  3002: "events/iam/authentication.json",
  6003: "events/application/api_activity.json",
};
const EVENT_PARENTS: Readonly<Record<string, string>> = {
  base_event: "events/base_event.json",
  iam: "events/iam/iam.json",
  application: "events/application/application.json",
};
function ocsfClass(file: string): { shape: OcsfShape; uid: number; categoryUid: number } {
  const raw = readJson(file);
  const shape = resolve(raw, (name) => ocsfClass(EVENT_PARENTS[name] as string).shape);
  let category = raw.category as string | undefined;
  for (let f = raw; category === undefined && typeof f.extends === "string"; ) {
    f = readJson(EVENT_PARENTS[f.extends] as string);
    category = f.category as string | undefined;
  }
  const categoryUid =
    category !== undefined && categories[category] ? (categories[category]?.uid as number) : 0;
  const uid = typeof raw.uid === "number" ? categoryUid * 1000 + raw.uid : 0;
  return { shape, uid, categoryUid };
}

/** The base type (`string_t`, `integer_t`, ...) of an OCSF scalar type. */
function baseType(type: string): string {
  let t = type;
  for (
    let parent = dictionary.types.attributes[t]?.type;
    parent !== undefined;
    parent = dictionary.types.attributes[t]?.type
  )
    t = parent;
  return t;
}

function checkScalar(type: string, value: unknown): boolean {
  switch (baseType(type)) {
    case "string_t":
      if (type === "ip_t") return typeof value === "string" && isIP(value) !== 0;
      return typeof value === "string";
    case "integer_t":
    case "long_t":
      return typeof value === "number" && Number.isSafeInteger(value);
    case "float_t":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean_t":
      return typeof value === "boolean";
    case "json_t":
      return value !== undefined;
    default:
      return false;
  }
}

const DERIVED = new Set(["class_uid", "category_uid", "type_uid"]);

function checkShape(shape: OcsfShape, value: unknown, path: string, problems: string[]): void {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    problems.push(`${path}: expected an object`);
    return;
  }
  const record = value as Record<string, unknown>;
  for (const [key, v] of Object.entries(record)) {
    const attr = shape.attributes[key];
    const here = path === "" ? key : `${path}.${key}`;
    if (attr === undefined) {
      problems.push(`${here}: not an attribute here`);
      continue;
    }
    const def = { ...dictionary.attributes[key], ...attr };
    const type = def.type;
    if (type === undefined) {
      problems.push(`${here}: no type in the dictionary`);
      continue;
    }
    if (def.is_array && !Array.isArray(v)) problems.push(`${here}: expected an array`);
    const items: unknown[] = def.is_array ? (Array.isArray(v) ? v : []) : [v];
    for (const [i, item] of items.entries()) {
      const at = def.is_array ? `${here}[${i}]` : here;
      if (type.endsWith("_t")) {
        if (!checkScalar(type, item)) problems.push(`${at}: expected ${type}, found ${JSON.stringify(item)}`);
      } else if (type === "object") {
        if (item === null || typeof item !== "object" || Array.isArray(item))
          problems.push(`${at}: expected an object`);
      } else checkShape(ocsfObject(type), item, at, problems);
      // the ids a class derives (class_uid, category_uid, type_uid) are checked below
      if (def.enum !== undefined && !DERIVED.has(here) && !Object.hasOwn(def.enum, String(item)))
        problems.push(`${at}: ${JSON.stringify(item)} is not among ${Object.keys(def.enum).join(", ")}`);
    }
  }
  for (const [key, attr] of Object.entries(shape.attributes))
    if (attr.requirement === "required" && record[key] === undefined)
      problems.push(`${path === "" ? key : `${path}.${key}`}: required`);
  const c = shape.constraints;
  if (c?.at_least_one && !c.at_least_one.some((k) => record[k] !== undefined))
    problems.push(`${path || "(event)"}: needs at least one of ${c.at_least_one.join(", ")}`);
  if (c?.just_one && c.just_one.filter((k) => record[k] !== undefined).length !== 1)
    problems.push(`${path || "(event)"}: needs exactly one of ${c.just_one.join(", ")}`);
}

/** Problems of one OCSF event against the vendored schema; empty when valid. */
export function validateOcsf(event: Record<string, unknown>): string[] {
  const file = CLASS_FILES[event.class_uid as number];
  if (file === undefined)
    return [`class_uid: ${JSON.stringify(event.class_uid)} is not a class this validator has`];
  const cls = ocsfClass(file);
  const problems: string[] = [];
  checkShape(cls.shape, event, "", problems);
  if (event.class_uid !== cls.uid) problems.push(`class_uid: expected ${cls.uid}`);
  if (event.category_uid !== cls.categoryUid) problems.push(`category_uid: expected ${cls.categoryUid}`);
  if (event.type_uid !== cls.uid * 100 + (event.activity_id as number))
    problems.push(
      `type_uid: expected class_uid * 100 + activity_id = ${cls.uid * 100 + (event.activity_id as number)}`,
    );
  return problems;
}

interface EcsField {
  readonly type: string;
  readonly normalize?: readonly string[];
  readonly allowed_values?: readonly {
    readonly name: string;
    readonly expected_event_types?: readonly string[];
  }[];
}
const ecsFields = parse(readFileSync(fixture("ecs/ecs_flat.yml"), "utf8"), { maxAliasCount: -1 }) as Record<
  string,
  EcsField
>;
/** The ECS version of the vendored schema. */
export const ECS_SCHEMA_VERSION = readFileSync(fixture("ecs/version"), "utf8").trim();

function checkEcsValue(field: EcsField, value: unknown): boolean {
  switch (field.type) {
    case "keyword":
    case "constant_keyword":
    case "wildcard":
    case "text":
    case "match_only_text":
      return typeof value === "string";
    case "long":
    case "integer":
    case "short":
    case "byte":
    case "unsigned_long":
      return typeof value === "number" && Number.isSafeInteger(value);
    case "float":
    case "double":
    case "scaled_float":
    case "half_float":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "date":
      return typeof value === "string" && !Number.isNaN(Date.parse(value));
    case "ip":
      return typeof value === "string" && isIP(value) !== 0;
    case "object":
    case "flattened":
    case "nested":
      return value !== null && typeof value === "object";
    default:
      return false;
  }
}

/** Problems of one ECS document against the vendored `ecs_flat.yml`; empty when valid. */
export function validateEcs(doc: Record<string, unknown>, custom = "vigil"): string[] {
  const problems: string[] = [];
  const visit = (value: unknown, path: string): void => {
    if (path === custom || path.startsWith(`${custom}.`)) return;
    const field = ecsFields[path];
    if (field === undefined) {
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        for (const [k, v] of Object.entries(value)) visit(v, path === "" ? k : `${path}.${k}`);
        return;
      }
      problems.push(`${path}: not an ECS field`);
      return;
    }
    const isArray = field.normalize?.includes("array") ?? false;
    if (isArray && !Array.isArray(value)) problems.push(`${path}: expected an array`);
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      if (!checkEcsValue(field, item))
        problems.push(`${path}: expected ${field.type}, found ${JSON.stringify(item)}`);
      if (field.allowed_values && !field.allowed_values.some((a) => a.name === item))
        problems.push(`${path}: ${JSON.stringify(item)} is not an allowed value`);
    }
  };
  visit(doc, "");
  // each event.type must be one its categories expect
  const event = doc.event as { category?: string[]; type?: string[] } | undefined;
  const allowed = ecsFields["event.category"]?.allowed_values ?? [];
  for (const category of event?.category ?? []) {
    const expected = allowed.find((a) => a.name === category)?.expected_event_types ?? [];
    for (const type of event?.type ?? [])
      if (!expected.includes(type))
        problems.push(`event.type: ${type} is not expected for event.category ${category}`);
  }
  return problems;
}
