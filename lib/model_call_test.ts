import assert from "node:assert/strict";
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
} from "openai";
import { FakeOpenAI } from "../tests/fake_openai.ts";
import { installClock, until } from "./client/testing.ts";
import { loadConfig } from "./config.ts";
import { createModelClient } from "./llm.ts";
import { createLogger } from "./logger.ts";
import {
  BROKE_OFF,
  classifyError,
  type Failure,
  failureMessage,
  isRetryable,
  MALFORMED,
  planRetry,
  type ReplyOutcome,
  streamReply,
} from "./model_call.ts";

const LLM = { maxRetries: 2, retryBudgetMs: 10_000, retryBaseMs: 1000 };
const AT = { opened: false, streamed: false, model: "gpt-x" };

function failure(over: Partial<Failure> = {}): Failure {
  return {
    kind: "status",
    status: 500,
    streamed: false,
    retryAfterMs: null,
    message: "the model provider failed with a server error (500); try again",
    cause: null,
    ...over,
  };
}

const status = (code: number, headers: Record<string, string> = {}) =>
  APIError.generate(code, { message: "boom" }, undefined, new Headers(headers));

Deno.test("isRetryable - transient failures before any text, nothing after", () => {
  const yes: Partial<Failure>[] = [
    { kind: "unreachable", status: null },
    { kind: "timeout", status: null },
    { kind: "broken", status: null },
    { kind: "malformed", status: null },
    ...[408, 409, 429, 500, 502, 503, 504].map((s) => ({ status: s })),
  ];
  for (const f of yes) {
    assert.equal(isRetryable(failure(f)), true, JSON.stringify(f));
    // Once text reached the browser a retry would send it twice.
    const after = failure({ ...f, streamed: true });
    assert.equal(isRetryable(after), false, JSON.stringify(f));
  }
  const no: Partial<Failure>[] = [
    ...[400, 401, 403, 404, 422].map((s) => ({ status: s })),
    { kind: "empty", status: null },
    { kind: "error", status: null },
  ];
  for (const f of no) {
    assert.equal(isRetryable(failure(f)), false, JSON.stringify(f));
  }
});

Deno.test("planRetry - full jitter below base * 2^n, bounded by attempts", () => {
  const top = () => 0.999;
  const plan = (attempts: number, random = top) =>
    planRetry(failure(), attempts, 0, LLM, random);
  assert.deepEqual(plan(1), { retry: true, waitMs: 999 });
  assert.deepEqual(plan(2), { retry: true, waitMs: 1998 });
  assert.deepEqual(plan(1, () => 0), { retry: true, waitMs: 0 });
  // LLM_MAX_RETRIES 2: three attempts in all.
  assert.deepEqual(plan(3), { retry: false, reason: "attempts" });
  const none = planRetry(failure(), 1, 0, { ...LLM, maxRetries: 0 });
  assert.deepEqual(none, { retry: false, reason: "attempts" });
  const auth = planRetry(failure({ status: 401 }), 1, 0, LLM);
  assert.deepEqual(auth, { retry: false, reason: "final" });
});

Deno.test("planRetry - the wait ends within the budget, or there is no retry", () => {
  const top = () => 0.999;
  // 9.5 s of 10 used: the ~1 s backoff is cut to the 500 ms left.
  assert.deepEqual(
    planRetry(failure(), 1, 9500, LLM, top),
    { retry: true, waitMs: 500 },
  );
  assert.deepEqual(
    planRetry(failure(), 1, 10_000, LLM, top),
    { retry: false, reason: "budget" },
  );
  const zero = { ...LLM, retryBudgetMs: 0 };
  assert.deepEqual(
    planRetry(failure(), 1, 0, zero),
    { retry: false, reason: "budget" },
  );
});

Deno.test("planRetry - a retry-after is honoured exactly, never shortened", () => {
  const limited = (ms: number) =>
    failure({ status: 429, retryAfterMs: ms, message: "rate-limited" });
  // Longer than the backoff would be: the provider's wait wins.
  assert.deepEqual(
    planRetry(limited(3000), 1, 0, LLM, () => 0),
    { retry: true, waitMs: 3000 },
  );
  assert.deepEqual(
    planRetry(limited(5000), 1, 5000, LLM),
    { retry: true, waitMs: 5000 },
  );
  // Beyond what is left of the budget: stop now, tell the person when.
  assert.deepEqual(
    planRetry(limited(20_000), 1, 0, LLM),
    { retry: false, reason: "budget" },
  );
  assert.deepEqual(
    planRetry(limited(5000), 1, 5001, LLM),
    { retry: false, reason: "budget" },
  );
});

Deno.test("failureMessage - says how often Tandem tried, before the advice", () => {
  const f = failure();
  assert.equal(failureMessage(f, 1), f.message);
  assert.equal(
    failureMessage(f, 3),
    "the model provider failed with a server error (500) after 3 attempts; try again",
  );
  assert.equal(
    failureMessage(failure({ message: "no advice" }), 2),
    "no advice after 2 attempts",
  );
});

Deno.test("classifyError - sorts the openai client's errors", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  const c = (error: unknown, at = AT) => classifyError(error, at, now);

  const refused = c(
    new APIConnectionError({ cause: new Error("Connection refused") }),
  );
  assert.equal(refused.kind, "unreachable");
  assert.match(refused.message, /could not reach .*Connection refused/);
  assert.equal(c(new APIConnectionTimeoutError()).kind, "unreachable");

  const limited = c(status(429, { "retry-after": "20" }));
  assert.deepEqual(
    [limited.kind, limited.status, limited.retryAfterMs],
    ["status", 429, 20_000],
  );
  assert.match(limited.message, /rate-limited us \(429\); try again in 20 s/);
  const busy = c(status(503, { "retry-after-ms": "300" }));
  assert.equal(busy.retryAfterMs, 300);
  // Only 429 and 503 carry a wait Tandem honours.
  assert.equal(c(status(500, { "retry-after": "5" })).retryAfterMs, null);
  assert.equal(c(status(401)).status, 401);

  const malformed = c(new SyntaxError("malformed server-sent event JSON"), {
    ...AT,
    opened: true,
  });
  assert.deepEqual([malformed.kind, malformed.message], [
    "malformed",
    MALFORMED,
  ]);
  const opened = { ...AT, opened: true, streamed: true };
  const cut = c(new TypeError("error reading a body from connection"), opened);
  assert.deepEqual([cut.kind, cut.message, cut.streamed], [
    "broken",
    BROKE_OFF,
    true,
  ]);
  // An error event inside the stream, or a throw before the headers.
  assert.equal(
    c(new APIError(undefined, { message: "x" }, undefined, undefined), opened)
      .kind,
    "error",
  );
  assert.equal(c(new TypeError("bug")).kind, "error");
});

/**
 * A reply whose first call gets a 429 asking for 20 s, on a fake clock, with
 * the real openai client talking to FakeOpenAI. Resolves once Tandem waits.
 */
async function rateLimited(
  fake: FakeOpenAI,
  clock: ReturnType<typeof installClock>,
) {
  fake.enqueue(
    { kind: "status", status: 429, headers: { "retry-after-ms": "20000" } },
    { kind: "reply", chunks: ["Hi"], chunkDelayMs: 0 },
  );
  const llm = { ...loadConfig({}, ".").llm, baseUrl: fake.url };
  const lines: string[] = [];
  const controller = new AbortController();
  const deltas: string[] = [];
  const outcome: Promise<ReplyOutcome> = streamReply({
    client: createModelClient(llm)!,
    request: {
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      stream: true,
    },
    llm,
    startedAt: Date.now(),
    signal: controller.signal,
    onDelta: (delta) => deltas.push(delta),
    log: createLogger("info", (line) => lines.push(line)),
  });
  await until(() => lines.length > 0, "the retry log line", clock);
  assert.match(lines[0], /retrying .*"attempt":1,"kind":"status","status":429/);
  return { outcome, controller, deltas };
}

Deno.test("streamReply - waits exactly what retry-after asked, then streams the reply", async () => {
  const fake = await FakeOpenAI.start();
  const clock = installClock();
  try {
    const { outcome, deltas } = await rateLimited(fake, clock);
    await clock.tickAsync(19_999);
    assert.equal(fake.requests.length, 1, "retried before the 20 s");
    await clock.tickAsync(1);
    // FakeOpenAI's frames wait on (fake) timers too: move time on a little.
    let done: ReplyOutcome | undefined;
    outcome.then((o) => done = o);
    const deadline = performance.now() + 5000;
    while (!done && performance.now() < deadline) await clock.tickAsync(5);
    assert.equal(done?.kind, "done");
    assert.deepEqual(deltas, ["Hi"]);
    assert.equal(fake.requests.length, 2);
  } finally {
    clock.uninstall();
    await fake.close();
  }
});

Deno.test("streamReply - an abort during a retry wait ends it at once and leaves no timer", async () => {
  const fake = await FakeOpenAI.start();
  const clock = installClock();
  try {
    const { outcome, controller } = await rateLimited(fake, clock);
    assert.equal(clock.countTimers(), 1, "only the wait is pending");
    controller.abort();
    // Without moving the clock: only the abort can end the wait.
    let ended: ReplyOutcome | undefined;
    outcome.then((o) => ended = o);
    await until(() => ended !== undefined, "the end of the wait", clock);
    assert.deepEqual(ended, { kind: "aborted" });
    assert.equal(clock.countTimers(), 0, "the wait's timer was cleared");
    assert.equal(fake.requests.length, 1);
  } finally {
    clock.uninstall();
    await fake.close();
  }
});
