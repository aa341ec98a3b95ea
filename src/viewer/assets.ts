/**
 * The viewer page's files: `dist/viewer-ui/` of the installed package, found from this
 * module's location by walking up to the directory whose `package.json` is `vigil-audit`
 * (so it works from `src/` under vitest or tsx and from `dist/` in the package). Only the
 * files listed when the handler is created are ever served, by exact name: a request path
 * is looked up in that table, never joined to a directory, so no `..`, encoded or not,
 * reaches the file system.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One file the viewer serves. */
export interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".map": "application/json; charset=utf-8",
};

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** This module's directory, in ESM and in the CommonJS build alike. */
function here(): string {
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    return typeof __dirname === "string" ? __dirname : process.cwd();
  }
}

/** The package root (the directory of vigil-audit's package.json) above `start`, if any. */
export function packageRoot(start: string = here()): string | undefined {
  let dir = start;
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === "vigil-audit")
          return dir;
      } catch {
        // not ours: keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The default assets directory: `<package>/dist/viewer-ui`. */
export function defaultAssetsDir(): string | undefined {
  const root = packageRoot();
  return root === undefined ? undefined : join(root, "dist", "viewer-ui");
}

/**
 * The servable files of `dir`, keyed by their URL path relative to the mount point (`/`
 * for `index.html`, `/assets/app.js`, ...): `index.html` and the files of `dir` and of
 * `dir/assets` with a known type and a plain name; a file beside `index.html` is also
 * served under `/assets/` (so `dist/viewer-ui/app.js` answers `/assets/app.js`). Empty
 * when `dir` is missing.
 */
export function loadAssets(dir: string | undefined): ReadonlyMap<string, Asset> {
  const table = new Map<string, Asset>();
  if (dir === undefined || !existsSync(dir)) return table;
  const add = (urlPath: string, file: string) => {
    const ext = file.slice(file.lastIndexOf("."));
    const type = TYPES[ext];
    if (type === undefined) return;
    try {
      if (!statSync(file).isFile()) return;
      table.set(urlPath, { body: readFileSync(file), type });
    } catch {
      // unreadable: not served
    }
  };
  for (const sub of ["", "assets"]) {
    const folder = sub === "" ? dir : join(dir, sub);
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!SAFE_NAME.test(name)) continue;
      add(sub === "" ? `/${name}` : `/${sub}/${name}`, join(folder, name));
    }
  }
  // the page links ./assets/<file>: a build that writes its files beside index.html is served there too
  for (const [path, asset] of [...table]) {
    if (path.startsWith("/assets/") || path === "/index.html") continue;
    const under = `/assets${path}`;
    if (!table.has(under)) table.set(under, asset);
  }
  const index = table.get("/index.html");
  if (index) table.set("/", index);
  return table;
}
