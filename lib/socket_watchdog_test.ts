import assert from "node:assert/strict";
import { SocketWatchdog } from "./socket_watchdog.ts";

const TIMEOUT_MS = 400;
/** More than the loopback's kernel buffers take, so sends queue up. */
const BACKLOG = 100;
const CHUNK = "y".repeat(64 * 1024);

interface World {
  /** The server's socket, watched from its open. */
  server: WebSocket;
  /** When the watchdog called it dead (ms after open), or null. */
  deadAfter: () => number | null;
  watchdog: SocketWatchdog;
  /** The raw TCP connection of a peer that reads only when told. */
  peer: Deno.Conn;
}

/**
 * A Deno server socket with a watchdog, and a peer that completes the
 * WebSocket handshake over raw TCP and then reads nothing: a peer that
 * stopped reading, as far as the server can tell.
 */
async function withWorld(body: (world: World) => Promise<void>) {
  let opened!: (world: Omit<World, "peer">) => void;
  const ready = new Promise<Omit<World, "peer">>((r) => opened = r);
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (
    req,
  ) => {
    // No idleTimeout: only the watchdog is under test.
    const { socket, response } = Deno.upgradeWebSocket(req, {
      idleTimeout: 0,
    });
    socket.onopen = () => {
      const openedAt = performance.now();
      let dead: number | null = null;
      const watchdog = new SocketWatchdog(socket, TIMEOUT_MS, () => {
        dead = performance.now() - openedAt;
      });
      socket.onmessage = () => watchdog.heard();
      opened({ server: socket, deadAfter: () => dead, watchdog });
    };
    return response;
  });
  const peer = await Deno.connect({
    hostname: "127.0.0.1",
    port: http.addr.port,
  });
  await peer.write(new TextEncoder().encode(
    [
      "GET / HTTP/1.1",
      `Host: 127.0.0.1:${http.addr.port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      "",
      "",
    ].join("\r\n"),
  ));
  const world = await ready;
  try {
    await body({ ...world, peer });
  } finally {
    world.watchdog.stop();
    peer.close();
    await http.shutdown();
  }
}

/** A masked client text frame (clients must mask), short payloads only. */
function clientFrame(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const mask = [7, 1, 3, 9];
  return new Uint8Array([
    0x81,
    0x80 | payload.length,
    ...mask,
    ...payload.map((b, i) => b ^ mask[i % 4]),
  ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("SocketWatchdog - a peer that stops reading with data queued is dead within the timeout", async () => {
  await withWorld(async ({ server, deadAfter }) => {
    for (let i = 0; i < BACKLOG; i++) server.send(CHUNK);
    assert.ok(server.bufferedAmount > 0, "the sends queued up");
    const deadline = performance.now() + 3 * TIMEOUT_MS;
    while (deadAfter() === null && performance.now() < deadline) {
      await sleep(20);
    }
    const after = deadAfter();
    assert.notEqual(after, null, "the watchdog called it dead");
    assert.ok(after! >= TIMEOUT_MS, `not before the timeout (${after} ms)`);
    assert.ok(after! < TIMEOUT_MS * 1.5, `soon after it (${after} ms)`);
  });
});

Deno.test("SocketWatchdog - an idle peer, and one that reads its backlog, are not dead", async () => {
  await withWorld(async ({ server, deadAfter, peer }) => {
    // Nothing queued: Deno's ping judges an idle peer, not the watchdog.
    await sleep(2 * TIMEOUT_MS);
    assert.equal(deadAfter(), null, "idle is not dead");

    for (let i = 0; i < 3 * BACKLOG; i++) server.send(CHUNK);
    const buffer = new Uint8Array(64 * 1024);
    const start = performance.now();
    // A slow reader: the backlog outlasts a timeout but shrinks at every check.
    while (performance.now() - start < 4 * TIMEOUT_MS) {
      if (server.bufferedAmount === 0) break;
      await peer.read(buffer);
      await sleep(5);
    }
    const drained = performance.now() - start;
    assert.ok(drained > 1.5 * TIMEOUT_MS, `the backlog lasted ${drained} ms`);
    assert.equal(deadAfter(), null, "a reader is not dead");
  });
});

Deno.test("SocketWatchdog - a peer that sends frames is alive though it reads nothing", async () => {
  await withWorld(async ({ server, deadAfter, peer }) => {
    for (let i = 0; i < BACKLOG; i++) server.send(CHUNK);
    for (let i = 0; i < 12; i++) {
      await peer.write(clientFrame("hi"));
      await sleep(TIMEOUT_MS / 4);
    }
    assert.ok(server.bufferedAmount > 0, "still nothing read");
    assert.equal(deadAfter(), null, "heard, so alive");
    // Once it falls silent too, it is dead.
    await sleep(2 * TIMEOUT_MS);
    assert.notEqual(deadAfter(), null, "silent and not reading is dead");
  });
});
