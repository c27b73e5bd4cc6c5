/**
 * The page's heartbeat against real WebSocket servers on real ports, with a
 * fake clock: a socket from which nothing arrives after a ping is dropped
 * and reconnected; an answer, or any other frame, keeps it.
 */
import assert from "node:assert/strict";
import { DEFAULT_HEARTBEAT } from "./connection_manager.ts";
import { CLIENT_ID, frontendUrls, withRig } from "./connection_rig.ts";
import {
  DROPPED_CODE,
  ReconnectingSocket,
  type SocketState,
} from "./reconnecting_socket.ts";
import {
  type Clock,
  installClock,
  SocketRecorder,
  systemMessage,
  TestWsServer,
  until,
} from "./testing.ts";

const INTERVAL = 1000;
const TIMEOUT = 400;

interface SocketRig {
  clock: Clock;
  server: TestWsServer;
  recorder: SocketRecorder;
  socket: ReconnectingSocket;
  states: SocketState[];
  closes: [number, string][];
  /** Frames the client received, in order. */
  messages: unknown[];
  /** Pings the server received. */
  pings: () => number;
  /** Whether the server answers "ping" with "pong". */
  answer: (on: boolean) => void;
  until(condition: () => boolean, what: string): Promise<void>;
}

/** A ReconnectingSocket with a heartbeat against a real server that pongs. */
async function withSocketRig(body: (rig: SocketRig) => Promise<void>) {
  const clock = installClock();
  let answering = true;
  let pings = 0;
  const server = new TestWsServer((s) => {
    s.addEventListener("message", (event) => {
      if (event.data !== "ping") return;
      pings++;
      if (answering) s.send("pong");
    });
  }).start();
  const recorder = new SocketRecorder();
  const closes: [number, string][] = [];
  const messages: unknown[] = [];
  const socket = new ReconnectingSocket({
    url: () => `${server.url}/ws`,
    onMessage: (data) => messages.push(data),
    onClose: (code, reason) => closes.push([code, reason]),
    random: () => 0,
    connect: recorder.connect,
    heartbeat: { intervalMs: INTERVAL, timeoutMs: TIMEOUT, ping: () => "ping" },
  });
  const states: SocketState[] = [];
  const unsubscribe = socket.state.subscribe((s) => states.push(s));
  try {
    await body({
      clock,
      server,
      recorder,
      socket,
      states,
      closes,
      messages,
      pings: () => pings,
      answer: (on) => answering = on,
      until: (condition, what) => until(condition, what, clock),
    });
  } finally {
    unsubscribe();
    socket.stop();
    try {
      await until(() => recorder.allClosed, "client sockets to close", clock);
    } finally {
      await server.stop();
      clock.uninstall();
    }
  }
}

const isOpen = (s: SocketState) => s.status === "open";

Deno.test("Heartbeat - a server that stops answering is dropped within interval + timeout and reconnected", async () => {
  await withSocketRig(async (rig) => {
    const { clock, socket, recorder, server, messages, closes } = rig;
    socket.start();
    await rig.until(() => isOpen(socket.state.value), "open");
    await rig.until(() => server.sockets.size === 1, "server socket");

    // Answered pings keep the socket, round after round.
    for (let round = 1; round <= 3; round++) {
      await clock.tickAsync(round === 1 ? INTERVAL : INTERVAL - TIMEOUT);
      await rig.until(() => messages.length === round, `pong ${round}`);
      await clock.tickAsync(TIMEOUT);
      assert.equal(socket.state.value.status, "open", `round ${round}`);
    }
    assert.equal(rig.pings(), 3);
    assert.equal(recorder.count, 1);

    // The server goes quiet (as a half-open connection does).
    rig.answer(false);
    await clock.tickAsync(INTERVAL - TIMEOUT);
    await rig.until(() => rig.pings() === 4, "the unanswered ping");
    await clock.tickAsync(TIMEOUT - 1);
    assert.equal(socket.state.value.status, "open", "not before the timeout");
    await clock.tickAsync(1);
    assert.deepEqual(closes, [[DROPPED_CODE, "no answer to ping"]]);
    assert.equal(socket.state.value.retries, 1, "counts as a lost connection");
    // A 0 ms timer set while the fake clock ticks is due 1 ms later.
    await clock.tickAsync(1);
    await rig.until(() => isOpen(socket.state.value), "open again");
    assert.equal(recorder.count, 2, "one new socket");
    assert.equal(recorder.sockets[0].readyState >= WebSocket.CLOSING, true);
    assert.deepEqual(
      rig.states.map((s) => s.status).filter((s, i, all) => s !== all[i - 1]),
      ["connecting", "open", "closed", "connecting", "open"],
    );

    // The new socket has its own heartbeat.
    rig.answer(true);
    await clock.tickAsync(INTERVAL);
    await rig.until(() => rig.pings() === 5, "a ping on the new socket");
  });
});

Deno.test("Heartbeat - any frame after a ping counts as life", async () => {
  await withSocketRig(async (rig) => {
    const { clock, socket, server, messages, recorder } = rig;
    rig.answer(false);
    socket.start();
    await rig.until(() => isOpen(socket.state.value), "open");
    await rig.until(() => server.sockets.size === 1, "server socket");
    for (let round = 1; round <= 3; round++) {
      await clock.tickAsync(round === 1 ? INTERVAL : INTERVAL - TIMEOUT);
      await rig.until(() => rig.pings() === round, `ping ${round}`);
      for (const s of server.sockets) s.send(`event ${round}`);
      await rig.until(() => messages.length === round, `event ${round}`);
      await clock.tickAsync(TIMEOUT);
      assert.equal(socket.state.value.status, "open", `round ${round}`);
    }
    assert.equal(recorder.count, 1);
    // A frame before the ping does not cover the ping after it.
    await clock.tickAsync(INTERVAL - TIMEOUT);
    await rig.until(() => rig.pings() === 4, "ping 4");
    await clock.tickAsync(TIMEOUT);
    assert.equal(socket.state.value.status, "closed");
    await clock.tickAsync(1);
    await rig.until(() => recorder.count === 2, "a reconnect");
  });
});

Deno.test("Heartbeat - no pings while closed or stopped", async () => {
  await withSocketRig(async (rig) => {
    const { clock, socket, server } = rig;
    socket.start();
    await rig.until(() => isOpen(socket.state.value), "open");
    await server.stop();
    await rig.until(() => socket.state.value.status !== "open", "lost");
    socket.stop();
    await clock.tickAsync(10 * INTERVAL);
    assert.equal(rig.pings(), 0);
    assert.equal(socket.state.value.status, "closed");
  });
});

Deno.test("ConnectionManager - heartbeat: a dead server's sockets are replaced, commands re-sent, events replayed", async () => {
  await withRig(async (rig) => {
    const { clock, server, tab, until, bothOpen } = rig;
    tab.manager.start();
    await bothOpen();
    await until(() => tab.resyncs() === 1, "the first connected");
    server.emit(systemMessage("s1", "before"));
    await until(() => tab.events.length === 1, "an event");

    // Both sockets ping; the answers are neither events nor warnings.
    let pongs = 0;
    for (const s of tab.recorder.sockets) {
      s.addEventListener("message", (e) => {
        if (
          String(e.data).includes('"pong"') || String(e.data).includes("ping-")
        ) pongs++;
      });
    }
    await clock.tickAsync(DEFAULT_HEARTBEAT.intervalMs);
    await until(() => server.pings === 2 && pongs === 2, "two answered pings");
    await clock.tickAsync(DEFAULT_HEARTBEAT.timeoutMs);
    assert.equal(tab.recorder.count, 2, "answered: no reconnect");
    assert.equal(tab.events.length, 1);
    assert.deepEqual(tab.warnings, []);

    // The server goes silent; a command's result and an event get lost.
    server.answerPings = false;
    server.answer = () => null;
    let result: unknown = null;
    void tab.manager.backend.request({ type: "session", action: "list" }).then(
      (r) => result = r,
    );
    await until(() => server.commands.length === 1, "the command");
    server.lose(systemMessage("s1", "lost"));
    const { epoch } = server;
    await clock.tickAsync(
      DEFAULT_HEARTBEAT.intervalMs - DEFAULT_HEARTBEAT.timeoutMs,
    );
    await until(() => server.pings === 4, "two unanswered pings");
    await clock.tickAsync(DEFAULT_HEARTBEAT.timeoutMs);
    assert.ok(tab.states.some((s) => s.down), "the dialog showed");
    await clock.tickAsync(1);
    await bothOpen();
    assert.equal(tab.recorder.count, 4, "two new sockets");
    assert.equal(tab.manager.state.value.down, false);

    // The command went again with its request id; the lost event came once.
    await until(() => server.commands.length === 2, "the re-sent command");
    assert.equal(server.commands[1].request_id, server.commands[0].request_id);
    server.reply(String(server.commands[0].request_id), { sessions: [] });
    await until(() => result !== null, "the result");
    await until(() => tab.events.length === 2, "the replayed event");
    assert.deepEqual(tab.events.map((e) => e.seq), [1, 2]);
    const url = frontendUrls(tab).at(-1)!;
    assert.equal(url.searchParams.get("client"), CLIENT_ID);
    assert.equal(url.searchParams.get("epoch"), epoch);
    assert.equal(url.searchParams.get("last_seq"), "1");
    assert.equal(tab.resyncs(), 1, "recovered: no rebuild");
  }, { heartbeat: DEFAULT_HEARTBEAT });
});
