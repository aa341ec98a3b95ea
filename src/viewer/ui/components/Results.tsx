/**
 * The results table: the user's columns (any dotted field, added and removed here),
 * rows loaded a page at a time as the user scrolls (cursor paging), and only the rows in
 * view rendered, so a long scroll through many thousands of matches stays fast. Values
 * are clipped here; the detail panel shows them whole.
 *
 * @module
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { getPath } from "../event-fields.js";
import { Inert, valueText } from "../inert.js";
import { formatInstant, type Zone } from "../time.js";

export interface EventRow {
  readonly id: string;
  readonly timestamp: string;
  readonly [key: string]: unknown;
}

export interface ResultsProps {
  readonly events: readonly EventRow[];
  readonly columns: readonly string[];
  readonly fields: readonly string[];
  readonly zone: Zone;
  readonly selected?: string | undefined;
  readonly fresh: ReadonlySet<string>;
  readonly hasMore: boolean;
  readonly loading: boolean;
  /** Changes with each new search (not with pages or live events). */
  readonly generation: number;
  readonly onOpen: (id: string) => void;
  readonly onLoadMore: () => void;
  readonly onColumns: (columns: readonly string[]) => void;
}

const ROW = 30;
const OVERSCAN = 12;

function cell(event: EventRow, column: string, zone: Zone): string {
  const value = getPath(event, column);
  return column === "timestamp" ? formatInstant(value, zone) : valueText(value);
}

export function Results(props: ResultsProps): JSX.Element {
  const {
    events,
    columns,
    zone,
    selected,
    fresh,
    hasMore,
    loading,
    generation,
    onOpen,
    onLoadMore,
    onColumns,
  } = props;
  const scroller = useRef<HTMLDivElement | null>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [adding, setAdding] = useState("");

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // A new result set starts at the top.
  useEffect(() => {
    if (scroller.current) scroller.current.scrollTop = 0;
    setTop(0);
  }, [generation]);

  const start = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
  const end = Math.min(events.length, Math.ceil((top + height) / ROW) + OVERSCAN);

  // Near the end of what is loaded: fetch the next page.
  useEffect(() => {
    if (hasMore && !loading && end >= events.length - 5 && events.length > 0) onLoadMore();
  }, [end, events.length, hasMore, loading]);

  const addColumn = (e: Event): void => {
    e.preventDefault();
    const name = adding.trim();
    if (/^[A-Za-z0-9_@-]+(\.[A-Za-z0-9_@-]+)*$/.test(name) && !columns.includes(name)) {
      onColumns([...columns, name]);
    }
    setAdding("");
  };

  const focusRow = (index: number): void => {
    const id = events[Math.max(0, Math.min(events.length - 1, index))]?.id;
    if (!id || !scroller.current) return;
    const i = events.findIndex((ev) => ev.id === id);
    const el = scroller.current;
    if (i * ROW < el.scrollTop + ROW) el.scrollTop = Math.max(0, i * ROW - ROW);
    else if ((i + 2) * ROW > el.scrollTop + el.clientHeight)
      el.scrollTop = (i + 2) * ROW - el.clientHeight + ROW;
    // Focus now when the row is rendered (keys pressed next go to it); after the
    // scroll has rendered it otherwise.
    const button = (): HTMLButtonElement | null =>
      el.querySelector<HTMLButtonElement>(`button[data-row="${i}"]`);
    const now = button();
    if (now) now.focus({ preventScroll: true });
    else requestAnimationFrame(() => button()?.focus({ preventScroll: true }));
  };

  return (
    <div class="results">
      <div class="columns-bar">
        <form class="add-column" onSubmit={addColumn}>
          <input
            list="field-list"
            aria-label="Add a column (any dotted field)"
            placeholder="+ column (e.g. metadata.ip)"
            value={adding}
            onInput={(e) => setAdding(e.currentTarget.value)}
          />
          <button type="submit" class="btn">
            Add column
          </button>
        </form>
        <button
          type="button"
          class="btn link"
          onClick={() => onColumns([])}
          title="Back to the default columns"
        >
          Reset columns
        </button>
      </div>
      <div class="table-scroll" ref={scroller} onScroll={(e) => setTop(e.currentTarget.scrollTop)}>
        <table class="events" aria-rowcount={events.length}>
          <thead>
            <tr>
              <th class="col-open">
                <span class="sr-only">Open</span>
              </th>
              {columns.map((c) => (
                <th key={c} data-column={c} scope="col">
                  <span class="col-name">{c}</span>
                  <button
                    type="button"
                    class="col-remove"
                    aria-label={`Remove column ${c}`}
                    title="Remove column"
                    onClick={() => onColumns(columns.filter((x) => x !== c))}
                  >
                    ×
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {start > 0 ? (
              <tr class="spacer" style={{ height: `${start * ROW}px` }}>
                <td colSpan={columns.length + 1} />
              </tr>
            ) : null}
            {events.slice(start, end).map((event, k) => {
              const i = start + k;
              return (
                <tr
                  key={event.id}
                  data-id={event.id}
                  class={`${event.id === selected ? "selected" : ""}${fresh.has(event.id) ? " fresh" : ""}`}
                  onClick={() => onOpen(event.id)}
                >
                  <td class="col-open">
                    <button
                      type="button"
                      class="row-open"
                      data-row={i}
                      aria-label="Open event"
                      onKeyDown={(e) => {
                        if (e.key === "ArrowDown" || e.key === "j") {
                          e.preventDefault();
                          focusRow(i + 1);
                        } else if (e.key === "ArrowUp" || e.key === "k") {
                          e.preventDefault();
                          focusRow(i - 1);
                        }
                      }}
                      onClick={(e) => {
                        e.stopPropagation();
                        onOpen(event.id);
                      }}
                    >
                      ›
                    </button>
                  </td>
                  {columns.map((c) => (
                    <td
                      key={c}
                      data-column={c}
                      class={`v-${c === "severity" || c === "result.status" ? String(getPath(event, c)) : ""}`}
                    >
                      <Inert text={cell(event, c, zone)} clip={240} />
                    </td>
                  ))}
                </tr>
              );
            })}
            {end < events.length ? (
              <tr class="spacer" style={{ height: `${(events.length - end) * ROW}px` }}>
                <td colSpan={columns.length + 1} />
              </tr>
            ) : null}
          </tbody>
        </table>
        <div class="table-foot">
          {loading ? (
            <span class="loading">Loading…</span>
          ) : hasMore ? (
            <button type="button" class="btn" onClick={onLoadMore}>
              Load more
            </button>
          ) : events.length > 0 ? (
            <span class="end">End of results ({events.length.toLocaleString("en")} shown)</span>
          ) : (
            <span class="end">No events match this query and range.</span>
          )}
        </div>
      </div>
    </div>
  );
}
