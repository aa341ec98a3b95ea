/**
 * The viewer's two server-sent-event streams: live tail (new matching events, polled from
 * the engine at most every second, bound to the identity's tenant; a file store is followed
 * by offset, so a poll reads only what was appended) and verify (progress, then each problem
 * as `vigil verify` names it; it stops when the client goes away). Both are read by the page with `fetch()`
 * streaming, so the bearer header can be sent.
 *
 * @module
 */
import type { ServerResponse } from "node:http";
import { ErrorCodes } from "../errors.js";
import type { AuditEvent } from "../event/types.js";
import { httpErrorOf, type RouteContext, safeJsonText } from "./handler.js";
import { parseQueryParam, single, ViewerHttpError } from "./params.js";

/**
 * How far back each poll of a tail looks, so events that reach the store late (a writer's
 * batch delay, several writers) are not missed; an event stored later than this after its
 * timestamp is not shown.
 */
export const TAIL_LOOKBACK_MS = 30_000;
/** A comment line every so often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** Events sent per poll at most (the rest follow on the next poll). */
const TAIL_BATCH = 500;

function openStream(res: ServerResponse): void {
  res.statusCode = 200;
  res.setHeader("content-type", "text/event-stream; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  res.setHeader("x-accel-buffering", "no");
  res.flushHeaders();
}

/** One SSE message; `data` is JSON on one line (JSON.stringify never writes a raw newline). */
export function sendEvent(res: ServerResponse, event: string, data: unknown): void {
  if (!res.writableEnded && !res.destroyed) res.write(`event: ${event}\ndata: ${safeJsonText(data)}\n\n`);
}

/** `GET /api/tail`: new matching events of the identity's tenant, at most every `tailIntervalMs`. */
export async function tailRoute(ctx: RouteContext): Promise<void> {
  const { res, limits, engine, shared } = ctx;
  const q = single(ctx.params, "q") ?? "";
  parseQueryParam(q, limits); // 400/413 before the stream opens
  if (shared.tails >= limits.tails)
    throw new ViewerHttpError(
      429,
      ErrorCodes.VIEWER_LIMIT,
      `too many live tails: ${limits.tails} are open; close one and try again`,
    );
  shared.tails++;
  const tenant = ctx.identity.tenant;
  /** Every match stamped since `from`, oldest first (no page limit: a busy window is read whole). */
  const since = (from: Date) =>
    engine.stream({
      ...(q !== "" ? { query: q } : {}),
      ...(tenant !== undefined ? { tenant } : {}),
      from,
      order: "asc",
    });
  // what is already stored is not "new": remember the recent ids, send only later ones
  const seen = new Map<string, number>();
  const remember = (e: AuditEvent) => seen.set(e.id, Date.parse(e.timestamp));
  let stopped = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    shared.tails--;
    if (pollTimer) clearTimeout(pollTimer);
    if (heartbeat) clearInterval(heartbeat);
    if (!res.writableEnded) res.end();
  };
  res.once("close", stop);
  // a store that can follow its files reads only what was appended since the last poll
  const follower = engine._follow({
    ...(q !== "" ? { query: q } : {}),
    ...(tenant !== undefined ? { tenant } : {}),
    from: new Date(Date.now() - TAIL_LOOKBACK_MS),
  });
  try {
    if (follower) await follower.poll();
    else for await (const e of since(new Date(Date.now() - TAIL_LOOKBACK_MS))) remember(e);
  } catch (err) {
    stop();
    throw err;
  }
  if (stopped) return;
  ctx.audit("VIEWER_TAIL", { query: q });
  openStream(res);
  res.write(": tail started\n\n");
  heartbeat = setInterval(() => {
    if (!res.writableEnded) res.write(": heartbeat\n\n");
  }, HEARTBEAT_MS);
  let lastError = "";
  const poll = async () => {
    if (stopped) return;
    const now = Date.now();
    try {
      const fresh: AuditEvent[] = [];
      if (follower) fresh.push(...(await follower.poll()));
      else
        for await (const e of since(new Date(now - TAIL_LOOKBACK_MS))) {
          if (stopped) break;
          if (seen.has(e.id)) continue;
          remember(e);
          fresh.push(e);
        }
      for (const [id, ts] of seen) if (ts < now - 2 * TAIL_LOOKBACK_MS) seen.delete(id);
      for (let i = 0; i < fresh.length && !stopped; i += TAIL_BATCH)
        sendEvent(res, "events", fresh.slice(i, i + TAIL_BATCH));
      lastError = "";
    } catch (err) {
      const { code, message } = httpErrorOf(err);
      if (message !== lastError) sendEvent(res, "error", { code, message });
      lastError = message;
    }
    if (!stopped) pollTimer = setTimeout(poll, limits.tailIntervalMs);
  };
  pollTimer = setTimeout(poll, limits.tailIntervalMs);
}

/**
 * `GET /api/verify`: verifies every file and database backend, sending `progress`
 * (`{ checked, files, total }`) as it goes, then each `problem`, then `done`
 * (`{ ok, status, checked, problems }`). Refused (403) for an identity bound to a tenant:
 * verification reads every tenant's records. One at a time per handler (429).
 */
export async function verifyRoute(ctx: RouteContext): Promise<void> {
  const { res, shared } = ctx;
  if (ctx.identity.tenant !== undefined)
    throw new ViewerHttpError(
      403,
      ErrorCodes.VIEWER_FORBIDDEN,
      "verify covers the whole store, every tenant's records: not available to an identity bound to a tenant",
    );
  if (shared.verifying > 0)
    throw new ViewerHttpError(
      429,
      ErrorCodes.VIEWER_LIMIT,
      "a verification is already running; wait for it to finish",
    );
  shared.verifying++;
  try {
    openStream(res);
    let last = 0;
    // the client going away aborts ctx.signal: verification stops at the next file it finishes
    const result = await ctx.engine.verify({
      signal: ctx.signal,
      onProgress: (p) => {
        const now = Date.now();
        if (now - last < 200 && p.done < p.total) return;
        last = now;
        sendEvent(res, "progress", { checked: p.events, files: p.done, total: p.total, current: p.current });
      },
    });
    for (const p of result.problems) sendEvent(res, "problem", p);
    sendEvent(res, "done", {
      ok: result.ok,
      status: result.status,
      checked: result.events,
      chains: result.chains,
      checkpoints: result.checkpoints,
      problems: result.problems.length + result.omittedProblems,
    });
    ctx.audit("VIEWER_VERIFY", {
      ok: result.ok,
      status: result.status,
      count: result.events,
      problems: result.problems.length,
    });
  } catch (err) {
    if (ctx.signal.aborted) {
      ctx.audit("VIEWER_VERIFY", {
        cancelled: true,
        reason: String((ctx.signal.reason as Error)?.message ?? ""),
      });
      return;
    }
    if (!res.headersSent) throw err;
    const { code, message } = httpErrorOf(err);
    sendEvent(res, "error", { code, message });
  } finally {
    shared.verifying--;
    if (!res.writableEnded) res.end();
  }
}
