import { readFileSync } from "node:fs";
import { afterEach, beforeEach, expect, test } from "vitest";
import { type AuditEngine, loadConfig } from "../../src/index.js";
import { fileEngine, rawLines, tempDir } from "../helpers.js";

// Issue 12, item 8: with the seed's four patterns, a JWT in a note, an AWS access key id and a
// PEM private key block reached disk. They must not, and the note around them must.
const JWT =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsInJvbGUiOiJhZG1pbiJ9.ZmFrZS1zaWduYXR1cmUtZm9yLXRlc3Rz";
const AWS_ID = "AKIAZ7Q2MBX4K3RT5WYE";
const PEM_BODY = "MIIEpAIBAAKCAQEAzq3JjXkF0bJ9z4Q0pJ2sVh7Ztq8lJ4nX0aVwq3JjXkF0bJ9z4Q0p";
const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\nJ2sVh7Zt==\n-----END RSA PRIVATE KEY-----`;

let dir: string;
let cleanup: () => void;
let engine: AuditEngine;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  const seed = loadConfig(new URL("../fixtures/seed-audit.yaml", import.meta.url).pathname, { env: {} });
  engine = fileEngine(dir, {
    processing: { sanitization: { ...seed.processing.sanitization } },
  });
});
afterEach(async () => {
  await engine.close();
  cleanup();
});

test("with the seed's redact_patterns, a JWT, an AWS key id and a private key never reach disk", async () => {
  const seedText = readFileSync(new URL("../fixtures/seed-audit.yaml", import.meta.url), "utf8");
  expect(seedText).toMatch(/- password\n\s+- credit_card\n\s+- ssn\n\s+- email/);
  engine.log({
    action: "SUPPORT_NOTE",
    metadata: { note: `customer pasted ${JWT} and ${AWS_ID} in the chat` },
    params: { attachment: PEM },
    error: new Error(`upload rejected for key ${AWS_ID}`),
  });
  await engine.flush();
  const text = rawLines(dir).join("\n");
  expect(text).not.toContain(JWT);
  expect(text).not.toContain(AWS_ID);
  expect(text).not.toContain(PEM_BODY);
  const [event] = rawLines(dir).map((l) => JSON.parse(l));
  expect(event.metadata.note).toBe(
    "customer pasted [REDACTED:jwt] and [REDACTED:aws_access_key] in the chat",
  );
  expect(event.params.attachment).toBe("[REDACTED:private_key]");
  expect(event.result.error.message).toBe("upload rejected for key [REDACTED:aws_access_key]");
});
