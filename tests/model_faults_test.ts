/**
 * End-to-end tests of the async error path: the model provider fails after a
 * chat was accepted. The client sees `ok: true`, then (maybe some deltas) an
 * `error` event with code llm_error saying what failed, then a
 * context_update; the session stays usable, and the next model request keeps
 * the failed user turn but none of the partial reply.
 */
import assert from "node:assert/strict";
import type { FrontendEvent } from "../lib/protocol.ts";
import type { Scenario } from "./fake_openai.ts";
import { Client, joinDeltas, startTandem } from "./harness.ts";

type Ev<T extends FrontendEvent["type"]> = Extract<FrontendEvent, { type: T }>;

/** The key the harness gives Tandem; it must never reach a client or a log. */
const API_KEY = "sk-test-secret";
const FIRST = "What is the capital of France?";
const SECOND = "And of Italy?";

interface Fault {
  /** What FakeOpenAI does with the first chat's request. */
  scenario?: Scenario;
  env?: Record<string, string>;
  /** The error text must match all of these. */
  names: RegExp[];
  /** The text streamed as deltas before the error. */
  deltas?: string;
  /** Point Tandem at a closed port for the first chat. */
  refused?: boolean;
}

/** A port nothing listens on (it was free a moment ago). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Forwards chat-completion requests on `port` to FakeOpenAI at `target`. */
function proxy(port: number, target: string): Deno.HttpServer {
  return Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    async (req) =>
      await fetch(target.replace(/\/v1$/, "") + new URL(req.url).pathname, {
        method: req.method,
        headers: {
          "content-type": "application/json",
          authorization: req.headers.get("authorization") ?? "",
        },
        body: await req.text(),
      }),
  );
}

/**
 * Runs one fault: a chat that fails in the model, then a chat in the same
 * session that succeeds, checking every frame the client sees.
 */
async function runFault(fault: Fault): Promise<void> {
  const env = { ...fault.env };
  const port = fault.refused ? closedPort() : 0;
  if (fault.refused) env.OPENAI_BASE_URL = `http://127.0.0.1:${port}/v1`;
  const tandem = await startTandem({ env });
  const fake = tandem.fake!;
  let client: Client | undefined;
  let forward: Deno.HttpServer | undefined;
  try {
    client = await Client.connect(tandem);
    const sid = await client.createSession();
    const system = await client.event<Ev<"system_message">>(
      "system_message",
      sid,
    );
    const seeds = await client.event<Ev<"seed_messages">>("seed_messages", sid);
    const created = await client.event("context_update", sid);
    if (fault.scenario) fake.enqueue(fault.scenario);
    const chat = { type: "chat", agent_id: "assistant", session_id: sid };

    const accepted = await client.command({ ...chat, message: FIRST });
    assert.equal(accepted.ok, true, JSON.stringify(accepted));
    const error = await client.event<Ev<"error">>("error", sid, 10_000);
    assert.equal(error.code, "llm_error");
    assert.equal(error.agent_id, "assistant");
    assert.equal(error.session_id, sid);
    for (const re of fault.names) assert.match(error.error, re);
    const context = await client.event<Ev<"context_update">>(
      "context_update",
      sid,
    );
    assert.equal(context.seq, error.seq + 1, "context_update right after");
    assert.ok(context.context.used_tokens > 0);

    // Between the create and the error: only deltas of one reply.
    const between = client.events().filter((e) =>
      e.seq > created.seq && e.seq < error.seq
    );
    assert.ok(between.every((e) => e.type === "agent_response_delta"));
    const ids = new Set(
      between.map((e) => (e as Ev<"agent_response_delta">).message_id),
    );
    assert.ok(ids.size <= 1, "deltas of one reply");
    const failedId = [...ids][0] ?? "";
    assert.equal(joinDeltas(between, failedId), fault.deltas ?? "");
    assert.ok(!client.events().some((e) => e.type === "agent_response"));

    // The session takes the next message and answers it.
    if (fault.refused) forward = proxy(port, fake.url);
    const again = await client.command({ ...chat, message: SECOND });
    assert.equal(again.ok, true, JSON.stringify(again));
    const reply = await client.event<Ev<"agent_response">>(
      "agent_response",
      sid,
      10_000,
    );
    assert.equal(reply.response.content, `Echo: ${SECOND}`);
    assert.equal(reply.response.finish_reason, "stop");
    assert.notEqual(reply.response.message_id, failedId);
    const after = await client.event<Ev<"context_update">>(
      "context_update",
      sid,
    );
    assert.equal(after.seq, reply.seq + 1);
    const answers = client.events().filter((e) => e.type === "agent_response");
    assert.equal(answers.length, 1, "no agent_response for the failed turn");

    // The failed user turn is kept; no partial assistant text is.
    const sent = fake.requests.at(-1)!.body.messages;
    assert.deepEqual(sent, [
      { role: "system", content: system.content },
      ...seeds.messages,
      { role: "user", content: FIRST },
      { role: "user", content: SECOND },
    ]);
    assert.equal(client.backend.frames.length, 3, "one result per command");

    // The API key never reaches the client nor the logs.
    const seen = JSON.stringify([
      client.frontend.frames,
      client.backend.frames,
    ]);
    assert.ok(!seen.includes(API_KEY), "API key in a frame");
    assert.ok(!tandem.logs.join("\n").includes(API_KEY), "API key in logs");
    assert.ok(
      tandem.logs.some((l) => /WARN.*model call failed/.test(l)),
      tandem.logs.join("\n"),
    );
  } finally {
    await client?.close();
    await forward?.shutdown();
    await tandem.close();
  }
}

Deno.test("Model faults - a 500 is an llm_error naming the server error; the next chat works", async () => {
  await runFault({
    scenario: { kind: "status", status: 500 },
    names: [/server error/, /\b500\b/],
  });
});

Deno.test("Model faults - a 429 with retry-after says rate-limited and when to retry", async () => {
  await runFault({
    scenario: {
      kind: "status",
      status: 429,
      headers: { "retry-after": "20" },
      message: "Rate limit reached for requests",
    },
    names: [/rate-limited/, /\b20 s\b/],
  });
});

Deno.test("Model faults - a 401 names OPENAI_API_KEY and never shows the key", async () => {
  await runFault({
    scenario: {
      kind: "status",
      status: 401,
      message: `Incorrect API key provided: ${API_KEY}.`,
    },
    names: [/OPENAI_API_KEY/],
  });
});

Deno.test("Model faults - a provider that never answers times out before the first token", async () => {
  await runFault({
    scenario: { kind: "hang" },
    env: { LLM_FIRST_TOKEN_TIMEOUT_MS: "300" },
    names: [/sent nothing for 0\.3 s/, /first token/],
  });
});

Deno.test("Model faults - headers then silence times out before the first token", async () => {
  await runFault({
    scenario: { kind: "stall" },
    env: { LLM_FIRST_TOKEN_TIMEOUT_MS: "300" },
    names: [/sent nothing for 0\.3 s/, /first token/],
  });
});

Deno.test("Model faults - a stream cut after some chunks says it broke off, after its deltas", async () => {
  await runFault({
    scenario: { kind: "cut", chunks: ["Paris is ", "the capi"] },
    names: [/broke off/],
    deltas: "Paris is the capi",
  });
});

Deno.test("Model faults - chunks slower than LLM_IDLE_TIMEOUT_MS time out mid-reply", async () => {
  await runFault({
    scenario: {
      kind: "reply",
      chunks: ["Paris ", "is ", "the capital."],
      chunkDelayMs: 800,
    },
    env: { LLM_IDLE_TIMEOUT_MS: "300" },
    names: [/sent nothing for 0\.3 s/, /middle of the reply/],
    deltas: "Paris ",
  });
});

Deno.test("Model faults - an empty reply is an llm_error saying it was empty", async () => {
  await runFault({
    scenario: { kind: "reply", chunks: [] },
    names: [/empty/],
  });
});

Deno.test("Model faults - a refused connection says the provider could not be reached", async () => {
  await runFault({
    refused: true,
    names: [/could not reach/, /OPENAI_BASE_URL/],
  });
});
