import assert from "node:assert/strict";
import { EventSchema } from "./protocol.ts";

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
