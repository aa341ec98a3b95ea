import { describe, expect, it } from "vitest";
import { checkFieldName, compilePath, FIELD_ALIASES, getPath, resolveField } from "./fields.js";

describe("resolveField", () => {
  it.each([
    ["category", "action.category"],
    ["type", "action.type"],
    ["user", "actor.username"],
    ["username", "actor.username"],
    ["status", "result.status"],
    ["action.type", "action.type"],
    ["metadata.type", "metadata.type"],
    ["toString", "toString"],
    ["__proto__", "__proto__"],
  ])("%s → %s", (name, path) => {
    expect(resolveField(name)).toBe(path);
  });

  it("cannot be changed at run time", () => {
    expect(Object.isFrozen(FIELD_ALIASES)).toBe(true);
  });
});

describe("checkFieldName", () => {
  it.each(["a", "action.type", "@timestamp", "a-b_c.d1", "actor.roles.0", "_exists_"])(
    "accepts %s",
    (name) => {
      expect(checkFieldName(name)).toBeUndefined();
    },
  );

  it.each([
    ["", "empty field name"],
    ["-a", "a field name cannot start with '-'"],
    ["a b", "' ' is not allowed in a field name"],
    ["é", "'é' is not allowed in a field name"],
    ["a..b", "empty path segment"],
    [".a", "empty path segment"],
    ["a.", "empty path segment"],
  ])("rejects %j: %s", (name, problem) => {
    expect(checkFieldName(name)).toBe(problem);
  });
});

describe("getPath", () => {
  const event = {
    actor: { username: "alice", roles: ["admin", "ops"], empty: null },
    list: [{ a: 1 }],
    text: "abc",
  };

  it("reads own properties along a dotted path", () => {
    expect(getPath(event, "actor.username")).toBe("alice");
    expect(getPath(event, "actor")).toBe(event.actor);
    expect(getPath(event, "actor.empty")).toBeNull();
  });

  it("returns undefined for anything missing", () => {
    expect(getPath(event, "actor.ip")).toBeUndefined();
    expect(getPath(event, "nothing.at.all")).toBeUndefined();
    expect(getPath(event, "actor.empty.x")).toBeUndefined();
    expect(getPath(null, "a")).toBeUndefined();
    expect(getPath("abc", "length")).toBeUndefined();
    expect(getPath(event, "text.length")).toBeUndefined();
  });

  it("never walks the prototype chain", () => {
    expect(getPath(event, "constructor")).toBeUndefined();
    expect(getPath(event, "actor.toString")).toBeUndefined();
    expect(getPath(event, "__proto__")).toBeUndefined();
    expect(getPath(JSON.parse('{"__proto__":{"x":1}}'), "__proto__.x")).toBe(1);
  });

  it("reaches array elements by canonical index only", () => {
    expect(getPath(event, "actor.roles.1")).toBe("ops");
    expect(getPath(event, "list.0.a")).toBe(1);
    expect(getPath(event, "actor.roles.01")).toBeUndefined();
    expect(getPath(event, "actor.roles.2")).toBeUndefined();
    expect(getPath(event, "actor.roles.length")).toBeUndefined();
    expect(getPath(event, "actor.roles.-1")).toBeUndefined();
  });

  it("compilePath reads the same as getPath", () => {
    for (const path of ["actor.username", "actor", "list.0.a", "actor.roles.length", "a.b.c.d"]) {
      expect(compilePath(path.split("."))(event)).toBe(getPath(event, path));
    }
  });
});
