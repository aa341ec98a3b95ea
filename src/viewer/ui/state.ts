/**
 * The whole view in the URL's fragment, so a link shows a colleague the same thing and a
 * reload restores it: `#q=…&range=last_24h&cols=a,b&order=desc&tz=utc&event=<id>`. The
 * fragment is never sent to the server (queries can hold personal data; access logs
 * should not).
 *
 * @module
 */
import { PRESETS, type Zone } from "./time.js";

export type Order = "desc" | "asc";
export type View = "search" | "verify";

export interface ViewState {
  readonly q: string;
  /** A named range; ignored when `from` or `to` is set. */
  readonly range: string;
  /** UTC ISO instants of a chosen range. */
  readonly from?: string;
  readonly to?: string;
  readonly columns: readonly string[];
  readonly order: Order;
  readonly zone: Zone;
  /** The id of the event whose detail is open. */
  readonly event?: string;
  readonly view: View;
}

export const DEFAULT_COLUMNS: readonly string[] = [
  "timestamp",
  "severity",
  "actor.username",
  "action.category",
  "action.type",
  "action.resource.path",
  "result.status",
];

export const DEFAULT_STATE: ViewState = {
  q: "",
  range: "last_24h",
  columns: DEFAULT_COLUMNS,
  order: "desc",
  zone: "utc",
  view: "search",
};

const COLUMN = /^[A-Za-z0-9_@-]+(\.[A-Za-z0-9_@-]+)*$/;

function instant(text: string | null): string | undefined {
  if (!text) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** The state a fragment names; anything missing or malformed takes its default. */
export function readState(hash: string): ViewState {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const range = p.get("range") ?? "";
  const columns = (p.get("cols") ?? "")
    .split(",")
    .filter((c) => COLUMN.test(c))
    .filter((c, i, all) => all.indexOf(c) === i);
  const from = instant(p.get("from"));
  const to = instant(p.get("to"));
  const event = p.get("event") ?? undefined;
  return {
    q: p.get("q") ?? "",
    range: /^last_\d+[mhdw]$|^(today|yesterday|this_week|this_month)$/.test(range)
      ? range
      : DEFAULT_STATE.range,
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    columns: columns.length > 0 ? columns : DEFAULT_COLUMNS,
    order: p.get("order") === "asc" ? "asc" : "desc",
    zone: p.get("tz") === "local" ? "local" : "utc",
    ...(event ? { event } : {}),
    view: p.get("view") === "verify" ? "verify" : "search",
  };
}

/** The fragment for a state (`#...`). */
export function writeState(state: ViewState): string {
  const p = new URLSearchParams();
  p.set("q", state.q);
  if (state.from || state.to) {
    if (state.from) p.set("from", state.from);
    if (state.to) p.set("to", state.to);
  } else {
    p.set("range", state.range);
  }
  p.set("cols", state.columns.join(","));
  p.set("order", state.order);
  p.set("tz", state.zone);
  if (state.event) p.set("event", state.event);
  if (state.view !== "search") p.set("view", state.view);
  return `#${p.toString()}`;
}

export function isPreset(range: string): boolean {
  return (PRESETS as readonly string[]).includes(range);
}
