/**
 * Dead connections, server side: a client whose network path dies without
 * a close (a TCP proxy that freezes) is noticed within HEARTBEAT_TIMEOUT_MS
 * and detached; its events stay held, and the client resumes on a new
 * connection with every event once, in order. Live idle clients are kept.
 */
import assert from "node:assert/strict";
import type { FrontendEvent } from "../lib/protocol.ts";
import {
  Client,
  joinDeltas,
  Socket,
  type Tandem,
  withTandem,
} from "./harness.ts";
import { TcpProxy } from "./tcp_proxy.ts";

const TIMEOUT = 1000;
const ENV = { HEARTBEAT_TIMEOUT_MS: String(TIMEOUT) };

type Connected = { epoch: string; last_seq: number; recovered: boolean };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(
  condition: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    }
    await sleep(10);
  }
}

function connectedCount(tandem: Tandem): number {
  return tandem.server.objects.frontendApi.stats().connected;
}

/**
 * Opens a frontend socket for `client` again, straight to the server (as the
 * page does once its heartbeat gave up on the old one), and checks that the
 * events after `before` arrive once, in order, up to the reply's end.
 */
async function resume(
  tandem: Tandem,
  client: Client,
  before: FrontendEvent[],
  sessionId: string,
  chunks: string[],
): Promise<Client> {
  const { epoch } = client.frontend.all<Connected>()[0];
  const lastSeq = Math.max(...before.map((e) => e.seq));
  const direct = new Client(tandem, client.id);
  const connected = await direct.connectFrontend(
    `&last_seq=${lastSeq}&epoch=${epoch}`,
  ) as unknown as Connected;
  assert.equal(connected.recovered, true);
  assert.equal(connected.epoch, epoch);
  const response = await direct.event<{ response: { message_id: string } }>(
    "agent_response",
    sessionId,
    20_000,
  );
  await direct.event("context_update", sessionId);
  const after = direct.events();
  const all = [...before, ...after];
  assert.deepEqual(
    all.map((e) => e.seq),
    Array.from({ length: all.length }, (_, i) => i + 1),
    "every event once, in order",
  );
  assert.equal(after[0].seq, lastSeq + 1);
  assert.equal(joinDeltas(all, response.response.message_id), chunks.join(""));
  return direct;
}

Deno.test("Dead connection - a client frozen mid-reply is detached within the timeout and resumes with every event once", async () => {
  await withTandem({ env: ENV }, async (tandem) => {
    const proxy = TcpProxy.start(tandem.server.port);
    const client = await Client.connect({
      ...tandem,
      wsBase: `ws://127.0.0.1:${proxy.port}`,
    });
    let direct: Client | null = null;
    try {
      const sessionId = await client.createSession();
      await client.event("context_update", sessionId);
      const chunks = Array.from({ length: 40 }, (_, i) => `w${i} `);
      tandem.fake!.enqueue({ kind: "reply", chunks, chunkDelayMs: 50 });
      await client.command({
        type: "chat",
        agent_id: "assistant",
        session_id: sessionId,
        message: "stream slowly",
      });
      for (let i = 0; i < 3; i++) {
        await client.event("agent_response_delta", sessionId);
      }
      assert.equal(connectedCount(tandem), 1);

      proxy.freeze();
      const frozenAt = performance.now();
      await waitFor(() => connectedCount(tandem) === 0, 3 * TIMEOUT, "detach");
      const noticedAfter = performance.now() - frozenAt;
      assert.ok(
        noticedAfter < TIMEOUT + 300,
        `noticed ${noticedAfter} ms after the freeze`,
      );
      assert.ok(client.frontend.isOpen, "the client has not noticed");

      direct = await resume(tandem, client, client.events(), sessionId, chunks);
    } finally {
      await proxy.close();
      await client.close();
      await direct?.close();
    }
  });
});

Deno.test("Dead connection - a client that stops reading with megabytes queued is detached too", async () => {
  await withTandem({ env: ENV, logLevel: "info" }, async (tandem) => {
    const proxy = TcpProxy.start(tandem.server.port);
    const client = new Client(tandem);
    await client.connectBackend();
    client.frontend = new Socket(
      `ws://127.0.0.1:${proxy.port}/ws/frontend-api?client=${client.id}`,
    );
    let direct: Client | null = null;
    try {
      await client.frontend.opened;
      const sessionId = await client.createSession();
      await client.event("context_update", sessionId);
      proxy.freeze();
      // More than the kernel's buffers take: Deno's ping waits behind it.
      const chunks = Array.from(
        { length: 192 },
        (_, i) => `${i}`.padEnd(64 * 1024, "y"),
      );
      tandem.fake!.enqueue({ kind: "reply", chunks });
      const frozenAt = performance.now();
      await client.command({
        type: "chat",
        agent_id: "assistant",
        session_id: sessionId,
        message: "a long one",
      });
      await waitFor(() => connectedCount(tandem) === 0, 6 * TIMEOUT, "detach");
      const noticedAfter = performance.now() - frozenAt;
      assert.ok(
        tandem.logs.some((line) => line.includes("peer stopped reading")),
        `the watchdog noticed: ${tandem.logs.join("\n")}`,
      );
      assert.ok(noticedAfter < 3 * TIMEOUT, `noticed after ${noticedAfter} ms`);

      direct = await resume(tandem, client, client.events(), sessionId, chunks);
    } finally {
      await proxy.close();
      await client.close();
      await direct?.close();
    }
  });
});

Deno.test("Dead connection - live idle clients answer the server's pings and are kept", async () => {
  await withTandem({ env: ENV }, async (tandem, connect) => {
    const client = await connect();
    await sleep(3 * TIMEOUT);
    assert.ok(client.frontend.isOpen && client.backend.isOpen);
    assert.equal(connectedCount(tandem), 1);
    const list = await client.command({ type: "session", action: "list" });
    assert.equal(list.ok, true);
  });
});
