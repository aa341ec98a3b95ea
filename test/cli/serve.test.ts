/**
 * `vigil serve`, spawned as the built program (`node dist/cli/bin.js serve`, so run
 * `npm run build` first): loopback by default, the Host check, the bearer token from
 * `--token-file`, the refusals (non-loopback without a token, a short token, a port in
 * use) and a clean stop on SIGTERM and SIGINT.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call } from "../viewer/harness.js";
import { collect, createStore, type TestStore } from "./helpers.js";

const BIN = join(resolve(fileURLToPath(new URL("../..", import.meta.url))), "dist/cli/bin.js");

function serve(store: TestStore, args: readonly string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ["VIGIL_CONFIG", "VIGIL_ENABLED", "NODE_OPTIONS"]) delete env[k];
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", ...args], {
    cwd: store.dir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { child, out: collect(child) };
}

async function urlOf(out: ReturnType<typeof collect>): Promise<string> {
  const text = await out.waitFor((s) => /viewer at http:\/\/\S+\//.test(s));
  return /viewer at (http:\/\/\S+)\//.exec(text)![1]!;
}

describe("vigil serve", () => {
  let store: TestStore;
  beforeAll(() => {
    store = createStore();
    store.log({ action: "LOGIN", category: "AUTHENTICATION", actor: { username: "alice" } });
    store.log({ action: "LOGIN", category: "AUTHENTICATION", actor: { username: "bob" }, tenant: "acme" });
  });
  afterAll(() => store.cleanup());

  it("serves the store on 127.0.0.1, checks the Host header, records its reads, and stops on SIGTERM", async () => {
    const { child, out } = serve(store, []);
    try {
      const url = await urlOf(out);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const port = new URL(url).port;
      const r = await call(url, "/api/search?q=type:LOGIN");
      expect(r.status).toBe(200);
      expect(
        r.json<{ events: { actor: { username: string } }[] }>().events.map((e) => e.actor.username),
      ).toEqual(["bob", "alice"]);
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, "[::1]"])
        expect((await call(url, "/api/session", { headers: { host } })).status, host).toBe(200);
      const rebound = await call(url, "/api/search", { headers: { host: `evil.example:${port}` } });
      expect(rebound.status).toBe(421);
      expect(rebound.json<{ error: { code: string } }>().error.code).toBe("VIGIL_ERR_VIEWER_FORBIDDEN");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await out.exited).toEqual({ code: 0, signal: null });
    expect(out.stderr()).toContain("vigil: viewer stopped");
    const recorded = await store.engine.search({ query: "type:VIEWER_SEARCH", timeRange: "last_1h" });
    expect(recorded.map((e) => e.metadata?.query)).toEqual(["type:LOGIN"]);
  }, 30_000);

  it("with --token-file, every API request needs the bearer token (never taken from the URL)", async () => {
    const token = "t0ken-".repeat(8);
    writeFileSync(join(store.dir, "viewer.token"), `${token}\n`);
    const { child, out } = serve(store, ["--token-file", "viewer.token"]);
    try {
      const url = await urlOf(out);
      expect((await call(url, "/api/search")).status).toBe(401);
      expect((await call(url, `/api/search?token=${token}&access_token=${token}`)).status).toBe(401);
      expect(
        (await call(url, "/api/search", { headers: { authorization: `Bearer ${token}x` } })).status,
      ).toBe(401);
      expect((await call(url, "/api/search", { headers: { authorization: `Bearer ${token}` } })).status).toBe(
        200,
      );
    } finally {
      child.kill("SIGINT");
    }
    expect((await out.exited).code).toBe(0);
    expect(out.stderr()).toContain(
      "API requests must send Authorization: Bearer <the token in viewer.token>",
    );
  }, 30_000);

  it("refuses a non-loopback address without --token-file, a short token, and a port in use: one line, exit 2", async () => {
    const wide = serve(store, ["--host", "0.0.0.0"]);
    expect((await wide.out.exited).code).toBe(2);
    expect(wide.out.stderr()).toBe(
      "vigil: --host 0.0.0.0 is not a loopback address: anyone who can reach it could read the audit log; give --token-file FILE (a secret of at least 32 characters) or bind 127.0.0.1\n",
    );

    writeFileSync(join(store.dir, "short.token"), "abc\n");
    const short = serve(store, ["--token-file", "short.token"]);
    expect((await short.out.exited).code).toBe(2);
    expect(short.out.stderr()).toMatch(
      /^vigil: --token-file short\.token: the token is 3 characters, at least 32 are needed/,
    );

    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const port = (busy.address() as { port: number }).port;
    try {
      const taken = serve(store, ["--port", String(port)]);
      // serve() passes --port 0 first; the later --port wins
      expect((await taken.out.exited).code).toBe(2);
      expect(taken.out.stderr()).toBe(
        `vigil: port ${port} on 127.0.0.1 is already in use: stop what uses it or choose another with --port\n`,
      );
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  }, 30_000);
});
