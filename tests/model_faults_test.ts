/**
 * End-to-end tests of model faults that end a reply: the provider fails
 * after a chat was accepted, Tandem retries what a retry can cure (only
 * before any text reached the browser, within its budget), and then the
 * client sees `ok: true`, maybe some deltas, an `error` event with code
 * llm_error saying what failed, and a context_update. The conversation keeps
 * the user's turn and none of the partial reply, and the next chat works.
 * Faults that a retry cures are in model_retries_test.ts.
 */
import assert from "node:assert/strict";
import type { Scenario } from "./fake_openai.ts";
import { joinDeltas, startTandem } from "./harness.ts";
import {
  API_KEY,
  type Chat,
  closedPort,
  type Ev,
  expectHistory,
  expectNextWorks,
  expectQuietLogs,
  FAST_RETRIES,
  FIRST,
  openChat,
  proxy,
  RETRYING,
} from "./model_rig.ts";

interface Fault {
  /** What FakeOpenAI does with the first chat's requests, in order. */
  scenarios?: Scenario[];
  /** What it does with every request of the first chat after those. */
  otherwise?: Scenario;
  /** Settings beyond FAST_RETRIES. */
  env?: Record<string, string>;
  /** The error text must match all of these. */
  names: RegExp[];
  /** The text streamed as deltas before the error. */
  deltas?: string;
  /** Point Tandem at a closed port for the first chat. */
  refused?: boolean;
  /** Model calls the first chat makes (omit to check it yourself). */
  attempts?: number;
  /** Provider text that must reach no log line above debug. */
  secrets?: string[];
  /** More checks once the error arrived, before the next chat. */
  check?: (chat: Chat, error: Ev<"error">, acceptedAt: number) => void;
}

/**
 * Runs one fault: a chat that fails in the model, then a chat in the same
 * session that succeeds, checking every frame the client sees.
 */
async function runFault(fault: Fault): Promise<void> {
  const env: Record<string, string> = { ...FAST_RETRIES, ...fault.env };
  const port = fault.refused ? closedPort() : 0;
  if (fault.refused) env.OPENAI_BASE_URL = `http://127.0.0.1:${port}/v1`;
  const tandem = await startTandem({ env, logLevel: "info" });
  const fake = tandem.fake!;
  let chat: Chat | undefined;
  let forward: Deno.HttpServer | undefined;
  try {
    chat = await openChat(tandem);
    const { client, sid } = chat;
    fake.enqueue(...fault.scenarios ?? []);
    if (fault.otherwise) fake.setDefault(() => fault.otherwise!);
    const acceptedAt = Date.now();
    const accepted = await chat.send(FIRST);
    assert.equal(accepted.ok, true, JSON.stringify(accepted));
    const error = await client.event<Ev<"error">>("error", sid, 10_000);
    assert.equal(error.code, "llm_error");
    assert.equal(error.agent_id, "assistant");
    for (const re of fault.names) assert.match(error.error, re);
    const context = await client.event<Ev<"context_update">>(
      "context_update",
      sid,
    );
    assert.equal(context.seq, error.seq + 1, "context_update right after");
    assert.ok(context.context.used_tokens > 0);

    // Between the create and the error: only deltas of one reply.
    const between = chat.since(chat.createdSeq).filter((e) =>
      e.seq < error.seq
    );
    assert.ok(between.every((e) => e.type === "agent_response_delta"));
    const ids = new Set(
      between.map((e) => (e as Ev<"agent_response_delta">).message_id),
    );
    assert.ok(ids.size <= 1, "deltas of one reply");
    assert.equal(joinDeltas(between, [...ids][0] ?? ""), fault.deltas ?? "");
    assert.ok(!client.events().some((e) => e.type === "agent_response"));

    // Each retry logged one line; the fake saw every attempt.
    const retried = tandem.logs.filter((l) => RETRYING.test(l)).length;
    if (fault.attempts !== undefined) {
      assert.equal(retried + 1, fault.attempts, tandem.logs.join("\n"));
      if (!fault.refused) assert.equal(fake.requests.length, fault.attempts);
    }
    if (!fault.refused) assert.equal(fake.requests.length, retried + 1);
    if (retried > 0) {
      assert.match(error.error, new RegExp(`after ${retried + 1} attempts`));
    } else assert.doesNotMatch(error.error, /attempts/);
    fault.check?.(chat, error, acceptedAt);
    fake.setDefault(() => ({ kind: "reply" }));

    // The failed user turn is kept; no partial assistant text is.
    await expectHistory(chat, [{ role: "user", content: FIRST }]);
    if (fault.refused) forward = proxy(port, fake.url);
    await expectNextWorks(chat, [{ role: "user", content: FIRST }]);
    assert.equal(
      client.events().filter((e) => e.type === "agent_response").length,
      1,
      "no agent_response for the failed turn",
    );

    // The API key reaches neither the client nor the logs.
    const seen = JSON.stringify([
      client.frontend.frames,
      client.backend.frames,
    ]);
    assert.ok(!seen.includes(API_KEY), "API key in a frame");
    expectQuietLogs(tandem, fault.secrets ?? []);
    assert.ok(
      tandem.logs.some((l) => /WARN.*model call failed/.test(l)),
      tandem.logs.join("\n"),
    );
  } finally {
    await chat?.client.close();
    await forward?.shutdown();
    await tandem.close();
  }
}

const status = (status: number, extra: Partial<Scenario> = {}): Scenario => ({
  kind: "status",
  status,
  ...extra,
} as Scenario);

Deno.test("Model faults - a refused connection is retried, then says the provider could not be reached", async () => {
  await runFault({
    refused: true,
    attempts: 3,
    names: [
      /^could not reach the model provider: Connection refused/,
      /after 3 attempts; check OPENAI_BASE_URL/,
    ],
  });
});

Deno.test("Model faults - a 401 is not retried, names OPENAI_API_KEY and never shows the key", async () => {
  const message = `Incorrect API key provided: ${API_KEY}.`;
  await runFault({
    scenarios: [status(401, { message })],
    attempts: 1,
    names: [/OPENAI_API_KEY/, /\b401\b/],
    secrets: ["Incorrect API key"],
  });
});

Deno.test("Model faults - a 400 is not retried and says what the provider refused", async () => {
  await runFault({
    scenarios: [status(400, { message: "max_tokens is too large" })],
    attempts: 1,
    names: [/refused the request \(400\)/, /max_tokens is too large/],
    secrets: ["max_tokens is too large"],
  });
});

Deno.test("Model faults - a 429 waiting beyond the budget stops at once and says when to try again", async () => {
  await runFault({
    scenarios: [status(429, {
      headers: { "retry-after": "20" },
      message: "Rate limit reached for requests",
    })],
    env: { LLM_RETRY_BUDGET_MS: "2000" },
    attempts: 1,
    names: [/^the model provider rate-limited us \(429\); try again in 20 s$/],
    secrets: ["Rate limit reached"],
  });
});

Deno.test("Model faults - a 500 is retried LLM_MAX_RETRIES times, then names the server error", async () => {
  const boom = status(500, { message: "upstream exploded" });
  await runFault({
    scenarios: [boom, boom, boom],
    attempts: 3,
    names: [/server error \(500\) after 3 attempts; try again/],
    secrets: ["upstream exploded"],
  });
});

Deno.test("Model faults - a 503 is retried until LLM_RETRY_BUDGET_MS runs out", async () => {
  const budget = 400;
  await runFault({
    otherwise: status(503),
    env: {
      LLM_MAX_RETRIES: "10",
      LLM_RETRY_BUDGET_MS: String(budget),
      LLM_RETRY_BASE_MS: "50",
    },
    names: [/server error \(503\) after \d+ attempts/],
    check: (chat, _error, acceptedAt) => {
      const { requests } = chat.tandem.fake!;
      // More than one attempt, fewer than the 11 allowed: the budget ended it.
      assert.ok(requests.length >= 2 && requests.length < 11);
      // No attempt started after the budget (a few ms for the request).
      assert.ok(requests.at(-1)!.at - acceptedAt <= budget + 100);
    },
  });
});

Deno.test("Model faults - a provider that never answers times out before the first token, retried", async () => {
  await runFault({
    scenarios: [{ kind: "hang" }, { kind: "hang" }],
    env: { LLM_FIRST_TOKEN_TIMEOUT_MS: "200", LLM_MAX_RETRIES: "1" },
    attempts: 2,
    names: [/sent nothing for 0\.2 s before the first token after 2 attempts/],
  });
});

Deno.test("Model faults - a stream cut after some chunks is not retried; the error follows its deltas", async () => {
  await runFault({
    scenarios: [{ kind: "cut", chunks: ["Paris is ", "the capi"] }],
    attempts: 1,
    names: [/broke off/],
    deltas: "Paris is the capi",
  });
});

Deno.test("Model faults - chunks slower than LLM_IDLE_TIMEOUT_MS time out mid-reply, not retried", async () => {
  await runFault({
    scenarios: [{
      kind: "reply",
      chunks: ["Paris ", "is ", "the capital."],
      chunkDelayMs: 600,
    }],
    env: { LLM_IDLE_TIMEOUT_MS: "300", LLM_FIRST_TOKEN_TIMEOUT_MS: "2000" },
    attempts: 1,
    names: [/sent nothing for 0\.3 s/, /middle of the reply/],
    deltas: "Paris ",
  });
});

Deno.test("Model faults - a line that is not JSON after some text is not retried and says so", async () => {
  await runFault({
    scenarios: [{ kind: "malformed", chunks: ["Paris ", "is"] }],
    attempts: 1,
    names: [
      /^the model provider sent a stream Tandem could not read; try again$/,
    ],
    deltas: "Paris is",
  });
});

Deno.test("Model faults - an empty reply is not retried and says it was empty", async () => {
  await runFault({
    scenarios: [{ kind: "reply", chunks: [] }],
    attempts: 1,
    names: [/^the model returned an empty reply; try again$/],
  });
});
