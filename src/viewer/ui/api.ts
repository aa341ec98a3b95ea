/**
 * The page's client of the viewer JSON API (docs/viewer.md): one `fetch` per call, the
 * bearer token when the page runs in token mode, errors as `ApiError` with the server's
 * code, message and extra members (a query error's `offset`, `line`, `column`).
 *
 * @module
 */

const TOKEN_KEY = "vigil-viewer-token";

/** The server's error body, `{ error: { code, message, ...extra } }`. */
export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
  readonly offset?: number;
  readonly line?: number;
  readonly column?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
    this.name = "ApiError";
  }
}

/** Query parameters; `undefined` and `""` members are left out. */
export type Params = Readonly<Record<string, string | number | undefined>>;

/**
 * The directory the page was served from, which is the viewer's mount point: the API
 * lives under it (`<base>api/...`), so the page works under any mount path.
 */
export function mountBase(pathname: string): string {
  return pathname.slice(0, pathname.lastIndexOf("/") + 1) || "/";
}

export function query(params: Params): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

async function toError(res: Response): Promise<ApiError> {
  let body: ApiErrorBody = { code: "VIGIL_ERR_VIEWER", message: `${res.status} ${res.statusText}` };
  try {
    const json = (await res.json()) as { error?: ApiErrorBody };
    if (json.error && typeof json.error.message === "string") body = json.error;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, body);
}

/** One server-sent event: its name and its parsed `data`. */
export interface StreamEvent {
  readonly event: string;
  readonly data: unknown;
}

export class Api {
  token: string | undefined;

  constructor(readonly base: string) {
    this.token = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  }

  setToken(token: string | undefined): void {
    this.token = token;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  /** The absolute path of an API route with its parameters. */
  url(path: string, params: Params = {}): string {
    return `${this.base}api/${path}${query(params)}`;
  }

  private init(signal?: AbortSignal, extra: Record<string, string> = {}): RequestInit {
    const headers: Record<string, string> = { Accept: "application/json", ...extra };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return { headers, signal, credentials: "same-origin", cache: "no-store" };
  }

  async get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
    const res = await fetch(this.url(path, params), this.init(signal));
    if (!res.ok) throw await toError(res);
    return (await res.json()) as T;
  }

  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await fetch(this.url(path), {
      ...this.init(signal, { "Content-Type": "application/json" }),
      method: "POST",
      body: JSON.stringify(body),
    });
    if (!res.ok) throw await toError(res);
    return (await res.json()) as T;
  }

  /**
   * Reads a `text/event-stream` answer with `fetch` (so the bearer header can be sent,
   * which `EventSource` cannot), calling `onEvent` for each event until the stream ends
   * or `signal` aborts. `onOpen` is called once the server has answered (for a tail: from
   * then on, every new event is sent).
   */
  async stream(
    path: string,
    params: Params,
    signal: AbortSignal,
    onEvent: (event: StreamEvent) => void,
    onOpen?: () => void,
  ): Promise<void> {
    const res = await fetch(this.url(path, params), this.init(signal, { Accept: "text/event-stream" }));
    if (!res.ok) throw await toError(res);
    onOpen?.();
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end = blockEnd(buffer);
      while (end) {
        const block = buffer.slice(0, end.at);
        buffer = buffer.slice(end.at + end.length);
        const parsed = parseBlock(block);
        if (parsed) onEvent(parsed);
        end = blockEnd(buffer);
      }
    }
  }
}

function blockEnd(buffer: string): { at: number; length: number } | undefined {
  const match = /\r?\n\r?\n/.exec(buffer);
  return match ? { at: match.index, length: match[0].length } : undefined;
}

/** One SSE block: `event:` and `data:` lines; comments (`:` heartbeats) give nothing. */
export function parseBlock(block: string): StreamEvent | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "event") event = value;
    else if (name === "data") data.push(value);
  }
  if (data.length === 0) return undefined;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}
