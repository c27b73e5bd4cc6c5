/**
 * A small seeded random source for chaos and fuzz tests: the same seed gives
 * the same run, so a failure printed with its seed can be replayed.
 */

/** A seeded pseudo-random generator (mulberry32). */
export class SeededRandom {
  #state: number;

  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/**
 * The seed for a test run: the environment variable `name` when set (to
 * replay a failure), else a fresh one. The test prints it either way.
 */
export function seedFrom(name: string): number {
  const given = Deno.env.get(name);
  if (given !== undefined && given.trim() !== "") {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`${name} must be a whole number, got ${given}`);
    }
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}
