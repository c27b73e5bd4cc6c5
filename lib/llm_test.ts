import assert from "node:assert/strict";
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
} from "openai";
import {
  createModelClient,
  describeModelError,
  retryAfterMs,
  waitInWords,
} from "./llm.ts";

const settings = {
  apiKey: null,
  baseUrl: null,
  defaultModel: "m",
  firstTokenTimeoutMs: 1000,
  idleTimeoutMs: 1000,
  maxRetries: 0,
  retryBudgetMs: 1000,
  retryBaseMs: 100,
};

Deno.test("createModelClient - none without key and base URL; a client with either", () => {
  assert.equal(createModelClient(settings), null);
  assert.notEqual(createModelClient({ ...settings, apiKey: "k" }), null);
  const local = createModelClient({
    ...settings,
    baseUrl: "http://127.0.0.1:1/v1",
  });
  assert.equal(local?.baseURL, "http://127.0.0.1:1/v1");
});

Deno.test("describeModelError - says what failed and what to do", () => {
  const status = (code: number, headers: Record<string, string> = {}) =>
    APIError.generate(
      code,
      { message: "boom" },
      undefined,
      new Headers(headers),
    );
  const cases: [unknown, RegExp][] = [
    [status(401), /rejected the API key \(401\); check OPENAI_API_KEY/],
    [
      status(429, { "retry-after": "20" }),
      /rate-limited us \(429\); try again in 20 s/,
    ],
    [status(429, { "retry-after-ms": "1500" }), /try again in 2 s/],
    [status(429), /rate-limited us \(429\); try again in a moment/],
    [status(404), /does not know the model "gpt-x"/],
    [status(503), /server error \(503\)/],
    [status(400), /refused the request \(400\)/],
    [new APIConnectionTimeoutError(), /did not answer in time/],
    [
      new APIConnectionError({ cause: new Error("ECONNREFUSED") }),
      /could not reach the model provider: ECONNREFUSED/,
    ],
    [
      // Deno's fetch: the reason is two causes down, after the URL.
      new APIConnectionError({
        cause: new TypeError("fetch failed", {
          cause: new Error(
            "error sending request for url (http://h/v1): client error (Connect): tcp connect error: Connection refused (os error 111)",
          ),
        }),
      }),
      /provider: Connection refused \(os error 111\); check OPENAI_BASE_URL/,
    ],
    [new TypeError("bad chunk"), /could not be read: bad chunk/],
  ];
  for (const [error, expected] of cases) {
    assert.match(describeModelError(error, "gpt-x"), expected);
  }
});

Deno.test("createModelClient - the openai client never retries by itself", () => {
  // Tandem's own loop (model_call.ts) retries; a second layer would multiply.
  const client = createModelClient({ ...settings, apiKey: "k", maxRetries: 5 });
  assert.equal(client?.maxRetries, 0);
});

Deno.test("retryAfterMs - reads retry-after-ms, seconds and HTTP dates", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");
  const ms = (headers: Record<string, string>) =>
    retryAfterMs(new Headers(headers), now);
  assert.equal(ms({ "retry-after-ms": "1500" }), 1500);
  assert.equal(ms({ "retry-after-ms": "250", "retry-after": "9" }), 250);
  assert.equal(ms({ "retry-after": "20" }), 20_000);
  assert.equal(ms({ "retry-after": "0.5" }), 500);
  assert.equal(ms({ "retry-after": "Wed, 01 Jan 2025 00:00:42 GMT" }), 42_000);
  assert.equal(ms({ "retry-after": "Tue, 31 Dec 2024 23:59:00 GMT" }), 0);
  assert.equal(ms({ "retry-after": "soon" }), null);
  assert.equal(ms({}), null);
  assert.equal(retryAfterMs(undefined, now), null);
});

Deno.test("waitInWords - seconds rounded up, minutes when long", () => {
  assert.equal(waitInWords(0), "1 s");
  assert.equal(waitInWords(1500), "2 s");
  assert.equal(waitInWords(20_000), "20 s");
  assert.equal(waitInWords(119_000), "119 s");
  assert.equal(waitInWords(3_600_000), "60 min");
});
