import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";

Deno.test("loadConfig - defaults for an empty environment", () => {
  const config = loadConfig({}, "/srv/agents");
  assert.equal(config.port, 8000);
  assert.equal(config.hostname, "127.0.0.1");
  assert.equal(config.agentsDir, "/srv/agents");
  assert.equal(config.buildDir, "_build");
  assert.deepEqual(config.allowedOrigins, []);
  assert.equal(config.llm.apiKey, null);
  assert.equal(config.llm.baseUrl, null);
  assert.equal(config.limits.maxFrameBytes, 65536);
  assert.equal(config.replay.holdMs, 300_000);
  assert.equal(config.replay.holdCount, 1000);
});

Deno.test("loadConfig - reads and trims settings; empty strings count as unset", () => {
  const config = loadConfig({
    PORT: " 9000 ",
    ALLOWED_ORIGINS: "https://a.example, https://b.example,",
    OPENAI_API_KEY: "",
    OPENAI_BASE_URL: "http://localhost:11434/v1",
    AGENTS_DIR: "/etc/tandem",
  }, "/srv/agents");
  assert.equal(config.port, 9000);
  assert.deepEqual(config.allowedOrigins, [
    "https://a.example",
    "https://b.example",
  ]);
  assert.equal(config.llm.apiKey, null);
  assert.equal(config.llm.baseUrl, "http://localhost:11434/v1");
  assert.equal(config.agentsDir, "/etc/tandem");
});

Deno.test("loadConfig - an invalid setting names the variable and the value", () => {
  assert.throws(
    () => loadConfig({ PORT: "eighty" }, "."),
    /invalid setting PORT="eighty"/,
  );
  assert.throws(
    () => loadConfig({ OPENAI_BASE_URL: "not a url" }, "."),
    /OPENAI_BASE_URL/,
  );
  assert.throws(
    () =>
      loadConfig({ MAX_FRAME_BYTES: "4096", HARD_FRAME_BYTES: "1024" }, "."),
    /HARD_FRAME_BYTES/,
  );
});

Deno.test("loadConfig - BUILD_DIR overrides the default build folder", () => {
  assert.equal(
    loadConfig({}, "/srv/agents", "/srv/_build").buildDir,
    "/srv/_build",
  );
  assert.equal(
    loadConfig({ BUILD_DIR: " /tmp/build " }, "/srv/agents", "/srv/_build")
      .buildDir,
    "/tmp/build",
  );
});

Deno.test("loadConfig - SESSION_IDLE_MS defaults to an hour and is validated", () => {
  assert.equal(loadConfig({}, ".").limits.sessionIdleMs, 3_600_000);
  assert.equal(
    loadConfig({ SESSION_IDLE_MS: "1500" }, ".").limits.sessionIdleMs,
    1500,
  );
  assert.throws(
    () => loadConfig({ SESSION_IDLE_MS: "soon" }, "."),
    /invalid setting SESSION_IDLE_MS="soon"/,
  );
  assert.throws(
    () => loadConfig({ SESSION_IDLE_MS: "10" }, "."),
    /invalid setting SESSION_IDLE_MS="10"/,
  );
});

Deno.test("loadConfig - HEARTBEAT_TIMEOUT_MS defaults to 30 s and is validated", () => {
  assert.equal(loadConfig({}, ".").heartbeatTimeoutMs, 30_000);
  assert.equal(
    loadConfig({ HEARTBEAT_TIMEOUT_MS: "1500" }, ".").heartbeatTimeoutMs,
    1500,
  );
  assert.throws(
    () => loadConfig({ HEARTBEAT_TIMEOUT_MS: "50" }, "."),
    /HEARTBEAT_TIMEOUT_MS/,
  );
});

Deno.test("loadConfig - model retries: 2 within 30 s by default, validated", () => {
  const { llm } = loadConfig({}, ".");
  assert.equal(llm.maxRetries, 2);
  assert.equal(llm.retryBudgetMs, 30_000);
  assert.equal(llm.retryBaseMs, 500);
  const set = loadConfig(
    { LLM_RETRY_BUDGET_MS: "0", LLM_RETRY_BASE_MS: "20" },
    ".",
  ).llm;
  assert.equal(set.retryBudgetMs, 0);
  assert.equal(set.retryBaseMs, 20);
  assert.throws(
    () => loadConfig({ LLM_RETRY_BUDGET_MS: "-1" }, "."),
    /invalid setting LLM_RETRY_BUDGET_MS="-1"/,
  );
  assert.throws(
    () => loadConfig({ LLM_RETRY_BASE_MS: "0" }, "."),
    /invalid setting LLM_RETRY_BASE_MS="0"/,
  );
});
