/**
 * Reading JSON Lines files, plain or gzipped, as a stream of lines. A last line
 * without its newline (a write in progress, or a torn write) is not yielded.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";

/** The lines of a file, in order, with their 1-based line numbers. */
export async function* readLines(
  path: string,
  gzip: boolean,
): AsyncGenerator<{ readonly line: string; readonly lineNo: number }> {
  const raw = createReadStream(path, { highWaterMark: 256 * 1024 });
  const stream = gzip ? raw.pipe(createGunzip()) : raw;
  raw.on("error", (err) => stream.destroy(err));
  let rest = "";
  let lineNo = 0;
  stream.setEncoding("utf8");
  for await (const chunk of stream as AsyncIterable<string>) {
    let start = 0;
    const text = rest.length > 0 ? rest + chunk : chunk;
    for (;;) {
      const nl = text.indexOf("\n", start);
      if (nl < 0) break;
      lineNo++;
      if (nl > start) yield { line: text.slice(start, nl), lineNo };
      start = nl + 1;
    }
    rest = text.slice(start);
  }
}
