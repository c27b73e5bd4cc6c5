/**
 * Security beside the protocol: the headers every HTTP answer carries, what
 * the logs may hold, and that a server shutting down takes no new sockets.
 */
import assert from "node:assert/strict";
import { loadAgentConfigs } from "../lib/agent_config.ts";
import { AGENTS_DIR, Client, startTandem, upgradeStatus } from "./harness.ts";

Deno.test("Security headers - page, API, bundle and health answers carry CSP, nosniff and no framing", async () => {
  const tandem = await startTandem();
  try {
    const page = await fetch(tandem.server.url + "/");
    const html = await page.text();
    const island = html.match(/src="(\/_build\/island-[^"]+\.js)"/)?.[1];
    assert.ok(island, "the page names no island bundle");
    const answers = [page];
    for (const path of [island, "/api/agents", "/healthz", "/nothing-here"]) {
      const response = await fetch(tandem.server.url + path);
      await response.body?.cancel();
      answers.push(response);
    }
    for (const response of answers) {
      const where = new URL(response.url).pathname;
      const csp = response.headers.get("content-security-policy") ?? "";
      const directives = new Map(
        csp.split(";").map((d) => d.trim().split(/\s+/)).map((
          [name, ...values],
        ) => [name, values.join(" ")]),
      );
      assert.equal(directives.get("default-src"), "'none'", where);
      assert.equal(directives.get("script-src"), "'self'", where);
      assert.equal(directives.get("connect-src"), "'self'", where);
      assert.equal(directives.get("frame-ancestors"), "'none'", where);
      assert.ok(!csp.includes("unsafe"), `${where}: ${csp}`);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.equal(response.headers.get("x-frame-options"), "DENY");
    }
    // The sockets still open: the headers stay off the upgrade answers.
    const client = await Client.connect(tandem);
    assert.ok((await client.createSession()).startsWith("assistant_"));
    await client.close();
  } finally {
    await tandem.close();
  }
});

Deno.test("Shutdown - once it begins, new sockets are refused 503 and /healthz says 503", async () => {
  const tandem = await startTandem();
  try {
    const port = tandem.server.port;
    const path = "/ws/backend-api?client=shutdown-client-0001";
    assert.equal((await upgradeStatus(port, path)).status, 101);
    tandem.server.objects.shutdown();
    for (const socket of ["backend-api", "frontend-api"]) {
      const refused = await upgradeStatus(
        port,
        `/ws/${socket}?client=shutdown-client-0002`,
      );
      assert.equal(refused.status, 503, socket);
      assert.match(refused.body, /shutting down/);
    }
    const health = await fetch(tandem.server.url + "/healthz");
    assert.equal(health.status, 503);
    assert.deepEqual(await health.json(), {
      ok: false,
      error: "shutting down",
    });
  } finally {
    await tandem.close();
  }
});

Deno.test("Logs - no API key, prompt or message text above debug level, whatever happens", async () => {
  const tandem = await startTandem({ logLevel: "info" });
  const secret = "kumquat-7731-confidential";
  try {
    const fake = tandem.fake!;
    const client = await Client.connect(tandem);
    const session = await client.createSession();
    const chat = async (message: string) => {
      const result = await client.command({
        type: "chat",
        agent_id: "assistant",
        session_id: session,
        message,
      });
      assert.equal(result.ok, true, JSON.stringify(result));
      await client.frontend.next((f) =>
        (f.type === "agent_response" || f.type === "error") &&
        f.session_id === session
      );
    };
    await chat(`a normal chat about ${secret}`);
    // A provider that quotes the request back in its error body.
    fake.enqueue({
      kind: "status",
      status: 400,
      message: `Invalid request: messages[1].content "${secret}" is odd`,
    });
    await chat(`a refused chat about ${secret}`);
    fake.enqueue({ kind: "status", status: 500 });
    await chat(`a failed chat about ${secret}`);
    fake.enqueue({ kind: "cut", chunks: ["half of ", secret] });
    await chat(`a cut chat about ${secret}`);
    // Malformed and oversized frames that carry the text.
    client.backend.ws.send(`{"type":"chat","message":"${secret}"`);
    client.backend.ws.send(
      JSON.stringify({
        type: "chat",
        request_id: "big",
        agent_id: "assistant",
        session_id: session,
        message: secret.repeat(40_000),
      }),
    );
    await client.backend.next((f) => f.request_id === "big");
    await client.command({
      type: "refresh",
      agent_id: "assistant",
      session_id: session,
    });
    await client.command({
      type: "session",
      action: "close",
      session_id: session,
    });
    await client.close();
  } finally {
    await tandem.close();
  }
  const logs = tandem.logs;
  assert.ok(
    logs.some((line) => line.includes("session created")),
    "nothing was logged at info: the check below would be empty",
  );
  assert.ok(logs.some((line) => line.includes(" WARN ")), "no warning logged");
  const forbidden = [secret, "sk-test-secret"];
  for (const agent of (await loadAgentConfigs(AGENTS_DIR)).values()) {
    forbidden.push(
      ...agent.systemPrompt.split("\n").map((l) => l.trim()).filter((l) =>
        l.length >= 20
      ),
    );
  }
  for (const line of logs) {
    for (const text of forbidden) {
      assert.ok(
        !line.includes(text),
        `logged ${JSON.stringify(text)}: ${line}`,
      );
    }
  }
});
