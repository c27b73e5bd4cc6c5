import assert from "node:assert/strict";
import { encode } from "gpt-tokenizer";
import { parseAgentFile } from "./agent_config.ts";
import {
  DEFAULT_REPLY_RESERVE,
  fitContext,
  fixedTokens,
  MESSAGE_OVERHEAD_TOKENS,
  messageTokens,
  replyReserve,
} from "./context_window.ts";

function agent(front: string) {
  return parseAgentFile(
    `---\nname: Tea Expert\ndescription: Knows tea.\n${front}---\nYou know tea.\n`,
    "agents/tea.md",
  );
}

const turns = (...spec: [("user" | "assistant"), number][]) =>
  spec.map(([role, tokens]) => ({ role, tokens }));

Deno.test("fixedTokens - the fixed part is the system prompt and every seed, with per-message overhead", () => {
  const config = agent(
    "seed:\n  - user: Green or black?\n    assistant: Green, steeped briefly.\n",
  );
  assert.equal(
    messageTokens("Green or black?"),
    encode("Green or black?").length + MESSAGE_OVERHEAD_TOKENS,
  );
  assert.equal(
    fixedTokens(config),
    messageTokens("You know tea.") + messageTokens("Green or black?") +
      messageTokens("Green, steeped briefly."),
  );
});

Deno.test("replyReserve - the reply reserve is max_output_tokens, else a quarter of the window up to 4096", () => {
  assert.equal(replyReserve(agent("context_window: 1000\n")), 250);
  assert.equal(
    replyReserve(agent("context_window: 128000\n")),
    DEFAULT_REPLY_RESERVE,
  );
  assert.equal(
    replyReserve(agent("context_window: 1000\nmax_output_tokens: 100\n")),
    100,
  );
});

Deno.test("fitContext - nothing leaves while everything fits", () => {
  const config = agent("context_window: 1000\nmax_output_tokens: 100\n");
  const fixed = fixedTokens(config);
  const room = 1000 - fixed - 100;
  assert.deepEqual(
    fitContext(config, turns(["user", 200], ["assistant", 200]), room - 400),
    { ok: true, drop: 0 },
    "exactly full still fits",
  );
  assert.deepEqual(fitContext(config, [], room), { ok: true, drop: 0 });
});

Deno.test("fitContext - the oldest whole exchanges leave until the request fits", () => {
  const config = agent("context_window: 1000\nmax_output_tokens: 100\n");
  const room = 1000 - fixedTokens(config) - 100;
  const history = turns(
    ["user", 100],
    ["assistant", 100],
    ["user", 50], // a failed chat: no reply after it
    ["user", 100],
    ["assistant", 100],
  );
  // 450 in the conversation: one token too many drops the first exchange.
  assert.deepEqual(fitContext(config, history, room - 449), {
    ok: true,
    drop: 2,
  });
  assert.deepEqual(fitContext(config, history, room - 450), {
    ok: true,
    drop: 0,
  });
  // The failed turn leaves alone; the next exchange stays whole.
  assert.deepEqual(fitContext(config, history, room - 249), {
    ok: true,
    drop: 3,
  });
  // Never half an exchange: the reply goes with its question.
  assert.deepEqual(fitContext(config, history, room - 199), {
    ok: true,
    drop: 5,
  });
  assert.deepEqual(fitContext(config, history, room), { ok: true, drop: 5 });
});

Deno.test("fitContext - a message that cannot fit even alone is refused with the counts and the window", () => {
  const config = agent("context_window: 1000\nmax_output_tokens: 100\n");
  const fixed = fixedTokens(config);
  const room = 1000 - fixed - 100;
  const fit = fitContext(config, turns(["user", 10]), room + 1);
  assert.equal(fit.ok, false);
  const message = (fit as { message: string }).message;
  for (
    const part of [
      `about ${room + 1} tokens`,
      `(${fixed} tokens)`,
      "100 tokens kept for the reply",
      "1001 tokens",
      "context window of Tea Expert (1000 tokens)",
      "send a shorter message",
    ]
  ) assert.ok(message.includes(part), `${part} in: ${message}`);
});
