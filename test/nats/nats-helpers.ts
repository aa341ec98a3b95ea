/**
 * Helpers for tests on the shared NATS server (127.0.0.1:4222): unique stream names, reading
 * back what a stream holds, and a private nats-server that a test may stop and restart.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";

export const SHARED_NATS = "nats://127.0.0.1:4222";

/** The nats-server binary for private servers: `$NATS_SERVER`, else Debian's, else from PATH. */
const NATS_SERVER =
  process.env.NATS_SERVER ?? (existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server");

/** A unique stream name and subject prefix for one test. */
export function uniqueStream(): { stream: string; subject_prefix: string } {
  const tag = randomBytes(4).toString("hex");
  return { stream: `NATS_TEST_${tag}`, subject_prefix: `natstest${tag}` };
}

/** Every message of a stream, in stream order. */
export async function streamMessages(
  servers: string,
  stream: string,
): Promise<
  { subject: string; seq: number; id: string | undefined; data: string; kind: string | undefined }[]
> {
  const nc = await connect({ servers });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const out = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (!m) continue;
      out.push({
        subject: m.subject,
        seq: m.seq,
        id: m.header?.get("Nats-Msg-Id") || undefined,
        data: m.string(),
        kind: m.header?.get("Vigil-Kind") || undefined,
      });
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** Delete a stream this test created (ignores a missing one). */
export async function deleteStream(servers: string, stream: string): Promise<void> {
  const nc: NatsConnection = await connect({ servers });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** A private nats-server with JetStream (own port and data directory) that a test may stop and start. */
export class PrivateNats {
  readonly port: number;
  readonly dir: string;
  #child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
    this.dir = mkdtempSync(join(tmpdir(), "vigil-nats-"));
  }

  static async start(): Promise<PrivateNats> {
    const n = await PrivateNats.reserve();
    await n.start();
    return n;
  }

  /** A server on a free port, not started yet (for what must run before the server does). */
  static async reserve(): Promise<PrivateNats> {
    return new PrivateNats(await freePort());
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#child = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.dir], {
      stdio: "ignore",
    });
    for (let i = 0; i < 100; i++) {
      try {
        const nc = await connect({ servers: this.url, timeout: 500 });
        await nc.close();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`private nats-server on ${this.port} did not start`);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }

  /** Kill the server at once (from a process `exit` handler, where nothing can be awaited). */
  killNow(): void {
    this.#child?.kill("SIGKILL");
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
