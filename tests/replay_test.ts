/**
 * Replay across frontend-api reconnects: every event after `last_seq`
 * arrives exactly once, in order, including those produced while the socket
 * was down.
 */
import assert from "node:assert/strict";
import type { FrontendEvent } from "../lib/protocol.ts";
import { Client, joinDeltas, Socket, withTandem } from "./harness.ts";

type Connected = { epoch: string; last_seq: number; recovered: boolean };

function seqs(events: FrontendEvent[]): number[] {
  return events.map((e) => e.seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

const slowReply = {
  kind: "reply" as const,
  chunks: Array.from({ length: 20 }, (_, i) => `w${i} `),
  chunkDelayMs: 25,
};

Deno.test("Replay - a reconnect mid-reply gets every missed event once, in order", async () => {
  await withTandem({}, async (tandem, connect) => {
    const client = await connect();
    const first = client.frontend;
    const sessionId = await client.createSession();
    await client.event("context_update", sessionId);
    const connected1 = first.all<Connected>()[0];
    tandem.fake!.enqueue(slowReply);
    await client.command({
      type: "chat",
      agent_id: "assistant",
      session_id: sessionId,
      message: "stream slowly",
    });
    for (let i = 0; i < 3; i++) {
      await client.event("agent_response_delta", sessionId);
    }
    await first.close();
    const before = first.all<FrontendEvent>().filter((f) => "seq" in f);
    const lastSeq = Math.max(...seqs(before));
    // Let the reply go on while the browser is away.
    await new Promise((resolve) => setTimeout(resolve, 150));

    const connected2 = await client.connectFrontend(
      `&last_seq=${lastSeq}&epoch=${connected1.epoch}`,
    ) as unknown as Connected;
    assert.equal(connected2.recovered, true);
    assert.equal(connected2.epoch, connected1.epoch);
    assert.ok(connected2.last_seq > lastSeq, "events were produced while down");
    const response = await client.event<
      { response: { message_id: string; content: string } }
    >(
      "agent_response",
      sessionId,
    );
    await client.event("context_update", sessionId);
    const after = client.events();
    // Exactly once, in order: the two connections together are 1..n.
    const all = [...before, ...after];
    assert.deepEqual(seqs(all), range(1, all.length));
    assert.equal(after[0].seq, lastSeq + 1);
    assert.equal(
      joinDeltas(all, response.response.message_id),
      slowReply.chunks.join(""),
    );
    assert.equal(response.response.content, slowReply.chunks.join(""));
  });
});

Deno.test("Replay - a stale epoch gets recovered false with the current epoch and seq", async () => {
  await withTandem({}, async (_tandem, connect) => {
    const client = await connect();
    const sessionId = await client.createSession();
    await client.event("context_update", sessionId);
    const { epoch } = client.frontend.all<Connected>()[0];
    await client.frontend.close();
    const connected = await client.connectFrontend(
      `&last_seq=2&epoch=not-the-epoch`,
    ) as unknown as Connected;
    assert.deepEqual(connected, {
      type: "connected",
      epoch,
      last_seq: 3,
      recovered: false,
    });
    // Nothing is replayed; live events continue from the current seq.
    await client.command({
      type: "refresh",
      agent_id: "assistant",
      session_id: sessionId,
    });
    const system = await client.event("system_message", sessionId);
    assert.equal(system.seq, 4);
    assert.equal(client.events()[0].seq, 4);
  });
});

Deno.test("Replay - acknowledged events are dropped, so replay from before them is refused", async () => {
  await withTandem({}, async (_tandem, connect) => {
    const client = await connect();
    const sessionId = await client.createSession();
    await client.event("context_update", sessionId);
    const { epoch } = client.frontend.all<Connected>()[0];
    client.backend.send({ type: "ack", seq: 3 });
    // An ack gets no answer; the next result is the list's.
    const list = await client.command({ type: "session", action: "list" });
    assert.equal(list.ok, true);
    assert.equal(client.backend.all().length, 2, "only the two results");
    await client.frontend.close();
    const refused = await client.connectFrontend(
      `&last_seq=1&epoch=${epoch}`,
    ) as unknown as Connected;
    assert.equal(refused.recovered, false);
    await client.frontend.close();
    const fine = await client.connectFrontend(
      `&last_seq=3&epoch=${epoch}`,
    ) as unknown as Connected;
    assert.equal(fine.recovered, true);
  });
});

Deno.test("Replay - a first connect gets the events produced before it", async () => {
  await withTandem({}, async (tandem) => {
    const client = new Client(tandem);
    await client.connectBackend();
    const sessionId = await client.createSession("code-reviewer");
    const connected = await client.connectFrontend() as unknown as Connected;
    assert.equal(connected.recovered, true);
    assert.equal(connected.last_seq, 3);
    const types = [
      await client.event("system_message", sessionId),
      await client.event("seed_messages", sessionId),
      await client.event("context_update", sessionId),
    ].map((e) => [e.type, e.seq]);
    assert.deepEqual(types, [["system_message", 1], ["seed_messages", 2], [
      "context_update",
      3,
    ]]);
    await client.close();
  });
});

Deno.test("Replay - a last_seq beyond the server's is refused", async () => {
  await withTandem({}, async (_tandem, connect) => {
    const client = await connect();
    const { epoch } = client.frontend.all<Connected>()[0];
    await client.frontend.close();
    const connected = await client.connectFrontend(
      `&last_seq=99&epoch=${epoch}`,
    ) as unknown as Connected;
    assert.equal(connected.recovered, false);
    assert.equal(connected.last_seq, 0);
  });
});

Deno.test("Replay - events are held beyond the count limit only while young", async () => {
  await withTandem({
    env: { EVENT_HOLD_COUNT: "2", EVENT_HOLD_MS: "0", MAX_HELD_EVENTS: "100" },
  }, async (_tandem, connect) => {
    const client = await connect();
    const sessionId = await client.createSession();
    await client.event("context_update", sessionId);
    const { epoch } = client.frontend.all<Connected>()[0];
    await client.frontend.close();
    // With no age protection only the newest 2 of 3 are held: seq 1 is gone.
    const from0 = await client.connectFrontend(
      `&last_seq=0&epoch=${epoch}`,
    ) as unknown as Connected;
    assert.equal(from0.recovered, false);
    await client.frontend.close();
    const from1 = await client.connectFrontend(
      `&last_seq=1&epoch=${epoch}`,
    ) as unknown as Connected;
    assert.equal(from1.recovered, true);
    assert.deepEqual(seqs(await waitEvents(client.frontend, 2)), [2, 3]);
  });
});

async function waitEvents(
  socket: Socket,
  count: number,
): Promise<FrontendEvent[]> {
  const events: FrontendEvent[] = [];
  for (let i = 0; i < count; i++) {
    events.push(await socket.next<FrontendEvent>((f) => "seq" in f));
  }
  return events;
}
