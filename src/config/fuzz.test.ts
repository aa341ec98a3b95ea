// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" is the configuration's own syntax under test.
/**
 * The configuration loader under hostile input (issue 12, item 7): whatever object or YAML
 * text it is given, it either returns a resolved configuration or throws one of its own
 * coded errors — never a TypeError, a RangeError, a stack overflow or a hang.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ErrorCodes, VigilError } from "../errors.js";
import { loadConfig } from "./load.js";

const OWN_CODES = new Set<string>([ErrorCodes.CONFIG, ErrorCodes.CONFIG_FILE, ErrorCodes.INVALID_ARGUMENT]);
const SEED = parseYaml(
  readFileSync(new URL("../../test/fixtures/seed-audit.yaml", import.meta.url), "utf8"),
) as Record<string, unknown>;

/** Loads, and says what happened: "ok", or the code of a vigil error. Anything else is thrown. */
function outcome(load: () => unknown): string {
  try {
    load();
    return "ok";
  } catch (error) {
    if (error instanceof VigilError && OWN_CODES.has(error.code)) {
      expect(error.message.length).toBeGreaterThan(0);
      return error.code;
    }
    throw error;
  }
}

/** Every path to a value inside `value` (objects and arrays), as key lists. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => pathsOf(v, [...prefix, k]))];
}

function replaced(root: unknown, path: readonly (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const copy = (Array.isArray(root) ? [...root] : { ...(root as object) }) as Record<
    string | number,
    unknown
  >;
  copy[head!] = replaced(copy[head!], rest, value);
  return copy;
}

const SEED_PATHS = pathsOf(SEED);
const hostile = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.constantFrom(
    "${",
    "${UNSET}",
    "${A:-${B}}",
    "../../etc/passwd",
    "\u0000",
    "x".repeat(100_000),
    -1,
    0,
    1e308,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    "__proto__",
    { __proto__: { enabled: false } },
    { constructor: { prototype: { polluted: true } } },
    [[[[[[[[[[[]]]]]]]]]]],
  ),
);

describe("the configuration loader never fails but with its own errors", () => {
  it("on arbitrary objects given as the configuration", () => {
    fc.assert(
      fc.property(fc.anything({ maxDepth: 4 }), (value) => {
        outcome(() => loadConfig(value as never, { env: {} }));
        outcome(() => loadConfig({ vigil: value } as never, { env: {} }));
      }),
      { numRuns: 400 },
    );
  });

  it("on the seed's configuration with any one value replaced by a hostile one", () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEED_PATHS), hostile, (path, value) => {
        outcome(() => loadConfig(replaced(SEED, path, value) as never, { env: {} }));
      }),
      { numRuns: 600 },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  const dir = mkdtempSync(join(tmpdir(), "vigil-config-fuzz-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("on arbitrary YAML text in a configuration file", () => {
    const file = join(dir, "audit.yaml");
    const yamlish = fc
      .array(
        fc.oneof(
          fc.string(),
          fc.constantFrom(
            "vigil:",
            "  storage:",
            "    backends:",
            "      - type: file",
            "  core: { enabled: ",
            "&a [*a]",
            "!!binary",
            "? complex",
            "---",
            "\t",
            "- - -",
            "${X}",
            "key: 'unterminated",
            "<<: *undefined",
          ),
        ),
        { maxLength: 12 },
      )
      .map((lines) => lines.join("\n"));
    fc.assert(
      fc.property(yamlish, (text) => {
        writeFileSync(file, text);
        outcome(() => loadConfig(file, { env: {} }));
      }),
      { numRuns: 400 },
    );
  });

  it("on a YAML alias bomb (billion laughs), quickly and with a clear error", () => {
    const file = join(dir, "bomb.yaml");
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    writeFileSync(file, `${levels.join("\n")}\nvigil: { core: { application_name: *j } }\n`);
    expect(outcome(() => loadConfig(file, { env: {} }))).not.toBe("ok");
  });
});
