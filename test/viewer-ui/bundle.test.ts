/**
 * The built page (dist/viewer-ui): JavaScript at most 60 KB gzipped, and an index.html a
 * strict CSP accepts — no inline script or style, relative asset URLs, nothing from another
 * host. Builds the page first when it is missing (npm test builds it anyway).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");
const dist = join(root, "dist/viewer-ui");
if (!existsSync(join(dist, "assets/app.js"))) {
  execFileSync(process.execPath, [join(root, "scripts/build-viewer.mjs")], { stdio: "inherit" });
}
const js = readFileSync(join(dist, "assets/app.js"));
const css = readFileSync(join(dist, "assets/app.css"), "utf8");
const html = readFileSync(join(dist, "index.html"), "utf8");

describe("the built viewer page", () => {
  it("ships at most 60 KB of gzipped JavaScript", () => {
    const gzipped = gzipSync(js, { level: 9 }).length;
    console.log(`viewer app.js: ${js.length} bytes minified, ${gzipped} bytes gzipped`);
    expect(gzipped).toBeLessThanOrEqual(60 * 1024);
  });

  it("index.html loads only its own files, by relative URL, with no inline script or style", () => {
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => /src="([^"]+)"/.exec(m[1]!)?.[1])).toEqual(["./assets/app.js"]);
    expect(scripts.every((m) => m[2]!.trim() === "")).toBe(true);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|javascript:/i);
    const urls = [...html.matchAll(/\s(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(urls).toEqual(["data:,", "./assets/app.css", "./assets/app.js"]);
  });

  it("the bundle names no other host to load from (no CDN, no web fonts)", () => {
    const text = js.toString("utf8");
    // XML namespace names are identifiers, never fetched.
    const hosts = [...text.matchAll(/https?:\/\/[^\s"'`)]+/g)]
      .map((m) => m[0])
      .filter((u) => !u.startsWith("http://www.w3.org/"));
    expect(hosts).toEqual([]);
    expect(css).not.toMatch(/@import|url\(\s*["']?(https?:)?\/\//i);
  });
});
