import assert from "node:assert/strict";
import { FrontendAPI } from "./frontend_api.ts";
import { createLogger } from "./logger.ts";

/** Records what a WebSocket would carry; FrontendAPI only sends and closes. */
class RecordingSocket {
  readyState = 1;
  sent: Record<string, unknown>[] = [];
  closedWith: [number, string] | null = null;
  send(frame: string) {
    this.sent.push(JSON.parse(frame));
  }
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
    this.readyState = 3;
  }
}

function setup(replay = { holdMs: 1000, holdCount: 2, maxHeld: 5 }) {
  let now = 0;
  const owners = new Map([["s1", "alice"], ["s2", "bob"]]);
  const api = new FrontendAPI({
    replay,
    logger: createLogger("silent"),
    ownerOf: (sessionId) => owners.get(sessionId),
    hasSessions: (clientId) => [...owners.values()].includes(clientId),
    now: () => now,
  });
  const attach = (
    client: string,
    lastSeq: number | null,
    epoch: string | null,
  ) => {
    const socket = new RecordingSocket();
    const connected = api.attach(
      client,
      socket as unknown as WebSocket,
      lastSeq,
      epoch,
    );
    return { socket, connected };
  };
  return { api, owners, attach, advance: (ms: number) => (now += ms) };
}

Deno.test("FrontendAPI - holds events while the socket is down and replays them after last_seq", () => {
  const { api, attach } = setup({
    holdMs: 60_000,
    holdCount: 1000,
    maxHeld: 10_000,
  });
  const first = attach("alice", null, null);
  api.sendSystemMessage("a", "s1", "one");
  first.socket.readyState = 3;
  api.detach("alice", first.socket as unknown as WebSocket);
  api.sendSystemMessage("a", "s1", "two");
  api.sendSystemMessage("a", "s1", "three");
  const again = attach("alice", 1, first.connected.epoch);
  assert.deepEqual(again.connected, {
    type: "connected",
    epoch: first.connected.epoch,
    last_seq: 3,
    recovered: true,
  });
  assert.deepEqual(again.socket.sent.slice(1).map((e) => [e.seq, e.content]), [[
    2,
    "two",
  ], [3, "three"]]);
  api.sendSystemMessage("a", "s1", "four");
  assert.equal(again.socket.sent.at(-1)?.seq, 4);
});

Deno.test("FrontendAPI - routes session events only to the owner", () => {
  const { api, attach } = setup();
  const alice = attach("alice", null, null);
  const bob = attach("bob", null, null);
  api.sendContextUpdate("a", "s2", {
    used_tokens: 1,
    max_tokens: 10,
    percentage: 10,
  });
  api.sendSystemMessage("a", "gone", "nobody owns this");
  assert.equal(alice.socket.sent.length, 1); // just `connected`
  assert.deepEqual(bob.socket.sent.map((e) => e.type), [
    "connected",
    "context_update",
  ]);
  assert.equal(bob.socket.sent[1].seq, 1);
});

Deno.test("FrontendAPI - a second socket replaces the first with 4000", () => {
  const { api, attach } = setup();
  const first = attach("alice", null, null);
  const second = attach("alice", 0, first.connected.epoch);
  assert.deepEqual(first.socket.closedWith, [4000, "replaced"]);
  api.sendNotification("info", "hello", "alice");
  assert.equal(first.socket.sent.length, 1);
  assert.equal(second.socket.sent.at(-1)?.message, "hello");
  // The old socket's close must not unbind the new one.
  api.detach("alice", first.socket as unknown as WebSocket);
  api.sendNotification("info", "still here", "alice");
  assert.equal(second.socket.sent.at(-1)?.message, "still here");
});

Deno.test("FrontendAPI - keeps the newest holdCount, drops older ones once past holdMs, caps at maxHeld", () => {
  const { api, attach, advance } = setup({
    holdMs: 1000,
    holdCount: 2,
    maxHeld: 5,
  });
  const { connected } = attach("alice", null, null);
  for (let i = 0; i < 7; i++) api.sendNotification("info", `n${i}`, "alice");
  // maxHeld: only seqs 3..7 are held even though all are young.
  assert.equal(api.stats().heldEvents, 5);
  assert.equal(attach("alice", 1, connected.epoch).connected.recovered, false);
  assert.equal(attach("alice", 2, connected.epoch).connected.recovered, true);
  advance(1000);
  api.sweep();
  // Old enough: only the newest holdCount (2) remain.
  assert.equal(api.stats().heldEvents, 2);
  assert.equal(attach("alice", 5, connected.epoch).connected.recovered, true);
  assert.equal(attach("alice", 4, connected.epoch).connected.recovered, false);
});

Deno.test("FrontendAPI - ack drops events up to the acknowledged seq", () => {
  const { api, attach } = setup({
    holdMs: 60_000,
    holdCount: 1000,
    maxHeld: 10_000,
  });
  const { connected } = attach("alice", null, null);
  for (let i = 0; i < 4; i++) api.sendNotification("info", `n${i}`, "alice");
  api.ack("alice", 3);
  assert.equal(api.stats().heldEvents, 1);
  api.ack("alice", 99); // beyond the stream: clamps, never invents seqs
  assert.equal(api.stats().heldEvents, 0);
  assert.equal(attach("alice", 4, connected.epoch).connected.recovered, true);
  assert.equal(attach("alice", 2, connected.epoch).connected.recovered, false);
});

Deno.test("FrontendAPI - errors without a session go to the named client; notifications to all", () => {
  const { api, attach } = setup();
  const alice = attach("alice", null, null);
  const bob = attach("bob", null, null);
  api.sendError(null, null, "internal", "something broke", "alice");
  api.sendNotification("warning", "maintenance");
  assert.deepEqual(alice.socket.sent.slice(1).map((e) => e.type), [
    "error",
    "notification",
  ]);
  assert.deepEqual(bob.socket.sent.slice(1).map((e) => e.type), [
    "notification",
  ]);
  assert.equal(alice.socket.sent[1].code, "internal");
});

Deno.test("FrontendAPI - sweep forgets idle clients without sessions, under a new epoch", () => {
  const { api, attach, owners, advance } = setup();
  const carol = attach("carol", null, null);
  api.sendNotification("info", "hi", "carol");
  api.detach("carol", carol.socket as unknown as WebSocket);
  api.detach(
    "alice",
    attach("alice", null, null).socket as unknown as WebSocket,
  );
  advance(1001);
  api.sweep();
  assert.equal(api.stats().clients, 1, "alice stays: she owns a session");
  owners.delete("s1");
  api.sweep();
  assert.equal(api.stats().clients, 0);
  const back = attach("carol", 1, carol.connected.epoch);
  assert.equal(back.connected.recovered, false);
  assert.notEqual(back.connected.epoch, carol.connected.epoch);
});

Deno.test("FrontendAPI - closeAll closes every socket with 1001", () => {
  const { api, attach } = setup();
  const alice = attach("alice", null, null);
  const bob = attach("bob", null, null);
  api.closeAll();
  assert.deepEqual(alice.socket.closedWith, [1001, "server shutting down"]);
  assert.deepEqual(bob.socket.closedWith, [1001, "server shutting down"]);
});
