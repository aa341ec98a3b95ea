#!/usr/bin/env node
/**
 * The `vigil` command line: `vigil search|tail|export|stats|init|retention`. See
 * docs/cli.md, or `vigil --help`.
 *
 * @module
 */
import { main } from "./program.js";

// stdout closed early (`vigil search | head`) is not an error: stop quietly.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") process.stderr.write(`vigil: cannot write to stdout: ${err.message}\n`);
  process.exit(err.code === "EPIPE" ? 0 : 1);
});

void main(process.argv).then((code) => {
  process.exitCode = code;
});
