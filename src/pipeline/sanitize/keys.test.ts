import { describe, expect, test } from "vitest";
import { isSensitiveKeyName, keySegments } from "./keys.js";

describe("keySegments", () => {
  test.each([
    ["db_password", ["db", "password"]],
    ["userPassword", ["user", "password"]],
    ["X-Api-Key", ["x", "api", "key"]],
    ["APIKey", ["api", "key"]],
    ["oauth2Token", ["oauth2", "token"]],
    ["set-cookie", ["set", "cookie"]],
    ["  weird..name__", ["weird", "name"]],
    ["", []],
  ])("%s → %j", (name, segments) => {
    expect(keySegments(name)).toEqual(segments);
  });
});

describe("isSensitiveKeyName", () => {
  test.each([
    "password",
    "PASSWORD",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "apiKey",
    "APIKEY",
    "X-Api-Key",
    "access_token",
    "refresh_token",
    "authorization",
    "Authorization",
    "auth",
    "cookie",
    "Set-Cookie",
    "private_key",
    "privateKey",
    "client_secret",
    "credentials",
    "db_password",
    "userPassword",
    "userpassword",
    "passwordHash",
    "x-auth-token",
    "aws_secret_access_key",
    "access_key_id",
    "sessionToken",
  ])("%s is sensitive", (name) => {
    expect(isSensitiveKeyName(name)).toBe(true);
  });

  test.each([
    "author",
    "authority",
    "authored_by",
    "authorName",
    "tokens",
    "max_tokens",
    "tokenizer",
    "secretary",
    "keyboard",
    "key",
    "primary_key",
    "passwordless",
    "username",
    "sql",
    "",
  ])("%s is not sensitive", (name) => {
    expect(isSensitiveKeyName(name)).toBe(false);
  });
});
