/**
 * End-to-end tests of context trimming: an agent with a small context
 * window, a real server and FakeOpenAI. When the conversation outgrows the
 * window, the oldest exchanges leave the model request and the session (the
 * system prompt, the seeds and the new message always stay), the owner is
 * told, and a message too big for the window is refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseAgentFile } from "../lib/agent_config.ts";
import {
  fixedTokens,
  messageTokens,
  replyReserve,
} from "../lib/context_window.ts";
import type { FrontendEvent } from "../lib/protocol.ts";
import { type Client, withTandem } from "./harness.ts";

type Ev<T extends FrontendEvent["type"]> = Extract<FrontendEvent, { type: T }>;
type Message = { role: string; content: string };

const BODY = "You are Tiny. Answer in one short sentence.";
const SEEDS = [
  { role: "user", content: "Is tea good?" },
  { role: "assistant", content: "Yes, in moderation." },
];
const RESERVE = 50;
/** The i-th message of the conversation: about 45 tokens each. */
const said = (i: number) => `message ${i}: ${"tea ".repeat(40).trim()}`;
/** FakeOpenAI's default reply. */
const echo = (i: number) => `Echo: ${said(i)}`;

/** The agent file of "tiny", with a context window of `window` tokens. */
function agentText(window: number): string {
  return `---
name: Tiny
description: An agent with a small context window.
context_window: ${window}
max_output_tokens: ${RESERVE}
seed:
  - user: ${SEEDS[0].content}
    assistant: ${SEEDS[1].content}
---

${BODY}
`;
}

/** Writes the agent file to a fresh folder and returns folder and config. */
async function tinyAgent(window: number) {
  const text = agentText(window);
  const dir = await Deno.makeTempDir({ prefix: "tandem-agents-" });
  await Deno.writeTextFile(join(dir, "tiny.md"), text);
  return { dir, config: parseAgentFile(text, join(dir, "tiny.md")) };
}

// deno-lint-ignore no-explicit-any
const plain = (messages: any[]): Message[] =>
  messages.map((m) => ({ role: m.role, content: m.content }));

const tokensOf = (messages: Message[]) =>
  messages.reduce((n, m) => n + messageTokens(m.content), 0);

async function chat(client: Client, sessionId: string, message: string) {
  const result = await client.command({
    type: "chat",
    agent_id: "tiny",
    session_id: sessionId,
    message,
  });
  assert.equal(result.ok, true, JSON.stringify(result));
  const reply = await client.event<Ev<"agent_response">>(
    "agent_response",
    sessionId,
  );
  const context = await client.frontend.next<Ev<"context_update">>(
    (f) =>
      f.type === "context_update" && f.session_id === sessionId &&
      (f.seq as number) > reply.seq,
  );
  return { reply, context };
}

/** Exactly three exchanges fit beside system, seeds and the reserve. */
function windowFor3Exchanges(): number {
  const probe = parseAgentFile(agentText(100_000), "tiny.md");
  let conversation = 0;
  for (const i of [1, 2, 3]) {
    conversation += messageTokens(said(i)) + messageTokens(echo(i));
  }
  return fixedTokens(probe) + RESERVE + conversation;
}

Deno.test("Context trimming - the oldest exchanges leave the request and the session, system and seeds stay, and the owner is told", async () => {
  const window = windowFor3Exchanges();
  const { dir, config } = await tinyAgent(window);
  assert.equal(replyReserve(config), RESERVE);
  try {
    await withTandem({ env: { AGENTS_DIR: dir } }, async (tandem, connect) => {
      const fake = tandem.fake!;
      // No provider usage: context_update shows Tandem's own estimate.
      fake.setDefault(() => ({ kind: "reply", usage: null }));
      const client = await connect();
      const sessionId = await client.createSession("tiny");
      const fixed = [{ role: "system", content: BODY }, ...SEEDS];
      /** Everything said, in order, as the model would see it untrimmed. */
      const all: Message[] = [];

      for (let i = 1; i <= 6; i++) {
        const before = client.events().length;
        all.push({ role: "user", content: said(i) });
        const { reply, context } = await chat(client, sessionId, said(i));
        assert.equal(reply.response.content, echo(i));
        const sent = plain(fake.requests[i - 1].body.messages);

        // System and seeds first, always; the new message last, always.
        assert.deepEqual(sent.slice(0, 3), fixed, `request ${i}`);
        assert.deepEqual(sent.at(-1), { role: "user", content: said(i) });
        // The rest is the newest part of the conversation, whole exchanges.
        const kept = sent.slice(3);
        const dropped = all.length - kept.length;
        assert.deepEqual(kept, all.slice(dropped), `request ${i}`);
        assert.equal(dropped % 2, 0, "whole exchanges leave");
        assert.ok(
          fixedTokens(config) + tokensOf(kept) + RESERVE <= window,
          `request ${i} fits the window`,
        );
        if (dropped > 0) {
          const back = all.slice(dropped - 2);
          assert.ok(
            fixedTokens(config) + tokensOf(back) + RESERVE > window,
            `request ${i}: no more left than needed`,
          );
        }
        // Chats 1-3 fit; from chat 4 on, one exchange leaves per chat.
        assert.equal(dropped, i <= 3 ? 0 : 2 * (i - 3), `request ${i}`);

        const told = client.events().slice(before).filter((
          e,
        ): e is Ev<"notification"> => e.type === "notification");
        if (i <= 3) {
          assert.deepEqual(told, [], `chat ${i}: nothing left, nobody told`);
        } else {
          assert.equal(told.length, 1, `chat ${i}`);
          assert.equal(told[0].notification_type, "info");
          assert.equal(
            told[0].message,
            `2 earlier messages of your chat with Tiny (session ${sessionId}) left the model's context to fit its context window of ${window} tokens; the system prompt and examples are kept.`,
          );
          assert.ok(told[0].seq < reply.seq, "told before the reply");
        }

        all.push({ role: "assistant", content: echo(i) });
        // The session holds what the model saw and its reply: refresh shows
        // that, and context usage counts only that.
        const inSession = [...kept, { role: "assistant", content: echo(i) }];
        assert.equal(
          context.context.used_tokens,
          fixedTokens(config) + tokensOf(inSession),
        );
        assert.equal(context.context.max_tokens, window);
        const refreshed = await client.command({
          type: "refresh",
          agent_id: "tiny",
          session_id: sessionId,
        });
        assert.equal(refreshed.ok, true);
        const history = await client.event<Ev<"history">>("history", sessionId);
        assert.deepEqual(plain(history.messages), inSession);
        assert.equal(history.pending, null);
      }
      // Twelve messages were said; the session holds only the last three
      // exchanges: the window bounds its memory.
      assert.equal(all.length, 12);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Context trimming - a message too big for the window is refused too_large and changes nothing", async () => {
  const window = windowFor3Exchanges();
  const { dir, config } = await tinyAgent(window);
  try {
    await withTandem({ env: { AGENTS_DIR: dir } }, async (tandem, connect) => {
      const client = await connect();
      const sessionId = await client.createSession("tiny");
      await chat(client, sessionId, said(1));
      const seqBefore = Math.max(...client.events().map((e) => e.seq));

      const huge = "tea ".repeat(window).trim();
      const result = await client.command({
        type: "chat",
        agent_id: "tiny",
        session_id: sessionId,
        message: huge,
      });
      assert.equal(result.ok, false, JSON.stringify(result));
      const error = result.error as { code: string; message: string };
      assert.equal(error.code, "too_large");
      const size = messageTokens(huge);
      const fixed = fixedTokens(config);
      assert.equal(
        error.message,
        `this message is about ${size} tokens; with the system prompt and examples (${fixed} tokens) and ${RESERVE} tokens kept for the reply that is ${
          size + fixed + RESERVE
        } tokens, more than the context window of Tiny (${window} tokens); send a shorter message`,
      );
      assert.equal(tandem.fake!.requests.length, 1, "the model was not asked");

      // Nothing was accepted: no events, and the conversation is unchanged.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(Math.max(...client.events().map((e) => e.seq)), seqBefore);
      await client.command({
        type: "refresh",
        agent_id: "tiny",
        session_id: sessionId,
      });
      const history = await client.event<Ev<"history">>("history", sessionId);
      assert.deepEqual(plain(history.messages), [
        { role: "user", content: said(1) },
        { role: "assistant", content: echo(1) },
      ]);
      // The session still works.
      await chat(client, sessionId, said(2));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
