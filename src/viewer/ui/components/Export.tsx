/**
 * The export menu: exactly the current query, range, columns, order and zone, as CSV,
 * Excel, JSON or NDJSON. Without a bearer token a download is a plain link (the browser
 * sends the host's cookies); with one, the page asks for a single-use export ticket and
 * follows the URL the server gives.
 *
 * @module
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import type { Api, Params } from "../api.js";

const FORMATS = [
  { format: "csv", label: "CSV" },
  { format: "xlsx", label: "Excel (.xlsx)" },
  { format: "json", label: "JSON" },
  { format: "ndjson", label: "NDJSON" },
] as const;

export interface ExportProps {
  readonly api: Api;
  /** q, range or from/to, order, columns, tz. */
  readonly params: Params;
  readonly zoneName: string;
}

function download(url: string): void {
  const target = new URL(url, location.href);
  if (target.origin !== location.origin) throw new Error("the export URL is not on this server");
  const a = document.createElement("a");
  a.href = target.href;
  a.download = "";
  a.rel = "noopener";
  document.body.append(a);
  a.click();
  a.remove();
}

export function ExportMenu({ api, params, zoneName }: ExportProps): JSX.Element {
  const [error, setError] = useState<string | undefined>();
  return (
    <details class="menu export-menu">
      <summary class="btn">Export ▾</summary>
      <div class="menu-body" role="menu">
        <p class="muted menu-note">Current query, range and columns; times in {zoneName}.</p>
        {FORMATS.map(({ format, label }) =>
          api.token ? (
            <button
              key={format}
              type="button"
              role="menuitem"
              class="menu-item"
              data-format={format}
              onClick={() => {
                setError(undefined);
                api
                  .post<{ url: string }>("export-ticket", { ...params, format })
                  .then((answer) => download(answer.url))
                  .catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
              }}
            >
              {label}
            </button>
          ) : (
            <a
              key={format}
              role="menuitem"
              class="menu-item"
              data-format={format}
              href={api.url("export", { ...params, format })}
              download
            >
              {label}
            </a>
          ),
        )}
        {error ? (
          <p class="menu-error" role="alert">
            {error}
          </p>
        ) : null}
      </div>
    </details>
  );
}
