/**
 * End-to-end tests of idle sessions: with a short SESSION_IDLE_MS, a real
 * server closes sessions nobody used, tells their owner, and keeps sessions
 * that are used or still replying.
 */
import assert from "node:assert/strict";
import type { FrontendEvent } from "../lib/protocol.ts";
import { type Client, withTandem } from "./harness.ts";

type Ev<T extends FrontendEvent["type"]> = Extract<FrontendEvent, { type: T }>;

const IDLE_MS = 400;
const env = { SESSION_IDLE_MS: String(IDLE_MS) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listed(client: Client): Promise<string[]> {
  const list = await client.command({ type: "session", action: "list" });
  assert.equal(list.ok, true, JSON.stringify(list));
  return (list.sessions as { session_id: string }[]).map((s) => s.session_id);
}

/** Waits for the notification that names `sessionId`. */
function closedNotice(client: Client, sessionId: string, timeoutMs = 5000) {
  return client.frontend.next<Ev<"notification">>(
    (f) => f.type === "notification" && String(f.message).includes(sessionId),
    timeoutMs,
    `the notification that ${sessionId} was closed`,
  );
}

function notifications(client: Client): Ev<"notification">[] {
  return client.events().filter((e): e is Ev<"notification"> =>
    e.type === "notification"
  );
}

Deno.test("Idle sessions - an idle session is closed, its owner is told, and it is gone", async () => {
  await withTandem({ env }, async (_tandem, connect) => {
    const owner = await connect();
    const other = await connect();
    const sessionId = await owner.createSession("assistant");
    const createdAt = Date.now();

    const notice = await closedNotice(owner, sessionId);
    const waited = Date.now() - createdAt;
    assert.ok(waited >= IDLE_MS - 20, `closed after ${waited} ms`);
    assert.equal(notice.notification_type, "warning");
    assert.match(
      notice.message,
      new RegExp(
        `^Your chat with Assistant \\(session ${sessionId}\\) was closed after (0\\.[4-9]|[1-9](\\.\\d)?) s without activity; start a new chat to continue\\.$`,
      ),
    );

    assert.deepEqual(await listed(owner), []);
    const chat = await owner.command({
      type: "chat",
      agent_id: "assistant",
      session_id: sessionId,
      message: "still there?",
    });
    assert.equal(chat.ok, false);
    assert.equal((chat.error as { code: string }).code, "session_not_found");
    const refresh = await owner.command({
      type: "refresh",
      agent_id: "assistant",
      session_id: sessionId,
    });
    assert.equal((refresh.error as { code: string }).code, "session_not_found");
    assert.deepEqual(notifications(other), [], "only the owner is told");
    assert.equal(notifications(owner).length, 1);
  });
});

Deno.test("Idle sessions - a session used within the idle time is kept", async () => {
  await withTandem({ env }, async (tandem, connect) => {
    const client = await connect();
    const used = await client.createSession("assistant");
    const unused = await client.createSession("assistant");
    // Three idle times, with a command naming `used` every 150 ms (refresh,
    // chat, cancel, refresh, ...).
    const commands = [
      { type: "refresh", agent_id: "assistant", session_id: used },
      {
        type: "chat",
        agent_id: "assistant",
        session_id: used,
        message: "hello",
      },
      { type: "cancel", session_id: used },
    ];
    for (let i = 0; i < 8; i++) {
      await sleep(150);
      const result = await client.command(commands[i % commands.length]);
      assert.equal(result.ok, true, JSON.stringify(result));
      if (commands[i % commands.length].type === "chat") {
        await client.event("agent_response", used);
      }
    }
    await closedNotice(client, unused, 0);
    assert.deepEqual(await listed(client), [used]);
    assert.equal(notifications(client).length, 1, "only `unused` was closed");
    assert.equal(tandem.fake!.requests.length, 3);
  });
});

Deno.test("Idle sessions - a session with a reply in progress is not closed mid-reply", async () => {
  await withTandem({ env }, async (tandem, connect) => {
    const client = await connect();
    const sessionId = await client.createSession("assistant");
    // A reply that streams for about three idle times.
    const chunks = Array.from({ length: 12 }, (_, i) => `part ${i} `);
    tandem.fake!.enqueue({ kind: "reply", chunks, chunkDelayMs: 100 });
    const chat = await client.command({
      type: "chat",
      agent_id: "assistant",
      session_id: sessionId,
      message: "a long answer, please",
    });
    assert.equal(chat.ok, true, JSON.stringify(chat));
    const startedAt = Date.now();

    const reply = await client.event<Ev<"agent_response">>(
      "agent_response",
      sessionId,
    );
    const endedAt = Date.now();
    assert.ok(endedAt - startedAt >= 3 * IDLE_MS, "the reply outlasted it");
    assert.equal(reply.response.finish_reason, "stop");
    assert.equal(reply.response.content, chunks.join(""));
    assert.deepEqual(notifications(client), [], "not closed mid-reply");
    assert.deepEqual(await listed(client), [sessionId]);

    // Idle time counts from the reply's end.
    await closedNotice(client, sessionId);
    const idle = Date.now() - endedAt;
    assert.ok(idle >= IDLE_MS - 50, `closed ${idle} ms after the reply`);
    assert.deepEqual(await listed(client), []);
  });
});
