/**
 * `vigil serve`: the web viewer over the configured store (SPEC §10, docs/viewer.md).
 *
 * Read-only: it records only its own `AUDIT` events (searches, exports, refused requests)
 * through the engine. It binds 127.0.0.1 by default and answers only requests whose `Host`
 * names the bound address or a loopback name, so a web page cannot reach it through DNS
 * rebinding. Any other address needs `--token-file`: every API request must then send
 * that token as `Authorization: Bearer` (never in a URL).
 *
 * @module
 */
import { spawn } from "node:child_process";
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { userInfo } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { keyFileText } from "../../config/keys.js";
import { AuditEngine } from "../../engine.js";
import { auditViewer } from "../../viewer/handler.js";
import type { ViewerIdentity } from "../../viewer/token.js";
import { type CliContext, configPath, notice, write } from "../context.js";
import { UsageError } from "../errors.js";
import { addConfigOption, nonNegativeInteger } from "../options.js";

/** The default port. */
export const SERVE_DEFAULT_PORT = 4180;
/** The shortest bearer token accepted from `--token-file`. */
export const MIN_TOKEN_LENGTH = 32;

interface ServeFlags {
  readonly config?: string;
  readonly port: number;
  readonly host: string;
  readonly tokenFile?: string;
  readonly open?: boolean;
}

/** Whether `host` is a loopback address or name. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "::1" || h === "[::1]") return true;
  return isIP(h) === 4 && h.startsWith("127.");
}

/** Host header names (without port) the server answers to. `undefined`: any (a wildcard bind, behind a token). */
export function allowedHostsFor(host: string): string[] | undefined {
  const h = host.toLowerCase();
  if (h === "0.0.0.0" || h === "::" || h === "[::]") return undefined;
  const bracketed = isIP(h) === 6 ? `[${h}]` : h;
  return [...new Set([bracketed, "localhost", "127.0.0.1", "[::1]"])];
}

/** The token in `file`, read like a key file (one trailing newline allowed). */
function readToken(ctx: CliContext, file: string): string {
  let text: string;
  try {
    text = readFileSync(resolve(ctx.cwd, file), "utf8");
  } catch (err) {
    throw new UsageError(
      `--token-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const token = keyFileText(text);
  if (token.length < MIN_TOKEN_LENGTH)
    throw new UsageError(
      `--token-file ${file}: the token is ${token.length} characters, at least ${MIN_TOKEN_LENGTH} are needed (make one with: openssl rand -hex 32 > ${file})`,
    );
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new UsageError(`--token-file ${file}: the token must be printable ASCII without spaces (one line)`);
  return token;
}

/** A constant-time check of the `Authorization: Bearer` header against `token`. */
function bearerCheck(token: string): (req: IncomingMessage) => boolean {
  const expected = createHash("sha256").update(token).digest();
  return (req) => {
    const header = req.headers.authorization;
    if (typeof header !== "string") return false;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return false;
    return timingSafeEqual(createHash("sha256").update(m[1]!).digest(), expected);
  };
}

function openBrowser(url: string): void {
  const command = process.platform === "darwin" ? "open" : process.platform === "win32" ? "cmd" : "xdg-open";
  const args = process.platform === "win32" ? ["/c", "start", "", url] : [url];
  try {
    const child = spawn(command, args, { detached: true, stdio: "ignore" });
    child.on("error", () => undefined);
    child.unref();
  } catch {
    // no browser: the URL is printed anyway
  }
}

/** Registers `serve` on `program`. */
export function serveCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command("serve")
    .description("serve the web viewer over the configured store (read-only)")
    .option(
      "-p, --port <port>",
      "port to listen on (0: any free port)",
      nonNegativeInteger,
      SERVE_DEFAULT_PORT,
    )
    .option("--host <address>", "address to bind; anything but loopback needs --token-file", "127.0.0.1")
    .option(
      "--token-file <file>",
      "file holding the bearer token every API request must send (at least 32 characters)",
    )
    .option("--open", "open the viewer in the default browser");
  addConfigOption(command);
  command.addHelpText(
    "after",
    `
Examples:
  vigil serve                                   (http://127.0.0.1:4180/)
  vigil serve --config config/audit.yaml --port 8080 --open
  openssl rand -hex 32 > viewer.token && vigil serve --host 0.0.0.0 --token-file viewer.token`,
  );
  command.action(async (flags: ServeFlags) => {
    const host = flags.host;
    if (flags.port > 65_535) throw new UsageError(`--port ${flags.port}: expected 0 to 65535`);
    if (!isLoopback(host) && flags.tokenFile === undefined)
      throw new UsageError(
        `--host ${host} is not a loopback address: anyone who can reach it could read the audit log; give --token-file FILE (a secret of at least ${MIN_TOKEN_LENGTH} characters) or bind 127.0.0.1`,
      );
    const token = flags.tokenFile !== undefined ? readToken(ctx, flags.tokenFile) : undefined;
    const file = configPath(ctx, flags.config);
    // Enabled whatever core.enabled says (that switches capture off, not the records kept):
    // the viewer reads, and records its own AUDIT events.
    const env = { ...ctx.env, VIGIL_ENABLED: "true" };
    const engine =
      file === undefined ? new AuditEngine({ config: {}, env }) : new AuditEngine({ configFile: file, env });
    engine.on("error", (err) => notice(ctx, err.message));
    engine.on("warning", (message) => notice(ctx, `warning: ${message}`));
    const local: ViewerIdentity = { actor: { username: safeUser() } };
    const check = token !== undefined ? bearerCheck(token) : undefined;
    const allowedHosts = allowedHostsFor(host);
    const handler = auditViewer({
      engine,
      authorize: (req) => (check === undefined || check(req) ? local : undefined),
      ...(allowedHosts !== undefined ? { allowedHosts } : {}),
    });
    const server = createServer(handler);
    try {
      await new Promise<void>((resolveListen, reject) => {
        server.once("error", reject);
        server.listen(flags.port, host, () => {
          server.off("error", reject);
          resolveListen();
        });
      });
    } catch (err) {
      await engine.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE")
        throw new UsageError(
          `port ${flags.port} on ${host} is already in use: stop what uses it or choose another with --port`,
        );
      if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN")
        throw new UsageError(`--host ${host}: not an address of this machine`);
      if (code === "EACCES")
        throw new UsageError(`port ${flags.port}: permission denied (ports below 1024 need privileges)`);
      throw err;
    }
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : flags.port;
    const shown = isIP(host) === 6 ? `[${host}]` : host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
    const url = `http://${shown}:${port}/`;
    await write(ctx.stdout, `vigil: viewer at ${url}\n`);
    if (token !== undefined)
      notice(ctx, `API requests must send Authorization: Bearer <the token in ${flags.tokenFile}>`);
    notice(ctx, "press Ctrl-C to stop");
    if (flags.open) openBrowser(url);

    await new Promise<void>((done) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        server.close(() => done());
        server.closeAllConnections();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    await engine.close();
    notice(ctx, "viewer stopped");
  });
  return command;
}

function safeUser(): string {
  try {
    return userInfo().username || "local";
  } catch {
    return "local";
  }
}
