import assert from "node:assert/strict";
import { EventSchema, parseCommand, type ParseResult } from "./protocol.ts";

const limits = { maxFrameBytes: 1024, maxMessageChars: 50 };
const parse = (value: unknown) =>
  parseCommand(
    typeof value === "string" ? value : JSON.stringify(value),
    limits,
  );

function rejected(result: ParseResult) {
  assert.equal(
    result.ok,
    false,
    `expected a rejection, got ${JSON.stringify(result)}`,
  );
  return result as Extract<ParseResult, { ok: false }>;
}

Deno.test("parseCommand - accepts every command type of the protocol", () => {
  const frames = [
    {
      type: "session",
      request_id: "1",
      action: "create",
      agent_id: "assistant",
    },
    {
      type: "session",
      request_id: "2",
      action: "close",
      session_id: "assistant_123",
    },
    { type: "session", request_id: "3", action: "list" },
    {
      type: "chat",
      request_id: "4",
      agent_id: "a",
      session_id: "a_123",
      message: "hi",
    },
    { type: "refresh", request_id: "5", agent_id: "a", session_id: "a_123" },
    { type: "cancel", request_id: "6", session_id: "a_123" },
    { type: "ack", seq: 7 },
  ];
  for (const frame of frames) {
    const result = parse(frame);
    assert.equal(result.ok, true, JSON.stringify(result));
    if (result.ok) assert.deepEqual(result.command, frame);
  }
});

Deno.test("parseCommand - names what is wrong and echoes a readable request_id", () => {
  const cases: [unknown, string, RegExp, string | null][] = [
    ["{not json", "bad_request", /not valid JSON/, null],
    [[1, 2], "bad_request", /JSON object/, null],
    ["null", "bad_request", /JSON object/, null],
    [{ request_id: "x" }, "bad_request", /"type" is missing/, "x"],
    [
      { type: "nope", request_id: "x" },
      "bad_request",
      /unknown type "nope"/,
      "x",
    ],
    [
      { type: "chat", request_id: "x", agent_id: "a", session_id: "s" },
      "bad_request",
      /"message" is missing/,
      "x",
    ],
    [
      {
        type: "chat",
        request_id: "x",
        agent_id: "a",
        session_id: "s",
        message: 42,
      },
      "bad_request",
      /field "message" is invalid: expected string/,
      "x",
    ],
    [
      { type: "session", request_id: "x", action: "explode" },
      "bad_request",
      /"action"/,
      "x",
    ],
    [
      { type: "session", action: "list" },
      "bad_request",
      /"request_id" is missing/,
      null,
    ],
    [{ type: "ack", seq: "3" }, "bad_request", /"seq"/, null],
    [{ type: "ack", seq: -1 }, "bad_request", /"seq"/, null],
    [
      {
        type: "chat",
        request_id: "x",
        agent_id: "a",
        session_id: "s",
        message: "m".repeat(51),
      },
      "too_large",
      /51 characters; the limit is 50/,
      "x",
    ],
    ["x".repeat(1025), "too_large", /1025 bytes; the limit is 1024/, null],
  ];
  for (const [frame, code, message, requestId] of cases) {
    const result = rejected(parse(frame));
    assert.equal(result.code, code, JSON.stringify(frame));
    assert.match(result.message, message);
    assert.equal(result.request_id, requestId);
  }
});

Deno.test("parseCommand - counts UTF-8 bytes, not characters, against the limit", () => {
  const message = "é".repeat(30); // 60 bytes in UTF-8
  const frame = JSON.stringify({ type: "ack", seq: 1, pad: "€".repeat(340) });
  assert.equal(rejected(parseCommand(frame, limits)).code, "too_large");
  assert.equal(
    parse({
      type: "chat",
      request_id: "1",
      agent_id: "a",
      session_id: "s",
      message,
    }).ok,
    true,
  );
});

Deno.test("parseCommand - rejects binary frames", () => {
  const result = rejected(parseCommand(new Uint8Array([123, 125]), limits));
  assert.equal(result.code, "bad_request");
  assert.match(result.message, /binary/);
});

Deno.test("parseCommand - __proto__ keys do not pollute anything", () => {
  const result = parse(
    '{"type":"session","request_id":"p","action":"list","__proto__":{"polluted":true}}',
  );
  assert.equal(result.ok, true);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("EventSchema - validates the events the server sends", () => {
  const ok = EventSchema.safeParse({
    type: "agent_response",
    seq: 3,
    agent_id: "a",
    session_id: "a_123",
    response: {
      message_id: "m",
      content: "hi",
      model: "x",
      finish_reason: "stop",
      usage: null,
    },
  });
  assert.equal(ok.success, true);
  const bad = EventSchema.safeParse({
    type: "error",
    seq: 1,
    agent_id: null,
    session_id: null,
    error: "x",
    code: "nope",
  });
  assert.equal(bad.success, false);
});

Deno.test("parseCommand - an oversized frame still echoes its request_id, which message text cannot fake", () => {
  const big = JSON.stringify({
    type: "session",
    request_id: "big-1",
    action: "list",
    pad: "x".repeat(2000),
  });
  assert.equal(rejected(parse(big)).request_id, "big-1");
  const sneaky = JSON.stringify({
    type: "chat",
    message: '{"request_id":"fake"}' + "x".repeat(2000),
  });
  assert.equal(rejected(parse(sneaky)).request_id, null);
});
