/**
 * Fuzz test of hostile input (issue 4): main.ts in its own process, thousands
 * of seeded hostile frames on both sockets from many clients, floods and a
 * session hog, while one well-behaved client keeps chatting. Every hostile
 * frame must get the answer the protocol gives it, the chatter must see
 * nothing unusual, and the server's heap after a second round must be where
 * it was after the first. Replay a failure with FUZZ_SEED=<printed seed>.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../lib/config.ts";
import { FakeOpenAI } from "./fake_openai.ts";
import { Chatter } from "./fuzz_chatter.ts";
import { BackendHostile, FrontendHostile, RawSocket } from "./fuzz_clients.ts";
import {
  floodBlindly,
  floodInBursts,
  type FloodOutcome,
  type FloodTarget,
  hogSessions,
} from "./fuzz_floods.ts";
import { BackendFuzzer } from "./fuzz_backend_frames.ts";
import { FrontendFuzzer } from "./fuzz_frames.ts";
import { AGENTS_DIR } from "./harness.ts";
import { Inspector, rssKiB } from "./inspector.ts";
import { spawnMain } from "./main_process.ts";
import { SeededRandom, seedFrom } from "./seeded_random.ts";

/** Rate-limited frames in a row that close a socket (docs/protocol.md). */
const STRIKES = 500;
const BACKEND_CLIENTS = 24;
const FRONTEND_CLIENTS = 12;
const FRAMES_PER_CLIENT = 90;
/** Frames a blind flooder may send before the server must have closed it. */
const BLIND_MAX = 50_000;
/** Live heap growth from one round to the next that counts as a leak. */
const HEAP_MARGIN = 1024 * 1024;

/** Every kind of hostile frame must have been sent at least once. */
const BACKEND_CATEGORIES = [
  "not JSON",
  "not an object",
  "wrong type",
  "missing field",
  "unknown type",
  "unknown action",
  "empty field",
  "long request_id",
  "long field",
  "lone surrogate",
  "binary",
  "long message",
  "large frame",
  "over the hard limit",
  "deep",
  "proto",
  "many keys",
  "duplicate keys",
  "valid-looking",
  "ack",
  "bad ack",
  "ping",
];
const FRONTEND_CATEGORIES = [
  "ping",
  "not JSON",
  "not an object",
  "unknown type",
  "deep",
  "binary",
  "large frame",
  "over the hard limit",
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Frames sent by a set of hostile clients, by category. */
function tallies(
  list: { client: { categories: Map<string, number> } }[],
): Map<string, number> {
  const sum = new Map<string, number>();
  for (const { client } of list) {
    for (const [key, n] of client.categories) {
      sum.set(key, (sum.get(key) ?? 0) + n);
    }
  }
  return sum;
}
// The defaults, which the child runs with too: the test checks real settings.
const { limits } = loadConfig({}, AGENTS_DIR);
/** Each hostile client stays at half the rate limit, so none of its frames is rate-limited. */
const INTERVAL_MS = 2000 / limits.commandsPerSecond;
const rateNamed = new RegExp(
  `\\b${limits.commandsPerSecond} commands per second`,
);

function clientId(role: string, i: number): string {
  return `fuzz-${role}-${i}-${"x".repeat(16)}`;
}

/** The backend flood's frames: an unknown type, so nothing is remembered. */
function backendFlood(url: string): FloodTarget {
  return {
    url,
    frame: (n) => `{"type":"flood","request_id":"f${n}"}`,
    classify(answer, n) {
      const result = JSON.parse(answer);
      assert.equal(result.request_id, `f${n}`, answer);
      if (result.error?.code === "rate_limited") {
        assert.match(result.error.message, rateNamed);
        return "limited";
      }
      assert.equal(result.error?.code, "bad_request", answer);
      return "normal";
    },
  };
}

/** The frontend flood's frames: each answered by a numbered error event. */
function frontendFlood(url: string): FloodTarget {
  let seq = 0;
  return {
    url,
    frame: (n) => `{"type":"flood-${n}"}`,
    async skipFirst(socket: RawSocket) {
      // A first connect replays what is held, if it goes back to seq 1.
      const connected = JSON.parse(await socket.next() as string);
      seq = connected.recovered ? 0 : connected.last_seq;
      while (seq < connected.last_seq) {
        seq = JSON.parse(await socket.next() as string).seq;
      }
    },
    classify(answer) {
      const event = JSON.parse(answer);
      assert.equal(event.type, "error", answer);
      assert.equal(event.seq, ++seq, answer);
      if (event.code === "rate_limited") {
        assert.match(
          event.error,
          new RegExp(`\\b${limits.commandsPerSecond}\\b`),
        );
        return "limited";
      }
      assert.equal(event.code, "bad_request", answer);
      return "normal";
    },
  };
}

/** After a flood, the same client is served again once tokens come back. */
async function probeBackend(url: string): Promise<void> {
  await sleep(300);
  const socket = await RawSocket.open(url);
  socket.send('{"type":"session","action":"list","request_id":"probe"}');
  const answer = JSON.parse(await socket.next() as string);
  assert.equal(answer.ok, true, JSON.stringify(answer));
  await socket.close();
}

Deno.test("Fuzz - hostile frames on both sockets get their errors while a well-behaved client chats undisturbed", async () => {
  const seed = seedFrom("FUZZ_SEED");
  console.log(`FUZZ_SEED=${seed}`);
  const fake = await FakeOpenAI.start();
  fake.setDefault(() => ({ kind: "reply", chunkDelayMs: 2 }));
  const running = await spawnMain({
    AGENTS_DIR,
    OPENAI_API_KEY: "sk-fuzz",
    OPENAI_BASE_URL: fake.url,
    LLM_MAX_RETRIES: "0",
    // Held events stay bounded, so memory can settle between rounds.
    EVENT_HOLD_MS: "0",
    EVENT_HOLD_COUNT: "50",
  }, { flags: ["--inspect=127.0.0.1:0"] });
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    assert.ok(running.url, running.output());
    const wsBase = running.url.replace(/^http/, "ws");
    const inspector = await Inspector.connect(running.output());
    cleanup.push(() => inspector.close());
    const chatter = await Chatter.connect(
      wsBase,
      clientId("chatter", 0),
      INTERVAL_MS,
    );
    cleanup.push(async () => {
      await chatter.close();
      await chatter.stop();
    });

    const backends = Array.from({ length: BACKEND_CLIENTS }, (_, i) => {
      const rng = new SeededRandom(seed + i);
      const foreign = () => chatter.sessions;
      const fuzzer = new BackendFuzzer(rng, limits, foreign, true);
      return {
        client: new BackendHostile(wsBase, clientId("back", i)),
        fuzzer,
      };
    });
    const frontends = Array.from({ length: FRONTEND_CLIENTS }, (_, i) => {
      const fuzzer = new FrontendFuzzer(
        new SeededRandom(seed + 1000 + i),
        limits,
      );
      return {
        client: new FrontendHostile(wsBase, clientId("front", i)),
        fuzzer,
      };
    });
    const floodUrl = `${wsBase}/ws/backend-api?client=${clientId("flood", 0)}`;
    const blindUrl = `${wsBase}/ws/backend-api?client=${clientId("blind", 0)}`;
    const hogUrl = `${wsBase}/ws/backend-api?client=${clientId("hog", 0)}`;
    const frontFloodUrl = `${wsBase}/ws/frontend-api?client=${
      clientId("fflood", 0)
    }`;
    const floods: Record<string, FloodOutcome>[] = [];

    const round = async (r: number) => {
      const outcome: Record<string, FloodOutcome> = {};
      floods.push(outcome);
      const tasks: Promise<unknown>[] = [
        ...backends.map(({ client, fuzzer }) =>
          client.run(() => fuzzer.next(), FRAMES_PER_CLIENT, INTERVAL_MS)
        ),
        ...frontends.map(({ client, fuzzer }) =>
          client.run(() => fuzzer.next(), FRAMES_PER_CLIENT, INTERVAL_MS)
        ),
        hogSessions(hogUrl, r, limits.maxSessionsPerClient, INTERVAL_MS),
        (async () => {
          const burst = { strikes: STRIKES, burst: limits.commandBurst };
          outcome.backend = await floodInBursts(backendFlood(floodUrl), burst);
          await probeBackend(floodUrl);
        })(),
        (async () => {
          outcome.blind = await floodBlindly(backendFlood(blindUrl), BLIND_MAX);
          await probeBackend(blindUrl);
        })(),
        (async () => {
          const burst = { strikes: STRIKES, burst: limits.commandBurst };
          const target = frontendFlood(frontFloodUrl);
          outcome.frontend = await floodInBursts(target, burst);
        })(),
      ];
      const settled = await Promise.allSettled(tasks);
      const failed = settled.find((s) => s.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      chatter.check();
    };

    /** The child's memory with the chatter idle and every hostile socket closed. */
    const measure = async () => {
      await chatter.pause();
      await sleep(500);
      const heap = await inspector.heapAfterGc();
      const rss = rssKiB(running.child.pid);
      chatter.resume();
      return { heap, live: heap.used + heap.backing, rss };
    };

    chatter.start();
    const started = Date.now();
    await round(1); // warm-up: code compiled, per-client state made
    const before = await measure();
    await round(2);
    const after = await measure();
    await chatter.stop();
    chatter.check();
    const took = Date.now() - started;

    const backendFrames = tallies(backends);
    const frontendFrames = tallies(frontends);
    const total = (m: Map<string, number>) =>
      [...m.values()].reduce((a, b) => a + b, 0);
    const floodFrames = floods.flatMap((o) => Object.values(o))
      .reduce((sum, o) => sum + o.sent, 0);
    console.log(
      `${total(backendFrames)} backend and ${
        total(frontendFrames)
      } frontend hostile frames, ${floodFrames} flood frames, in ${took} ms; chatter: ${chatter.chats} chats in ${chatter.cycles} sessions`,
    );
    console.log(
      `backend: ${JSON.stringify(Object.fromEntries(backendFrames))}`,
    );
    console.log(
      `frontend: ${JSON.stringify(Object.fromEntries(frontendFrames))}`,
    );
    console.log(`floods: ${JSON.stringify(floods)}`);
    console.log(
      `heap after GC: ${before.live} -> ${after.live} bytes (${
        after.live - before.live
      }); VmRSS ${before.rss} -> ${after.rss} KiB`,
    );

    assert.ok(total(backendFrames) + total(frontendFrames) >= 3000);
    for (const category of BACKEND_CATEGORIES) {
      assert.ok(backendFrames.get(category), `no "${category}" frames sent`);
    }
    for (const category of FRONTEND_CATEGORIES) {
      assert.ok(frontendFrames.get(category), `no "${category}" frames sent`);
    }
    assert.deepEqual(chatter.problems(), []);
    assert.ok(chatter.chats >= 6, `only ${chatter.chats} chats`);
    for (const outcome of floods) {
      assert.equal(outcome.backend.closeCode, 1008);
      assert.ok(outcome.backend.limited >= STRIKES - 1);
      // A blind flooder is closed too (its answers were all right), but
      // Deno drops its own close frame, and with a reset the answers still
      // in flight, when more frames arrive during the close handshake: the
      // flooder sees an abnormal close, not 1008.
      assert.ok(outcome.blind.sent < BLIND_MAX, JSON.stringify(outcome.blind));
      assert.equal(outcome.frontend.closeCode, 1008);
      assert.ok(outcome.frontend.limited >= STRIKES - 1);
    }
    assert.ok(
      after.live - before.live < HEAP_MARGIN,
      `live heap grew by ${
        after.live - before.live
      } bytes over a round (before ${JSON.stringify(before.heap)}, after ${
        JSON.stringify(after.heap)
      })`,
    );

    // Still answering: /healthz, and a fresh client chats.
    const health = await fetch(`${running.url}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const fresh = await Chatter.connect(
      wsBase,
      clientId("fresh", 0),
      INTERVAL_MS,
    );
    cleanup.push(() => fresh.close());
    await fresh.cycle();
    assert.deepEqual(fresh.problems(), []);
    const errors = running.output().split("\n").filter((l) =>
      /\bERROR\b/.test(l)
    );
    assert.deepEqual(errors, [], "the server logged errors");
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => {});
    running.child.kill("SIGTERM");
    await running.exited;
    await fake.close();
  }
});
