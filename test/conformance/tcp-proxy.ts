/**
 * A loopback TCP proxy a test controls, to cut a database away and bring it back
 * while a backend keeps working: `cut()` drops every connection and refuses new ones
 * (as a dead server would), `restore()` listens again on the same port. `slow(ms)` delays
 * every chunk in both directions by `ms` (a slow network path: each round trip costs
 * twice that), in order, until `slow(0)`. `turns` counts requests: the times a client
 * spoke after hearing from the server (or first), however TCP split or joined the bytes —
 * the round trips a client waited for. `mute()` swallows what the server answers (the
 * requests still arrive and run): an acknowledgement lost on the way back.
 *
 * @module
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  readonly #targetHost: string;
  readonly #targetPort: number;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #port = 0;
  #delayMs = 0;
  #muted = false;
  /** Client turns so far (see the module comment); reset it by assigning 0. */
  turns = 0;

  constructor(targetHost: string, targetPort: number) {
    this.#targetHost = targetHost;
    this.#targetPort = targetPort;
  }

  /** The port clients connect to. */
  get port(): number {
    return this.#port;
  }

  /** Delay each chunk by `ms` in both directions from now on (0: forward at once). */
  slow(ms: number): void {
    this.#delayMs = Math.max(0, ms);
  }

  /** Swallow (true) or forward again (false) everything the server sends. */
  mute(on = true): void {
    this.#muted = on;
  }

  /** Forwards `from` to `to`, each chunk held back by the current delay, order kept. */
  #forward(from: Socket, to: Socket, onChunk: () => void, mutable: boolean): void {
    // a chunk never overtakes the one before it, even when the delay shrinks meanwhile
    let last = 0;
    from.on("data", (chunk: Buffer) => {
      if (mutable && this.#muted) return;
      onChunk();
      const delay = this.#delayMs;
      if (delay === 0 && last <= Date.now()) {
        to.write(chunk);
        return;
      }
      const at = Math.max(Date.now() + delay, last);
      last = at;
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, at - Date.now());
    });
    from.on("end", () => {
      setTimeout(() => to.end(), Math.max(0, last - Date.now()));
    });
  }

  /** Starts listening (on a free port the first time, on the same port afterwards). */
  async start(): Promise<number> {
    const server = createServer((client) => {
      const upstream = createConnection(this.#targetPort, this.#targetHost);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("close", () => this.#sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      let clientSpeaking = false;
      this.#forward(
        client,
        upstream,
        () => {
          if (!clientSpeaking) this.turns++;
          clientSpeaking = true;
        },
        false,
      );
      this.#forward(
        upstream,
        client,
        () => {
          clientSpeaking = false;
        },
        true,
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#port, "127.0.0.1", () => resolve());
    });
    this.#server = server;
    const address = server.address();
    if (typeof address === "object" && address !== null) this.#port = address.port;
    return this.#port;
  }

  /** Drops every open connection and stops accepting new ones. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accepts connections again, on the same port. */
  restore(): Promise<number> {
    return this.start();
  }

  stop(): Promise<void> {
    return this.cut();
  }
}
