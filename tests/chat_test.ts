/**
 * End-to-end tests of chat: streaming, model context, usage, busy, cancel,
 * idempotent request ids and client isolation, over real sockets against a
 * real server and FakeOpenAI.
 */
import assert from "node:assert/strict";
import { loadAgentConfigs } from "../lib/agent_config.ts";
import type { FrontendEvent } from "../lib/protocol.ts";
import { AGENTS_DIR, Client, withTandem } from "./harness.ts";

type Ev<T extends FrontendEvent["type"]> = Extract<FrontendEvent, { type: T }>;
type Delta = Ev<"agent_response_delta">;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function chatFrame(sessionId: string, message: string, agentId = "assistant") {
  return { type: "chat", agent_id: agentId, session_id: sessionId, message };
}

function errorCode(result: Record<string, unknown>): string {
  assert.equal(result.ok, false, JSON.stringify(result));
  return (result.error as { code: string }).code;
}

function deltasOf(client: Client, messageId: string): Delta[] {
  return client.events().filter((e): e is Delta =>
    e.type === "agent_response_delta" && e.message_id === messageId
  );
}

/** Sends a chat, expects ok, and waits for its reply and context_update. */
async function chat(client: Client, sessionId: string, message: string) {
  const result = await client.command(chatFrame(sessionId, message));
  assert.equal(result.ok, true, JSON.stringify(result));
  const reply = await client.event<Ev<"agent_response">>(
    "agent_response",
    sessionId,
    10_000,
  );
  const context = await client.frontend.next<Ev<"context_update">>(
    (f) =>
      f.type === "context_update" && f.session_id === sessionId &&
      (f.seq as number) > reply.seq,
  );
  return { result, reply, context };
}

/** The model request's messages as plain {role, content}. */
// deno-lint-ignore no-explicit-any
const plain = (messages: any[]) =>
  messages.map((m) => ({ role: m.role, content: m.content }));

Deno.test("Chat - streams deltas, then agent_response with usage, then context_update", async () => {
  const config = (await loadAgentConfigs(AGENTS_DIR)).get("assistant")!;
  await withTandem({}, async (tandem, connect) => {
    const fake = tandem.fake!;
    const usage = {
      prompt_tokens: 321,
      completion_tokens: 12,
      total_tokens: 333,
    };
    fake.enqueue({ kind: "reply", usage });
    const client = await connect();
    const sessionId = await client.createSession();
    const message = "Tell me something about streams, please.";
    const { result, reply, context } = await chat(client, sessionId, message);
    assert.deepEqual(result, {
      type: "result",
      request_id: result.request_id,
      ok: true,
    });

    const { response } = reply;
    assert.equal(reply.agent_id, "assistant");
    assert.equal(response.content, `Echo: ${message}`);
    const deltas = deltasOf(client, response.message_id);
    assert.ok(deltas.length > 3, `several deltas, got ${deltas.length}`);
    const seqs = deltas.map((d) => d.seq);
    for (let i = 1; i < seqs.length; i++) {
      assert.ok(seqs[i] > seqs[i - 1], `deltas out of seq order: ${seqs}`);
    }
    assert.ok(seqs.at(-1)! < reply.seq, "deltas come before the reply");
    assert.equal(deltas.map((d) => d.delta).join(""), response.content);
    assert.equal(response.finish_reason, "stop");
    assert.deepEqual(response.usage, usage);

    assert.equal(fake.requests.length, 1);
    const body = fake.requests[0].body;
    assert.ok(typeof response.model === "string" && response.model.length > 0);
    assert.equal(response.model, body.model);
    assert.equal(body.stream, true);
    assert.equal(body.stream_options?.include_usage, true);
    assert.deepEqual(plain(body.messages), [
      { role: "system", content: config.systemPrompt },
      ...config.seedMessages,
      { role: "user", content: message },
    ]);

    assert.equal(context.context.used_tokens, usage.total_tokens);
    assert.equal(context.context.max_tokens, config.contextWindow);
    // Nothing after the context_update.
    await sleep(100);
    assert.equal(client.events().at(-1)!.seq, context.seq);
  });
});

Deno.test("Chat - a second message sends the whole conversation to the model", async () => {
  const config = (await loadAgentConfigs(AGENTS_DIR)).get("assistant")!;
  await withTandem({}, async (tandem, connect) => {
    const client = await connect();
    const sessionId = await client.createSession();
    const one = await chat(client, sessionId, "first question");
    const two = await chat(client, sessionId, "second question");
    assert.equal(two.reply.response.content, "Echo: second question");
    assert.notEqual(
      two.reply.response.message_id,
      one.reply.response.message_id,
    );
    const requests = tandem.fake!.requests;
    assert.equal(requests.length, 2);
    assert.deepEqual(plain(requests[1].body.messages), [
      { role: "system", content: config.systemPrompt },
      ...config.seedMessages,
      { role: "user", content: "first question" },
      { role: "assistant", content: "Echo: first question" },
      { role: "user", content: "second question" },
    ]);
  });
});

Deno.test("Chat - provider without usage gives usage null and an estimated context", async () => {
  await withTandem({}, async (tandem, connect) => {
    tandem.fake!.enqueue({ kind: "reply", usage: null });
    const client = await connect();
    const sessionId = await client.createSession();
    const { reply, context } = await chat(client, sessionId, "no usage here");
    assert.equal(reply.response.content, "Echo: no usage here");
    assert.equal(reply.response.usage, null);
    assert.equal(reply.response.finish_reason, "stop");
    assert.ok(context.context.used_tokens > 0, "estimated used_tokens");
    assert.equal(context.session_id, sessionId);
  });
});

Deno.test("Chat - a second chat while streaming is refused busy; the first completes", async () => {
  await withTandem({}, async (tandem, connect) => {
    const chunks = Array.from({ length: 10 }, (_, i) => `part${i} `);
    tandem.fake!.enqueue({ kind: "reply", chunks, chunkDelayMs: 40 });
    const client = await connect();
    const sessionId = await client.createSession();
    const first = await client.command(chatFrame(sessionId, "slow one"));
    assert.equal(first.ok, true);
    await client.event("agent_response_delta", sessionId);

    const list = await client.command({ type: "session", action: "list" });
    assert.deepEqual(list.sessions, [
      { session_id: sessionId, agent_id: "assistant", busy: true },
    ]);
    const second = await client.command(chatFrame(sessionId, "too soon"));
    assert.equal(errorCode(second), "busy");
    assert.ok(client.backend.isOpen);

    const reply = await client.event<Ev<"agent_response">>(
      "agent_response",
      sessionId,
      10_000,
    );
    assert.equal(reply.response.content, chunks.join(""));
    assert.equal(reply.response.finish_reason, "stop");
    assert.equal(
      tandem.fake!.requests.length,
      1,
      "busy chat never reached the model",
    );
    // The refused message is not in the conversation.
    const next = await chat(client, sessionId, "now it is my turn");
    assert.equal(next.reply.response.content, "Echo: now it is my turn");
    assert.deepEqual(
      plain(tandem.fake!.requests[1].body.messages).slice(-3).map((m) =>
        m.content
      ),
      ["slow one", chunks.join(""), "now it is my turn"],
    );
  });
});

Deno.test("Chat - cancel mid-stream ends the reply with the text so far", async () => {
  await withTandem({}, async (tandem, connect) => {
    const fake = tandem.fake!;
    const chunks = Array.from({ length: 20 }, (_, i) => `w${i} `);
    fake.enqueue({ kind: "reply", chunks, chunkDelayMs: 50 });
    const client = await connect();
    const sessionId = await client.createSession();
    const started = await client.command(chatFrame(sessionId, "long answer"));
    assert.equal(started.ok, true);
    const first = await client.event<Delta>("agent_response_delta", sessionId);

    const cancel = await client.command({
      type: "cancel",
      session_id: sessionId,
    });
    assert.equal(cancel.ok, true, JSON.stringify(cancel));
    assert.equal(cancel.cancelled, true);
    const reply = await client.event<Ev<"agent_response">>(
      "agent_response",
      sessionId,
    );
    assert.equal(reply.response.message_id, first.message_id);
    assert.equal(reply.response.finish_reason, "cancelled");
    const received = deltasOf(client, first.message_id);
    const sent = received.filter((d) => d.seq < reply.seq).map((d) => d.delta)
      .join("");
    assert.ok(sent.length > 0);
    assert.equal(reply.response.content, sent);
    assert.ok(
      reply.response.content.length < chunks.join("").length,
      "partial",
    );
    await client.frontend.next(
      (f) => f.type === "context_update" && (f.seq as number) > reply.seq,
    );

    await sleep(300);
    const late = deltasOf(client, first.message_id).filter((d) =>
      d.seq > reply.seq
    );
    assert.deepEqual(late, [], "no deltas after the cancelled reply");
    const replies = client.events().filter((e) => e.type === "agent_response");
    assert.equal(replies.length, 1);

    const again = await chat(client, sessionId, "short one now");
    assert.equal(again.reply.response.content, "Echo: short one now");
    assert.equal(again.reply.response.finish_reason, "stop");
    // The partial reply stayed in the conversation.
    assert.deepEqual(
      plain(fake.requests[1].body.messages).slice(-3),
      [
        { role: "user", content: "long answer" },
        { role: "assistant", content: sent },
        { role: "user", content: "short one now" },
      ],
    );

    const idle = await client.command({
      type: "cancel",
      session_id: sessionId,
    });
    assert.equal(idle.ok, true);
    assert.equal(idle.cancelled, false);
    const count = client.events().length;
    await sleep(100);
    assert.equal(client.events().length, count, "idle cancel sends no events");
    await chat(client, sessionId, "still working");
  });
});

Deno.test("Chat - the same request_id twice runs the command once", async () => {
  await withTandem({}, async (tandem, connect) => {
    const fake = tandem.fake!;
    fake.setDefault(() => ({ kind: "reply", chunkDelayMs: 20 }));
    const client = await connect();
    const sessionId = await client.createSession();

    const frame = {
      ...chatFrame(sessionId, "only once"),
      request_id: "dup-chat",
    };
    client.backend.send(frame);
    client.backend.send(frame);
    const isResult = (f: Record<string, unknown>) =>
      f.type === "result" && f.request_id === "dup-chat";
    const a = await client.backend.next(isResult);
    const b = await client.backend.next(isResult);
    assert.deepEqual(a, b);
    assert.equal(a.ok, true, JSON.stringify(a));
    await client.event("agent_response", sessionId);
    await sleep(200);
    assert.equal(fake.requests.length, 1);
    const replies = client.events().filter((e) => e.type === "agent_response");
    assert.equal(replies.length, 1);

    const before = client.events().length;
    const create = {
      type: "session",
      action: "create",
      agent_id: "code-reviewer",
      request_id: "dup-create",
    };
    client.backend.send(create);
    client.backend.send(create);
    const isCreate = (f: Record<string, unknown>) =>
      f.type === "result" && f.request_id === "dup-create";
    const c = await client.backend.next(isCreate);
    const d = await client.backend.next(isCreate);
    assert.deepEqual(c, d);
    assert.equal(c.ok, true);
    const list = await client.command({ type: "session", action: "list" });
    const reviewers =
      (list.sessions as { agent_id: string; session_id: string }[])
        .filter((s) => s.agent_id === "code-reviewer");
    assert.deepEqual(reviewers.map((s) => s.session_id), [c.session_id]);
    await sleep(100);
    const created = client.events().slice(before);
    assert.deepEqual(created.map((e) => e.type), [
      "system_message",
      "seed_messages",
      "context_update",
    ]);
  });
});

Deno.test("Chat - two clients chatting at once never see each other's events", async () => {
  await withTandem({}, async (tandem, connect) => {
    const fake = tandem.fake!;
    fake.setDefault(() => ({ kind: "reply", chunkDelayMs: 15 }));
    const alice = await connect();
    const bob = await connect();
    const sa = await alice.createSession();
    const sb = await bob.createSession();
    const ma = "alpha message from client A, long enough for many chunks";
    const mb = "bravo message from client B, also long enough to stream";
    const [ra, rb] = await Promise.all([
      alice.command(chatFrame(sa, ma)),
      bob.command(chatFrame(sb, mb)),
    ]);
    assert.equal(ra.ok, true);
    assert.equal(rb.ok, true);
    await fake.waitForRequests(2);
    const finished = (c: Client) =>
      c.events().some((e) => e.type === "agent_response");
    assert.ok(!finished(alice) && !finished(bob), "the two streams overlapped");

    const [replyA, replyB] = await Promise.all([
      alice.event<Ev<"agent_response">>("agent_response", sa, 10_000),
      bob.event<Ev<"agent_response">>("agent_response", sb, 10_000),
    ]);
    assert.equal(replyA.response.content, `Echo: ${ma}`);
    assert.equal(replyB.response.content, `Echo: ${mb}`);
    await Promise.all([
      alice.frontend.next((f) =>
        f.type === "context_update" && (f.seq as number) > replyA.seq
      ),
      bob.frontend.next((f) =>
        f.type === "context_update" && (f.seq as number) > replyB.seq
      ),
    ]);

    for (
      const [client, own, other] of [[alice, sa, mb], [bob, sb, ma]] as const
    ) {
      const events = client.events();
      assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
      for (const e of events) {
        assert.equal(
          (e as Ev<"system_message">).session_id,
          own,
          JSON.stringify(e),
        );
      }
      const text = JSON.stringify(client.frontend.all());
      assert.ok(!text.includes(other), "no trace of the other client's chat");
    }
    assert.equal(
      deltasOf(alice, replyA.response.message_id).map((d) => d.delta).join(""),
      replyA.response.content,
    );

    // Bob cannot touch Alice's session; the answer looks like a made-up id's.
    const madeUp = "assistant_987654321";
    const aliceCount = alice.events().length;
    const attempts: Record<string, unknown>[] = [
      chatFrame("ID", "hijack"),
      { type: "refresh", agent_id: "assistant", session_id: "ID" },
      { type: "cancel", session_id: "ID" },
      { type: "session", action: "close", session_id: "ID" },
    ];
    for (const attempt of attempts) {
      const withId = (id: string) =>
        JSON.parse(
          JSON.stringify(attempt).replaceAll('"ID"', JSON.stringify(id)),
        );
      const real = await bob.command(withId(sa));
      const fakeId = await bob.command(withId(madeUp));
      assert.equal(
        errorCode(real),
        "session_not_found",
        JSON.stringify(attempt),
      );
      assert.equal(errorCode(fakeId), "session_not_found");
      const message = (r: Record<string, unknown>, id: string) =>
        (r.error as { message: string }).message.replaceAll(id, "<id>");
      assert.equal(message(real, sa), message(fakeId, madeUp));
    }
    assert.ok(bob.backend.isOpen && bob.frontend.isOpen);
    const bobList = await bob.command({ type: "session", action: "list" });
    assert.deepEqual(bobList.sessions, [
      { session_id: sb, agent_id: "assistant", busy: false },
    ]);
    await sleep(150);
    assert.equal(
      alice.events().length,
      aliceCount,
      "Alice saw nothing of Bob's attempts",
    );
    assert.equal(fake.requests.length, 2);
    const aliceList = await alice.command({ type: "session", action: "list" });
    assert.deepEqual(aliceList.sessions, [
      { session_id: sa, agent_id: "assistant", busy: false },
    ]);
    const next = await chat(alice, sa, "still mine");
    assert.equal(next.reply.response.content, "Echo: still mine");
  });
});
