/**
 * Facets: the top values of a few fields over the current matches, with counts. Click a
 * value to add `field:value` to the query; Alt- or Shift-click, or its ⊖ button, adds
 * `NOT field:value`.
 *
 * @module
 */
import type { JSX } from "preact";
import { Inert } from "../inert.js";

export const FACET_FIELDS: readonly { field: string; label: string }[] = [
  { field: "action.category", label: "Category" },
  { field: "action.type", label: "Action type" },
  { field: "result.status", label: "Result" },
  { field: "severity", label: "Severity" },
  { field: "actor.username", label: "Actor" },
];

export type FacetValues = Readonly<Record<string, readonly { value: string; count: number }[]>>;

export interface FacetsProps {
  readonly facets: FacetValues | undefined;
  readonly onAdd: (field: string, value: string, negate: boolean) => void;
}

export function Facets({ facets, onAdd }: FacetsProps): JSX.Element {
  return (
    <nav class="facets" aria-label="Facets">
      {FACET_FIELDS.map(({ field, label }) => {
        const values = facets?.[field] ?? [];
        const max = Math.max(1, ...values.map((v) => v.count));
        return (
          <section class="facet" key={field} data-field={field}>
            <h3 class="facet-title" title={field}>
              {label}
            </h3>
            {values.length === 0 ? <p class="facet-empty">{facets ? "no values" : "…"}</p> : null}
            <ul>
              {values.map(({ value, count }) => (
                <li key={value} class="facet-row">
                  <button
                    type="button"
                    class="facet-value"
                    title={`${field}:${value} — Alt/Shift-click to exclude`}
                    onClick={(e) => onAdd(field, value, e.altKey || e.shiftKey)}
                  >
                    <span class="facet-bar" style={{ width: `${(count / max) * 100}%` }} />
                    <span class="facet-label">
                      <Inert text={value} clip={80} />
                    </span>
                    <span class="facet-count">{count.toLocaleString("en")}</span>
                  </button>
                  <button
                    type="button"
                    class="facet-not"
                    aria-label={`Exclude ${field}:${value}`}
                    title="Exclude (NOT)"
                    onClick={() => onAdd(field, value, true)}
                  >
                    ⊖
                  </button>
                </li>
              ))}
            </ul>
          </section>
        );
      })}
    </nav>
  );
}
