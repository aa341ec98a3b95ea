import { defineConfig } from "tsup";

// One entry per public subpath (SPEC §1), plus the `vigil` program. Peer dependencies
// (drivers, frameworks, exceljs) stay external and are loaded only when used.
export default defineConfig([
  {
    entry: {
      index: "src/index.ts",
      express: "src/integrations/express/index.ts",
      fastify: "src/integrations/fastify/index.ts",
      http: "src/integrations/http/index.ts",
      koa: "src/integrations/koa/index.ts",
      hono: "src/integrations/hono/index.ts",
      nestjs: "src/integrations/nestjs/index.ts",
      pg: "src/integrations/pg/index.ts",
      mysql2: "src/integrations/mysql2/index.ts",
      "better-sqlite3": "src/integrations/better-sqlite3/index.ts",
      kysely: "src/integrations/kysely/index.ts",
      drizzle: "src/integrations/drizzle/index.ts",
      prisma: "src/integrations/prisma/index.ts",
      outbox: "src/outbox/index.ts",
      auth: "src/integrations/auth/index.ts",
      metrics: "src/integrations/metrics/index.ts",
      viewer: "src/viewer/index.ts",
    },
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "node20",
    splitting: true,
    treeshake: true,
  },
  {
    entry: { "cli/bin": "src/cli/bin.ts" },
    format: ["esm"],
    sourcemap: true,
    target: "node20",
    splitting: false,
  },
]);
