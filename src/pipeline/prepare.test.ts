import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { loadConfig } from "../config/index.js";
import { buildEvent } from "../event/build.js";
import type { LogInput } from "../event/types.js";
import { isCanonical } from "../integrity/canonical.js";
import { compilePrepare } from "./prepare.js";
import { sortKeys } from "./sanitize/walk.js";

describe("sortKeys", () => {
  test("orders keys exactly as Array.prototype.sort does (UTF-16 code units), short and long lists", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ unit: "binary" }), { maxLength: 40 }), (keys) => {
        const expected = [...keys].sort();
        expect(sortKeys([...keys])).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
  });

  test("sorts in place and returns the same array", () => {
    const keys = ["username", "id", "ip", "\u{1F600}", "\uFFFF", "Z"];
    expect(sortKeys(keys)).toBe(keys);
    expect(keys).toEqual(["Z", "id", "ip", "username", "\u{1F600}", "\uFFFF"]);
  });
});

describe("prepare for a signed store", () => {
  const config = loadConfig(
    {
      core: { application_name: "app" },
      storage: { backends: [{ type: "file", directory: "/nonexistent/not-written" }] },
      security: { signing: { enabled: true, secret_key: "a-test-secret-0123456789" } },
    },
    { env: {} },
  );
  const prepare = compilePrepare(config);
  const application = { name: "app", host: "web-1", pid: 7, version: "1.0.0" };
  // Keys prepare cannot keep in order, which the sealer routes to its general path: array
  // indexes (V8 lists them first), `__proto__` (cannot be assigned), and ill-formed keys the
  // walk rewrites to U+FFFD after sorting.
  const ordinaryKey = fc
    .string({ unit: "grapheme" })
    .filter((k) => k !== "__proto__" && !/^(0|[1-9]\d*)$/.test(k));
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      fc.string(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie("value"), { maxLength: 4 }),
      fc.dictionary(ordinaryKey, tie("value"), { maxKeys: 6 }),
    ),
  })).value;
  const flat = fc.dictionary(ordinaryKey, fc.oneof(fc.string(), fc.integer(), fc.boolean()), { maxKeys: 6 });

  test("copies every part of the event in canonical key order", () => {
    fc.assert(
      fc.property(
        flat,
        flat,
        json,
        fc.dictionary(ordinaryKey, json, { maxKeys: 6 }),
        json,
        (actor, resource, params, metadata, value) => {
          const input = {
            action: "QUERY",
            category: "DATABASE",
            method: "GET",
            actor,
            resource,
            params,
            metadata,
            result: { value, duration_ms: 1.5, count: 2 },
            error: new Error("boom"),
          } as LogInput;
          const event = buildEvent(input, application, undefined, () => undefined);
          prepare(event);
          for (const part of [
            event.action,
            event.actor,
            event.application,
            event.params,
            event.metadata,
            event.result,
          ])
            expect(isCanonical(part)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("prepare makes identity objects safe like the walk does", () => {
  test("an ill-formed key in actor is rewritten to U+FFFD, as in metadata", () => {
    const prepare = compilePrepare(loadConfig({}, { env: {} }));
    const event = buildEvent(
      { action: "X", actor: { "\uD800id": "7" }, metadata: { "\uD800id": "7" } } as LogInput,
      { name: "app" },
      undefined,
      () => undefined,
    );
    prepare(event);
    expect(event.actor).toEqual({ "\uFFFDid": "7" });
    expect(event.metadata).toEqual({ "\uFFFDid": "7" });
  });
});
