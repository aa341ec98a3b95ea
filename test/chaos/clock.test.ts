/**
 * The wall clock stepped back an hour across midnight and forward a day while logging
 * (the long form is `npm run chaos clock`).
 */
import { expect, test } from "vitest";
import { clockScenario } from "./clock.js";

test("ids stay unique and ordered, each event lands in its own day's file, ranges and verify stay right", async () => {
  const f = await clockScenario(300);
  expect(f.uniqueIds).toBe(900);
  expect(f.idsOutOfOrder).toBe(0);
  expect(f.wrongDayFile).toBe(0);
  expect(f.files).toHaveLength(3); // yesterday (stepped back), today, tomorrow (stepped forward)
  expect(f.rangeCounts).toEqual([300, 300, 300]);
  expect(f.verify).toBe("intact");
});
