/**
 * Helpers for the command-line tests: a store in a temporary directory with its
 * `config/audit.yaml`, an engine (synchronous writes) that puts events into it, and a
 * runner for the real `vigil` program as a child process.
 *
 * The program run is `src/cli/bin.ts` through tsx, so the tests need no build step;
 * set `VIGIL_TEST_CLI=dist` to run the built `dist/cli/bin.js` instead.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent, LogInput } from "../../src/event/types.js";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** The command that runs `vigil`: node plus its arguments. */
export function vigilCommand(): string[] {
  if (process.env.VIGIL_TEST_CLI === "dist") return [process.execPath, join(ROOT, "dist/cli/bin.js")];
  return [process.execPath, "--import", import.meta.resolve("tsx"), join(ROOT, "src/cli/bin.ts")];
}

/** What a finished run printed and how it ended. */
export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  readonly cwd: string;
  /** Extra environment; `VIGIL_CONFIG`, `COLUMNS` and `VIGIL_DEBUG` are cleared unless given. */
  readonly env?: Readonly<Record<string, string>>;
  /** Text given on stdin (default: none, stdin is /dev/null). */
  readonly input?: string;
}

function childEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ["VIGIL_CONFIG", "VIGIL_ENABLED", "COLUMNS", "VIGIL_DEBUG", "FORCE_COLOR", "NODE_OPTIONS"])
    delete env[k];
  return { ...env, ...extra };
}

/** Start `vigil ...args` and return the child (for long-running commands like `tail -f`). */
export function start(args: readonly string[], options: RunOptions): ChildProcess {
  const [cmd, ...pre] = vigilCommand();
  return spawn(cmd!, [...pre, ...args], {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
}

/** Run `vigil ...args` to completion. */
export function run(args: readonly string[], options: RunOptions): Promise<RunResult> {
  const child = start(args, options);
  if (options.input !== undefined) child.stdin!.end(options.input);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`vigil ${args.join(" ")} did not finish in 25 s\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, 25_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}

/** A store in a temporary directory: `config/audit.yaml` there points at `logs/audit` there. */
export interface TestStore {
  readonly dir: string;
  /** The absolute directory of the log files. */
  readonly logDir: string;
  readonly configPath: string;
  /** An engine on this store that writes synchronously. */
  readonly engine: AuditEngine;
  /** Log one event and return it as stored. */
  log(input: LogInput): AuditEvent;
  /** Run `vigil` in the store's directory. */
  run(args: readonly string[], env?: Readonly<Record<string, string>>): Promise<RunResult>;
  cleanup(): Promise<void>;
}

/** Extra YAML under `vigil:` (indented by two spaces), e.g. compliance settings. */
export function createStore(extraYaml = ""): TestStore {
  const dir = mkdtempSync(join(tmpdir(), "vigil-cli-"));
  const logDir = join(dir, "logs", "audit");
  mkdirSync(join(dir, "config"), { recursive: true });
  const configPath = join(dir, "config", "audit.yaml");
  writeFileSync(
    configPath,
    `vigil:
  core:
    application_name: traffictracer
  storage:
    backends:
      - type: file
        directory: ${JSON.stringify(logDir)}
        filename_pattern: "traffictracer_audit_{category}_{date}.log"
  performance:
    async:
      enabled: false
${extraYaml}`,
  );
  const engine = new AuditEngine({ configFile: configPath, env: {} });
  return {
    dir,
    logDir,
    configPath,
    engine,
    log(input) {
      const event = engine.log(input);
      if (!event) throw new Error("the test engine did not record the event");
      return event;
    },
    run: (args, env) => run(args, { cwd: dir, ...(env ? { env } : {}) }),
    async cleanup() {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A running child's output, collected from the start. */
export interface Collected {
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves once `predicate(stdout so far)` holds (rejects after `ms`). */
  waitFor(predicate: (stdout: string) => boolean, ms?: number): Promise<string>;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Collect a child's stdout and stderr. */
export function collect(child: ChildProcess): Collected {
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    out += s;
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on("close", (code, signal) => r({ code, signal })),
  );
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(predicate, ms = 20_000) {
      return new Promise((resolveWait, reject) => {
        const check = () => {
          if (!predicate(out)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolveWait(out);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for output; stdout:\n${out}\nstderr:\n${err}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

/** The lines of a text, without the empty last one. */
export function lines(text: string): string[] {
  const all = text.split("\n");
  if (all.at(-1) === "") all.pop();
  return all;
}

/** A time `minutesAgo` minutes before now. */
export function ago(minutes: number): Date {
  return new Date(Date.now() - minutes * 60_000);
}
