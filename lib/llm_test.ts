import assert from "node:assert/strict";
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
} from "openai";
import { createModelClient, describeModelError } from "./llm.ts";

const settings = {
  apiKey: null,
  baseUrl: null,
  defaultModel: "m",
  firstTokenTimeoutMs: 1000,
  idleTimeoutMs: 1000,
  maxRetries: 0,
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
    [new TypeError("bad chunk"), /could not be read: bad chunk/],
  ];
  for (const [error, expected] of cases) {
    assert.match(describeModelError(error, "gpt-x"), expected);
  }
});
