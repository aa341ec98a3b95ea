/**
 * Export from the viewer: exactly the current query and range, streamed to the response
 * by the exporters of `src/export/` (CSV, Excel, JSON, NDJSON), with the time zone named
 * in the file. A page that authenticates with a bearer header cannot put it on a download
 * link, so it first asks for a single-use ticket (valid 60 s, bound to the identity and
 * the parameters) and links to that.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { ErrorCodes } from "../errors.js";
import { exportEvents, isTimeZone, resolveExportFormat } from "../export/index.js";
import { type RouteContext, sendJson } from "./handler.js";
import { badParam, listParam, orderParam, readRequest, single, ViewerHttpError } from "./params.js";

/** Outstanding export tickets by id. */
export type ExportTickets = Map<
  string,
  { readonly identity: unknown; readonly params: string; readonly expires: number }
>;

export const TICKET_TTL_MS = 60_000;
const MAX_TICKETS = 1000;
const MAX_BODY_BYTES = 16 * 1024;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  csv: "text/csv; charset=utf-8",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  json: "application/json; charset=utf-8",
  ndjson: "application/x-ndjson; charset=utf-8",
};

/** `vigil-export-20261126T120000Z.csv` */
function fileName(ext: string, now = new Date()): string {
  return `vigil-export-${now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "")}.${ext}`;
}

/** `GET /api/export?format&q&range|from&to&tz&columns&order` */
export async function exportRoute(ctx: RouteContext): Promise<void> {
  const { res, params } = ctx;
  const read = readRequest(params, ctx.identity.tenant, ctx.limits);
  const order = orderParam(params);
  const formatText = single(params, "format") ?? "csv";
  let format: ReturnType<typeof resolveExportFormat>;
  try {
    format = resolveExportFormat(formatText);
  } catch {
    throw badParam(
      `format: expected csv, xlsx, json or ndjson, found ${JSON.stringify(formatText.slice(0, 40))}`,
    );
  }
  const tz = single(params, "tz") ?? "UTC";
  if (!isTimeZone(tz))
    throw badParam(
      `tz: expected UTC or an IANA time zone like Europe/Paris, found ${JSON.stringify(tz.slice(0, 64))}`,
    );
  const columns = params.has("columns") ? listParam(params, "columns", []) : undefined;
  res.statusCode = 200;
  res.setHeader("content-type", CONTENT_TYPES[format]!);
  res.setHeader("content-disposition", `attachment; filename="${fileName(format)}"`);
  res.setHeader("cache-control", "no-store");
  res.setHeader("x-vigil-time-zone", tz);
  let count = 0;
  try {
    const result = await exportEvents(
      ctx.engine.stream({ ...read.search, order, signal: ctx.signal }),
      format,
      res,
      {
        signal: ctx.signal,
        timeZone: tz,
        ...(columns !== undefined ? { columns } : {}),
      },
    );
    count = result.count;
    res.end();
  } catch (err) {
    // once bytes are out, a failure can only cut the download short
    if (res.headersSent) res.destroy(err as Error);
    throw err;
  } finally {
    ctx.audit("VIEWER_EXPORT", { query: read.query, range: read.rangeText, format, tz, count });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(
          new ViewerHttpError(
            413,
            ErrorCodes.VIEWER_LIMIT,
            `request body too large: more than ${MAX_BODY_BYTES} bytes`,
          ),
        );
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const TICKET_PARAMS = ["format", "q", "range", "from", "to", "tz", "columns", "order"];

/** `POST /api/export-ticket` with the export's parameters as a JSON object → `{ url }`. */
export async function exportTicketRoute(ctx: RouteContext): Promise<void> {
  // an application's body parser (express.json) may have read the body already
  const parsed = (ctx.req as IncomingMessage & { body?: unknown }).body;
  let body: unknown;
  if (parsed !== undefined && parsed !== null && typeof parsed === "object" && !Buffer.isBuffer(parsed))
    body = parsed;
  else if (ctx.req.readableEnded) body = {};
  else {
    // a JSON content type cannot be sent cross-site without a CORS preflight (which this
    // server never grants), so a form on another site cannot ask for a ticket
    const type = String(ctx.req.headers["content-type"] ?? "")
      .split(";")[0]!
      .trim()
      .toLowerCase();
    if (type !== "application/json")
      throw badParam("body: send the export parameters as Content-Type: application/json");
    const text = await readBody(ctx.req);
    try {
      body = text === "" ? {} : JSON.parse(text);
    } catch {
      throw badParam("body: expected a JSON object of export parameters");
    }
  }
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw badParam("body: expected a JSON object of export parameters");
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (!TICKET_PARAMS.includes(key))
      throw badParam(`body.${key}: unknown export parameter; expected ${TICKET_PARAMS.join(", ")}`);
    const v = Array.isArray(value) && key === "columns" ? value.join(",") : value;
    if (typeof v !== "string") throw badParam(`body.${key}: expected a string`);
    params.set(key, v);
  }
  // checked now, so a bad parameter is a 400 here rather than a broken download
  readRequest(params, ctx.identity.tenant, ctx.limits);
  const tickets = ctx.shared.tickets;
  const now = Date.now();
  for (const [id, t] of tickets) if (t.expires < now) tickets.delete(id);
  if (tickets.size >= MAX_TICKETS)
    throw new ViewerHttpError(429, ErrorCodes.VIEWER_LIMIT, "too many export tickets outstanding");
  const id = randomBytes(24).toString("base64url");
  tickets.set(id, { identity: ctx.identity, params: params.toString(), expires: now + TICKET_TTL_MS });
  sendJson(ctx.res, 200, { url: `${ctx.base}/api/export?ticket=${id}`, expiresIn: TICKET_TTL_MS / 1000 });
}
