/**
 * The query box: the query language with the syntax error's position marked under the
 * text as the user types (a debounced `/api/parse`; nothing is searched while the text
 * does not parse), unknown-field warnings with the server's suggestion, and field-name
 * completion from `/api/fields` (↑/↓ to choose, Tab or Enter to take, Esc to close).
 *
 * @module
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { type Api, ApiError } from "../api.js";
import { Inert } from "../inert.js";
import { completions, wordAt } from "../query-text.js";

export interface QueryProblem {
  readonly message: string;
  readonly offset: number;
  readonly column?: number;
}

interface Warning {
  readonly field: string;
  readonly offset?: number;
  readonly suggestion?: string;
}

export interface QueryBarProps {
  readonly api: Api;
  readonly value: string;
  readonly fields: readonly string[];
  /** A problem the last search reported (shown like a parse error). */
  readonly searchProblem?: QueryProblem | undefined;
  readonly onSubmit: (query: string) => void;
  readonly inputRef?: { current: HTMLInputElement | null };
}

export function QueryBar({
  api,
  value,
  fields,
  searchProblem,
  onSubmit,
  inputRef,
}: QueryBarProps): JSX.Element {
  const [text, setText] = useState(value);
  const [problem, setProblem] = useState<QueryProblem | undefined>(undefined);
  const [warnings, setWarnings] = useState<readonly Warning[]>([]);
  const [checked, setChecked] = useState(value);
  const [suggest, setSuggest] = useState<{ start: number; word: string; items: string[] } | undefined>();
  const [active, setActive] = useState(0);
  const ownRef = useRef<HTMLInputElement | null>(null);
  const ref = inputRef ?? ownRef;
  const markerRef = useRef<HTMLDivElement | null>(null);

  // The applied query changed from outside (facet click, URL): show it.
  useEffect(() => setText(value), [value]);

  // Debounced parse of what is typed.
  useEffect(() => {
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      api
        .get<{ ok: true; warnings?: Warning[] }>("parse", { q: text }, ctl.signal)
        .then((answer) => {
          setProblem(undefined);
          setWarnings(answer.warnings ?? []);
          setChecked(text);
        })
        .catch((err: unknown) => {
          if (ctl.signal.aborted) return;
          if (err instanceof ApiError && err.status === 400 && typeof err.body.offset === "number") {
            setProblem({ message: err.body.message, offset: err.body.offset, column: err.body.column });
            setWarnings([]);
            setChecked(text);
          }
        });
    }, 200);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [text, api]);

  const shown = problem && checked === text ? problem : text === value ? searchProblem : undefined;

  const syncScroll = (): void => {
    if (markerRef.current && ref.current) markerRef.current.scrollLeft = ref.current.scrollLeft;
  };
  useEffect(syncScroll);

  const updateSuggest = (input: HTMLInputElement): void => {
    const caret = input.selectionStart ?? input.value.length;
    const at = wordAt(input.value, caret);
    const items = at ? completions(fields, at.word) : [];
    setSuggest(at && items.length > 0 ? { ...at, items } : undefined);
    setActive(0);
  };

  const accept = (field: string): void => {
    const input = ref.current;
    if (!input || !suggest) return;
    const caret = input.selectionStart ?? input.value.length;
    const next = `${text.slice(0, suggest.start)}${field}:${text.slice(caret)}`;
    const pos = suggest.start + field.length + 1;
    // Set the text and caret now, not after the next render: keys typed right after
    // accepting must land after the colon.
    input.value = next;
    input.setSelectionRange(pos, pos);
    input.focus();
    setText(next);
    setSuggest(undefined);
  };

  const submit = (): void => {
    setSuggest(undefined);
    // A query known not to parse is never searched: the marker says where it breaks.
    if (checked === text) {
      if (!problem) onSubmit(text);
      return;
    }
    api
      .get<{ ok: true }>("parse", { q: text })
      .then(() => {
        setProblem(undefined);
        setChecked(text);
        onSubmit(text);
      })
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 400 && typeof err.body.offset === "number") {
          setProblem({ message: err.body.message, offset: err.body.offset, column: err.body.column });
          setChecked(text);
        } else {
          onSubmit(text); // the search itself will report what is wrong
        }
      });
  };

  const onKeyDown = (e: KeyboardEvent): void => {
    if (suggest) {
      if (e.key === "ArrowDown") {
        setActive((a) => (a + 1) % suggest.items.length);
        e.preventDefault();
        return;
      }
      if (e.key === "ArrowUp") {
        setActive((a) => (a - 1 + suggest.items.length) % suggest.items.length);
        e.preventDefault();
        return;
      }
      if (e.key === "Tab" || e.key === "Enter") {
        const item = suggest.items[active];
        if (item) {
          accept(item);
          e.preventDefault();
          return;
        }
      }
      if (e.key === "Escape") {
        setSuggest(undefined);
        e.preventDefault();
        return;
      }
    }
    if (e.key === "Enter") {
      e.preventDefault();
      submit();
    }
  };

  return (
    <div class="querybar">
      <div class={`query-field${shown ? " has-error" : ""}`}>
        <input
          ref={ref}
          id="query"
          class="query-input"
          type="text"
          spellcheck={false}
          autocomplete="off"
          aria-label="Query"
          aria-invalid={shown ? "true" : "false"}
          aria-describedby="query-status"
          aria-autocomplete="list"
          aria-expanded={suggest ? "true" : "false"}
          aria-controls="query-suggest"
          aria-activedescendant={suggest ? `suggest-${active}` : undefined}
          role="combobox"
          placeholder='Search: action.type:LOGIN AND NOT result.status:SUCCESS — "/" to focus'
          value={text}
          onInput={(e) => {
            setText(e.currentTarget.value);
            updateSuggest(e.currentTarget);
          }}
          onKeyDown={onKeyDown}
          onScroll={syncScroll}
          onKeyUp={syncScroll}
          onBlur={() => setTimeout(() => setSuggest(undefined), 150)}
        />
        <div class="query-marker" ref={markerRef} aria-hidden="true">
          {shown ? (
            <span class="marker-line">
              <span class="marker-ghost">{text.slice(0, shown.offset)}</span>
              <span class="marker-caret" data-offset={shown.offset}>
                ^
              </span>
            </span>
          ) : null}
        </div>
        {suggest ? (
          <div class="suggest" id="query-suggest" role="listbox" aria-label="Fields">
            {suggest.items.map((item, i) => (
              <div
                key={item}
                tabIndex={-1}
                id={`suggest-${i}`}
                role="option"
                aria-selected={i === active}
                class={i === active ? "active" : ""}
                onMouseDown={(e) => {
                  e.preventDefault();
                  accept(item);
                }}
              >
                {item}
              </div>
            ))}
          </div>
        ) : null}
      </div>
      <div id="query-status" class="query-status" aria-live="polite">
        {shown ? (
          <span class="query-error">
            <Inert text={shown.message} multiline clip={300} />
          </span>
        ) : warnings.length > 0 && checked === text ? (
          warnings.map((w) => (
            <span class="query-warning" key={w.field}>
              unknown field <code>{w.field}</code>
              {w.suggestion ? (
                <>
                  {" "}
                  — did you mean <code>{w.suggestion}</code>?
                </>
              ) : null}{" "}
            </span>
          ))
        ) : null}
      </div>
    </div>
  );
}
