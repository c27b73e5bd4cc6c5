/**
 * Reconnect delays: exponential backoff with full jitter. The n-th retry
 * waits a uniformly random time in [0, min(cap, base * 2^n)), so a crowd of
 * browsers that lost the same server spreads out instead of returning in
 * waves.
 */

export interface BackoffPolicy {
  /** Ceiling of the first retry's delay, in ms. */
  baseMs: number;
  /** No delay is ever longer than this, in ms. */
  capMs: number;
}

/** 500 ms for the first retry, doubling, never more than 30 s. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000 };

/** The longest the `attempt`-th retry (0-based) may wait. */
export function backoffCeiling(attempt: number, policy: BackoffPolicy): number {
  // 2^attempt overflows to Infinity long after it passes any cap; min() copes.
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt));
}

/**
 * How long to wait before the `attempt`-th retry (0-based): full jitter
 * below {@link backoffCeiling}. `random` returns values in [0, 1).
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCeiling(attempt, policy));
}
