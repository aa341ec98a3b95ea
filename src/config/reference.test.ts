// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" is the configuration's own syntax under test.
/**
 * docs/configuration.md stays in step with the code: every key is documented where it
 * belongs, the example is the seed's file, and the sample error message is real.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { KEYS, type Place } from "./schema.js";
import { resolveConfig } from "./validate.js";

const DOC = readFileSync(fileURLToPath(new URL("../../docs/configuration.md", import.meta.url)), "utf8");
const SEED = readFileSync(
  fileURLToPath(new URL("../../test/fixtures/seed-audit.yaml", import.meta.url)),
  "utf8",
);

/** The text under a heading, up to the next heading of any level. */
function section(heading: string): string {
  const start = DOC.indexOf(`\n${heading}\n`);
  expect(start, `heading ${heading}`).toBeGreaterThanOrEqual(0);
  const rest = DOC.slice(start + heading.length + 2);
  const next = rest.search(/\n#{1,4} /);
  return next === -1 ? rest : rest.slice(0, next);
}

const STORAGE = "### `vigil.storage`";
const FILE = "#### File backend (`type: file`)";
const DATABASE = "#### Database backend (`type: database`)";
const OTLP = "#### OpenTelemetry backend (`type: otlp`)";
const FILTERS = "#### `vigil.processing.filters`";
const NATS = "#### NATS backend (`type: nats`)";
const INGEST = "### `vigil.ingest`";

/** Where each place's keys are documented. A key counts when its table row or its own heading is there. */
const WHERE: Record<
  Exclude<Place, "root" | "processing" | "compliance" | "security" | "performance">,
  string[]
> = {
  core: ["### `vigil.core`"],
  storage: [STORAGE],
  fileBackend: [STORAGE, FILE],
  rotation: [FILE],
  databaseBackend: [STORAGE, DATABASE],
  connection: [DATABASE],
  otlpBackend: [STORAGE, OTLP],
  natsBackend: [STORAGE, NATS],
  natsTls: [NATS],
  ingest: [INGEST],
  ingestSource: [NATS, INGEST],
  sanitization: ["#### `vigil.processing.sanitization`"],
  severityFilter: [FILTERS],
  categoryFilter: [FILTERS],
  limits: ["#### `vigil.processing.limits`"],
  async: ["### `vigil.performance`"],
  batching: ["### `vigil.performance`"],
  gdpr: ["### `vigil.compliance`"],
  erasure: ["### `vigil.compliance`"],
  encryption: ["### `vigil.security`"],
  signing: ["### `vigil.security`"],
};

describe("docs/configuration.md", () => {
  it("documents every key where it belongs", () => {
    for (const [place, headings] of Object.entries(WHERE)) {
      const text = headings.map(section).join("\n");
      for (const key of KEYS[place as Place]) {
        const row = new RegExp(`^\\| \`${key}\` +\\|`, "m");
        const documented = row.test(text) || text.includes(`\`${key}\`:`) || text.includes(`\`${key}: `);
        expect(documented, `${place}.${key}`).toBe(true);
      }
    }
    for (const key of [...KEYS.root, "processing.sanitization", "processing.filters", "processing.limits"]) {
      expect(DOC, key).toContain(`\`vigil.${key}\``);
    }
  });

  it("shows the seed's file as its example", () => {
    // The formatter may align comments differently; everything else is as in the seed.
    const normalize = (text: string) => text.replace(/(\S) +#/g, "$1 #");
    const start = DOC.indexOf("```yaml\nvigil:\n  core:\n") + "```yaml\n".length;
    const example = DOC.slice(start, DOC.indexOf("```", start));
    expect(normalize(example)).toBe(normalize(SEED));
  });

  it("shows a real error message", () => {
    const sample = DOC.slice(DOC.indexOf("invalid vigil configuration in config/audit.yaml"));
    const shown = sample.slice(0, sample.indexOf("\n```"));
    const input = {
      vigil: {
        storage: {
          backends: [
            { type: "file" },
            {
              type: "database",
              connection: { dialect: "postgress", host: "h", database: "d", port: "${DB_PORT}" },
            },
          ],
        },
        processing: { filters: [{ type: "severity", levels: ["INFO", "WARNNG"] }] },
        performance: { batching: { batch_sise: 10 } },
      },
    };
    expect(() => resolveConfig(input, { env: { DB_PORT: "54x2" }, source: "config/audit.yaml" })).toThrow(
      ConfigError,
    );
    try {
      resolveConfig(input, { env: { DB_PORT: "54x2" }, source: "config/audit.yaml" });
    } catch (error) {
      expect((error as Error).message).toBe(shown);
    }
  });
});
