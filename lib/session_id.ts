/**
 * Session ids: `<agent slug>_<random digits>`, e.g. `code-reviewer_042`.
 *
 * They are short enough to read aloud and type, and the slug says which agent
 * a session belongs to at a glance in logs. They are not secrets: sessions are
 * bound to their client, so guessing an id gets nothing.
 */

/** A session id: a slug, `_`, then at least three digits. */
export const SESSION_ID_PATTERN: RegExp =
  /^[a-z0-9]+(?:-[a-z0-9]+)*_[0-9]{3,}$/;

const SLUG_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const MAX_SLUG_LENGTH = 40;
const MIN_WIDTH = 3;
// Past this the caller's isTaken is rejecting everything; looping on would hang.
const MAX_WIDTH = 32;
const TRIES_PER_WIDTH = 20;
// Latin letters that NFKD leaves whole, spelled the way they are usually
// transliterated, so "Straße" reads "strasse" rather than "stra-e".
const LETTERS: Record<string, string> = {
  "ß": "ss",
  "æ": "ae",
  "œ": "oe",
  "ø": "o",
  "đ": "d",
  "ð": "d",
  "ł": "l",
  "þ": "th",
  "ı": "i",
};
// 10 ** 9 < 2 ** 32, so one Uint32 draw covers a chunk of nine digits.
const DIGITS_PER_DRAW = 9;

/**
 * Turns an agent name into the slug used in session ids: lower-case ASCII
 * letters and digits, every other run of characters becomes one `-`, at most
 * 40 characters. Accents are folded ("Élan" -> "elan"); a name with nothing
 * left (e.g. only CJK characters) gives "agent".
 */
export function slugify(name: string): string {
  // Lower-casing can itself produce combining marks ("İ" -> "i̇") and
  // compatibility forms ("Ⅻ" -> "ⅻ"), so decompose after it as well.
  const folded = name.normalize("NFKD").toLowerCase().normalize("NFKD")
    .replace(/\p{M}+/gu, "").replace(/[ßæœøđðłþı]/g, (c) => LETTERS[c]);
  const slug = folded.replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "")
    .slice(0, MAX_SLUG_LENGTH).replace(/-+$/, "");
  return slug === "" ? "agent" : slug;
}

/**
 * A new session id `<slug>_<digits>`. The digits come from
 * `crypto.getRandomValues` (unbiased: rejection sampling) and are zero-padded
 * to a width that starts at 3 and grows by one digit while
 * `liveWithSlug * 10 >= 10 ** width`, so the id space stays at most 10% full
 * and collisions stay rare. A candidate for which `isTaken` returns true is
 * drawn again; after 20 failed tries the width grows by one.
 *
 * Throws a RangeError for a slug that {@link slugify} could not have made or
 * a `liveWithSlug` that is not a non-negative number, and an Error if
 * `isTaken` rejects every candidate up to 32 digits.
 */
export function newSessionId(
  slug: string,
  isTaken: (id: string) => boolean,
  liveWithSlug: number,
): string {
  if (!SLUG_PATTERN.test(slug)) {
    throw new RangeError(`invalid session id slug ${JSON.stringify(slug)}`);
  }
  if (!Number.isFinite(liveWithSlug) || liveWithSlug < 0) {
    throw new RangeError(`invalid live session count ${liveWithSlug}`);
  }
  let width = MIN_WIDTH;
  while (liveWithSlug * 10 >= 10 ** width && width < MAX_WIDTH) width++;
  for (; width <= MAX_WIDTH; width++) {
    for (let tries = 0; tries < TRIES_PER_WIDTH; tries++) {
      const id = `${slug}_${randomDigits(width)}`;
      if (!isTaken(id)) return id;
    }
  }
  throw new Error(
    `no free session id for "${slug}" up to ${MAX_WIDTH} digits`,
  );
}

/** `width` uniformly random decimal digits. */
function randomDigits(width: number): string {
  let digits = "";
  while (digits.length < width) {
    const count = Math.min(DIGITS_PER_DRAW, width - digits.length);
    digits += randomBelow(10 ** count).toString().padStart(count, "0");
  }
  return digits;
}

const draw = new Uint32Array(1);

/** A uniform integer in [0, bound), for bound <= 2 ** 32. */
function randomBelow(bound: number): number {
  // Values at or above the last whole multiple of `bound` would make the low
  // remainders more likely than the high ones, so they are drawn again.
  const limit = Math.floor(2 ** 32 / bound) * bound;
  for (;;) {
    crypto.getRandomValues(draw);
    if (draw[0] < limit) return draw[0] % bound;
  }
}
