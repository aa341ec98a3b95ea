/**
 * The viewer page: one screen over the viewer JSON API (docs/viewer.md). The view state
 * lives in the URL fragment (state.ts); each panel's data is one API call.
 *
 * @module
 */
import type { JSX } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { type Api, ApiError, type Params } from "./api.js";
import { Detail, type EventDetail } from "./components/Detail.js";
import { ExportMenu } from "./components/Export.js";
import { FACET_FIELDS, Facets, type FacetValues } from "./components/Facets.js";
import { Histogram, type HistogramData } from "./components/Histogram.js";
import { QueryBar, type QueryProblem } from "./components/QueryBar.js";
import { RangeBar } from "./components/RangeBar.js";
import { type EventRow, Results } from "./components/Results.js";
import { TokenPrompt } from "./components/TokenPrompt.js";
import { Verify } from "./components/Verify.js";
import { Inert } from "./inert.js";
import { addTerm } from "./query-text.js";
import { DEFAULT_COLUMNS, readState, type ViewState, writeState } from "./state.js";
import { localZoneName, rangeParams } from "./time.js";

interface Session {
  readonly actor?: { id?: string; username?: string };
  readonly tenant?: string | null;
  readonly scopes?: readonly string[];
  readonly limits?: { pageSize?: number; queryLength?: number; tails?: number };
  readonly backends?: readonly { type: string; name: string; healthy: boolean }[];
}

interface SearchAnswer {
  readonly events: EventRow[];
  readonly cursor?: string;
}

type Theme = "auto" | "light" | "dark";

const THEME_KEY = "vigil-viewer-theme";
const FRESH_MS = 4000;
/**
 * Rows a live tail keeps: past it the oldest loaded rows are let go (and with them the next
 * page), so a tail left open for hours holds a bounded list.
 */
const TAIL_KEEP = 10_000;

function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.body.message;
  return err instanceof Error ? err.message : String(err);
}

/** A failure that means "the server or store cannot answer now": shown as the banner. */
function isUnavailable(err: unknown): boolean {
  return (err instanceof ApiError && (err.status === 503 || err.status === 504)) || err instanceof TypeError;
}

export function App({ api }: { api: Api }): JSX.Element {
  const [state, setState] = useState<ViewState>(() => readState(location.hash));
  const [session, setSession] = useState<Session | undefined>();
  const [auth, setAuth] = useState<{ needed: boolean; error?: string }>({ needed: false });
  const [fields, setFields] = useState<readonly string[]>([]);
  const [events, setEvents] = useState<readonly EventRow[]>([]);
  const [cursor, setCursor] = useState<string | undefined>();
  const cursorRef = useRef(cursor);
  cursorRef.current = cursor;
  const [loading, setLoading] = useState(false);
  const [generation, setGeneration] = useState(0);
  /** Bumped to run the same search again (Enter on the same query, Retry). */
  const [refresh, setRefresh] = useState(0);
  const [count, setCount] = useState<number | undefined>();
  const [facets, setFacets] = useState<FacetValues | undefined>();
  const [histogram, setHistogram] = useState<HistogramData | undefined>();
  const [banner, setBanner] = useState<string | undefined>();
  const [searchProblem, setSearchProblem] = useState<QueryProblem | undefined>();
  const [detail, setDetail] = useState<
    { id: string; data?: EventDetail; error?: string; verifying?: boolean } | undefined
  >();
  const [tail, setTail] = useState(false);
  const [tailNote, setTailNote] = useState<string | undefined>();
  const [fresh, setFresh] = useState<ReadonlySet<string>>(new Set());
  const [theme, setTheme] = useState<Theme>(
    () => (localStorage.getItem(THEME_KEY) as Theme | null) ?? "auto",
  );
  const queryInput = useRef<HTMLInputElement | null>(null);
  const searchKey = useRef("");
  /** The list as last set: a tail batch, a page and a new search each build on the latest. */
  const shown = useRef<readonly EventRow[]>([]);
  /** Bumped when the list is replaced or cut: a page asked for before is then dropped. */
  const listVersion = useRef(0);
  const showEvents = (next: readonly EventRow[]): void => {
    shown.current = next;
    setEvents(next);
  };

  // The URL is the state: write it on every change, read it when the user edits or goes back.
  const update = useCallback((patch: Partial<ViewState>, push = false) => {
    setState((old) => {
      const next = { ...old, ...patch };
      const hash = writeState(next);
      if (hash !== location.hash) history[push ? "pushState" : "replaceState"](null, "", hash);
      return next;
    });
  }, []);
  useEffect(() => {
    const onHash = (): void => setState(readState(location.hash));
    addEventListener("popstate", onHash);
    addEventListener("hashchange", onHash);
    if (location.hash !== writeState(state)) history.replaceState(null, "", writeState(state));
    return () => {
      removeEventListener("popstate", onHash);
      removeEventListener("hashchange", onHash);
    };
  }, []);

  useEffect(() => {
    if (theme === "auto") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
  }, [theme]);

  // "/" focuses the query box from anywhere but a text field.
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      const target = e.target as HTMLElement | null;
      const typing =
        target &&
        (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
      if (e.key === "/" && !typing) {
        e.preventDefault();
        queryInput.current?.focus();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  // Session first: it says whether a token is needed, who is looking, and the limits.
  const loadSession = useCallback(() => {
    api
      .get<Session>("session")
      .then((s) => {
        setSession(s);
        setAuth({ needed: false });
        setBanner(undefined);
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) {
          const hadToken = Boolean(api.token);
          api.setToken(undefined);
          setAuth({ needed: true, ...(hadToken ? { error: `Token refused: ${err.body.message}` } : {}) });
        } else setBanner(`The audit log cannot be reached: ${errorText(err)}`);
      });
  }, [api]);
  useEffect(loadSession, [loadSession]);

  useEffect(() => {
    if (!session) return;
    api
      .get<{ fields: string[] }>("fields")
      .then((f) => setFields(f.fields))
      .catch(() => setFields([...DEFAULT_COLUMNS]));
  }, [session, api]);

  const zoneName = state.zone === "utc" ? "UTC" : localZoneName();
  const timeParams = useMemo(
    () => rangeParams(state.range, state.from, state.to, state.zone),
    // `today` in the local zone is recomputed per search; the key below decides when.
    [state.range, state.from, state.to, state.zone, generation],
  );
  const base: Params = { q: state.q, ...timeParams };
  const pageSize = Math.min(200, session?.limits?.pageSize ?? 100);

  const fail = (err: unknown): void => {
    if (err instanceof DOMException && err.name === "AbortError") return;
    if (err instanceof ApiError && err.status === 401) {
      loadSession();
      return;
    }
    if (err instanceof ApiError && err.status === 400 && typeof err.body.offset === "number") {
      setSearchProblem({ message: err.body.message, offset: err.body.offset, column: err.body.column });
      return;
    }
    setBanner(
      isUnavailable(err)
        ? `Store unreachable: ${errorText(err)} — showing what was loaded before.`
        : errorText(err),
    );
  };

  // A search: results, count, facets and histogram, together; what was shown stays until
  // the new answers arrive (and stays if they fail).
  const key = JSON.stringify([state.q, state.range, state.from, state.to, state.order, state.zone]);
  useEffect(() => {
    if (!session || state.view !== "search") return;
    const ctl = new AbortController();
    const { signal } = ctl;
    const params: Params = { q: state.q, ...rangeParams(state.range, state.from, state.to, state.zone) };
    searchKey.current = key;
    setLoading(true);
    setSearchProblem(undefined);
    const requests = [
      api
        .get<SearchAnswer>("search", { ...params, order: state.order, limit: pageSize }, signal)
        .then((answer) => {
          listVersion.current++;
          showEvents(answer.events);
          setCursor(answer.cursor);
          setFresh(new Set());
          setGeneration((g) => g + 1);
        }),
      api.get<{ count: number }>("count", params, signal).then((c) => setCount(c.count)),
      api
        .get<{ facets: FacetValues }>(
          "facets",
          { ...params, fields: FACET_FIELDS.map((f) => f.field).join(",") },
          signal,
        )
        .then((f) => setFacets(f.facets)),
      api.get<HistogramData>("histogram", { ...params, buckets: 60 }, signal).then(setHistogram),
    ];
    // One banner per search, not one per failed request: "unreachable" wins over the rest.
    void Promise.allSettled(requests).then((results) => {
      if (signal.aborted) return;
      setLoading(false);
      const failures = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
      if (failures.length === 0) setBanner(undefined);
      else fail(failures.find(isUnavailable) ?? failures[0]);
    });
    return () => ctl.abort();
  }, [session, key, state.view, refresh]);

  const loadMore = useCallback(() => {
    if (!cursor || loading) return;
    const at = searchKey.current;
    const version = listVersion.current;
    setLoading(true);
    api
      .get<SearchAnswer>("search", { ...base, order: state.order, limit: pageSize, cursor })
      .then((answer) => {
        if (searchKey.current !== at || listVersion.current !== version) return;
        const old = shown.current;
        const seen = new Set(old.map((e) => e.id));
        showEvents([...old, ...answer.events.filter((e) => !seen.has(e.id))]);
        setCursor(answer.cursor);
      })
      .catch(fail)
      .finally(() => setLoading(false));
  }, [cursor, loading, key, pageSize]);

  // Detail of the selected event (state.event, so it is in the permalink).
  useEffect(() => {
    if (!session || !state.event) {
      setDetail(undefined);
      return;
    }
    const id = state.event;
    const ctl = new AbortController();
    const path = `events/${encodeURIComponent(id)}`;
    // Whether this identity may prove the chain (the verify scope, no tenant binding).
    const canVerify = (session.scopes ?? ["verify"]).includes("verify") && !session.tenant;
    setDetail({ id });
    api
      .get<EventDetail>(path, {}, ctl.signal)
      .then((data) => {
        setDetail({ id, data, verifying: canVerify && data.integrity?.status === "unverified" });
        if (!canVerify || data.integrity?.status !== "unverified") return;
        // Then prove it: the server verifies the store and says verified or broken.
        return api
          .get<EventDetail>(path, { verify: 1 }, ctl.signal)
          .then((proved) => setDetail({ id, data: proved }));
      })
      .catch((err: unknown) => {
        if (ctl.signal.aborted) return;
        setDetail((old) =>
          old?.data
            ? { id, data: old.data, error: `Could not verify the chain: ${errorText(err)}` }
            : {
                id,
                error:
                  err instanceof ApiError && err.status === 404
                    ? "No such event here (it may belong to another tenant, or have been deleted)."
                    : errorText(err),
              },
        );
      });
    return () => ctl.abort();
  }, [session, state.event]);

  // Live tail: new matching events arrive over a fetch-streamed SSE answer. What arrives is
  // applied once per animation frame (one render however many messages came), and the
  // fresh rows are marked without an animation, so the page does no work between batches.
  useEffect(() => {
    if (!tail || !session || state.view !== "search") return;
    const ctl = new AbortController();
    let pending: EventRow[] = [];
    let arrived = 0;
    let frame = 0;
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const apply = (): void => {
      frame = 0;
      const incoming = pending;
      const count = arrived;
      pending = [];
      arrived = 0;
      const old = shown.current;
      const seen = new Set(old.map((e) => e.id));
      const added = incoming.filter((e) => !seen.has(e.id));
      let next: readonly EventRow[];
      if (state.order === "desc") next = [...added.reverse(), ...old];
      else next = cursorRef.current ? old : [...old, ...added];
      if (next.length > TAIL_KEEP) {
        // the oldest go: from the end when newest first, from the start otherwise
        next = state.order === "desc" ? next.slice(0, TAIL_KEEP) : next.slice(next.length - TAIL_KEEP);
        listVersion.current++;
        setCursor(undefined);
        setTailNote(
          `live: the newest ${TAIL_KEEP.toLocaleString("en")} are kept; search again for older ones`,
        );
      }
      showEvents(next);
      setCount((c) => (c === undefined ? c : c + count));
      const ids = new Set(added.map((e) => e.id));
      setFresh((old) => new Set([...old, ...ids]));
      const timer = setTimeout(() => {
        timers.delete(timer);
        setFresh((old) => new Set([...old].filter((id) => !ids.has(id))));
      }, FRESH_MS);
      timers.add(timer);
    };
    setTailNote("connecting…");
    api
      .stream(
        "tail",
        base,
        ctl.signal,
        ({ event, data }) => {
          if (event === "events" && Array.isArray(data)) {
            const incoming = data as EventRow[];
            if (incoming.length === 0) return;
            arrived += incoming.length;
            pending.push(...incoming);
            // a hidden page has no frames: what waits is bounded like the list
            if (pending.length > TAIL_KEEP) pending = pending.slice(pending.length - TAIL_KEEP);
            if (frame === 0) frame = requestAnimationFrame(apply);
          } else if (event === "error") {
            setTailNote(`live tail: ${String((data as { message?: unknown }).message)}`);
          }
        },
        () => setTailNote("live: new events appear at the top"),
      )
      .then(() => {
        if (!ctl.signal.aborted) setTailNote("live tail ended by the server");
      })
      .catch((err: unknown) => {
        if (ctl.signal.aborted) return;
        setTail(false);
        setTailNote(
          err instanceof ApiError && err.status === 429
            ? "Too many live tails open on this server"
            : errorText(err),
        );
      });
    return () => {
      ctl.abort();
      cancelAnimationFrame(frame);
      for (const timer of timers) clearTimeout(timer);
      setTailNote(undefined);
    };
  }, [tail, session, key, state.view]);

  const addFilter = (field: string, value: string, negate: boolean): void =>
    update({ q: addTerm(state.q, field, value, negate) }, true);

  const setColumns = (columns: readonly string[]): void =>
    update({ columns: columns.length > 0 ? columns : DEFAULT_COLUMNS });

  if (auth.needed) {
    return (
      <TokenPrompt
        error={auth.error}
        onToken={(token) => {
          api.setToken(token);
          setAuth({ needed: false });
          loadSession();
        }}
      />
    );
  }

  const scopes = session?.scopes ?? ["read", "export", "verify"];
  const permalink = location.href;
  const exportParams: Params = {
    ...base,
    order: state.order,
    columns: state.columns.join(","),
    tz: zoneName,
  };

  return (
    <div class={`layout${state.event ? " with-detail" : ""}`}>
      <header class="topbar">
        <h1 class="brand">
          <span class="logo" aria-hidden="true">
            ◉
          </span>{" "}
          vigil <span class="muted">audit log</span>
        </h1>
        <nav class="views" aria-label="Views">
          <button
            type="button"
            class={`tab${state.view === "search" ? " on" : ""}`}
            aria-current={state.view === "search" ? "page" : undefined}
            onClick={() => update({ view: "search" }, true)}
          >
            Events
          </button>
          {scopes.includes("verify") ? (
            <button
              type="button"
              class={`tab${state.view === "verify" ? " on" : ""}`}
              aria-current={state.view === "verify" ? "page" : undefined}
              onClick={() => update({ view: "verify", event: undefined }, true)}
            >
              Integrity
            </button>
          ) : null}
        </nav>
        <div class="who">
          {session?.tenant ? (
            <span class="badge" title="Tenant">
              tenant <Inert text={session.tenant} clip={40} />
            </span>
          ) : null}
          {session?.actor ? (
            <span class="actor" title="Signed in as">
              <Inert text={session.actor.username ?? session.actor.id ?? ""} clip={40} />
            </span>
          ) : null}
          {session?.backends?.map((b) => (
            <span key={b.name} class={`health ${b.healthy ? "ok" : "bad"}`} title={`${b.type} ${b.name}`}>
              ● <Inert text={b.name} clip={30} />
            </span>
          ))}
          <button
            type="button"
            class="btn small theme-toggle"
            aria-label={`Theme: ${theme} (click to change)`}
            title={`Theme: ${theme}`}
            onClick={() => setTheme(theme === "auto" ? "dark" : theme === "dark" ? "light" : "auto")}
          >
            {theme === "auto" ? "◐" : theme === "dark" ? "☾" : "☀"}
          </button>
          {api.token ? (
            <button
              type="button"
              class="btn small"
              onClick={() => {
                api.setToken(undefined);
                setSession(undefined);
                setAuth({ needed: true });
              }}
            >
              Sign out
            </button>
          ) : null}
        </div>
      </header>
      {banner ? (
        <div class="banner" role="alert">
          <Inert text={banner} multiline clip={500} />
          <button
            type="button"
            class="btn small"
            onClick={() => (session ? setRefresh((r) => r + 1) : loadSession())}
          >
            Retry
          </button>
          <button type="button" class="btn small" aria-label="Dismiss" onClick={() => setBanner(undefined)}>
            ✕
          </button>
        </div>
      ) : null}
      {state.view === "verify" ? (
        <main class="main single">
          <Verify api={api} />
        </main>
      ) : (
        <>
          <div class="toolbar">
            <QueryBar
              api={api}
              value={state.q}
              fields={fields}
              searchProblem={searchProblem}
              inputRef={queryInput}
              onSubmit={(q) => (q === state.q ? setRefresh((r) => r + 1) : update({ q }, true))}
            />
            <div class="toolbar-row">
              <RangeBar
                range={state.range}
                from={state.from}
                to={state.to}
                zone={state.zone}
                onPreset={(range) => update({ range, from: undefined, to: undefined }, true)}
                onCustom={(from, to) => update({ from, to }, true)}
                onZone={(zone) => update({ zone })}
              />
              <div class="toolbar-actions">
                <button
                  type="button"
                  class="btn"
                  onClick={() => update({ order: state.order === "desc" ? "asc" : "desc" })}
                  title="Change the order"
                >
                  {state.order === "desc" ? "Newest first ↓" : "Oldest first ↑"}
                </button>
                <button
                  type="button"
                  class={`btn live${tail ? " on" : ""}`}
                  aria-pressed={tail}
                  onClick={() => {
                    setTail(!tail);
                    setTailNote(undefined);
                  }}
                  title="Live tail: new matching events appear as they are logged"
                >
                  {tail ? "● Live" : "○ Live"}
                </button>
                {scopes.includes("export") ? (
                  <ExportMenu api={api} params={exportParams} zoneName={zoneName} />
                ) : null}
              </div>
            </div>
          </div>
          <div class="body">
            <Facets facets={facets} onAdd={addFilter} />
            <main class="main">
              <div class="summary">
                <span class="count" aria-live="polite">
                  {count === undefined
                    ? "…"
                    : `${count.toLocaleString("en")} match${count === 1 ? "" : "es"}`}
                </span>
                <span class="muted">
                  {state.from || state.to ? "custom range" : state.range} · times in {zoneName}
                  {histogram ? ` · ${histogram.interval} buckets` : ""}
                </span>
                {tailNote ? <span class={`tail-note${tail ? " on" : ""}`}>{tailNote}</span> : null}
                {state.from || state.to ? (
                  <button
                    type="button"
                    class="btn link"
                    onClick={() => update({ from: undefined, to: undefined }, true)}
                  >
                    back to {state.range}
                  </button>
                ) : null}
              </div>
              <Histogram
                data={histogram}
                zone={state.zone}
                onSelect={(from, to) => update({ from, to }, true)}
              />
              <Results
                events={events}
                columns={state.columns}
                fields={fields}
                zone={state.zone}
                selected={state.event}
                fresh={fresh}
                hasMore={Boolean(cursor)}
                loading={loading}
                generation={generation}
                onOpen={(id) => update({ event: id })}
                onLoadMore={loadMore}
                onColumns={setColumns}
              />
            </main>
            {state.event ? (
              <Detail
                detail={detail?.data}
                error={detail?.error}
                verifying={detail?.verifying ?? false}
                zone={state.zone}
                permalink={permalink}
                columns={state.columns}
                onClose={() => update({ event: undefined })}
                onFilter={addFilter}
                onColumn={(f) => setColumns([...state.columns, f])}
              />
            ) : null}
          </div>
        </>
      )}
      <datalist id="field-list">
        {fields.map((f) => (
          <option key={f} value={f} />
        ))}
      </datalist>
    </div>
  );
}
