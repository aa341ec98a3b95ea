import { defineConfig } from "vitest/config";

export default defineConfig({
  // Lower TC39 decorators for Node 20, as tsup and tsx do (Vite 7's esbuild transform).
  esbuild: { target: "es2022" },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts", "examples/**/*.test.ts"],
    // The suite talks to real files, processes and servers: give it room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
