import assert from "node:assert/strict";
import { CLIENT_ID_KEY, WINDOWS_KEY } from "./chat_model.ts";
import {
  CLIENT_ID,
  commandsOf,
  MemoryStore,
  sessionEvents,
  withModel,
} from "./chat_model_rig.ts";

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
