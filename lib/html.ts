/** Helpers for writing values into server-rendered HTML. */

/**
 * JSON for the inside of a `<script type="application/json">` element. The
 * HTML parser ends the element at the first `</script` and treats `<!--`
 * specially whatever JSON thinks of them, so every `<` is written as the
 * JSON escape `\u003c`; U+2028 and U+2029 are escaped too, so the text stays
 * valid if it is ever read as JavaScript. JSON.parse gives back the value.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll("<", "\\u003c")
    .replaceAll("\u2028", "\\u2028")
    .replaceAll("\u2029", "\\u2029");
}
