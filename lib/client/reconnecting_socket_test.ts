import assert from "node:assert/strict";
import {
  ReconnectingSocket,
  REPLACED_CODE,
  type SocketState,
} from "./reconnecting_socket.ts";
import {
  type Clock,
  installClock,
  settle,
  SocketRecorder,
  TestWsServer,
  until,
} from "./testing.ts";

interface Rig {
  clock: Clock;
  server: TestWsServer;
  recorder: SocketRecorder;
  socket: ReconnectingSocket;
  /** Every state the socket went through, in order. */
  states: SocketState[];
  closes: [number, string][];
  messages: unknown[];
  /** Waits until the socket's state satisfies `test`. */
  reach(test: (state: SocketState) => boolean, what: string): Promise<void>;
}

/**
 * A ReconnectingSocket against a real WebSocket server on a real port, with
 * a fake clock for its timers; everything is torn down afterwards.
 */
async function withRig(
  random: () => number,
  body: (rig: Rig) => Promise<void>,
  url?: () => string,
): Promise<void> {
  const clock = installClock();
  const server = new TestWsServer((s) => s.send("welcome")).start();
  const recorder = new SocketRecorder();
  const closes: [number, string][] = [];
  const messages: unknown[] = [];
  const socket = new ReconnectingSocket({
    url: url ?? (() => `${server.url}/ws`),
    onMessage: (data) => messages.push(data),
    onClose: (code, reason) => closes.push([code, reason]),
    random,
    connect: recorder.connect,
  });
  const states: SocketState[] = [];
  const unsubscribe = socket.state.subscribe((s) => states.push(s));
  const reach = (test: (state: SocketState) => boolean, what: string) =>
    until(() => test(socket.state.value), what, clock);
  try {
    await body({
      clock,
      server,
      recorder,
      socket,
      states,
      closes,
      messages,
      reach,
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

/** `values` without consecutive repeats. */
function changes<T>(values: T[]): T[] {
  return values.filter((v, i) => i === 0 || v !== values[i - 1]);
}

/** How long from now until the scheduled attempt (the clock is fake). */
function wait(socket: ReconnectingSocket): number | null {
  const at = socket.state.value.nextRetryAt;
  return at === null ? null : at - Date.now();
}

Deno.test("ReconnectingSocket - goes from connecting to open", async () => {
  await withRig(
    () => 0.5,
    async ({ clock, socket, states, server, messages, reach }) => {
      socket.start();
      assert.deepEqual(socket.state.value, {
        status: "connecting",
        retries: 0,
        nextRetryAt: null,
        replaced: false,
      });
      await reach(isOpen, "open");
      assert.deepEqual(socket.state.value, {
        status: "open",
        retries: 0,
        nextRetryAt: null,
        replaced: false,
      });
      assert.deepEqual(changes(states.map((s) => s.status)), [
        "connecting",
        "open",
      ]);
      assert.equal(server.upgrades.length, 1);
      await until(() => messages.length === 1, "the welcome", clock);
      assert.deepEqual(messages, ["welcome"]);
      assert.equal(socket.send("ping"), true);
    },
  );
});

Deno.test("ReconnectingSocket - send() is refused while not open", async () => {
  await withRig(() => 0.5, async ({ socket, reach }) => {
    assert.equal(socket.send("early"), false, "before start()");
    socket.start();
    assert.equal(socket.send("connecting"), false, "while connecting");
    await reach(isOpen, "open");
    socket.stop();
    assert.equal(socket.send("late"), false, "after stop()");
  });
});

Deno.test("ReconnectingSocket - waits a jittered backoff after a close, then reconnects right after it", async () => {
  await withRig(
    () => 0.5,
    async ({ clock, socket, server, recorder, closes, reach }) => {
      socket.start();
      await reach(isOpen, "open");
      await until(() => server.sockets.size === 1, "server socket", clock);
      const closedAt = Date.now();
      for (const s of server.sockets) s.close(1011, "server trouble");
      await reach((s) => s.status === "closed", "closed");

      // First retry: ceiling 500 ms, random 0.5 -> 250 ms.
      assert.deepEqual(socket.state.value, {
        status: "closed",
        retries: 1,
        nextRetryAt: closedAt + 250,
        replaced: false,
      });
      assert.deepEqual(closes, [[1011, "server trouble"]]);

      await clock.tickAsync(249);
      assert.equal(socket.state.value.status, "closed");
      assert.equal(recorder.count, 1, "no attempt before the delay");

      await clock.tickAsync(1);
      assert.equal(socket.state.value.status, "connecting");
      assert.equal(recorder.count, 2, "an attempt right at the delay");
      assert.equal(socket.state.value.nextRetryAt, null);

      await reach(isOpen, "open again");
      assert.equal(socket.state.value.retries, 0);
      assert.equal(server.upgrades.length, 2);
    },
  );
});

Deno.test("ReconnectingSocket - retries climb while the server is down and the delays follow the schedule", async () => {
  const randoms = [0.9, 0.3, 0.6, 0.5];
  await withRig(
    () => randoms.shift() ?? 0,
    async ({ clock, socket, server, recorder, states, reach }) => {
      socket.start();
      await reach(isOpen, "open");
      await server.stop();

      // 0.9 of 500 ms, 0.3 of 1 s, 0.6 of 2 s.
      const expected = [450, 300, 1200];
      for (let i = 0; i < expected.length; i++) {
        const retries = i + 1;
        await reach(
          (s) => s.status === "closed" && s.retries === retries,
          `closed with retries ${retries}`,
        );
        assert.equal(
          wait(socket),
          expected[i],
          `delay before retry ${retries}`,
        );
        assert.equal(recorder.count, retries, "attempts so far");
        if (retries === expected.length) break;
        await clock.tickAsync(expected[i] - 1);
        assert.equal(recorder.count, retries, "no attempt before the delay");
        await clock.tickAsync(1);
        assert.equal(recorder.count, retries + 1, "an attempt at the delay");
        assert.deepEqual(socket.state.value, {
          status: "connecting",
          retries,
          nextRetryAt: null,
          replaced: false,
        });
      }

      server.start(); // same port
      await clock.tickAsync(1199);
      assert.equal(recorder.count, 3);
      await clock.tickAsync(1);
      assert.equal(recorder.count, 4);
      await reach(isOpen, "open after the server came back");
      assert.equal(socket.state.value.retries, 0);
      assert.equal(server.upgrades.length, 2);

      // retries only ever went up by one, then back to 0 on open.
      assert.deepEqual(changes(states.map((s) => s.retries)), [0, 1, 2, 3, 0]);
    },
  );
});

Deno.test("ReconnectingSocket - the delay stops growing at the 30 s cap", async () => {
  await withRig(
    () => 0.999999,
    async ({ clock, socket, server, reach }) => {
      socket.start();
      await reach(isOpen, "open");
      await server.stop();
      const ceilings = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
      for (let i = 0; i < ceilings.length; i++) {
        await reach(
          (s) => s.status === "closed" && s.retries === i + 1,
          `retries ${i + 1}`,
        );
        assert.equal(wait(socket), ceilings[i] - 1, `retry ${i + 1}`);
        await clock.tickAsync(ceilings[i] - 1);
      }
    },
  );
});

Deno.test("ReconnectingSocket - retryNow() skips the backoff wait", async () => {
  await withRig(
    () => 0.999999,
    async ({ clock, socket, server, recorder, reach }) => {
      socket.start();
      await reach(isOpen, "open");
      socket.retryNow();
      assert.equal(recorder.count, 1, "does nothing while open");

      await server.stop();
      await reach((s) => s.status === "closed", "closed");
      assert.equal(wait(socket), 499);
      server.start();

      socket.retryNow();
      assert.equal(recorder.count, 2, "an attempt at once, no tick needed");
      assert.equal(socket.state.value.status, "connecting");
      assert.equal(socket.state.value.nextRetryAt, null);
      socket.retryNow();
      assert.equal(recorder.count, 2, "does nothing while connecting");

      await reach(isOpen, "open");
      assert.equal(socket.state.value.retries, 0);
      // The skipped timer is gone: no second attempt when it would have fired.
      await clock.tickAsync(10_000);
      await settle(clock);
      assert.equal(recorder.count, 2);
      assert.equal(server.upgrades.length, 2);
      assert.equal(socket.state.value.status, "open");
    },
  );
});

Deno.test("ReconnectingSocket - a 4000 close sets replaced and never reconnects", async () => {
  await withRig(
    () => 0,
    async ({ clock, socket, server, recorder, closes, reach }) => {
      socket.start();
      await reach(isOpen, "open");
      await until(() => server.sockets.size === 1, "server socket", clock);
      for (const s of server.sockets) s.close(REPLACED_CODE, "replaced");
      await reach((s) => s.replaced, "replaced");
      assert.deepEqual(socket.state.value, {
        status: "closed",
        retries: 0,
        nextRetryAt: null,
        replaced: true,
      });
      assert.deepEqual(closes, [[4000, "replaced"]]);

      await clock.tickAsync(60 * 60_000);
      socket.retryNow();
      await settle(clock);
      assert.equal(recorder.count, 1, "no attempt, even after an hour");
      assert.equal(server.upgrades.length, 1);
      assert.equal(socket.state.value.replaced, true);

      // Only start() (the person's "continue here") goes on.
      socket.start();
      assert.equal(socket.state.value.replaced, false);
      await reach(isOpen, "open after start()");
      assert.equal(server.upgrades.length, 2);
    },
  );
});

Deno.test("ReconnectingSocket - stop() while open closes with 1000 and stays closed", async () => {
  await withRig(
    () => 0,
    async ({ clock, socket, server, recorder, reach }) => {
      let serverClose: CloseEvent | null = null;
      socket.start();
      await reach(isOpen, "open");
      await until(() => server.sockets.size === 1, "server socket", clock);
      for (const s of server.sockets) {
        s.addEventListener("close", (e) => serverClose = e);
      }
      socket.stop();
      assert.deepEqual(socket.state.value, {
        status: "closed",
        retries: 0,
        nextRetryAt: null,
        replaced: false,
      });
      await until(
        () => serverClose !== null,
        "the server to see the close",
        clock,
      );
      assert.equal(serverClose!.code, 1000);

      await clock.tickAsync(60 * 60_000);
      socket.retryNow();
      await settle(clock);
      assert.equal(recorder.count, 1);
      assert.equal(socket.state.value.status, "closed");
    },
  );
});

Deno.test("ReconnectingSocket - stop() during the backoff wait cancels the retry", async () => {
  await withRig(
    () => 0.5,
    async ({ clock, socket, server, recorder, reach }) => {
      socket.start();
      await reach(isOpen, "open");
      await server.stop();
      await reach((s) => s.status === "closed", "closed");
      assert.equal(wait(socket), 250);
      server.start();
      socket.stop();
      assert.equal(socket.state.value.nextRetryAt, null);
      await clock.tickAsync(60 * 60_000);
      await settle(clock);
      assert.equal(recorder.count, 1);
      assert.equal(server.upgrades.length, 1);
    },
  );
});

Deno.test("ReconnectingSocket - a URL the WebSocket constructor rejects counts as a failed attempt", async () => {
  await withRig(
    () => 0.5,
    async ({ clock, socket, recorder }) => {
      socket.start();
      assert.deepEqual(socket.state.value, {
        status: "closed",
        retries: 1,
        nextRetryAt: Date.now() + 250,
        replaced: false,
      });
      assert.equal(recorder.count, 0, "the constructor threw");
      await clock.tickAsync(250);
      assert.equal(socket.state.value.retries, 2);
      assert.equal(wait(socket), 500);
    },
    () => "not a websocket url",
  );
});

Deno.test("ReconnectingSocket - start() after stop() during a backoff wait makes one connection, not two", async () => {
  await withRig(
    () => 0.5,
    async ({ clock, socket, server, recorder, reach }) => {
      socket.start();
      await reach(isOpen, "open");
      await server.stop();
      await reach((s) => s.status === "closed", "closed");
      assert.equal(wait(socket), 250);
      server.start();
      socket.stop();
      socket.start(); // what reclaim() does
      assert.equal(recorder.count, 2);
      await reach(isOpen, "open");
      // The wait that was running when stop() came must not fire later.
      await clock.tickAsync(250);
      await settle(clock);
      assert.equal(recorder.count, 2);
      assert.equal(server.upgrades.length, 2);
      assert.equal(socket.state.value.status, "open");
    },
  );
});
