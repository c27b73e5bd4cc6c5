/**
 * Load benchmark (not part of the test suite): N concurrent clients, each
 * with a session, each streaming a reply at once, against main.ts running in
 * its own process and a fake OpenAI server in this one.
 *
 *   deno task bench            # N = 100, 500, 1000
 *   deno task bench 50         # just N = 50
 *
 * Prints errors (must be 0), p50/p99 latency from `chat` sent to the first
 * delta received, and the server's resident memory per connected client.
 */
import { FakeOpenAI } from "../tests/fake_openai.ts";
import { AGENTS_DIR, Client, type Tandem } from "../tests/harness.ts";
import { spawnMain } from "../tests/main_process.ts";

const sizes = Deno.args.length > 0 ? Deno.args.map(Number) : [100, 500, 1000];

function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? NaN);
}

function percentile(sorted: number[], p: number): number {
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
}

async function run(n: number, fake: FakeOpenAI): Promise<void> {
  const running = await spawnMain({
    AGENTS_DIR,
    OPENAI_API_KEY: "bench",
    OPENAI_BASE_URL: fake.url,
    COMMANDS_PER_SECOND: "1000",
    COMMAND_BURST: "1000",
  });
  if (!running.url) {
    throw new Error(`server did not start: ${running.output()}`);
  }
  const child = running.child;
  const tandem = { wsBase: running.url.replace(/^http/, "ws") } as Tandem;
  const before = rssKiB(child.pid);
  let errors = 0;
  const clients: Client[] = [];
  try {
    for (let i = 0; i < n; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, async () => {
          try {
            const client = await Client.connect(tandem);
            await client.createSession();
            return client;
          } catch {
            errors++;
            return null;
          }
        }),
      );
      clients.push(...batch.filter((c): c is Client => c !== null));
    }
    const connected = rssKiB(child.pid);
    const latencies: number[] = [];
    await Promise.all(clients.map(async (client) => {
      try {
        const sessions =
          (await client.command({ type: "session", action: "list" }))
            .sessions as { session_id: string }[];
        const started = performance.now();
        const result = await client.command({
          type: "chat",
          agent_id: "assistant",
          session_id: sessions[0].session_id,
          message: "benchmark message with a few words in it",
        }, 30_000);
        if (result.ok !== true) throw new Error(JSON.stringify(result));
        await client.event("agent_response_delta", undefined, 30_000);
        latencies.push(performance.now() - started);
        // Throws (an error counted below) if the reply never completes.
        await client.event("agent_response", undefined, 60_000);
      } catch {
        errors++;
      }
    }));
    latencies.sort((a, b) => a - b);
    const perClient = (connected - before) / Math.max(1, clients.length);
    console.log(
      `N=${n} errors=${errors} p50=${
        percentile(latencies, 50)?.toFixed(1)
      }ms ` +
        `p99=${percentile(latencies, 99)?.toFixed(1)}ms ` +
        `server_rss=${(connected / 1024).toFixed(1)}MiB ` +
        `per_client=${perClient.toFixed(1)}KiB`,
    );
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    child.kill("SIGTERM");
    await running.exited;
  }
}

const fake = await FakeOpenAI.start();
fake.setDefault(() => ({
  kind: "reply",
  text: "a short streamed benchmark reply",
  chunkDelayMs: 5,
}));
try {
  for (const n of sizes) await run(n, fake);
} finally {
  await fake.close();
}
