import assert from "node:assert/strict";
import type { AgentSummary, UnnumberedEvent } from "../protocol.ts";
import {
  ChatModel,
  CLIENT_ID_KEY,
  type KeyValueStore,
  WINDOWS_KEY,
} from "./chat_model.ts";
import {
  type Clock,
  installClock,
  ProtocolServer,
  type ReceivedCommand,
  SocketRecorder,
  until,
} from "./testing.ts";

const AGENTS: AgentSummary[] = [
  { id: "assistant", name: "Assistant", description: "Helps." },
];
const CLIENT_ID = "client-0123456789abcdef";

/** sessionStorage's part that the model uses, over a Map. */
class MemoryStore implements KeyValueStore {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

interface Rig {
  clock: Clock;
  server: ProtocolServer;
  model: ChatModel;
  recorder: SocketRecorder;
  /** Starts the model the way the page does, on this rig's server. */
  start(): void;
  until(condition: () => boolean, what: string): Promise<void>;
}

/**
 * A ChatModel against a real protocol-speaking server on a real port, with
 * fake timers; `answer` plays the server's side of each command.
 */
async function withModel(
  store: KeyValueStore,
  answer: (
    command: ReceivedCommand,
    server: ProtocolServer,
  ) => Record<string, unknown> | null,
  body: (rig: Rig) => Promise<void>,
): Promise<void> {
  const clock = installClock();
  const server = new ProtocolServer();
  server.answer = (command) => answer(command, server);
  server.ws.start();
  const recorder = new SocketRecorder();
  const model = new ChatModel(AGENTS);
  try {
    await body({
      clock,
      server,
      model,
      recorder,
      start: () =>
        model.start({
          baseUrl: server.url,
          store,
          random: () => 0,
          connect: recorder.connect,
        }),
      until: (condition, what) => until(condition, what, clock),
    });
  } finally {
    model.connection.value?.stop();
    try {
      await until(() => recorder.allClosed, "client sockets to close", clock);
    } finally {
      await server.ws.stop();
      clock.uninstall();
    }
  }
}

/** What the server sends for a new or refreshed session. */
function sessionEvents(
  session_id: string,
  history:
    | { message_id: string; role: "user" | "assistant"; content: string }[]
    | null,
): UnnumberedEvent[] {
  const base = { agent_id: "assistant", session_id };
  const events: UnnumberedEvent[] = [
    { type: "system_message", ...base, content: `system of ${session_id}` },
    {
      type: "seed_messages",
      ...base,
      messages: [{ role: "user", content: "seed" }],
    },
  ];
  if (history !== null) {
    events.push({ type: "history", ...base, messages: history, pending: null });
  }
  events.push({
    type: "context_update",
    ...base,
    context: { used_tokens: 10, max_tokens: 100, percentage: 10 },
  });
  return events;
}

const commandsOf = (server: ProtocolServer, type: string, action?: string) =>
  server.commands.filter((c) =>
    c.type === type && (action === undefined || c.action === action)
  );

Deno.test("ChatModel - events that overtake the session create result are applied once the window has its session", async () => {
  const store = new MemoryStore();
  await withModel(
    store,
    (command, server) => {
      if (command.action === "list") return { sessions: [] };
      if (command.action === "create") {
        // The events go out on the frontend socket; the result waits.
        for (const e of sessionEvents("assistant_417", null)) server.emit(e);
        return null;
      }
      return {};
    },
    async (rig) => {
      const { server, model, until } = rig;
      rig.start();
      const connection = model.connection.value!;
      await until(
        () => commandsOf(server, "session", "list").length === 1,
        "the first resync",
      );

      model.openChat("assistant");
      const [w] = model.windows.value;
      await until(
        () => connection.frontend.lastSeq === 3,
        "the three events on the frontend socket",
      );
      assert.equal(w.sessionId.value, null, "the result has not come yet");
      assert.equal(w.status.value, "loading");
      assert.equal(w.system.value, null);

      const create = commandsOf(server, "session", "create")[0];
      assert.equal(create.agent_id, "assistant");
      server.reply(String(create.request_id), {
        session_id: "assistant_417",
        agent_id: "assistant",
      });
      await until(() => w.sessionId.value !== null, "the create result");
      assert.equal(w.sessionId.value, "assistant_417");
      assert.equal(w.status.value, "ready");
      assert.equal(w.system.value, "system of assistant_417");
      assert.deepEqual(w.seeds.value, [{ role: "user", content: "seed" }]);
      assert.deepEqual(w.context.value, {
        used_tokens: 10,
        max_tokens: 100,
        percentage: 10,
      });
      assert.deepEqual(
        JSON.parse(store.getItem(WINDOWS_KEY)!),
        [{ agent_id: "assistant", session_id: "assistant_417" }],
        "the window is saved for a reload",
      );
    },
  );
});

Deno.test("ChatModel - a resync ends the windows whose session the server no longer lists and refreshes the others", async () => {
  const store = new MemoryStore();
  store.setItem(CLIENT_ID_KEY, CLIENT_ID);
  store.setItem(
    WINDOWS_KEY,
    JSON.stringify([
      { agent_id: "assistant", session_id: "assistant_111" },
      { agent_id: "assistant", session_id: "assistant_222" },
    ]),
  );
  let live = ["assistant_222"];
  const history = [
    { message_id: "m1", role: "user" as const, content: "hi" },
    { message_id: "m2", role: "assistant" as const, content: "hello" },
  ];
  await withModel(
    store,
    (command, server) => {
      if (command.action === "list") {
        return {
          sessions: live.map((session_id) => ({
            session_id,
            agent_id: "assistant",
            busy: false,
          })),
        };
      }
      if (command.type === "refresh") {
        const id = String(command.session_id);
        for (const e of sessionEvents(id, history)) server.emit(e);
      }
      return {};
    },
    async (rig) => {
      const { server, model, recorder, until } = rig;
      rig.start();
      const [gone, kept] = model.windows.value;
      assert.equal(model.windows.value.length, 2, "restored from the store");
      assert.ok(
        recorder.urls.every((u) =>
          new URL(u).searchParams.get("client") === CLIENT_ID
        ),
        "the client id from the store",
      );

      await until(() => kept.status.value === "ready", "the refresh");
      assert.equal(gone.status.value, "ended");
      assert.match(gone.problem.value!, /no longer has it/);
      assert.deepEqual(
        commandsOf(server, "refresh").map((c) => [c.agent_id, c.session_id]),
        [["assistant", "assistant_222"]],
        "only the live session is refreshed",
      );
      assert.deepEqual(commandsOf(server, "session", "create"), []);
      assert.equal(kept.system.value, "system of assistant_222");
      assert.deepEqual(
        kept.entries.value.map((e) => [e.role, e.content]),
        [["user", "hi"], ["assistant", "hello"]],
      );

      // A server restart that lost the stream (and the session): the next
      // resync ends the other window too.
      live = [];
      server.restart("epoch-2");
      server.frontend!.close(1001, "server shutting down");
      await until(() => kept.status.value === "ended", "the second resync");
      assert.equal(commandsOf(server, "session", "list").length, 2);
      assert.equal(commandsOf(server, "refresh").length, 1);
    },
  );
});
