import assert from "node:assert/strict";
import { parseAgentFile } from "./agent_config.ts";
import { AgentManager } from "./agent_manager.ts";
import { loadConfig } from "./config.ts";
import { SessionNotFoundError } from "./errors.ts";
import { FrontendAPI } from "./frontend_api.ts";
import { createModelClient } from "./llm.ts";
import { createLogger } from "./logger.ts";
import { SESSION_ID_PATTERN } from "./session_id.ts";
import { FakeOpenAI } from "../tests/fake_openai.ts";

function setup(maxSessionsPerClient = 1000) {
  const config = parseAgentFile(
    "---\nname: Tea Expert\ndescription: Knows tea.\n---\nYou know tea.\n",
    "agents/tea.md",
  );
  const logger = createLogger("silent");
  const manager = new AgentManager({
    agents: new Map([[config.id, config]]),
    llm: {
      ...loadConfig({}, ".").llm,
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
      sessionIdleMs: 3_600_000,
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

/** Records what a WebSocket would carry; FrontendAPI only sends and closes. */
class RecordingSocket {
  readyState = 1;
  sent: Record<string, unknown>[] = [];
  send(frame: string) {
    this.sent.push(JSON.parse(frame));
  }
  close() {
    this.readyState = 3;
  }
}

/**
 * A manager with a fake clock (`advance`), a 1 s idle time, a model at
 * `modelUrl` (FakeOpenAI), and each client's events recorded by `socketOf`.
 */
function idleSetup(modelUrl: string | null = null) {
  let now = 0;
  const defaults = loadConfig({}, ".");
  const config = parseAgentFile(
    "---\nname: Tea Expert\ndescription: Knows tea.\n---\nYou know tea.\n",
    "agents/tea.md",
  );
  const logger = createLogger("silent");
  const llm = {
    ...defaults.llm,
    apiKey: modelUrl === null ? null : "sk-test",
    baseUrl: modelUrl,
  };
  const manager = new AgentManager({
    agents: new Map([[config.id, config]]),
    llm,
    limits: { ...defaults.limits, sessionIdleMs: 1000 },
    model: createModelClient(llm),
    logger,
    now: () => now,
  });
  const frontend = new FrontendAPI({
    replay: defaults.replay,
    logger,
    ownerOf: (id) => manager.ownerOf(id),
    now: () => now,
  });
  manager.useFrontend(frontend);
  const sockets = new Map<string, RecordingSocket>();
  const socketOf = (clientId: string) => {
    let socket = sockets.get(clientId);
    if (!socket) {
      socket = new RecordingSocket();
      sockets.set(clientId, socket);
      frontend.attach(clientId, socket as unknown as WebSocket, null, null);
    }
    return socket;
  };
  return {
    manager,
    socketOf,
    at: (ms: number) => (now = ms),
  };
}

const notifications = (socket: RecordingSocket) =>
  socket.sent.filter((f) => f.type === "notification");

Deno.test("AgentManager - sweepIdle closes a session idle for sessionIdleMs and tells only its owner", () => {
  const { manager, socketOf, at } = idleSetup();
  const a = socketOf("client-a");
  const b = socketOf("client-b");
  const idle = manager.createAgentSession("tea", "client-a");
  const used = manager.createAgentSession("tea", "client-b");

  at(999);
  assert.deepEqual(manager.sweepIdle(), [], "999 ms is not idle yet");
  // A command naming the session (chat, refresh, cancel) looks it up.
  manager.getAgentBySession(used.sessionId, "client-b");

  at(1000);
  assert.deepEqual(manager.sweepIdle(), [idle.sessionId]);
  assert.deepEqual(manager.listSessions("client-a"), []);
  assert.equal(manager.ownerOf(idle.sessionId), undefined);
  assert.throws(
    () => manager.getAgentBySession(idle.sessionId, "client-a"),
    SessionNotFoundError,
  );
  const [told] = notifications(a);
  assert.equal(notifications(a).length, 1);
  assert.equal(told.notification_type, "warning");
  const message = String(told.message);
  assert.ok(message.includes("Tea Expert"), message);
  assert.ok(message.includes(`session ${idle.sessionId}`), message);
  assert.match(message, /after 1 s without activity/);
  assert.match(message, /start a new chat/);
  assert.deepEqual(notifications(b), [], "the other client is not told");

  at(1998);
  assert.deepEqual(manager.sweepIdle(), [], "used at 999: kept until 1999");
  assert.equal(manager.listSessions("client-b").length, 1);
  at(1999);
  assert.deepEqual(manager.sweepIdle(), [used.sessionId]);
  assert.equal(notifications(b).length, 1);
  assert.deepEqual(manager.stats(), { sessions: 0, busy: 0 });
});

Deno.test("AgentManager - sweepIdle never closes a session mid-reply, and idle time counts from the reply's end", async () => {
  const fake = await FakeOpenAI.start();
  fake.enqueue({ kind: "stall" });
  const { manager, socketOf, at } = idleSetup(fake.url);
  try {
    const a = socketOf("client-a");
    const agent = manager.createAgentSession("tea", "client-a");
    manager.getAgentBySession(agent.sessionId, "client-a").chat("hi");
    await fake.waitForRequests(1);
    assert.equal(agent.busy, true);

    at(5000);
    assert.deepEqual(manager.sweepIdle(), [], "busy for 5 s: still open");
    at(5500);
    assert.deepEqual(manager.sweepIdle(), []);
    assert.deepEqual(notifications(a), []);

    // The reply ends at 6000 (without a command naming the session).
    at(6000);
    const reply = agent.settled;
    agent.cancel();
    await reply;
    at(6999);
    assert.deepEqual(manager.sweepIdle(), [], "idle for 999 ms since the end");
    at(7000);
    assert.deepEqual(manager.sweepIdle(), [agent.sessionId]);
    assert.equal(notifications(a).length, 1);
  } finally {
    for (const agent of manager.allAgents()) agent.close();
    await fake.close();
  }
});

function captureError(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected an error");
}
