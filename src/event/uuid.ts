/**
 * UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then randomness. Within one
 * millisecond the 12-bit `rand_a` field is a counter (RFC 9562 §6.2, method 1), so ids
 * made by one process sort in creation order even when the clock stands still.
 *
 * @module
 */
import { randomFillSync } from "node:crypto";

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const POOL_SIZE = 16 * 256;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

let lastMs = -1;
let counter = 0;

function randomBytes8(): number {
  if (poolOffset + 8 > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += 8;
  return at;
}

/**
 * A new UUIDv7 string, e.g. `0192f0c4-3b1a-7c3e-8f6d-2a9b4c5d6e7f`.
 * @param nowMs the timestamp to embed; default `Date.now()`.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  let ms = nowMs;
  if (ms > lastMs) {
    lastMs = ms;
    const at = randomBytes8();
    counter = ((pool[at]! << 8) | pool[at + 1]!) & 0x7ff; // start low so the counter has room
  } else {
    ms = lastMs; // the clock went back or stood still: stay monotonic
    counter++;
    if (counter > 0xfff) {
      lastMs++;
      ms = lastMs;
      counter = 0;
    }
  }
  const at = randomBytes8();
  const hi = Math.floor(ms / 0x1000000); // top 24 bits of the 48-bit time
  const lo = ms % 0x1000000; // bottom 24 bits
  return (
    HEX[(hi >>> 16) & 0xff]! +
    HEX[(hi >>> 8) & 0xff]! +
    HEX[hi & 0xff]! +
    HEX[(lo >>> 16) & 0xff]! +
    "-" +
    HEX[(lo >>> 8) & 0xff]! +
    HEX[lo & 0xff]! +
    "-" +
    HEX[0x70 | (counter >>> 8)]! +
    HEX[counter & 0xff]! +
    "-" +
    HEX[0x80 | (pool[at]! & 0x3f)]! +
    HEX[pool[at + 1]!]! +
    "-" +
    HEX[pool[at + 2]!]! +
    HEX[pool[at + 3]!]! +
    HEX[pool[at + 4]!]! +
    HEX[pool[at + 5]!]! +
    HEX[pool[at + 6]!]! +
    HEX[pool[at + 7]!]!
  );
}

/** The millisecond timestamp embedded in a UUIDv7. */
export function uuidv7Time(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
