/**
 * One event: its integrity (chain, seq, whether it verifies), every field as a dotted
 * path with copy, filter and add-as-column buttons, the raw stored JSON, a permalink.
 *
 * @module
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { flatten } from "../event-fields.js";
import { Inert, valueText } from "../inert.js";
import { formatInstant, type Zone } from "../time.js";

export interface IntegrityInfo {
  readonly chain?: string;
  readonly seq?: number;
  readonly status: "verified" | "unverified" | "broken" | "unsigned" | string;
  readonly detail?: string;
}

export interface EventDetail {
  readonly event: Record<string, unknown> & { id: string };
  readonly raw: string;
  readonly integrity?: IntegrityInfo;
}

export interface DetailProps {
  readonly detail: EventDetail | undefined;
  readonly error?: string | undefined;
  /** The chain is being proved (`?verify=1`). */
  readonly verifying: boolean;
  readonly zone: Zone;
  readonly permalink: string;
  readonly columns: readonly string[];
  readonly onClose: () => void;
  readonly onFilter: (field: string, value: string, negate: boolean) => void;
  readonly onColumn: (field: string) => void;
}

const INTEGRITY_TEXT: Readonly<Record<string, string>> = {
  verified: "Verified: the chain holds up to this event",
  unverified: "Not proven yet: its writer has not signed a checkpoint covering it",
  broken: "Broken: the chain does not verify here",
  unsigned: "Unsigned: this store does not chain events",
};

/** The stored line indented for reading (the copy button copies it as stored). */
function indent(raw: string): string {
  try {
    return JSON.stringify(JSON.parse(raw), null, 2);
  } catch {
    return raw;
  }
}

export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-area";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

function CopyButton({
  text,
  label,
  caption = "Copy",
}: {
  text: string;
  label: string;
  caption?: string;
}): JSX.Element {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="btn small"
      aria-label={label}
      title={label}
      onClick={() => {
        void copyText(text).then(() => {
          setDone(true);
          setTimeout(() => setDone(false), 1200);
        });
      }}
    >
      {done ? "Copied" : caption}
    </button>
  );
}

export function Detail(props: DetailProps): JSX.Element {
  const { detail, error, verifying, zone, permalink, columns, onClose, onFilter, onColumn } = props;
  const [tab, setTab] = useState<"fields" | "raw">("fields");
  const [pretty, setPretty] = useState(true);
  const [full, setFull] = useState<ReadonlySet<string>>(new Set());
  const panel = useRef<HTMLElement | null>(null);

  useEffect(() => {
    setFull(new Set());
    panel.current?.querySelector<HTMLElement>(".detail-close")?.focus();
  }, [detail?.event.id]);

  const event = detail?.event;
  const integrity = detail?.integrity;
  return (
    <aside
      class="detail"
      ref={panel}
      aria-label="Event detail"
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}
    >
      <header class="detail-head">
        <h2>
          {event ? (
            <Inert text={valueText((event.action as { type?: unknown } | undefined)?.type)} clip={80} />
          ) : (
            "Event"
          )}
        </h2>
        <div class="detail-actions">
          <CopyButton text={permalink} label="Copy link to this event" caption="Copy link" />
          <button
            type="button"
            class="btn small detail-close"
            aria-label="Close detail (Esc)"
            onClick={onClose}
          >
            ✕
          </button>
        </div>
      </header>
      {error ? <p class="detail-error">{error}</p> : null}
      {!event && !error ? <p class="muted">Loading…</p> : null}
      {event ? (
        <>
          <p class="detail-sub">
            <span class="mono">{formatInstant(event.timestamp, zone)}</span> · id{" "}
            <span class="mono">{event.id}</span>
          </p>
          <section class={`integrity status-${integrity?.status ?? "none"}`} aria-label="Integrity">
            <strong>Integrity</strong>
            {integrity ? (
              <dl>
                <dt>status</dt>
                <dd class="integrity-status">{integrity.status}</dd>
                {integrity.chain !== undefined ? (
                  <>
                    <dt>chain</dt>
                    <dd class="mono integrity-chain">
                      <Inert text={integrity.chain} />
                    </dd>
                    <dt>seq</dt>
                    <dd class="mono integrity-seq">{String(integrity.seq ?? "")}</dd>
                  </>
                ) : null}
                <dd class="integrity-text">
                  {verifying ? "Verifying the chain…" : (INTEGRITY_TEXT[integrity.status] ?? "")}
                  {integrity.detail ? (
                    <>
                      {" — "}
                      <Inert text={integrity.detail} multiline clip={400} />
                    </>
                  ) : null}
                </dd>
              </dl>
            ) : (
              <p class="muted">No integrity information for this event.</p>
            )}
          </section>
          <div class="tabs" role="tablist">
            <button
              type="button"
              role="tab"
              aria-selected={tab === "fields"}
              class={`tab${tab === "fields" ? " on" : ""}`}
              onClick={() => setTab("fields")}
            >
              Fields
            </button>
            <button
              type="button"
              role="tab"
              aria-selected={tab === "raw"}
              class={`tab${tab === "raw" ? " on" : ""}`}
              onClick={() => setTab("raw")}
            >
              Raw JSON
            </button>
          </div>
          {tab === "fields" ? (
            <table class="fields">
              <tbody>
                {flatten(event).map(([path, value]) => {
                  const text = valueText(value);
                  const whole = full.has(path);
                  return (
                    <tr key={path} data-path={path}>
                      <th scope="row" class="mono">
                        {path}
                      </th>
                      <td class="field-value">
                        <Inert text={text} multiline clip={whole ? undefined : 4096} />
                        {text.length > 4096 && !whole ? (
                          <button
                            type="button"
                            class="btn link"
                            onClick={() => setFull(new Set([...full, path]))}
                          >
                            show all
                          </button>
                        ) : null}
                      </td>
                      <td class="field-actions">
                        <CopyButton text={text} label={`Copy ${path}`} />
                        {typeof value !== "object" || value === null ? (
                          <>
                            <button
                              type="button"
                              class="btn small"
                              title={`Filter: ${path}:value (Alt/Shift: NOT)`}
                              aria-label={`Filter on ${path}`}
                              onClick={(e) => onFilter(path, text, e.altKey || e.shiftKey)}
                            >
                              +
                            </button>
                            <button
                              type="button"
                              class="btn small"
                              title={`Exclude ${path}:value`}
                              aria-label={`Exclude ${path}`}
                              onClick={() => onFilter(path, text, true)}
                            >
                              ⊖
                            </button>
                          </>
                        ) : null}
                        {!columns.includes(path) ? (
                          <button
                            type="button"
                            class="btn small"
                            title="Show as a column"
                            aria-label={`Add column ${path}`}
                            onClick={() => onColumn(path)}
                          >
                            ▦
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          ) : (
            <div class="raw">
              <div class="raw-actions">
                <CopyButton text={detail.raw} label="Copy raw JSON" />
                <label class="muted">
                  <input
                    type="checkbox"
                    checked={pretty}
                    onChange={(e) => setPretty(e.currentTarget.checked)}
                  />{" "}
                  indented
                </label>
                <span class="muted">stored line: {detail.raw.length.toLocaleString("en")} chars</span>
              </div>
              <pre class="raw-json">
                <Inert
                  text={pretty ? indent(detail.raw) : detail.raw}
                  multiline
                  clip={full.has("__raw") ? undefined : 65536}
                />
              </pre>
              {detail.raw.length > 65536 && !full.has("__raw") ? (
                <button type="button" class="btn link" onClick={() => setFull(new Set([...full, "__raw"]))}>
                  show all
                </button>
              ) : null}
            </div>
          )}
        </>
      ) : null}
    </aside>
  );
}
