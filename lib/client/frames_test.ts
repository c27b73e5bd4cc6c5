import assert from "node:assert/strict";
import { parseFrontendFrame, parseResultFrame } from "./frames.ts";

Deno.test("parseFrontendFrame - reads connected frames and events", () => {
  const connected = parseFrontendFrame(
    '{"type":"connected","epoch":"e1","last_seq":4,"recovered":false}',
  );
  assert.deepEqual(connected, {
    ok: true,
    frame: { type: "connected", epoch: "e1", last_seq: 4, recovered: false },
  });
  const event = parseFrontendFrame(JSON.stringify({
    type: "agent_response_delta",
    seq: 5,
    agent_id: "assistant",
    session_id: "assistant_123",
    message_id: "m1",
    delta: "Hel",
  }));
  assert.equal(event.ok && event.frame?.type, "agent_response_delta");
});

Deno.test("parseFrontendFrame - ignores event types it does not know", () => {
  assert.deepEqual(
    parseFrontendFrame('{"type":"typing_indicator","seq":3}'),
    { ok: true, frame: null },
  );
});

Deno.test("parseFrontendFrame - a pong is read as nothing to handle", () => {
  assert.deepEqual(parseFrontendFrame('{"type":"pong"}'), {
    ok: true,
    frame: null,
  });
});

Deno.test("parseFrontendFrame - names what is wrong with a broken frame", () => {
  const cases: [unknown, RegExp][] = [
    [new Uint8Array([1]), /binary frame on the frontend-api socket/],
    ["{nope", /not valid JSON/],
    ["[1,2]", /no "type"/],
    [
      '{"type":"connected","epoch":"e","last_seq":"4","recovered":true}',
      /connected: field "last_seq" is invalid: expected number/,
    ],
    [
      '{"type":"error","seq":1,"agent_id":null,"session_id":null,"error":"x","code":"oops"}',
      /error: field "code" is invalid: must be "bad_request"/,
    ],
  ];
  for (const [data, message] of cases) {
    const reading = parseFrontendFrame(data);
    assert.equal(reading.ok, false, String(data));
    assert.match((reading as { message: string }).message, message);
  }
});

Deno.test("parseResultFrame - success keeps its data, failure needs its error", () => {
  const good = parseResultFrame(
    '{"type":"result","request_id":"r1","ok":true,"session_id":"a_123"}',
  );
  assert.deepEqual(good, {
    ok: true,
    frame: { type: "result", request_id: "r1", ok: true, session_id: "a_123" },
  });
  const refused = parseResultFrame(
    '{"type":"result","request_id":null,"ok":false,"error":{"code":"busy","message":"still answering"}}',
  );
  assert.equal(
    refused.ok && !refused.frame.ok && refused.frame.error.code,
    "busy",
  );

  const noError = parseResultFrame(
    '{"type":"result","request_id":"r2","ok":false}',
  );
  assert.equal(noError.ok, false);
  assert.match((noError as { message: string }).message, /"error" is missing/);
  assert.equal(parseResultFrame("not json").ok, false);
});
