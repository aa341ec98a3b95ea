// Builds the viewer page (src/viewer/ui) for the browser into dist/viewer-ui/:
// index.html (copied), assets/app.js (one minified ES module: the page and Preact) and
// assets/app.css — served at <mount>/, <mount>/assets/app.js and <mount>/assets/app.css.
// Run by `npm run build` after tsup (whose clean step empties dist/). No network, no CDN:
// everything the page loads is in that folder.
import { copyFile, mkdir, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src/viewer/ui");
const out = join(root, "dist/viewer-ui");

const common = { bundle: true, minify: true, logLevel: "warning", legalComments: "eof" };
await rm(out, { recursive: true, force: true });
await mkdir(join(out, "assets"), { recursive: true });
await build({
  ...common,
  entryPoints: [join(source, "main.tsx")],
  outfile: join(out, "assets", "app.js"),
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome111", "firefox115", "safari16.4"],
  jsx: "automatic",
  jsxImportSource: "preact",
  tsconfig: join(source, "tsconfig.json"),
});
await build({ ...common, entryPoints: [join(source, "app.css")], outfile: join(out, "assets", "app.css") });
await copyFile(join(source, "index.html"), join(out, "index.html"));
const size = (await stat(join(out, "assets", "app.js"))).size;
console.log(`viewer page built: dist/viewer-ui (assets/app.js ${(size / 1024).toFixed(1)} KB minified)`);
