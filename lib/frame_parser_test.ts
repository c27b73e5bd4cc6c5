import assert from "node:assert/strict";
import {
  parseCommand,
  parseFrontendInput,
  type ParseResult,
} from "./frame_parser.ts";

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

Deno.test("parseCommand - an unpaired UTF-16 surrogate in a string field is bad_request naming the field", () => {
  const chat = '"type":"chat","agent_id":"a","session_id":"s_1","message":"hi"';
  const bad = ["\\ud800", "x\\udfff", "\\ude00\\ud83d", "ok\\ud83d"];
  for (const lone of bad) {
    const cases: [string, string, string | null][] = [
      [
        `{${chat.replace('"hi"', `"${lone}"`)},"request_id":"u"}`,
        "message",
        "u",
      ],
      [
        `{${chat.replace('"a"', `"${lone}"`)},"request_id":"u"}`,
        "agent_id",
        "u",
      ],
      [
        `{${chat.replace('"s_1"', `"${lone}"`)},"request_id":"u"}`,
        "session_id",
        "u",
      ],
      [
        `{"type":"cancel","request_id":"u","session_id":"${lone}"}`,
        "session_id",
        "u",
      ],
      // An ill-formed request id cannot be echoed, so the answer has none.
      [`{${chat},"request_id":"${lone}"}`, "request_id", null],
      [`{"type":"${lone}","request_id":"u"}`, "type", "u"],
    ];
    for (const [frame, field, requestId] of cases) {
      const result = rejected(parse(frame));
      assert.equal(result.code, "bad_request", frame);
      assert.equal(
        result.message,
        `field "${field}" contains an unpaired UTF-16 surrogate`,
        frame,
      );
      assert.equal(result.request_id, requestId, frame);
    }
  }
  // Paired surrogates, escaped or not, are ordinary text.
  for (const text of ["\\ud83d\\ude00", "😀", "\\u00e9"]) {
    const frame = `{${chat.replace('"hi"', `"${text}"`)},"request_id":"u"}`;
    assert.equal(parse(frame).ok, true, frame);
  }
});

Deno.test("parseCommand - a type that is not a string is named as such, not as missing", () => {
  const result = rejected(parse({ type: 7, request_id: "t" }));
  assert.equal(result.message, 'field "type" is invalid: expected string');
  assert.equal(result.request_id, "t");
});

Deno.test("parseCommand - deep nesting and huge key counts are bad_request or parsed, quickly, never a throw", () => {
  const big = { maxFrameBytes: 64 * 1024 * 1024, maxMessageChars: 50 };
  const n = 100_000;
  const chat =
    '{"type":"chat","request_id":"d","agent_id":"a","session_id":"s"';
  const keys = Array.from({ length: 200_000 }, (_, i) => `"k${i}":0`);
  // [frame, code or "ok", request id, message pattern]
  const cases: [string, string, string | null, RegExp][] = [
    ["[".repeat(n) + "]".repeat(n), "bad_request", null, /JSON object/],
    ["[".repeat(n), "bad_request", null, /not valid JSON/],
    ['{"a":'.repeat(n) + "1" + "}".repeat(n), "bad_request", null, /"type"/],
    [
      `${chat},"message":${"[".repeat(n)}${"]".repeat(n)}}`,
      "bad_request",
      "d",
      /field "message" is invalid: expected string/,
    ],
    [
      `${chat},"message":${'{"a":'.repeat(n)}1${"}".repeat(n)}}`,
      "bad_request",
      "d",
      /"message"/,
    ],
    [`{${keys.join(",")}}`, "bad_request", null, /"type" is missing/],
    [
      `{${keys.join(",")},"type":"session","action":"list","request_id":"k"}`,
      "ok",
      null,
      /./,
    ],
  ];
  for (const [frame, code, requestId, pattern] of cases) {
    const started = performance.now();
    const result = parseCommand(frame, big);
    const took = performance.now() - started;
    const what = `${frame.slice(0, 60)}... (${frame.length} chars)`;
    assert.ok(took < 2000, `${what} took ${took.toFixed(0)} ms`);
    if (code === "ok") {
      assert.equal(result.ok, true, what);
      continue;
    }
    const refused = rejected(result);
    assert.equal(refused.code, code, what);
    assert.equal(refused.request_id, requestId, what);
    assert.match(refused.message, pattern, what);
  }
  // Within the default 64 KiB limit, 100k levels are simply too large.
  const deep = "[".repeat(n) + "]".repeat(n);
  const limited = rejected(
    parseCommand(deep, { maxFrameBytes: 65536, maxMessageChars: 50 }),
  );
  assert.equal(limited.code, "too_large");
  assert.match(limited.message, /200000 bytes; the limit is 65536 bytes/);
});

Deno.test("parseCommand - ping is a command with a request_id", () => {
  assert.deepEqual(parse({ type: "ping", request_id: "p1" }), {
    ok: true,
    command: { type: "ping", request_id: "p1" },
  });
  const missing = rejected(parse({ type: "ping" }));
  assert.equal(missing.code, "bad_request");
  assert.match(missing.message, /field "request_id" is missing/);
});

Deno.test("parseFrontendInput - takes only a ping; the rest is named and points to the backend socket", () => {
  const input = (data: string | Uint8Array) =>
    parseFrontendInput(data, { maxFrameBytes: 64 });
  assert.deepEqual(input('{"type":"ping"}'), {
    ok: true,
    frame: { type: "ping" },
  });
  // Fields not listed are ignored, as for commands.
  assert.deepEqual(input('{"type":"ping","n":1}'), {
    ok: true,
    frame: { type: "ping" },
  });
  const cases: [string | Uint8Array, string, RegExp][] = [
    ["not json", "bad_request", /not valid JSON/],
    ["[1]", "bad_request", /must be a JSON object/],
    ["null", "bad_request", /must be a JSON object/],
    ["{}", "bad_request", /field "type" is missing/],
    ['{"type":7}', "bad_request", /field "type" is invalid/],
    ['{"type":"chat"}', "bad_request", /unknown type "chat"/],
    [new Uint8Array([1, 2]), "bad_request", /binary frames/],
    [
      `{"type":"ping","x":"${"é".repeat(40)}"}`,
      "too_large",
      /is 102 bytes; the limit is 64/,
    ],
  ];
  for (const [data, code, says] of cases) {
    const result = input(data);
    assert.equal(result.ok, false, String(data));
    const rejection = result as Extract<typeof result, { ok: false }>;
    assert.equal(rejection.code, code, String(data));
    assert.equal(rejection.request_id, null);
    assert.match(rejection.message, says, String(data));
    if (code === "bad_request") {
      assert.match(rejection.message, /takes only \{"type":"ping"\}/);
      assert.match(rejection.message, /\/ws\/backend-api/);
    }
  }
});
