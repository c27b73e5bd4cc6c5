/**
 * End-to-end tests of model faults a retry cures: before any text reached
 * the browser, Tandem retries a failed call with backoff (or the wait a 429
 * asked for), and the person sees one ordinary reply: its deltas once, one
 * agent_response, no error. Also: cancel, close and shutdown during a wait.
 */
import assert from "node:assert/strict";
import type { Scenario } from "./fake_openai.ts";
import { joinDeltas, startTandem, type Tandem } from "./harness.ts";
import {
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
  waitForLogs,
} from "./model_rig.ts";

const REPLY = `Echo: ${FIRST}`;

interface Recovery {
  /** What FakeOpenAI does with the failing attempts, in order. */
  scenarios: Scenario[];
  env?: Record<string, string>;
  /** Model calls that reached FakeOpenAI for the first chat. */
  requests: number;
  /** Point Tandem at a closed port that starts forwarding after a retry. */
  refused?: boolean;
  /** More checks once the reply arrived. */
  check?: (chat: Chat) => void;
}

/** A chat whose first attempts fail and a retry answers in full. */
async function runRecovery(r: Recovery): Promise<void> {
  const env: Record<string, string> = { ...FAST_RETRIES, ...r.env };
  const port = r.refused ? closedPort() : 0;
  if (r.refused) env.OPENAI_BASE_URL = `http://127.0.0.1:${port}/v1`;
  const tandem = await startTandem({ env, logLevel: "info" });
  const fake = tandem.fake!;
  let chat: Chat | undefined;
  let forward: Deno.HttpServer | undefined;
  try {
    chat = await openChat(tandem);
    const { client, sid } = chat;
    fake.enqueue(...r.scenarios);
    const accepted = await chat.send(FIRST);
    assert.equal(accepted.ok, true, JSON.stringify(accepted));
    if (r.refused) {
      await waitForLogs(tandem, RETRYING);
      forward = proxy(port, fake.url);
    }
    const reply = await client.event<Ev<"agent_response">>(
      "agent_response",
      sid,
      10_000,
    );
    assert.equal(reply.response.content, REPLY);
    assert.equal(reply.response.finish_reason, "stop");
    const context = await client.event("context_update", sid);
    assert.equal(context.seq, reply.seq + 1);

    // Only the answering attempt's deltas, each once; no error at all.
    const events = chat.since(chat.createdSeq).filter((e) => e.seq < reply.seq);
    assert.ok(events.every((e) => e.type === "agent_response_delta"));
    assert.equal(joinDeltas(events, reply.response.message_id), REPLY);
    assert.ok(!client.events().some((e) => e.type === "error"));
    assert.equal(fake.requests.length, r.requests);
    // Every attempt asked the same thing.
    for (const req of fake.requests) {
      assert.deepEqual(req.body.messages, [
        ...chat.preamble,
        { role: "user", content: FIRST },
      ]);
    }
    assert.ok(tandem.logs.some((l) => RETRYING.test(l)), "a retry logged");
    r.check?.(chat);

    const turns = [
      { role: "user" as const, content: FIRST },
      { role: "assistant" as const, content: REPLY },
    ];
    await expectHistory(chat, turns);
    await expectNextWorks(chat, turns);
    expectQuietLogs(tandem, []);
  } finally {
    await chat?.client.close();
    await forward?.shutdown();
    await tandem.close();
  }
}

Deno.test("Model retries - a refused connection is retried until the provider is back", async () => {
  await runRecovery({
    scenarios: [],
    env: { LLM_MAX_RETRIES: "10", LLM_RETRY_BASE_MS: "100" },
    refused: true,
    requests: 1,
  });
});

Deno.test("Model retries - a 429 with a short retry-after waits that long, then answers", async () => {
  await runRecovery({
    scenarios: [{
      kind: "status",
      status: 429,
      headers: { "retry-after-ms": "300" },
    }],
    requests: 2,
    check: (chat) => {
      const [first, second] = chat.tandem.fake!.requests;
      // The backoff alone would be under 20 ms; the provider asked for 300.
      assert.ok(second.at - first.at >= 300, `${second.at - first.at} ms`);
    },
  });
});

Deno.test("Model retries - a 500 then a reply: the person sees only the reply", async () => {
  await runRecovery({
    scenarios: [{ kind: "status", status: 500 }],
    requests: 2,
  });
});

Deno.test("Model retries - no first token in time is retried within the budget", async () => {
  await runRecovery({
    scenarios: [{ kind: "stall" }],
    env: { LLM_FIRST_TOKEN_TIMEOUT_MS: "200" },
    requests: 2,
  });
});

Deno.test("Model retries - a stream cut before any text is retried", async () => {
  await runRecovery({
    scenarios: [{ kind: "cut", chunks: [] }],
    requests: 2,
  });
});

Deno.test("Model retries - a line that is not JSON before any text is retried", async () => {
  await runRecovery({
    scenarios: [{ kind: "malformed" }, { kind: "malformed", data: "{oops" }],
    requests: 3,
  });
});

/**
 * Starts a chat whose first call gets a 429 asking for `waitMs`, and
 * resolves once Tandem is waiting to retry.
 */
async function waitingToRetry(waitMs: number): Promise<[Tandem, Chat]> {
  const tandem = await startTandem({
    env: { ...FAST_RETRIES, LLM_RETRY_BUDGET_MS: "10000" },
    logLevel: "info",
  });
  const chat = await openChat(tandem);
  tandem.fake!.enqueue({
    kind: "status",
    status: 429,
    headers: { "retry-after-ms": String(waitMs) },
  });
  const accepted = await chat.send(FIRST);
  assert.equal(accepted.ok, true, JSON.stringify(accepted));
  await waitForLogs(tandem, RETRYING);
  return [tandem, chat];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("Model retries - cancel during a retry wait ends the reply at once, with no retry", async () => {
  const [tandem, chat] = await waitingToRetry(600);
  try {
    const started = Date.now();
    const cancel = await chat.client.command({
      type: "cancel",
      session_id: chat.sid,
    });
    assert.equal(cancel.cancelled, true, JSON.stringify(cancel));
    const reply = await chat.client.event<Ev<"agent_response">>(
      "agent_response",
      chat.sid,
    );
    assert.ok(Date.now() - started < 300, "cancel waited for the timer");
    assert.equal(reply.response.finish_reason, "cancelled");
    assert.equal(reply.response.content, "");
    await sleep(800); // past the 600 ms the retry would have waited
    assert.equal(tandem.fake!.requests.length, 1, "retried after cancel");
    assert.ok(!chat.client.events().some((e) => e.type === "error"));
    await expectHistory(chat, [{ role: "user", content: FIRST }]);
    await expectNextWorks(chat, [{ role: "user", content: FIRST }]);
  } finally {
    await chat.client.close();
    await tandem.close();
  }
});

Deno.test("Model retries - closing the session during a retry wait stops it silently", async () => {
  const [tandem, chat] = await waitingToRetry(600);
  try {
    const seq = chat.client.events().at(-1)!.seq;
    const closed = await chat.client.command({
      type: "session",
      action: "close",
      session_id: chat.sid,
    });
    assert.equal(closed.ok, true, JSON.stringify(closed));
    await sleep(800);
    assert.equal(tandem.fake!.requests.length, 1, "retried after close");
    assert.deepEqual(chat.since(seq), [], "no events after the close");
  } finally {
    await chat.client.close();
    await tandem.close();
  }
});

Deno.test("Model retries - shutdown does not wait for a retry timer", async () => {
  // That the wait's timer is cleared is checked in lib/model_call_test.ts
  // (Deno 2.9's test sanitizer does not report a timer left running).
  const [tandem, chat] = await waitingToRetry(5000);
  try {
    const started = Date.now();
    await chat.client.close();
    await tandem.close();
    assert.ok(Date.now() - started < 1000, `${Date.now() - started} ms`);
    assert.equal(tandem.fake!.requests.length, 1);
  } finally {
    await chat.client.close();
    await tandem.close();
  }
});
