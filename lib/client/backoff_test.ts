import assert from "node:assert/strict";
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF } from "./backoff.ts";

Deno.test("backoff - the default policy is 500 ms doubling up to 30 s", () => {
  assert.deepEqual(DEFAULT_BACKOFF, { baseMs: 500, capMs: 30_000 });
});

Deno.test("backoff - ceilings double from 500 ms and stop at 30 s", () => {
  const ceilings = Array.from(
    { length: 10 },
    (_, attempt) => backoffCeiling(attempt, DEFAULT_BACKOFF),
  );
  assert.deepEqual(ceilings, [
    500,
    1000,
    2000,
    4000,
    8000,
    16_000,
    30_000,
    30_000,
    30_000,
    30_000,
  ]);
});

Deno.test("backoff - a negative attempt counts as the first", () => {
  assert.equal(backoffCeiling(-3, DEFAULT_BACKOFF), 500);
});

Deno.test("backoff - delays lie in [0, ceiling) at both ends of random", () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = backoffCeiling(attempt, DEFAULT_BACKOFF);
    assert.equal(backoffDelay(attempt, DEFAULT_BACKOFF, () => 0), 0);
    const top = backoffDelay(attempt, DEFAULT_BACKOFF, () => 0.999999);
    assert.ok(top < ceiling, `attempt ${attempt}: ${top} < ${ceiling}`);
    // Full jitter: the top of the range is reached, not a fraction of it.
    assert.equal(top, ceiling - 1, `attempt ${attempt}`);
  }
});

Deno.test("backoff - the delay scales with random below the ceiling", () => {
  assert.equal(backoffDelay(0, DEFAULT_BACKOFF, () => 0.5), 250);
  assert.equal(backoffDelay(1, DEFAULT_BACKOFF, () => 0.25), 250);
  assert.equal(backoffDelay(3, DEFAULT_BACKOFF, () => 0.75), 3000);
  assert.equal(backoffDelay(9, DEFAULT_BACKOFF, () => 0.5), 15_000);
});

Deno.test("backoff - attempt counts far beyond 60 stay at the cap", () => {
  for (const attempt of [61, 100, 1024, 1025, 5000, Number.MAX_SAFE_INTEGER]) {
    const ceiling = backoffCeiling(attempt, DEFAULT_BACKOFF);
    assert.equal(ceiling, 30_000, `attempt ${attempt}`);
    const delay = backoffDelay(attempt, DEFAULT_BACKOFF, () => 0.999999);
    assert.ok(Number.isFinite(delay), `attempt ${attempt}: ${delay}`);
    assert.equal(delay, 29_999, `attempt ${attempt}`);
    assert.equal(backoffDelay(attempt, DEFAULT_BACKOFF, () => 0), 0);
  }
});

Deno.test("backoff - a custom policy is honoured", () => {
  const policy = { baseMs: 10, capMs: 45 };
  assert.deepEqual(
    [0, 1, 2, 3, 70].map((attempt) => backoffCeiling(attempt, policy)),
    [10, 20, 40, 45, 45],
  );
  assert.equal(backoffDelay(2, policy, () => 0.5), 20);
});

Deno.test("backoff - uses Math.random when no random is given", () => {
  for (let i = 0; i < 200; i++) {
    const delay = backoffDelay(2);
    assert.ok(
      Number.isInteger(delay) && delay >= 0 && delay < 2000,
      `${delay}`,
    );
  }
});
