import assert from "node:assert/strict";
import { newSessionId, SESSION_ID_PATTERN, slugify } from "./session_id.ts";

const never = () => false;

/** The digits after the last `_`. */
function digitsOf(id: string): string {
  return id.slice(id.lastIndexOf("_") + 1);
}

Deno.test("slugify - turns names into lower-case dash-separated slugs", () => {
  const cases: [string, string][] = [
    ["Code Reviewer", "code-reviewer"],
    ["Élan Vital!", "elan-vital"],
    ["日本", "agent"],
    ["", "agent"],
    ["  --Hello,   World--  ", "hello-world"],
    ["GPT-4o mini", "gpt-4o-mini"],
    ["naïve café crème", "naive-cafe-creme"],
    ["snake_case_name", "snake-case-name"],
    ["Straße", "strasse"],
    ["Œuvre Ørsted", "oeuvre-orsted"],
    ["ＦＵＬＬ　ｗｉｄｔｈ", "full-width"],
    ["Agent 日本 Two", "agent-two"],
  ];
  for (const [name, slug] of cases) {
    assert.equal(slugify(name), slug, `slugify(${JSON.stringify(name)})`);
  }
});

Deno.test("slugify - caps slugs at 40 characters without a trailing dash", () => {
  assert.equal(slugify("a".repeat(50)), "a".repeat(40));
  const slug = slugify(`${"b".repeat(39)} tail`);
  assert.equal(slug, "b".repeat(39));
  assert.ok(slug.length <= 40);
});

Deno.test("newSessionId - matches the pattern with at least three digits", () => {
  for (const slug of ["assistant", "code-reviewer", "a1-b2"]) {
    const id = newSessionId(slug, never, 0);
    assert.match(id, SESSION_ID_PATTERN);
    assert.ok(id.startsWith(`${slug}_`), id);
    assert.equal(digitsOf(id).length, 3, id);
  }
});

Deno.test("SESSION_ID_PATTERN - rejects malformed ids", () => {
  for (
    const id of [
      "assistant_12",
      "Assistant_123",
      "-a_123",
      "a--b_123",
      "a_12x",
      "_123",
      "a123",
    ]
  ) {
    assert.doesNotMatch(id, SESSION_ID_PATTERN);
  }
});

Deno.test("newSessionId - 5,000 ids checked against a live set are all unique", () => {
  const live = new Set<string>();
  const seenAt: Set<string>[] = [];
  for (let i = 0; i < 5000; i++) {
    const id = newSessionId(
      "agent",
      (candidate) => live.has(candidate),
      live.size,
    );
    assert.ok(!live.has(id), `duplicate ${id}`);
    assert.match(id, SESSION_ID_PATTERN);
    live.add(id);
    [...digitsOf(id)].forEach((digit, position) => {
      (seenAt[position] ??= new Set()).add(digit);
    });
  }
  assert.equal(live.size, 5000);
  // Each of the first three positions should have seen every digit; a biased
  // or stuck generator would not.
  for (let position = 0; position < 3; position++) {
    assert.equal(seenAt[position].size, 10, `position ${position}`);
  }
});

Deno.test("newSessionId - widens the digits as live sessions grow", () => {
  assert.equal(digitsOf(newSessionId("a", never, 99)).length, 3);
  for (let i = 0; i < 50; i++) {
    assert.ok(digitsOf(newSessionId("a", never, 100)).length >= 4);
  }
  assert.equal(digitsOf(newSessionId("a", never, 1000)).length, 5);
});

Deno.test("newSessionId - widens after repeated collisions", () => {
  let asked = 0;
  const id = newSessionId("busy", (candidate) => {
    asked++;
    return digitsOf(candidate).length === 3;
  }, 0);
  assert.match(id, SESSION_ID_PATTERN);
  assert.equal(digitsOf(id).length, 4);
  assert.equal(asked, 21);
});

Deno.test("newSessionId - gives up instead of looping forever", () => {
  assert.throws(
    () => newSessionId("full", () => true, 0),
    /no free session id/,
  );
});

Deno.test("newSessionId - rejects a bad slug or live count", () => {
  assert.throws(() => newSessionId("Bad Slug", never, 0), RangeError);
  assert.throws(() => newSessionId("", never, 0), RangeError);
  assert.throws(() => newSessionId("ok", never, -1), RangeError);
  assert.throws(() => newSessionId("ok", never, Infinity), RangeError);
});
