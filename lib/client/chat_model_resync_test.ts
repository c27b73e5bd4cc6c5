import assert from "node:assert/strict";
import type { UnnumberedEvent } from "../protocol.ts";
import { CLIENT_ID_KEY, WINDOWS_KEY } from "./chat_model.ts";
import {
  CLIENT_ID,
  commandsOf,
  MemoryStore,
  sessionEvents,
  withModel,
} from "./chat_model_rig.ts";

Deno.test("ChatModel - a notification re-lists the sessions and ends the windows the server closed, without refreshing the others", async () => {
  const store = new MemoryStore();
  store.setItem(CLIENT_ID_KEY, CLIENT_ID);
  store.setItem(
    WINDOWS_KEY,
    JSON.stringify([
      { agent_id: "assistant", session_id: "assistant_111" },
      { agent_id: "assistant", session_id: "assistant_222" },
    ]),
  );
  let live = ["assistant_111", "assistant_222"];
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
        for (const e of sessionEvents(id, [])) server.emit(e);
      }
      return {};
    },
    async (rig) => {
      const { server, model, until } = rig;
      rig.start();
      const [closed, kept] = model.windows.value;
      await until(
        () => closed.status.value === "ready" && kept.status.value === "ready",
        "both windows restored",
      );
      assert.equal(commandsOf(server, "refresh").length, 2);

      // The server closes assistant_111 (idle) and tells the client.
      live = ["assistant_222"];
      const message =
        "Your chat with Assistant (session assistant_111) was closed after 60 minutes without activity; start a new chat to continue.";
      server.emit({
        type: "notification",
        notification_type: "warning",
        message,
      });
      await until(() => closed.status.value === "ended", "the window to end");
      assert.match(closed.problem.value!, /no longer has it/);
      assert.equal(kept.status.value, "ready");
      assert.deepEqual(
        model.notices.value.map((n) => [n.kind, n.message]),
        [["warning", message]],
      );
      assert.equal(commandsOf(server, "session", "list").length, 2);
      assert.equal(
        commandsOf(server, "refresh").length,
        2,
        "the live window is not refreshed again",
      );
      assert.deepEqual(commandsOf(server, "session", "create"), []);
    },
  );
});

Deno.test("ChatModel - a message sent while an older snapshot of its session is on the way keeps its bubble and waits for its reply", async () => {
  const store = new MemoryStore();
  store.setItem(CLIENT_ID_KEY, CLIENT_ID);
  let snapshot: UnnumberedEvent[] = [];
  await withModel(
    store,
    (command, server) => {
      if (command.action === "list") return null; // answered below
      if (command.action === "create") {
        for (const e of sessionEvents("assistant_417", null)) server.emit(e);
        return { session_id: "assistant_417", agent_id: "assistant" };
      }
      if (command.type === "refresh") {
        // The server takes the snapshot now; it reaches the page later.
        snapshot = sessionEvents("assistant_417", []);
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
      // A chat opened before the page's first resync is through (found by
      // tests/chaos_test.ts under load): the resync refreshes it too.
      model.openChat("assistant");
      const [w] = model.windows.value;
      await until(() => w.status.value === "ready", "the new session");
      const list = commandsOf(server, "session", "list")[0];
      server.reply(String(list.request_id), {
        sessions: [{
          session_id: "assistant_417",
          agent_id: "assistant",
          busy: false,
        }],
      });
      await until(() => snapshot.length > 0, "the refresh");

      w.draft.value = "hello there";
      await model.send(w);
      assert.deepEqual(
        server.commands.map((c) => c.type).slice(-2),
        ["refresh", "chat"],
        "the server ran the refresh first",
      );
      for (const e of snapshot) server.emit(e);
      await until(
        () => connection.frontend.lastSeq === server.seq,
        "the snapshot",
      );
      assert.deepEqual(
        w.entries.value.map((e) => [e.role, e.content]),
        [["user", "hello there"]],
        "the snapshot predates the message: its bubble stays",
      );
      assert.equal(w.busy.value, true, "its reply is still awaited");

      const base = { agent_id: "assistant", session_id: "assistant_417" };
      server.emit({
        type: "agent_response_delta",
        ...base,
        message_id: "m2",
        delta: "Hi!",
      });
      server.emit({
        type: "agent_response",
        ...base,
        response: {
          message_id: "m2",
          content: "Hi!",
          model: "m",
          finish_reason: "stop",
          usage: null,
        },
      });
      await until(() => !w.busy.value, "the reply");
      assert.deepEqual(
        w.entries.value.map((e) => [e.role, e.content]),
        [["user", "hello there"], ["assistant", "Hi!"]],
      );
    },
  );
});

Deno.test("ChatModel - a snapshot asked for after a message was sent replaces its bubble, even when the reply's events were lost", async () => {
  const store = new MemoryStore();
  store.setItem(CLIENT_ID_KEY, CLIENT_ID);
  const history = [
    { message_id: "m1", role: "user" as const, content: "hello there" },
    { message_id: "m2", role: "assistant" as const, content: "Hi!" },
  ];
  await withModel(
    store,
    (command, server) => {
      if (command.action === "list") {
        const sessions = server.seq === 0 ? [] : [{
          session_id: "assistant_417",
          agent_id: "assistant",
          busy: false,
        }];
        return { sessions };
      }
      if (command.action === "create") {
        for (const e of sessionEvents("assistant_417", null)) server.emit(e);
        return { session_id: "assistant_417", agent_id: "assistant" };
      }
      if (command.type === "refresh") {
        for (const e of sessionEvents("assistant_417", history)) server.emit(e);
      }
      return {};
    },
    async (rig) => {
      const { server, model, until } = rig;
      rig.start();
      await until(
        () => commandsOf(server, "session", "list").length === 1,
        "the first resync",
      );
      model.openChat("assistant");
      const [w] = model.windows.value;
      await until(() => w.status.value === "ready", "the new session");
      w.draft.value = "hello there";
      await model.send(w);

      // The reply's events are lost with a restart that lost the stream:
      // the resync's snapshot has the message and its reply.
      server.restart("epoch-2");
      server.emit({
        type: "context_update",
        agent_id: "assistant",
        session_id: "assistant_417",
        context: { used_tokens: 1, max_tokens: 100, percentage: 1 },
      });
      server.frontend!.close(1001, "server shutting down");
      await until(() => commandsOf(server, "refresh").length === 1, "resync");
      await until(() => !w.busy.value, "the snapshot");
      assert.deepEqual(
        w.entries.value.map((e) => [e.key, e.role, e.content]),
        [["m1", "user", "hello there"], ["m2", "assistant", "Hi!"]],
        "the bubble is replaced by the server's message, not kept twice",
      );
    },
  );
});

Deno.test("ChatModel - after a break in the event stream, pieces of a reply are not shown until the refresh brings its text whole", async () => {
  const store = new MemoryStore();
  store.setItem(CLIENT_ID_KEY, CLIENT_ID);
  store.setItem(
    WINDOWS_KEY,
    JSON.stringify([{ agent_id: "assistant", session_id: "assistant_417" }]),
  );
  const base = { agent_id: "assistant", session_id: "assistant_417" };
  const delta = (text: string): UnnumberedEvent => ({
    type: "agent_response_delta",
    ...base,
    message_id: "m2",
    delta: text,
  });
  const history = [{ message_id: "m1", role: "user" as const, content: "hi" }];
  let snapshot: UnnumberedEvent[] | null = null;
  await withModel(
    store,
    (command) => {
      if (command.action === "list") {
        return { sessions: [{ ...base, busy: true }] };
      }
      if (command.type === "refresh") {
        snapshot = sessionEvents("assistant_417", history);
        const h = snapshot.find((e) => e.type === "history")!;
        (h as { pending: unknown }).pending = {
          message_id: "m2",
          content: "Hello wor",
        };
      }
      return {};
    },
    async (rig) => {
      const { server, model, until } = rig;
      rig.start();
      const [w] = model.windows.value;
      await until(() => snapshot !== null, "the first refresh");
      for (const e of snapshot!) server.emit(e);
      snapshot = null;
      server.emit(delta("ld"));
      await until(() => w.pending.value?.content === "Hello world", "a piece");

      // A restart that lost the stream: what was streamed meanwhile is gone.
      server.restart("epoch-2");
      server.lose(delta("!"));
      server.frontend!.close(1001, "server shutting down");
      await until(() => snapshot !== null, "the rebuild's refresh");
      server.emit(delta(" Bye"));
      await until(
        () => model.connection.value!.frontend.lastSeq === server.seq,
        "the piece after the break",
      );
      assert.equal(
        w.pending.value?.content,
        "Hello world",
        "a piece after a hole is not glued to the text before it",
      );
      assert.equal(w.busy.value, true);

      (snapshot!.find((e) => e.type === "history") as {
        pending: { content: string };
      }).pending.content = "Hello world! Bye";
      for (const e of snapshot!) server.emit(e);
      server.emit(delta("!"));
      await until(
        () => w.pending.value?.content === "Hello world! Bye!",
        "the text from the snapshot, then the next piece",
      );
    },
  );
});

Deno.test("ChatModel - a rebuild the server refuses is tried again until the window has its history and streams again", async () => {
  const store = new MemoryStore();
  store.setItem(CLIENT_ID_KEY, CLIENT_ID);
  store.setItem(
    WINDOWS_KEY,
    JSON.stringify([{ agent_id: "assistant", session_id: "assistant_418" }]),
  );
  const base = { agent_id: "assistant", session_id: "assistant_418" };
  let refreshes = 0;
  let snapshot: UnnumberedEvent[] | null = null;
  await withModel(
    store,
    (command) => {
      if (command.action === "list") {
        return { sessions: [{ ...base, busy: true }] };
      }
      if (command.type === "refresh" && ++refreshes === 1) {
        return {
          ok: false,
          error: { code: "rate_limited", message: "slow down" },
        };
      }
      if (command.type === "refresh") {
        snapshot = sessionEvents("assistant_418", []);
        const h = snapshot.find((e) => e.type === "history")!;
        (h as { pending: unknown }).pending = {
          message_id: "m1",
          content: "Hel",
        };
      }
      return {};
    },
    async (rig) => {
      const { server, model, until } = rig;
      rig.start();
      const [w] = model.windows.value;
      await until(
        () => snapshot !== null,
        "a second refresh after the refusal",
      );
      assert.equal(refreshes, 2);
      assert.equal(
        model.notices.value.filter((n) => n.message.includes("slow down"))
          .length,
        1,
        "the refusal is told once",
      );
      assert.ok(
        w.status.value !== "ended" && w.status.value !== "failed",
        `the window was given up: ${w.status.value}`,
      );
      for (const e of snapshot!) server.emit(e);
      server.emit({
        type: "agent_response_delta",
        ...base,
        message_id: "m1",
        delta: "lo",
      });
      await until(
        () => w.pending.value?.content === "Hello",
        "live text after the retried rebuild",
      );
    },
  );
});
