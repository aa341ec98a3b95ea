/**
 * Matches over the range, one bar per bucket, drawn as SVG. Dragging across it (or
 * clicking a bar) narrows the range to the buckets covered.
 *
 * @module
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { formatInstant, intervalMs, type Zone } from "../time.js";

export interface HistogramData {
  readonly interval: string;
  readonly intervalMs?: number;
  readonly buckets: readonly { start: string; count: number }[];
}

export interface HistogramProps {
  readonly data: HistogramData | undefined;
  readonly zone: Zone;
  readonly onSelect: (fromIso: string, toIso: string) => void;
}

const HEIGHT = 110;
const AXIS = 18;
const LEFT = 44;

export function Histogram({ data, zone, onSelect }: HistogramProps): JSX.Element {
  const box = useRef<HTMLDivElement | null>(null);
  const [width, setWidth] = useState(800);
  const [drag, setDrag] = useState<{ x0: number; x1: number } | undefined>();

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setWidth(Math.max(200, el.clientWidth)));
    observer.observe(el);
    setWidth(Math.max(200, el.clientWidth));
    return () => observer.disconnect();
  }, []);

  const buckets = data?.buckets ?? [];
  const n = Math.max(1, buckets.length);
  const plot = width - LEFT - 4;
  const step = plot / n;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const barsHeight = HEIGHT - AXIS - 6;

  const xOf = (e: PointerEvent): number => {
    const rect = (e.currentTarget as SVGSVGElement).getBoundingClientRect();
    return Math.min(Math.max(e.clientX - rect.left, LEFT), LEFT + plot);
  };
  const indexAt = (x: number): number => Math.min(n - 1, Math.max(0, Math.floor((x - LEFT) / step)));

  const finish = (x0: number, x1: number): void => {
    if (buckets.length === 0 || !data) return;
    const i0 = indexAt(Math.min(x0, x1));
    const i1 = indexAt(Math.max(x0, x1));
    const first = buckets[i0];
    const last = buckets[i1];
    if (!first || !last) return;
    const end = new Date(
      new Date(last.start).getTime() + (data.intervalMs ?? intervalMs(data.interval)),
    ).toISOString();
    onSelect(new Date(first.start).toISOString(), end);
  };

  const labels = buckets.length
    ? [0, Math.floor(buckets.length / 2), buckets.length - 1].map((i) => ({ i, b: buckets[i] }))
    : [];
  const total = buckets.reduce((sum, b) => sum + b.count, 0);

  return (
    <div class="histogram" ref={box}>
      <svg
        width={width}
        height={HEIGHT}
        viewBox={`0 0 ${width} ${HEIGHT}`}
        role="img"
        aria-label={`Matches over time: ${total} in ${buckets.length} buckets of ${data?.interval ?? "?"}; drag to narrow`}
        onPointerDown={(e) => {
          (e.currentTarget as SVGSVGElement).setPointerCapture(e.pointerId);
          const x = xOf(e);
          setDrag({ x0: x, x1: x });
        }}
        onPointerMove={(e) => {
          if (drag) setDrag({ x0: drag.x0, x1: xOf(e) });
        }}
        onPointerUp={(e) => {
          if (!drag) return;
          const x1 = xOf(e);
          setDrag(undefined);
          finish(drag.x0, x1);
        }}
        onPointerCancel={() => setDrag(undefined)}
      >
        <text class="h-axis" x={LEFT - 6} y={10} text-anchor="end">
          {max.toLocaleString("en")}
        </text>
        <text class="h-axis" x={LEFT - 6} y={barsHeight + 4} text-anchor="end">
          0
        </text>
        <line class="h-base" x1={LEFT} x2={LEFT + plot} y1={barsHeight + 0.5} y2={barsHeight + 0.5} />
        {buckets.map((b, i) => {
          const h = b.count === 0 ? 0 : Math.max(1.5, (b.count / max) * (barsHeight - 4));
          return (
            <rect
              key={b.start}
              class="h-bar"
              x={LEFT + i * step + (step > 4 ? 1 : 0)}
              y={barsHeight - h}
              width={Math.max(1, step - (step > 4 ? 2 : 0))}
              height={h}
            >
              <title>{`${formatInstant(b.start, zone, false)} — ${b.count.toLocaleString("en")}`}</title>
            </rect>
          );
        })}
        {labels.map(({ i, b }) =>
          b ? (
            <text
              key={`l${i}`}
              class="h-axis"
              x={LEFT + i * step + (i === 0 ? 0 : i === buckets.length - 1 ? step : step / 2)}
              y={HEIGHT - 4}
              text-anchor={i === 0 ? "start" : i === buckets.length - 1 ? "end" : "middle"}
            >
              {formatInstant(b.start, zone, false).slice(
                data && intervalMs(data.interval) >= 86_400_000 ? 0 : 5,
                16,
              )}
            </text>
          ) : null,
        )}
        {drag ? (
          <rect
            class="h-select"
            x={Math.min(drag.x0, drag.x1)}
            y={0}
            width={Math.max(1, Math.abs(drag.x1 - drag.x0))}
            height={barsHeight}
          />
        ) : null}
      </svg>
    </div>
  );
}
