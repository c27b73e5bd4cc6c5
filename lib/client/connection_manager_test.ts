import assert from "node:assert/strict";
import type { FrontendEvent, ResultFrame } from "../protocol.ts";
import {
  ConnectionManager,
  type ConnectionOptions,
  type ConnectionState,
} from "./connection_manager.ts";
import {
  type Clock,
  installClock,
  ProtocolServer,
  settle,
  SocketRecorder,
  systemMessage,
  until,
} from "./testing.ts";

const CLIENT_ID = "client-0123456789abcdef";

interface Tab {
  manager: ConnectionManager;
  recorder: SocketRecorder;
  events: FrontendEvent[];
  /** How many times onResync was called. */
  resyncs: () => number;
  warnings: string[];
  /** Every combined state, in order. */
  states: ConnectionState[];
}

interface Rig {
  clock: Clock;
  server: ProtocolServer;
  tab: Tab;
  /** Another browser tab on the same server (cleaned up with the rig). */
  openTab(options?: Partial<ConnectionOptions>): Tab;
  until(condition: () => boolean, what: string): Promise<void>;
  /** Waits until both sockets of `tab` are open. */
  bothOpen(tab?: Tab): Promise<void>;
}

/**
 * A ConnectionManager (one browser tab) against a real protocol-speaking
 * server on a real port; timers and Date are fake. `random` 0 makes every
 * backoff wait 0 ms, so reconnects happen as the test polls.
 */
async function withRig(
  body: (rig: Rig) => Promise<void>,
  options: Partial<ConnectionOptions> = {},
): Promise<void> {
  const clock = installClock();
  const server = new ProtocolServer();
  server.ws.start();
  const tabs: Tab[] = [];
  const openTab = (extra: Partial<ConnectionOptions> = {}): Tab => {
    const recorder = new SocketRecorder();
    const events: FrontendEvent[] = [];
    const warnings: string[] = [];
    let resyncs = 0;
    const manager = new ConnectionManager({
      baseUrl: server.url,
      clientId: CLIENT_ID,
      random: () => 0,
      connect: recorder.connect,
      warn: (message) => warnings.push(message),
      ...options,
      ...extra,
    }, {
      onEvent: (event) => events.push(event),
      onResync: () => resyncs++,
    });
    const states: ConnectionState[] = [];
    manager.state.subscribe((s) => states.push(s));
    const tab = {
      manager,
      recorder,
      events,
      resyncs: () => resyncs,
      warnings,
      states,
    };
    tabs.push(tab);
    return tab;
  };
  const wait = (condition: () => boolean, what: string) =>
    until(condition, what, clock);
  const tab = openTab();
  try {
    await body({
      clock,
      server,
      tab,
      openTab,
      until: wait,
      bothOpen: (t = tab) =>
        wait(() => {
          const s = t.manager.state.value;
          return s.frontend.status === "open" && s.backend.status === "open";
        }, "both sockets open"),
    });
  } finally {
    for (const t of tabs) t.manager.stop();
    try {
      await wait(
        () => tabs.every((t) => t.recorder.allClosed),
        "client sockets to close",
      );
    } finally {
      await server.ws.stop();
      clock.uninstall();
    }
  }
}

const seqs = (events: FrontendEvent[]) => events.map((e) => e.seq);

/** Frontend-api URLs the tab opened, parsed. */
function frontendUrls(tab: Tab): URL[] {
  return tab.recorder.urls.map((u) => new URL(u)).filter((u) =>
    u.pathname === "/ws/frontend-api"
  );
}

/** Refuses upgrades of one kind (HTTP 503) until told otherwise. */
function refuse(server: ProtocolServer, kind: "frontend" | "backend" | null) {
  server.ws.refuse = kind === null
    ? null
    : (url) =>
      url.pathname === `/ws/${kind}-api`
        ? new Response("down", { status: 503 })
        : null;
}

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

/** Sends a command and waits for its result: a barrier on the backend socket. */
async function roundTrip(rig: Rig, tab = rig.tab): Promise<ResultFrame> {
  let result: ResultFrame | null = null;
  void tab.manager.backend.request({ type: "session", action: "list" }).then(
    (r) => result = r,
  );
  await rig.until(() => result !== null, "a round trip");
  return result!;
}

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

Deno.test("BackendAPIService - request() while the socket is down queues and sends once it opens", async () => {
  await withRig(async ({ clock, server, tab, until }) => {
    refuse(server, "backend");
    tab.manager.start();
    await until(
      () => tab.manager.state.value.backend.retries >= 1,
      "a failed backend attempt",
    );
    let result: ResultFrame | null = null;
    void tab.manager.backend.request({
      type: "session",
      action: "create",
      agent_id: "assistant",
    }).then((r) => result = r);
    assert.equal(tab.manager.backend.pendingCount, 1);
    await settle(clock);
    assert.equal(server.commands.length, 0);

    server.answer = () => ({
      session_id: "assistant_123",
      agent_id: "assistant",
    });
    refuse(server, null);
    await until(() => result !== null, "the result");
    assert.equal(server.commands.length, 1);
    const sent = server.commands[0];
    assert.equal(typeof sent.request_id, "string");
    assert.deepEqual(sent, {
      type: "session",
      action: "create",
      agent_id: "assistant",
      request_id: sent.request_id,
    });
    assert.deepEqual(result, {
      type: "result",
      request_id: sent.request_id,
      ok: true,
      session_id: "assistant_123",
      agent_id: "assistant",
    });
    assert.equal(tab.manager.backend.pendingCount, 0);
  });
});

Deno.test("BackendAPIService - gives each command its own request_id", async () => {
  await withRig(async (rig) => {
    rig.tab.manager.start();
    await rig.bothOpen();
    await roundTrip(rig);
    await roundTrip(rig);
    const ids = rig.server.commands.map((c) => c.request_id);
    assert.equal(ids.length, 2);
    assert.notEqual(ids[0], ids[1]);
  });
});

Deno.test("BackendAPIService - re-sends unanswered commands with the same request_id after a reconnect; each resolves once", async () => {
  await withRig(async (rig) => {
    const { clock, server, tab, until, bothOpen } = rig;
    tab.manager.start();
    await bothOpen();
    let answering = false;
    server.answer = (command) =>
      answering ? { echo: command.message ?? command.action } : null;
    const resolved: ResultFrame[] = [];
    const chat = tab.manager.backend.request({
      type: "chat",
      agent_id: "a",
      session_id: "s1",
      message: "hi",
    });
    const list = tab.manager.backend.request({
      type: "session",
      action: "list",
    });
    void chat.then((r) => resolved.push(r));
    void list.then((r) => resolved.push(r));
    await until(() => server.commands.length === 2, "both commands");
    const [chatId, listId] = server.commands.map((c) => c.request_id);

    answering = true;
    server.backend!.close(1011, "trouble");
    await until(() => resolved.length === 2, "both results");
    assert.deepEqual(
      server.commands.map((c) => c.request_id),
      [chatId, listId, chatId, listId],
      "re-sent in the same order with the same ids",
    );
    assert.deepEqual(server.commands[2], server.commands[0]);
    assert.deepEqual(resolved, [
      { type: "result", request_id: chatId, ok: true, echo: "hi" },
      { type: "result", request_id: listId, ok: true, echo: "list" },
    ]);
    assert.equal(tab.manager.backend.pendingCount, 0);

    // A repeated result (the server answers a re-send from memory) is
    // dropped quietly, and answered commands are not sent again.
    server.reply(String(chatId));
    server.reply(String(listId));
    await roundTrip(rig);
    assert.equal(resolved.length, 2);
    const upgrades = server.ws.upgrades.length;
    server.backend!.close(1011, "trouble again");
    await until(
      () => server.ws.upgrades.length > upgrades && server.backend !== null,
      "another reconnect",
    );
    await bothOpen();
    await settle(clock);
    assert.equal(server.commands.length, 5, "4 and the round trip");
    assert.equal(resolved.length, 2);
    assert.deepEqual(tab.warnings, []);
  });
});

Deno.test("ConnectionManager - down is false on the first connect, true from a failure until both are open again", async () => {
  await withRig(async ({ clock, server, tab, until, bothOpen }) => {
    const { manager, states } = tab;
    assert.equal(manager.state.value.down, false, "before start()");
    manager.start();
    assert.equal(manager.state.value.down, false, "first connecting");
    await bothOpen();
    assert.ok(states.every((s) => !s.down), "never down on the way to open");

    await server.ws.stop();
    await until(() => manager.state.value.down, "down");
    // 0.5 of 500 ms: the first retry of each socket, to a server still down.
    await clock.tickAsync(250);
    await until(
      () =>
        manager.state.value.frontend.retries === 2 &&
        manager.state.value.backend.retries === 2,
      "a second failure of each socket",
    );
    server.ws.start();
    await clock.tickAsync(500);
    await bothOpen();

    const failedAt = states.findIndex((s) => s.down);
    const backAt = states.findIndex((s, i) => i > failedAt && !s.down);
    assert.ok(failedAt > 0 && backAt > failedAt, `${failedAt} ${backAt}`);
    assert.equal(states[backAt].frontend.status, "open");
    assert.equal(states[backAt].backend.status, "open");
    assert.equal(backAt, states.length - 1, "not down again after that");
    const down = states.slice(failedAt, backAt);
    assert.ok(
      down.some((s) =>
        s.frontend.status === "connecting" && s.frontend.retries > 0
      ),
      "down even while a failed socket was connecting again",
    );
    assert.ok(states.every((s) => !s.replaced));
  }, { random: () => 0.5 });
});

Deno.test("ConnectionManager - down while only one socket has failed", async () => {
  await withRig(async ({ server, tab, until, bothOpen }) => {
    tab.manager.start();
    await bothOpen();
    refuse(server, "backend");
    server.backend!.close(1011, "trouble");
    await until(() => tab.manager.state.value.down, "down");
    assert.equal(tab.manager.state.value.frontend.status, "open");
    refuse(server, null);
    await bothOpen();
    assert.equal(tab.manager.state.value.down, false);
  });
});

Deno.test("ConnectionManager - replaced after a 4000 close, without retries, until reclaimed", async () => {
  await withRig(async (rig) => {
    const { clock, tab, until, bothOpen, openTab } = rig;
    tab.manager.start();
    await bothOpen();
    const attempts = tab.recorder.count;

    // The same client id in a second tab takes both sockets over.
    const other = openTab();
    other.manager.start();
    await until(() => tab.manager.state.value.replaced, "replaced");
    await bothOpen(other);
    assert.equal(tab.manager.state.value.down, false, "replaced is not down");

    await clock.tickAsync(60 * 60_000);
    tab.manager.retryNow();
    await settle(clock);
    assert.equal(
      tab.recorder.count,
      attempts,
      "no attempt, even after an hour",
    );
    assert.equal(tab.manager.state.value.replaced, true);
    assert.equal(other.manager.state.value.replaced, false);

    // "Continue here": this tab takes the client id back.
    tab.manager.reclaim();
    await bothOpen();
    await until(() => other.manager.state.value.replaced, "the other replaced");
    assert.equal(tab.manager.state.value.replaced, false);
  });
});
