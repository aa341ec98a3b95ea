/**
 * Instants shown and entered in the viewer's zone: UTC, or the browser's local zone.
 * Every instant the page sends is an ISO-8601 instant in UTC (`...Z`), so the server
 * never guesses a zone.
 *
 * @module
 */

export type Zone = "utc" | "local";

export const PRESETS = [
  "last_15m",
  "last_1h",
  "last_24h",
  "last_7d",
  "last_30d",
  "today",
  "yesterday",
] as const;

export const PRESET_LABELS: Readonly<Record<string, string>> = {
  last_15m: "Last 15 minutes",
  last_1h: "Last hour",
  last_24h: "Last 24 hours",
  last_7d: "Last 7 days",
  last_30d: "Last 30 days",
  today: "Today",
  yesterday: "Yesterday",
};

/** The browser's IANA zone, e.g. `Europe/Berlin` (what exports are told for "local"). */
export function localZoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** `+01:00` for a local instant (the offset in force at that instant). */
function offsetText(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

export function zoneLabel(zone: Zone, at: Date = new Date()): string {
  return zone === "utc" ? "UTC" : `${localZoneName()} (UTC${offsetText(at)})`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** `2026-12-03 08:01:02.123` in the zone; the text as it came when it is not an instant. */
export function formatInstant(iso: unknown, zone: Zone, withMillis = true): string {
  if (typeof iso !== "string") return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const utc = zone === "utc";
  const y = utc ? date.getUTCFullYear() : date.getFullYear();
  const mo = (utc ? date.getUTCMonth() : date.getMonth()) + 1;
  const d = utc ? date.getUTCDate() : date.getDate();
  const h = utc ? date.getUTCHours() : date.getHours();
  const mi = utc ? date.getUTCMinutes() : date.getMinutes();
  const s = utc ? date.getUTCSeconds() : date.getSeconds();
  const ms = utc ? date.getUTCMilliseconds() : date.getMilliseconds();
  const text = `${y}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(s)}`;
  return withMillis ? `${text}.${pad(ms, 3)}` : text;
}

const ZONED = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/;

/**
 * Reads `YYYY-MM-DD[ HH:mm[:ss[.SSS]]]` as a time in the zone, or a full ISO instant with
 * `Z` or an offset as written. Returns the UTC ISO instant, or an error message.
 */
export function parseZoned(text: string, zone: Zone): { iso: string } | { error: string } {
  const trimmed = text.trim();
  const m = ZONED.exec(trimmed);
  let date: Date;
  if (m) {
    const fields = [
      Number(m[1]),
      Number(m[2]) - 1,
      Number(m[3]),
      Number(m[4] ?? 0),
      Number(m[5] ?? 0),
      Number(m[6] ?? 0),
      Number((m[7] ?? "0").padEnd(3, "0")),
    ] as const;
    date = zone === "utc" ? new Date(Date.UTC(...fields)) : new Date(...fields);
    const back = formatInstant(date.toISOString(), zone).slice(0, 10);
    if (back !== `${m[1]}-${m[2]}-${m[3]}`) return { error: `no such date: ${trimmed}` };
  } else if (/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/i.test(trimmed)) {
    date = new Date(trimmed);
  } else {
    return { error: `expected YYYY-MM-DD HH:mm[:ss], got '${trimmed}'` };
  }
  if (Number.isNaN(date.getTime())) return { error: `not a valid time: ${trimmed}` };
  return { iso: date.toISOString() };
}

/** Midnight that starts the day holding `at`, in the zone. */
function startOfDay(at: Date, zone: Zone): Date {
  return zone === "utc"
    ? new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()))
    : new Date(at.getFullYear(), at.getMonth(), at.getDate());
}

function nextDay(day: Date, zone: Zone): Date {
  return zone === "utc"
    ? new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate() + 1))
    : new Date(day.getFullYear(), day.getMonth(), day.getDate() + 1);
}

/**
 * The API's time parameters for a range. Named ranges go as names, except `today` and
 * `yesterday` in the local zone, which the server (UTC) would read as UTC days: those are
 * sent as the local day's bounds.
 */
export function rangeParams(
  range: string,
  from: string | undefined,
  to: string | undefined,
  zone: Zone,
  now: Date = new Date(),
): { range?: string; from?: string; to?: string } {
  if (from || to) return { from, to };
  if (zone === "local" && (range === "today" || range === "yesterday")) {
    const today = startOfDay(now, zone);
    if (range === "today") return { from: today.toISOString(), to: now.toISOString() };
    const yesterday = startOfDay(new Date(today.getTime() - 1), zone);
    return { from: yesterday.toISOString(), to: nextDay(yesterday, zone).toISOString() };
  }
  return { range: range || "last_24h" };
}

/** `1m`, `5m`, `1h`, `1d`, `1w` as milliseconds. */
export function intervalMs(interval: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(interval);
  if (!m) return 60_000;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
    m[2] as "ms" | "s" | "m" | "h" | "d" | "w"
  ];
  return Number(m[1]) * unit;
}
