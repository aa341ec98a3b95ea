import { defineConfig } from "tsup";

// One entry per public subpath (SPEC §1); each is added when its code exists.
export default defineConfig({
  entry: {
    index: "src/index.ts",
  },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  splitting: true,
  treeshake: true,
});
