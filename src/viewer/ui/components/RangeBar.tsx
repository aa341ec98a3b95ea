/**
 * The time range: presets, and from/to entered and shown in the chosen zone.
 *
 * @module
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { formatInstant, PRESET_LABELS, PRESETS, parseZoned, type Zone, zoneLabel } from "../time.js";

export interface RangeBarProps {
  readonly range: string;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly zone: Zone;
  readonly onPreset: (range: string) => void;
  readonly onCustom: (from: string | undefined, to: string | undefined) => void;
  readonly onZone: (zone: Zone) => void;
}

export function RangeBar({ range, from, to, zone, onPreset, onCustom, onZone }: RangeBarProps): JSX.Element {
  const custom = Boolean(from || to);
  const [fromText, setFromText] = useState("");
  const [toText, setToText] = useState("");
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    setFromText(from ? formatInstant(from, zone, false) : "");
    setToText(to ? formatInstant(to, zone, false) : "");
    setError(undefined);
  }, [from, to, zone]);

  const apply = (e: Event): void => {
    e.preventDefault();
    const f = fromText.trim() ? parseZoned(fromText, zone) : undefined;
    const t = toText.trim() ? parseZoned(toText, zone) : undefined;
    const problem =
      f && "error" in f
        ? `from: ${f.error}`
        : t && "error" in t
          ? `to: ${t.error}`
          : f && t && f.iso > t.iso
            ? "from is after to"
            : undefined;
    if (problem) {
      setError(problem);
      return;
    }
    if (!f && !t) {
      setError(undefined);
      onPreset(range);
      return;
    }
    setError(undefined);
    onCustom(f && "iso" in f ? f.iso : undefined, t && "iso" in t ? t.iso : undefined);
  };

  return (
    <form class="rangebar" onSubmit={apply}>
      <select
        aria-label="Time range"
        class="range-preset"
        value={custom ? "custom" : range}
        onChange={(e) => {
          const v = e.currentTarget.value;
          if (v !== "custom") onPreset(v);
        }}
      >
        {custom ? <option value="custom">Custom range</option> : null}
        {PRESETS.map((p) => (
          <option key={p} value={p}>
            {PRESET_LABELS[p]}
          </option>
        ))}
        {!custom && !(PRESETS as readonly string[]).includes(range) ? (
          <option value={range}>{range}</option>
        ) : null}
      </select>
      <input
        class="range-input"
        aria-label={`From (${zone === "utc" ? "UTC" : "local time"})`}
        placeholder="from YYYY-MM-DD HH:mm"
        value={fromText}
        onInput={(e) => setFromText(e.currentTarget.value)}
      />
      <span class="range-dash">→</span>
      <input
        class="range-input"
        aria-label={`To (${zone === "utc" ? "UTC" : "local time"})`}
        placeholder="to (now)"
        value={toText}
        onInput={(e) => setToText(e.currentTarget.value)}
      />
      <button type="submit" class="btn">
        Apply
      </button>
      <fieldset class="zone-switch">
        <legend class="sr-only">Time zone</legend>
        {(["utc", "local"] as const).map((z) => (
          <button
            key={z}
            type="button"
            class={`seg${zone === z ? " on" : ""}`}
            aria-pressed={zone === z}
            title={zoneLabel(z)}
            onClick={() => onZone(z)}
          >
            {z === "utc" ? "UTC" : "Local"}
          </button>
        ))}
      </fieldset>
      {error ? (
        <span class="range-error" role="alert">
          {error}
        </span>
      ) : null}
    </form>
  );
}
