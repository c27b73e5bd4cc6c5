import assert from "node:assert/strict";
import { jsonForScript } from "./html.ts";

Deno.test("jsonForScript - no <, U+2028 or U+2029 left, and JSON.parse round-trips", () => {
  const value = {
    description:
      "</script><script>alert(1)</script> <!-- x --> <SCRIPT> \u2028\u2029 é 😀",
    nested: [{ s: "</ScRiPt >" }],
  };
  const text = jsonForScript(value);
  assert.ok(!text.includes("<"), text);
  assert.ok(!text.includes("\u2028") && !text.includes("\u2029"), text);
  assert.match(text, /\\u003c\/script>/);
  assert.deepEqual(JSON.parse(text), value);
});
