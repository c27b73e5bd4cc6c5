/**
 * Tests for the fake OpenAI server, driven by the real `openai` npm client
 * over real HTTP.
 */
import assert from "node:assert/strict";
import OpenAI, { APIError, APIUserAbortError } from "openai";
import { FakeOpenAI } from "./fake_openai.ts";

type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;
type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;

const HI: Message[] = [{ role: "user", content: "hi" }];

/** Runs `fn` against a fresh server, always closing it afterwards. */
async function withFake(fn: (fake: FakeOpenAI) => Promise<void>) {
  const fake = await FakeOpenAI.start();
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

function clientFor(fake: FakeOpenAI): OpenAI {
  return new OpenAI({
    apiKey: "test",
    baseURL: fake.url,
    maxRetries: 0,
    logLevel: "off", // it would print a malformed stream to the console
  });
}

/** Streams one completion and collects every chunk it yields. */
async function collect(
  fake: FakeOpenAI,
  opts: { messages?: Message[]; signal?: AbortSignal; usage?: boolean } = {},
): Promise<Chunk[]> {
  const stream = await clientFor(fake).chat.completions.create({
    model: "fake-model",
    messages: opts.messages ?? HI,
    stream: true,
    stream_options: { include_usage: opts.usage ?? true },
  }, { signal: opts.signal });
  const chunks: Chunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const contents = (chunks: Chunk[]) =>
  chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? ""));
const finishReasons = (chunks: Chunk[]) =>
  chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason))
    .filter((r) => r !== null);

Deno.test("FakeOpenAI - streams a reply in chunks with usage", async () => {
  await withFake(async (fake) => {
    const chunks = await collect(fake);
    assert.equal(contents(chunks).join(""), "Echo: hi");
    assert.deepEqual(contents(chunks), ["Echo", ": hi", ""]);
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    assert.equal(chunks[1].choices[0].delta.role, undefined);
    assert.deepEqual(finishReasons(chunks), ["stop"]);
    for (const c of chunks) {
      assert.equal(c.object, "chat.completion.chunk");
      assert.equal(c.model, "fake-model");
      assert.equal(c.id, chunks[0].id);
    }
    // Every chunk but the last carries "usage": null; the last has no choices.
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    // "hi" is 2 characters -> ceil(2 / 4) = 1 prompt token; 2 content chunks.
    assert.deepEqual(last.usage, {
      prompt_tokens: 1,
      completion_tokens: 2,
      total_tokens: 3,
    });
  });
});

Deno.test("FakeOpenAI - sends explicit chunks in order", async () => {
  await withFake(async (fake) => {
    const parts = ["Hel", "lo, ", "", "wor", "ld!"];
    fake.enqueue({ kind: "reply", chunks: parts, finishReason: "length" });
    const chunks = await collect(fake, { usage: false });
    assert.deepEqual(contents(chunks).slice(0, parts.length), parts);
    assert.deepEqual(finishReasons(chunks), ["length"]);
    // Without include_usage there is no usage chunk and no usage field.
    assert.ok(chunks.every((c) => c.choices.length === 1));
    assert.ok(chunks.every((c) => !("usage" in c)));
  });
});

Deno.test("FakeOpenAI - usage chunk is explicit, or absent with usage:null", async () => {
  await withFake(async (fake) => {
    const usage = { prompt_tokens: 7, completion_tokens: 8, total_tokens: 15 };
    fake.enqueue(
      { kind: "reply", text: "abc", usage },
      { kind: "reply", text: "abc", usage: null },
    );
    const withUsage = await collect(fake);
    assert.deepEqual(withUsage.at(-1)!.usage, usage);
    const without = await collect(fake);
    assert.equal(contents(without).join(""), "abc");
    assert.deepEqual(finishReasons(without), ["stop"]);
    assert.ok(without.every((c) => c.usage === null && c.choices.length === 1));
  });
});

Deno.test("FakeOpenAI - status 500 and 429 surface as APIError", async () => {
  await withFake(async (fake) => {
    fake.enqueue(
      { kind: "status", status: 500, message: "boom" },
      { kind: "status", status: 429, headers: { "retry-after": "20" } },
    );
    await assert.rejects(collect(fake), (err: unknown) => {
      assert.ok(err instanceof APIError);
      assert.equal(err.status, 500);
      assert.match(err.message, /boom/);
      assert.equal(err.type, "server_error");
      return true;
    });
    await assert.rejects(collect(fake), (err: unknown) => {
      assert.ok(err instanceof APIError);
      assert.equal(err.status, 429);
      assert.equal(err.code, "rate_limit_exceeded");
      assert.equal(err.headers?.get("retry-after"), "20");
      return true;
    });
    assert.equal(fake.requests.length, 2); // maxRetries: 0 -> no retry
  });
});

Deno.test("FakeOpenAI - cut breaks the stream without finish_reason", async () => {
  await withFake(async (fake) => {
    fake.enqueue({ kind: "cut", chunks: ["par", "tial"] });
    const stream = await clientFor(fake).chat.completions.create({
      model: "fake-model",
      messages: HI,
      stream: true,
    });
    const got: Chunk[] = [];
    // Observed with openai 7.57.0 on Deno 2.9: the chunks sent before the cut
    // arrive, then the for-await loop throws a TypeError ("error reading a
    // body from connection"); no chunk ever carries a finish_reason.
    await assert.rejects(async () => {
      for await (const chunk of stream) got.push(chunk);
    }, TypeError);
    assert.equal(contents(got).join(""), "partial");
    assert.deepEqual(finishReasons(got), []);
  });
});

Deno.test("FakeOpenAI - hang: a client timeout aborts the call, close() is prompt", async () => {
  const fake = await FakeOpenAI.start();
  fake.enqueue({ kind: "hang" }, { kind: "hang" });
  // Observed: create() rejects with APIUserAbortError when the signal fires
  // before any response headers arrive.
  const started = Date.now();
  await assert.rejects(
    collect(fake, { signal: AbortSignal.timeout(100) }),
    APIUserAbortError,
  );
  assert.ok(Date.now() - started < 2000);
  // A second hanging call without a timeout: close() answers it with a 503.
  const pending = collect(fake);
  await fake.waitForRequests(2);
  const closing = Date.now();
  await fake.close();
  assert.ok(Date.now() - closing < 1000, "close() took too long");
  await assert.rejects(pending, (err: unknown) => {
    assert.ok(err instanceof APIError);
    assert.equal(err.status, 503);
    return true;
  });
  await fake.close(); // idempotent
});

Deno.test("FakeOpenAI - stall: headers arrive, then abort ends the stream", async () => {
  await withFake(async (fake) => {
    fake.enqueue({ kind: "stall" }, { kind: "stall" });
    // Observed: create() resolves (headers were sent); when the signal fires
    // during iteration the openai client ends the for-await loop quietly,
    // without throwing and without any chunk.
    const started = Date.now();
    const chunks = await collect(fake, { signal: AbortSignal.timeout(100) });
    assert.deepEqual(chunks, []);
    assert.ok(Date.now() - started >= 90);

    // Without a client timeout, close() breaks the stalled body promptly and
    // the iteration throws a TypeError, as for "cut".
    const stream = await clientFor(fake).chat.completions.create({
      model: "fake-model",
      messages: HI,
      stream: true,
    });
    const pending = (async () => {
      for await (const _ of stream) throw new Error("unexpected chunk");
    })();
    const closing = Date.now();
    await fake.close();
    assert.ok(Date.now() - closing < 1000, "close() took too long");
    await assert.rejects(pending, TypeError);
  });
});

Deno.test("FakeOpenAI - enqueue order, then the default", async () => {
  await withFake(async (fake) => {
    fake.enqueue({ kind: "reply", text: "one" }, {
      kind: "reply",
      text: "two",
    });
    fake.setDefault((body) => ({
      kind: "reply",
      text: `default ${body.model}`,
    }));
    const texts = [];
    for (let i = 0; i < 4; i++) {
      texts.push(contents(await collect(fake)).join(""));
    }
    assert.deepEqual(texts, [
      "one",
      "two",
      "default fake-model",
      "default fake-model",
    ]);
  });
});

Deno.test("FakeOpenAI - records requests as sent", async () => {
  await withFake(async (fake) => {
    const messages: Message[] = [
      { role: "system", content: "be brief" },
      { role: "user", content: "first" },
      { role: "assistant", content: "ok" },
      { role: "user", content: "second" },
    ];
    const chunks = await collect(fake, { messages });
    assert.equal(contents(chunks).join(""), "Echo: second");
    // 8 + 5 + 2 + 6 = 21 characters -> 6 prompt tokens.
    assert.equal(chunks.at(-1)!.usage?.prompt_tokens, 6);
    assert.equal(fake.requests.length, 1);
    const [req] = fake.requests;
    assert.equal(req.path, "/v1/chat/completions");
    assert.equal(req.headers["authorization"], "Bearer test");
    assert.match(req.headers["content-type"], /application\/json/);
    assert.deepEqual(req.body.messages, messages);
    assert.equal(req.body.model, "fake-model");
    assert.equal(req.body.stream, true);
    assert.deepEqual(req.body.stream_options, { include_usage: true });
  });
});

Deno.test("FakeOpenAI - non-streaming requests get a chat.completion", async () => {
  await withFake(async (fake) => {
    const res = await clientFor(fake).chat.completions.create({
      model: "fake-model",
      messages: HI,
    });
    assert.equal(res.object, "chat.completion");
    assert.equal(res.choices[0].message.content, "Echo: hi");
    assert.equal(res.choices[0].finish_reason, "stop");
    assert.equal(res.usage?.total_tokens, 3);
  });
});

Deno.test("FakeOpenAI - unknown paths get a 404 JSON error", async () => {
  await withFake(async (fake) => {
    const res = await fetch(`${fake.url}/models`);
    assert.equal(res.status, 404);
    const body = await res.json();
    assert.equal(typeof body.error.message, "string");
    assert.equal(fake.requests.length, 0);
  });
});

Deno.test("FakeOpenAI - waitForRequests times out with a clear message", async () => {
  await withFake(async (fake) => {
    await assert.rejects(
      fake.waitForRequests(1, 50),
      /timed out after 50ms waiting for 1 request\(s\); got 0/,
    );
    await collect(fake);
    await fake.waitForRequests(1, 50); // already satisfied
  });
});

Deno.test("FakeOpenAI - malformed sends its chunks, then a line that is not JSON", async () => {
  await withFake(async (fake) => {
    fake.enqueue(
      { kind: "malformed", chunks: ["Par", "is"] },
      { kind: "malformed", data: "{not json" },
    );
    // Observed with openai 7.57.0: the chunks before the bad line arrive,
    // then the for-await loop throws a SyntaxError naming the SSE JSON.
    const got: Chunk[] = [];
    const stream = await clientFor(fake).chat.completions.create({
      model: "fake-model",
      messages: HI,
      stream: true,
    });
    await assert.rejects(async () => {
      for await (const chunk of stream) got.push(chunk);
    }, /malformed server-sent event JSON/);
    assert.equal(contents(got).join(""), "Paris");
    assert.deepEqual(finishReasons(got), []);
    // Before any chunk: the first line read is the bad one.
    await assert.rejects(collect(fake), SyntaxError);
    assert.equal(fake.requests.length, 2);
  });
});

Deno.test("FakeOpenAI - statuses carry retry-after headers; requests carry their time", async () => {
  await withFake(async (fake) => {
    fake.enqueue({
      kind: "status",
      status: 503,
      headers: { "retry-after-ms": "250", "retry-after": "1" },
    });
    const before = Date.now();
    await assert.rejects(collect(fake), (err: unknown) => {
      assert.ok(err instanceof APIError);
      assert.equal(err.status, 503);
      assert.equal(err.headers?.get("retry-after-ms"), "250");
      assert.equal(err.headers?.get("retry-after"), "1");
      return true;
    });
    const [req] = fake.requests;
    assert.ok(req.at >= before && req.at <= Date.now());
  });
});
