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
