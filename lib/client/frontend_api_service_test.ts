import assert from "node:assert/strict";
import type { FrontendEvent } from "../protocol.ts";
import {
  CLIENT_ID,
  frontendUrls,
  refuse,
  roundTrip,
  withRig,
} from "./connection_rig.ts";
import { settle, systemMessage } from "./testing.ts";

const seqs = (events: FrontendEvent[]) => events.map((e) => e.seq);

Deno.test("FrontendAPIService - the URL carries epoch and last_seq only after a first connected", async () => {
  await withRig(async ({ server, tab, until, bothOpen }) => {
    tab.manager.start();
    await bothOpen();
    await until(() => tab.resyncs() === 1, "the first connected");
    server.emit(systemMessage("s1", "one"));
    server.emit(systemMessage("s1", "two"));
    await until(() => tab.events.length === 2, "two events");
    server.frontend!.close(1011, "trouble");
    await until(() => frontendUrls(tab).length === 2, "a reconnect");

    const [first, second] = frontendUrls(tab);
    assert.deepEqual([...first.searchParams], [["client", CLIENT_ID]]);
    assert.deepEqual(Object.fromEntries(second.searchParams), {
      client: CLIENT_ID,
      epoch: "epoch-1",
      last_seq: "2",
    });
    const backend = tab.recorder.urls.map((u) => new URL(u)).filter((u) =>
      u.pathname === "/ws/backend-api"
    );
    assert.deepEqual([...backend[0].searchParams], [["client", CLIENT_ID]]);
  });
});

Deno.test("FrontendAPIService - drops duplicate and old seqs", async () => {
  await withRig(async ({ clock, server, tab, until, bothOpen }) => {
    tab.manager.start();
    await bothOpen();
    await until(() => tab.resyncs() === 1, "the first connected");
    const one = server.emit(systemMessage("s1", "one"));
    const two = server.emit(systemMessage("s1", "two"));
    server.sendFrontend(two);
    server.sendFrontend(one);
    server.sendFrontend({ ...two, content: "two, again" });
    server.emit(systemMessage("s1", "three"));
    await until(() => tab.events.length >= 3, "three events");
    await settle(clock);
    assert.deepEqual(seqs(tab.events), [1, 2, 3]);
    assert.deepEqual(
      tab.events.map((e) => e.type === "system_message" && e.content),
      ["one", "two", "three"],
    );
    assert.equal(tab.resyncs(), 1, "duplicates are not gaps");
    assert.equal(tab.manager.frontend.lastSeq, 3);
  });
});

Deno.test("FrontendAPIService - skips events replayed on the first connect and resyncs instead", async () => {
  await withRig(async ({ server, tab, until }) => {
    // Events of this client id from before the page existed (a reload).
    server.emit(systemMessage("old", "one"));
    server.emit(systemMessage("old", "two"));
    server.emit(systemMessage("old", "three"));
    tab.manager.start();
    await until(() => tab.resyncs() === 1, "the first connected");
    assert.deepEqual(server.connectedSent, [{
      type: "connected",
      epoch: "epoch-1",
      last_seq: 3,
      recovered: true,
    }]);
    server.emit(systemMessage("s1", "four"));
    await until(() => tab.events.length > 0, "a live event");
    assert.deepEqual(seqs(tab.events), [4], "1-3 were replayed but skipped");
    assert.equal(tab.resyncs(), 1);
    assert.equal(tab.manager.frontend.lastSeq, 4);
    assert.deepEqual(tab.warnings, []);
  });
});

Deno.test("FrontendAPIService - a first connect whose old events were dropped resyncs once and goes on from last_seq", async () => {
  await withRig(async ({ server, tab, until }) => {
    // A reload after the page before had acked (and the server dropped)
    // seqs 1-5: the server cannot replay from 1, so recovered is false.
    for (let i = 1; i <= 5; i++) server.emit(systemMessage("old", `${i}`));
    server.droppedThrough = 5;
    tab.manager.start();
    await until(() => tab.resyncs() === 1, "the first connected");
    assert.equal(server.connectedSent[0].recovered, false);
    server.emit(systemMessage("s1", "six"));
    await until(
      () => tab.events.length > 0 || tab.resyncs() > 1,
      "the live event",
    );
    assert.deepEqual(seqs(tab.events), [6]);
    assert.equal(tab.resyncs(), 1, "seq 6 right after last_seq 5 is no gap");
    assert.deepEqual(tab.warnings, []);
  });
});

Deno.test("FrontendAPIService - recovered: true with the same epoch resumes without onResync", async () => {
  await withRig(async ({ server, tab, until, bothOpen }) => {
    tab.manager.start();
    await bothOpen();
    await until(() => tab.resyncs() === 1, "the first connected");
    server.emit(systemMessage("s1", "one"));
    server.emit(systemMessage("s1", "two"));
    await until(() => tab.events.length === 2, "two events");

    refuse(server, "frontend");
    server.frontend!.close(1011, "trouble");
    await until(() => server.frontend === null, "the frontend socket gone");
    server.emit(systemMessage("s1", "three")); // held while down
    server.emit(systemMessage("s1", "four"));
    refuse(server, null);

    await until(() => tab.events.length === 4, "the replay");
    assert.deepEqual(server.connectedSent.at(-1), {
      type: "connected",
      epoch: "epoch-1",
      last_seq: 4,
      recovered: true,
    });
    assert.equal(frontendUrls(tab).at(-1)!.searchParams.get("last_seq"), "2");
    assert.deepEqual(seqs(tab.events), [1, 2, 3, 4]);
    assert.equal(tab.resyncs(), 1);
  });
});

Deno.test("FrontendAPIService - recovered: false (a restarted server) calls onResync and goes on from its last_seq", async () => {
  await withRig(async ({ clock, server, tab, until, bothOpen }) => {
    tab.manager.start();
    await bothOpen();
    await until(() => tab.resyncs() === 1, "the first connected");
    for (let i = 1; i <= 3; i++) server.emit(systemMessage("s1", `${i}`));
    await until(() => tab.events.length === 3, "three events");

    refuse(server, "frontend");
    server.frontend!.close(1001, "server shutting down");
    await until(() => server.frontend === null, "the frontend socket gone");
    server.restart("epoch-2");
    server.emit(systemMessage("s1", "made before the reconnect"));
    refuse(server, null);

    await until(() => tab.resyncs() === 2, "a resync");
    assert.deepEqual(server.connectedSent.at(-1), {
      type: "connected",
      epoch: "epoch-2",
      last_seq: 1,
      recovered: false,
    });
    server.emit(systemMessage("s1", "live"));
    await until(() => tab.events.length === 4, "the live event");
    assert.deepEqual(
      tab.events.at(-1),
      { ...systemMessage("s1", "live"), seq: 2 },
      "seq 2 of the new epoch is taken, though 2 was seen in the old one",
    );
    assert.equal(tab.resyncs(), 2);
    assert.equal(tab.manager.frontend.lastSeq, 2);

    // The next reconnect asks for the new epoch.
    server.frontend!.close(1011, "trouble");
    await until(() => server.connectedSent.length === 3, "a reconnect");
    assert.deepEqual(
      Object.fromEntries(frontendUrls(tab).at(-1)!.searchParams),
      { client: CLIENT_ID, epoch: "epoch-2", last_seq: "2" },
    );
    assert.equal(server.connectedSent[2].recovered, true);
    await settle(clock);
    assert.equal(tab.resyncs(), 2);
  });
});

Deno.test("FrontendAPIService - a gap in seq calls onResync", async () => {
  await withRig(async ({ server, tab, until, bothOpen }) => {
    tab.manager.start();
    await bothOpen();
    await until(() => tab.resyncs() === 1, "the first connected");
    server.emit(systemMessage("s1", "one"));
    server.lose(systemMessage("s1", "two"));
    server.emit(systemMessage("s1", "three"));
    server.emit(systemMessage("s1", "four"));
    await until(() => tab.events.some((e) => e.seq === 4), "event 4");
    assert.equal(tab.resyncs(), 2);
    assert.deepEqual(tab.warnings, ["frontend-api: expected seq 2, got 3"]);
    assert.deepEqual(seqs(tab.events).filter((s) => s !== 3), [1, 4]);
    assert.equal(tab.manager.frontend.lastSeq, 4);
  });
});

Deno.test("FrontendAPIService - ignores unknown event types and warns about unreadable frames", async () => {
  await withRig(async ({ server, tab, until, bothOpen }) => {
    tab.manager.start();
    await bothOpen();
    await until(() => tab.resyncs() === 1, "the first connected");
    server.sendFrontend({ type: "from_the_future", seq: 1 });
    server.frontend!.send("not json");
    server.sendFrontend({ type: "system_message", seq: 1 });
    server.emit(systemMessage("s1", "one"));
    await until(() => tab.events.length === 1, "the event");
    assert.deepEqual(seqs(tab.events), [1]);
    assert.equal(tab.warnings.length, 2, tab.warnings.join("\n"));
    assert.match(tab.warnings[0], /not valid JSON/);
    assert.match(tab.warnings[1], /^frontend-api: system_message: /);
  });
});

Deno.test("FrontendAPIService - acks the highest handled seq on the backend socket, batched", async () => {
  await withRig(async (rig) => {
    const { clock, server, tab, until, bothOpen } = rig;
    tab.manager.start();
    await bothOpen();
    await until(() => tab.resyncs() === 1, "the first connected");
    for (let i = 1; i <= 3; i++) server.emit(systemMessage("s1", `${i}`));
    await until(() => tab.events.length === 3, "three events");
    await roundTrip(rig);
    assert.deepEqual(server.acks, [], "no ack before the batch delay");

    await clock.tickAsync(1000);
    await until(() => server.acks.length > 0, "an ack");
    assert.deepEqual(server.acks, [3]);
    assert.deepEqual(server.received.find((c) => c.type === "ack"), {
      type: "ack",
      seq: 3,
    });

    server.emit(systemMessage("s1", "4"));
    server.emit(systemMessage("s1", "5"));
    await until(() => tab.events.length === 5, "five events");
    await clock.tickAsync(999);
    await roundTrip(rig);
    assert.deepEqual(server.acks, [3], "still batching at 999 ms");
    await clock.tickAsync(1);
    await until(() => server.acks.length === 2, "the second ack");
    assert.deepEqual(server.acks, [3, 5]);

    // Nothing new handled: no more acks.
    await clock.tickAsync(5000);
    await roundTrip(rig);
    assert.deepEqual(server.acks, [3, 5]);

    // A new backend socket repeats the last ack, in case one was lost.
    server.backend!.close(1011, "gone");
    await until(() => server.acks.length === 3, "the ack on the new socket");
    assert.deepEqual(server.acks, [3, 5, 5]);
  });
});
