/**
 * The integrity page: runs `/api/verify` (a server-sent event stream), shows progress and
 * each problem as `vigil verify` names it, then the verdict.
 *
 * @module
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Api } from "../api.js";
import { Inert, valueText } from "../inert.js";

/** `checked` events so far; `files` sources done of `total`; `current` being read. */
interface Progress {
  readonly checked: number;
  readonly files?: number;
  readonly total?: number;
  readonly current?: string;
}

interface Done {
  readonly ok: boolean;
  readonly status?: string;
  readonly checked: number;
  readonly chains?: number;
  readonly checkpoints?: number;
  readonly problems: number;
}

type Problem = Readonly<Record<string, unknown>>;

export function Verify({ api }: { api: Api }): JSX.Element {
  const [running, setRunning] = useState(false);
  const [progress, setProgress] = useState<Progress | undefined>();
  const [problems, setProblems] = useState<readonly Problem[]>([]);
  const [done, setDone] = useState<Done | undefined>();
  const [error, setError] = useState<string | undefined>();
  const ctl = useRef<AbortController | undefined>(undefined);

  useEffect(() => () => ctl.current?.abort(), []);

  const run = (): void => {
    ctl.current?.abort();
    const controller = new AbortController();
    ctl.current = controller;
    setRunning(true);
    setProgress({ checked: 0 });
    setProblems([]);
    setDone(undefined);
    setError(undefined);
    const found: Problem[] = [];
    api
      .stream("verify", {}, controller.signal, ({ event, data }) => {
        if (event === "progress") setProgress(data as Progress);
        else if (event === "problem") {
          found.push(
            typeof data === "object" && data !== null ? (data as Problem) : { message: valueText(data) },
          );
          setProblems([...found]);
        } else if (event === "done") setDone(data as Done);
        else if (event === "error") setError(valueText((data as { message?: unknown }).message ?? data));
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(err instanceof Error ? err.message : String(err));
      })
      .finally(() => {
        if (ctl.current === controller) setRunning(false);
      });
  };

  return (
    <section class="verify" aria-label="Integrity verification">
      <h2>Integrity</h2>
      <p class="muted">
        Re-reads the store and checks every hash chain: each event's hash, its link to the one before, the
        sequence, and the signed checkpoints. Nothing is written.
      </p>
      <div class="verify-controls">
        <button type="button" class="btn primary" onClick={run} disabled={running}>
          {running ? "Verifying…" : done ? "Run again" : "Run verification"}
        </button>
        {running ? (
          <button type="button" class="btn" onClick={() => ctl.current?.abort()}>
            Stop
          </button>
        ) : null}
      </div>
      {progress ? (
        <div class="verify-progress">
          <progress value={done ? 1 : (progress.files ?? 0)} max={done ? 1 : progress.total || undefined} />
          <span class="verify-checked">
            {(done?.checked ?? progress.checked).toLocaleString("en")} events checked
            {progress.total ? ` · ${progress.files ?? 0} of ${progress.total} sources` : ""}
          </span>
          {!done && progress.current ? (
            <span class="muted verify-current">
              <Inert text={progress.current} clip={120} />
            </span>
          ) : null}
        </div>
      ) : null}
      {done ? (
        <p class={`verify-verdict ${done.ok ? "ok" : "bad"}`} role="status">
          {done.ok
            ? `✓ All ${done.checked.toLocaleString("en")} events verify`
            : `✗ ${done.problems.toLocaleString("en")} problem${done.problems === 1 ? "" : "s"} in ${done.checked.toLocaleString("en")} events`}
          {done.chains !== undefined ? ` · ${done.chains} chain${done.chains === 1 ? "" : "s"}` : ""}
          {done.checkpoints !== undefined
            ? ` · ${done.checkpoints} checkpoint${done.checkpoints === 1 ? "" : "s"}`
            : ""}
          {done.status ? ` · ${done.status}` : ""}
        </p>
      ) : null}
      {error ? (
        <p class="verify-error" role="alert">
          <Inert text={error} multiline clip={500} />
        </p>
      ) : null}
      {problems.length > 0 ? (
        <ol class="problems">
          {problems.map((p, i) => (
            <li key={i} class="problem">
              {typeof p.message === "string" ? (
                <p class="problem-message">
                  <Inert text={p.message} multiline clip={1000} />
                </p>
              ) : null}
              <dl>
                {Object.entries(p)
                  .filter(([k]) => k !== "message")
                  .map(([k, v]) => (
                    <div key={k} class="problem-field">
                      <dt>{k}</dt>
                      <dd class="mono">
                        <Inert text={valueText(v)} multiline clip={400} />
                      </dd>
                    </div>
                  ))}
              </dl>
            </li>
          ))}
        </ol>
      ) : null}
    </section>
  );
}
