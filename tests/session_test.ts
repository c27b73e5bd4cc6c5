/**
 * End-to-end tests of sessions: create, list, close, limits and refresh,
 * over real sockets against a real server and FakeOpenAI.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type AgentConfig,
  loadAgentConfigs,
  parseAgentFile,
} from "../lib/agent_config.ts";
import type { FrontendEvent } from "../lib/protocol.ts";
import { AGENTS_DIR, Client, withTandem } from "./harness.ts";

type Ev<T extends FrontendEvent["type"]> = Extract<FrontendEvent, { type: T }>;

/** Takes the events numbered after..after+count, in seq order. */
async function eventsAfter(
  client: Client,
  after: number,
  count: number,
): Promise<FrontendEvent[]> {
  const out: FrontendEvent[] = [];
  for (let seq = after + 1; seq <= after + count; seq++) {
    out.push(
      await client.frontend.next<FrontendEvent>(
        (f) => f.seq === seq,
        5000,
        `event seq ${seq}`,
      ),
    );
  }
  return out;
}

function lastSeq(client: Client): number {
  return Math.max(0, ...client.events().map((e) => e.seq));
}

function assertContext(event: FrontendEvent, config: AgentConfig): void {
  assert.equal(event.type, "context_update");
  const { context } = event as Ev<"context_update">;
  assert.ok(context.used_tokens > 0, `used_tokens ${context.used_tokens}`);
  assert.equal(context.max_tokens, config.contextWindow);
  const exact = (context.used_tokens / context.max_tokens) * 100;
  assert.ok(
    Math.abs(context.percentage - exact) <= 0.051,
    `percentage ${context.percentage} vs ${exact}`,
  );
}

/** Proves the backend socket is open and answers commands. */
async function assertWorks(client: Client): Promise<void> {
  assert.ok(client.backend.isOpen && client.frontend.isOpen);
  const list = await client.command({ type: "session", action: "list" });
  assert.equal(list.ok, true);
}

Deno.test("Session - create sends system, seeds, then context_update in order", async () => {
  const fromFiles = {
    assistant: parseAgentFile(
      await Deno.readTextFile(join(AGENTS_DIR, "assistant.md")),
      join(AGENTS_DIR, "assistant.md"),
    ),
    "code-reviewer": parseAgentFile(
      await Deno.readTextFile(join(AGENTS_DIR, "code-reviewer.md")),
      join(AGENTS_DIR, "code-reviewer.md"),
    ),
  };
  const loaded = await loadAgentConfigs(AGENTS_DIR);
  const patterns = {
    assistant: /^assistant_[0-9]{3,}$/,
    "code-reviewer": /^code-reviewer_[0-9]{3,}$/,
  };
  await withTandem({}, async (_tandem, connect) => {
    const client = await connect();
    for (const agentId of ["assistant", "code-reviewer"] as const) {
      const config = fromFiles[agentId];
      assert.deepEqual(loaded.get(agentId), config);
      assert.ok(config.seedMessages.length >= 2, "agent file has seeds");
      const before = lastSeq(client);
      const result = await client.command({
        type: "session",
        action: "create",
        agent_id: agentId,
      });
      assert.equal(result.ok, true, JSON.stringify(result));
      const sessionId = result.session_id as string;
      assert.match(sessionId, patterns[agentId]);
      assert.equal(result.agent_id, agentId);

      const events = await eventsAfter(client, before, 3);
      assert.deepEqual(events.map((e) => e.type), [
        "system_message",
        "seed_messages",
        "context_update",
      ]);
      for (const e of events) {
        const scoped = e as Ev<"system_message">;
        assert.equal(scoped.session_id, sessionId);
        assert.equal(scoped.agent_id, agentId);
      }
      const system = events[0] as Ev<"system_message">;
      assert.equal(system.content, config.systemPrompt);
      const seeds = events[1] as Ev<"seed_messages">;
      assert.deepEqual(seeds.messages, config.seedMessages);
      assert.deepEqual(
        seeds.messages.map((m) => m.role),
        config.seedMessages.map((_, i) => i % 2 === 0 ? "user" : "assistant"),
      );
      assertContext(events[2], config);
    }
    // Nothing else was sent: 6 events, seqs 1..6.
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(client.events().map((e) => e.seq), [1, 2, 3, 4, 5, 6]);
  });
});

Deno.test("Session - list shows sessions, close removes them, closed ids are not found", async () => {
  await withTandem({}, async (_tandem, connect) => {
    const client = await connect();
    const a = await client.createSession("assistant");
    const b = await client.createSession("code-reviewer");
    const list = await client.command({ type: "session", action: "list" });
    assert.equal(list.ok, true);
    const sessions = (list.sessions as Record<string, unknown>[])
      .toSorted((x, y) => String(x.agent_id).localeCompare(String(y.agent_id)));
    assert.deepEqual(sessions, [
      { session_id: a, agent_id: "assistant", busy: false },
      { session_id: b, agent_id: "code-reviewer", busy: false },
    ]);

    const closed = await client.command({
      type: "session",
      action: "close",
      session_id: a,
    });
    assert.equal(closed.ok, true, JSON.stringify(closed));
    const after = await client.command({ type: "session", action: "list" });
    assert.deepEqual(after.sessions, [
      { session_id: b, agent_id: "code-reviewer", busy: false },
    ]);

    const again = await client.command({
      type: "session",
      action: "close",
      session_id: a,
    });
    assert.equal(again.ok, false);
    assert.equal(
      (again.error as { code: string }).code,
      "session_not_found",
    );
    await assertWorks(client);

    const seqBefore = lastSeq(client);
    const chat = await client.command({
      type: "chat",
      agent_id: "assistant",
      session_id: a,
      message: "hello?",
    });
    assert.equal(chat.ok, false);
    assert.equal((chat.error as { code: string }).code, "session_not_found");
    await assertWorks(client);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(lastSeq(client), seqBefore, "no events for a closed session");
  });
});

Deno.test("Session - 30 sessions on one client get unique, well-formed ids", async () => {
  await withTandem({}, async (_tandem, connect) => {
    const client = await connect();
    const ids = await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) =>
          client.createSession(i % 2 === 0 ? "assistant" : "code-reviewer"),
      ),
    );
    assert.equal(new Set(ids).size, 30, `duplicates in ${ids}`);
    for (const [i, id] of ids.entries()) {
      const slug = i % 2 === 0 ? "assistant" : "code-reviewer";
      assert.match(id, new RegExp(`^${slug}_[0-9]{3,}$`));
    }
    const list = await client.command({ type: "session", action: "list" });
    const listed = (list.sessions as { session_id: string }[])
      .map((s) => s.session_id);
    assert.deepEqual(listed.toSorted(), ids.toSorted());
    // Every session was shown: 3 events each, numbered 1..90 without gaps.
    const events = await eventsAfter(client, 0, 90);
    for (const id of ids) {
      const mine = events.filter((e) =>
        (e as Ev<"system_message">).session_id === id
      );
      assert.deepEqual(mine.map((e) => e.type), [
        "system_message",
        "seed_messages",
        "context_update",
      ]);
    }
  });
});

Deno.test("Session - per-client session limit refuses with rate_limited until one is closed", async () => {
  await withTandem(
    { env: { MAX_SESSIONS_PER_CLIENT: "2" } },
    async (_tandem, connect) => {
      const client = await connect();
      const first = await client.createSession();
      await client.createSession("code-reviewer");
      const seqBefore = lastSeq(client);
      const third = await client.command({
        type: "session",
        action: "create",
        agent_id: "assistant",
      });
      assert.equal(third.ok, false);
      const error = third.error as { code: string; message: string };
      assert.equal(error.code, "rate_limited");
      assert.match(error.message, /\b2\b/, "names the limit");
      assert.match(error.message, /limit/);
      await assertWorks(client);
      const list = await client.command({ type: "session", action: "list" });
      assert.equal((list.sessions as unknown[]).length, 2);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(
        lastSeq(client),
        seqBefore,
        "no events for a refused create",
      );

      // The limit is per client: another client still can create.
      const other = await connect();
      await other.createSession();

      const closed = await client.command({
        type: "session",
        action: "close",
        session_id: first,
      });
      assert.equal(closed.ok, true);
      const again = await client.createSession();
      assert.match(again, /^assistant_[0-9]{3,}$/);
    },
  );
});

Deno.test("Session - refresh after a chat sends system, seeds, history, context_update", async () => {
  await withTandem({}, async (tandem, connect) => {
    const config = (await loadAgentConfigs(AGENTS_DIR)).get("assistant")!;
    const client = await connect();
    const sessionId = await client.createSession();
    const chat = await client.command({
      type: "chat",
      agent_id: "assistant",
      session_id: sessionId,
      message: "What is two plus two?",
    });
    assert.equal(chat.ok, true);
    const reply = await client.event<Ev<"agent_response">>(
      "agent_response",
      sessionId,
    );
    await client.frontend.next(
      (f) => f.type === "context_update" && (f.seq as number) > reply.seq,
    );
    assert.equal(reply.response.content, "Echo: What is two plus two?");
    assert.equal(tandem.fake!.requests.length, 1);

    const before = lastSeq(client);
    const refresh = await client.command({
      type: "refresh",
      agent_id: "assistant",
      session_id: sessionId,
    });
    assert.equal(refresh.ok, true, JSON.stringify(refresh));
    const events = await eventsAfter(client, before, 4);
    assert.deepEqual(events.map((e) => e.type), [
      "system_message",
      "seed_messages",
      "history",
      "context_update",
    ]);
    for (const e of events) {
      assert.equal((e as Ev<"history">).session_id, sessionId);
      assert.equal((e as Ev<"history">).agent_id, "assistant");
    }
    assert.equal(
      (events[0] as Ev<"system_message">).content,
      config.systemPrompt,
    );
    assert.deepEqual(
      (events[1] as Ev<"seed_messages">).messages,
      config.seedMessages,
    );
    const history = events[2] as Ev<"history">;
    assert.equal(history.pending, null);
    assert.deepEqual(
      history.messages.map((m) => ({ role: m.role, content: m.content })),
      [
        { role: "user", content: "What is two plus two?" },
        { role: "assistant", content: "Echo: What is two plus two?" },
      ],
    );
    assert.equal(history.messages[1].message_id, reply.response.message_id);
    assert.notEqual(history.messages[0].message_id, reply.response.message_id);
    assertContext(events[3], config);
    // Refresh did not call the model again.
    assert.equal(tandem.fake!.requests.length, 1);
  });
});

Deno.test("Session - refresh while streaming carries the partial reply as pending", async () => {
  await withTandem({}, async (tandem, connect) => {
    const chunks = [
      "Alpha ",
      "beta ",
      "gamma ",
      "delta ",
      "epsilon ",
      "zeta ",
      "eta.",
    ];
    tandem.fake!.enqueue({ kind: "reply", chunks, chunkDelayMs: 40 });
    const client = await connect();
    const sessionId = await client.createSession();
    const chat = await client.command({
      type: "chat",
      agent_id: "assistant",
      session_id: sessionId,
      message: "stream please",
    });
    assert.equal(chat.ok, true);
    const first = await client.event<Ev<"agent_response_delta">>(
      "agent_response_delta",
      sessionId,
    );
    const refresh = await client.command({
      type: "refresh",
      agent_id: "assistant",
      session_id: sessionId,
    });
    assert.equal(refresh.ok, true);
    const history = await client.event<Ev<"history">>("history", sessionId);
    const reply = await client.event<Ev<"agent_response">>(
      "agent_response",
      sessionId,
      10_000,
    );
    const full = chunks.join("");
    assert.equal(reply.response.content, full);
    assert.equal(reply.response.finish_reason, "stop");

    assert.ok(history.pending !== null, "a reply is pending");
    const pending = history.pending!;
    assert.equal(pending.message_id, first.message_id);
    assert.equal(pending.message_id, reply.response.message_id);
    assert.ok(pending.content.length > 0, "pending has the text so far");
    assert.ok(pending.content.length < full.length, "pending is partial");
    assert.deepEqual(
      history.messages.map((m) => ({ role: m.role, content: m.content })),
      [{ role: "user", content: "stream please" }],
    );

    const deltas = client.events().filter((
      e,
    ): e is Ev<"agent_response_delta"> =>
      e.type === "agent_response_delta" && e.message_id === pending.message_id
    );
    const before = deltas.filter((d) => d.seq < history.seq).map((d) =>
      d.delta
    );
    const afterward = deltas.filter((d) => d.seq > history.seq).map((d) =>
      d.delta
    );
    assert.equal(before.join(""), pending.content);
    assert.ok(afterward.length > 0, "deltas keep coming after the refresh");
    assert.equal(pending.content + afterward.join(""), reply.response.content);

    // The refresh's four events came in order, deltas aside.
    const refreshTypes = client.events()
      .filter((e) => e.seq > first.seq && e.type !== "agent_response_delta")
      .slice(0, 4)
      .map((e) => e.type);
    assert.deepEqual(refreshTypes, [
      "system_message",
      "seed_messages",
      "history",
      "context_update",
    ]);
  });
});
