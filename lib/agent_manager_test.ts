import assert from "node:assert/strict";
import { parseAgentFile } from "./agent_config.ts";
import { AgentManager } from "./agent_manager.ts";
import { SessionNotFoundError } from "./errors.ts";
import { FrontendAPI } from "./frontend_api.ts";
import { createLogger } from "./logger.ts";
import { SESSION_ID_PATTERN } from "./session_id.ts";

function setup(maxSessionsPerClient = 1000) {
  const config = parseAgentFile(
    "---\nname: Tea Expert\ndescription: Knows tea.\n---\nYou know tea.\n",
    "agents/tea.md",
  );
  const logger = createLogger("silent");
  const manager = new AgentManager({
    agents: new Map([[config.id, config]]),
    llm: {
      apiKey: null,
      baseUrl: null,
      defaultModel: "m",
      firstTokenTimeoutMs: 1000,
      idleTimeoutMs: 1000,
      maxRetries: 0,
    },
    limits: {
      maxFrameBytes: 65536,
      hardFrameBytes: 1 << 20,
      maxMessageChars: 1000,
      commandsPerSecond: 10,
      commandBurst: 10,
      maxSessionsPerClient,
    },
    model: null,
    logger,
  });
  manager.useFrontend(
    new FrontendAPI({
      replay: { holdMs: 1000, holdCount: 10, maxHeld: 100 },
      logger,
      ownerOf: (id) => manager.ownerOf(id),
    }),
  );
  return manager;
}

Deno.test("AgentManager - session ids are the name's slug and random digits", () => {
  const manager = setup();
  const agent = manager.createAgentSession("tea", "client-a");
  assert.match(agent.sessionId, /^tea-expert_[0-9]{3}$/);
  assert.match(agent.sessionId, SESSION_ID_PATTERN);
  assert.equal(agent.agentId, "tea");
  assert.equal(agent.clientId, "client-a");
});

Deno.test("AgentManager - ids stay unique and widen as sessions crowd the space", () => {
  const manager = setup();
  const ids = new Set<string>();
  for (let i = 0; i < 300; i++) {
    ids.add(manager.createAgentSession("tea", `client-${i % 7}`).sessionId);
  }
  assert.equal(ids.size, 300);
  const widths = [...ids].map((id) => id.split("_")[1].length);
  assert.equal(Math.min(...widths), 3);
  // With 100 or more live sessions of one slug, new ids get a fourth digit.
  assert.ok(
    widths.slice(100).every((w) => w >= 4),
    JSON.stringify(widths.slice(100, 110)),
  );
});

Deno.test("AgentManager - another client's session looks exactly like an unknown one", () => {
  const manager = setup();
  const agent = manager.createAgentSession("tea", "client-a");
  assert.equal(manager.getAgentBySession(agent.sessionId, "client-a"), agent);
  const theirs = captureError(() =>
    manager.getAgentBySession(agent.sessionId, "client-b")
  );
  assert.ok(theirs instanceof SessionNotFoundError);
  assert.equal(theirs.code, "session_not_found");
  // Four digits: with one live session, ids have three, so no id is this.
  const unknown = captureError(() =>
    manager.getAgentBySession("tea-expert_0000", "client-a")
  );
  assert.equal(
    theirs.message.replace(agent.sessionId, "ID"),
    (unknown as Error).message.replace("tea-expert_0000", "ID"),
  );
  assert.throws(
    () => manager.closeSession(agent.sessionId, "client-b"),
    SessionNotFoundError,
  );
  assert.equal(manager.listSessions("client-a").length, 1);
});

Deno.test("AgentManager - close and list cover only the client's own sessions", () => {
  const manager = setup();
  const a1 = manager.createAgentSession("tea", "client-a");
  manager.createAgentSession("tea", "client-a");
  manager.createAgentSession("tea", "client-b");
  assert.equal(manager.listSessions("client-a").length, 2);
  manager.closeSession(a1.sessionId, "client-a");
  assert.deepEqual(
    manager.listSessions("client-a").map((s) => s.session_id).includes(
      a1.sessionId,
    ),
    false,
  );
  assert.equal(manager.listSessions("client-b").length, 1);
  assert.equal(manager.ownerOf(a1.sessionId), undefined);
  assert.throws(
    () => manager.getAgentBySession(a1.sessionId, "client-a"),
    SessionNotFoundError,
  );
});

Deno.test("AgentManager - unknown agents and the per-client session limit are refused", () => {
  const manager = setup(2);
  assert.throws(
    () => manager.createAgentSession("coffee", "c"),
    /no agent with id "coffee"/,
  );
  manager.createAgentSession("tea", "c");
  manager.createAgentSession("tea", "c");
  const error = captureError(() => manager.createAgentSession("tea", "c"));
  assert.equal((error as { code?: string }).code, "rate_limited");
  assert.match((error as Error).message, /2 open sessions, the limit/);
  manager.createAgentSession("tea", "someone-else");
});

Deno.test("AgentManager - chat without a provider is not_configured and names the setting", () => {
  const manager = setup();
  const agent = manager.createAgentSession("tea", "c");
  const error = captureError(() => agent.chat("hello"));
  assert.equal((error as { code?: string }).code, "not_configured");
  assert.match((error as Error).message, /OPENAI_API_KEY/);
  assert.deepEqual(agent.history, [], "a refused chat leaves no turn behind");
});

function captureError(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected an error");
}
