/**
 * End-to-end tests of the plain HTTP routes beside the sockets, against a
 * real server configured with a (fake) provider and its API key.
 */
import assert from "node:assert/strict";
import { loadAgentConfigs } from "../lib/agent_config.ts";
import { AGENTS_DIR, Client, startTandem, type Tandem } from "./harness.ts";

const API_KEY = "sk-test-secret";

/** Runs `fn` with a fresh server, always closing it. */
async function withTandem(fn: (tandem: Tandem) => Promise<void>) {
  const tandem = await startTandem();
  try {
    await fn(tandem);
  } finally {
    await tandem.close();
  }
}

/** GETs `path` and reads the whole body (so nothing leaks). */
async function get(tandem: Tandem, path: string) {
  const response = await fetch(`${tandem.server.url}${path}`);
  const body = await response.text();
  const headers = JSON.stringify([...response.headers]);
  assert.ok(!body.includes(API_KEY), `${path} body has the API key`);
  assert.ok(!headers.includes(API_KEY), `${path} headers have the API key`);
  return { status: response.status, headers: response.headers, body };
}

/** Long-enough pieces of every prompt and seed text, to catch any leak. */
async function secretTexts(): Promise<string[]> {
  const texts: string[] = [];
  for (const agent of (await loadAgentConfigs(AGENTS_DIR)).values()) {
    texts.push(agent.systemPrompt, ...agent.seedMessages.map((m) => m.content));
  }
  return texts.flatMap((t) => {
    const lines = t.split("\n").map((l) => l.trim()).filter((l) =>
      l.length >= 25
    );
    return [t, t.slice(0, 40), ...lines];
  });
}

Deno.test("HTTP - /healthz answers 200 {ok:true}", async () => {
  await withTandem(async (tandem) => {
    const { status, headers, body } = await get(tandem, "/healthz");
    assert.equal(status, 200);
    assert.match(headers.get("content-type") ?? "", /application\/json/);
    assert.deepEqual(JSON.parse(body), { ok: true });
  });
});

Deno.test("HTTP - /api/agents lists id, name, description and no prompt or seeds", async () => {
  const configs = await loadAgentConfigs(AGENTS_DIR);
  await withTandem(async (tandem) => {
    const { status, headers, body } = await get(tandem, "/api/agents");
    assert.equal(status, 200);
    assert.match(headers.get("content-type") ?? "", /application\/json/);
    const agents = JSON.parse(body) as Record<string, unknown>[];
    const sorted = agents.toSorted((a, b) =>
      String(a.id).localeCompare(String(b.id))
    );
    assert.deepEqual(sorted, [
      {
        id: "assistant",
        name: configs.get("assistant")!.name,
        description: configs.get("assistant")!.description,
      },
      {
        id: "code-reviewer",
        name: configs.get("code-reviewer")!.name,
        description: configs.get("code-reviewer")!.description,
      },
    ]);
    assert.equal(sorted[0].name, "Assistant");
    assert.equal(sorted[1].name, "Code Reviewer");
    for (const text of await secretTexts()) {
      assert.ok(
        !body.includes(text),
        `leaks ${JSON.stringify(text.slice(0, 60))}`,
      );
      assert.ok(
        !body.includes(JSON.stringify(text).slice(1, -1)),
        "leaks escaped text",
      );
    }
  });
});

Deno.test("HTTP - / serves an HTML page listing the agent names", async () => {
  await withTandem(async (tandem) => {
    const { status, headers, body } = await get(tandem, "/");
    assert.equal(status, 200);
    assert.match(headers.get("content-type") ?? "", /text\/html/);
    assert.match(body, /<html/i);
    assert.ok(body.includes("Assistant"), "lists Assistant");
    assert.ok(body.includes("Code Reviewer"), "lists Code Reviewer");
    for (const text of await secretTexts()) {
      assert.ok(
        !body.includes(text),
        `page leaks ${JSON.stringify(text.slice(0, 60))}`,
      );
    }
  });
});

Deno.test("HTTP - the API key never appears in responses, errors or socket frames", async () => {
  await withTandem(async (tandem) => {
    const fake = tandem.fake!;
    // A real provider's 401 message quotes the key it was given.
    fake.enqueue({
      kind: "status",
      status: 401,
      message: `Incorrect API key provided: ${API_KEY}.`,
    });
    const client = await Client.connect(tandem);
    try {
      const sessionId = await client.createSession();
      const frame = {
        type: "chat",
        agent_id: "assistant",
        session_id: sessionId,
      };
      const bad = await client.command({ ...frame, message: "first" });
      assert.equal(bad.ok, true);
      const error = await client.event<{ code: string; error: string }>(
        "error",
        sessionId,
      );
      assert.equal(error.code, "llm_error");
      assert.match(error.error, /OPENAI_API_KEY/);
      const good = await client.command({ ...frame, message: "second" });
      assert.equal(good.ok, true);
      await client.event("agent_response", sessionId);
      // The server really holds the key: it sent it to the provider.
      assert.equal(fake.requests[0].headers.authorization, `Bearer ${API_KEY}`);
      const frames = JSON.stringify([
        ...client.frontend.all(),
        ...client.backend.all(),
      ]);
      assert.ok(!frames.includes(API_KEY), "a socket frame has the API key");
    } finally {
      await client.close();
    }
    for (const path of ["/", "/healthz", "/api/agents", "/no-such-page"]) {
      await get(tandem, path);
    }
    const missing = await get(tandem, "/no-such-page");
    assert.equal(missing.status, 404);
    const logs = tandem.logs.join("\n");
    assert.ok(!logs.includes(API_KEY), "a log line has the API key");
  });
});
