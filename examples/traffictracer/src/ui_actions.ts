/**
 * TrafficTracer's GUI actions (`ui/main_window_orchestrator.py` in the seed, hook
 * point 5). Clicking "Export" writes the security audit to an Excel workbook through
 * vigil's query API, and the click itself is recorded as `UI_ACTION` / `EXPORT`
 * (resource type `excel`, `result.count` = the rows exported).
 *
 * The seed exports `filters: { category: "SECURITY" }`; TrafficTracer records no event
 * of category `SECURITY` (its security events are logins, category `AUTHENTICATION`,
 * marked `security_event: true`), so the default filter here selects security events
 * by that flag. Pass `filters` to export something else.
 *
 * @example
 * const window = new MainWindowOrchestrator({ exportDirectory: "exports" });
 * const { path, count } = await window.onExportClick();
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { AuditQuery, auditLog, type ExportResult, type FilterValue } from "vigil-audit";

/** Options of {@link MainWindowOrchestrator}. */
export interface MainWindowOptions {
  /** Where exported workbooks go; created when missing. */
  readonly exportDirectory: string;
  /** The workbook's file name. Default `security_audit.xlsx`. */
  readonly filename?: string;
  /** Which events to export. Default `{ security_event: true }`. */
  readonly filters?: Readonly<Record<string, FilterValue>>;
}

/** The main window's actions. */
export class MainWindowOrchestrator {
  readonly #directory: string;
  readonly #filename: string;
  readonly #filters: Readonly<Record<string, FilterValue>>;

  constructor(options: MainWindowOptions) {
    this.#directory = options.exportDirectory;
    this.#filename = options.filename ?? "security_audit.xlsx";
    this.#filters = options.filters ?? { security_event: true };
  }

  /** The path the next export writes. */
  get exportPath(): string {
    return join(this.#directory, this.#filename);
  }

  /**
   * The "Export" button: export to Excel. Audited as `UI_ACTION` / `EXPORT` with
   * resource type `excel` and the number of rows in `result.count`.
   */
  @auditLog({ actionType: "EXPORT", category: "UI_ACTION", resourceType: "excel", captureResultCount: true })
  onExportClick(): Promise<ExportResult> {
    return this.exportToExcel();
  }

  /** Write every matching event to {@link exportPath} (replacing it), oldest first. */
  exportToExcel(): Promise<ExportResult> {
    mkdirSync(this.#directory, { recursive: true });
    return AuditQuery.export({
      format: "excel",
      filename: this.exportPath,
      filters: this.#filters,
      order: "asc",
    });
  }
}
