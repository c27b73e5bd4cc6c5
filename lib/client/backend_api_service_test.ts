import assert from "node:assert/strict";
import type { ResultFrame } from "../protocol.ts";
import { refuse, roundTrip, withRig } from "./connection_rig.ts";
import { settle } from "./testing.ts";

Deno.test("BackendAPIService - request() while the socket is down queues and sends once it opens", async () => {
  await withRig(async ({ clock, server, tab, until }) => {
    refuse(server, "backend");
    tab.manager.start();
    await until(
      () => tab.manager.state.value.backend.retries >= 1,
      "a failed backend attempt",
    );
    let result: ResultFrame | null = null;
    void tab.manager.backend.request({
      type: "session",
      action: "create",
      agent_id: "assistant",
    }).then((r) => result = r);
    assert.equal(tab.manager.backend.pendingCount, 1);
    await settle(clock);
    assert.equal(server.commands.length, 0);

    server.answer = () => ({
      session_id: "assistant_123",
      agent_id: "assistant",
    });
    refuse(server, null);
    await until(() => result !== null, "the result");
    assert.equal(server.commands.length, 1);
    const sent = server.commands[0];
    assert.equal(typeof sent.request_id, "string");
    assert.deepEqual(sent, {
      type: "session",
      action: "create",
      agent_id: "assistant",
      request_id: sent.request_id,
    });
    assert.deepEqual(result, {
      type: "result",
      request_id: sent.request_id,
      ok: true,
      session_id: "assistant_123",
      agent_id: "assistant",
    });
    assert.equal(tab.manager.backend.pendingCount, 0);
  });
});

Deno.test("BackendAPIService - gives each command its own request_id", async () => {
  await withRig(async (rig) => {
    rig.tab.manager.start();
    await rig.bothOpen();
    await roundTrip(rig);
    await roundTrip(rig);
    const ids = rig.server.commands.map((c) => c.request_id);
    assert.equal(ids.length, 2);
    assert.notEqual(ids[0], ids[1]);
  });
});

Deno.test("BackendAPIService - re-sends unanswered commands with the same request_id after a reconnect; each resolves once", async () => {
  await withRig(async (rig) => {
    const { clock, server, tab, until, bothOpen } = rig;
    tab.manager.start();
    await bothOpen();
    let answering = false;
    server.answer = (command) =>
      answering ? { echo: command.message ?? command.action } : null;
    const resolved: ResultFrame[] = [];
    const chat = tab.manager.backend.request({
      type: "chat",
      agent_id: "a",
      session_id: "s1",
      message: "hi",
    });
    const list = tab.manager.backend.request({
      type: "session",
      action: "list",
    });
    void chat.then((r) => resolved.push(r));
    void list.then((r) => resolved.push(r));
    await until(() => server.commands.length === 2, "both commands");
    const [chatId, listId] = server.commands.map((c) => c.request_id);

    answering = true;
    server.backend!.close(1011, "trouble");
    await until(() => resolved.length === 2, "both results");
    assert.deepEqual(
      server.commands.map((c) => c.request_id),
      [chatId, listId, chatId, listId],
      "re-sent in the same order with the same ids",
    );
    assert.deepEqual(server.commands[2], server.commands[0]);
    assert.deepEqual(resolved, [
      { type: "result", request_id: chatId, ok: true, echo: "hi" },
      { type: "result", request_id: listId, ok: true, echo: "list" },
    ]);
    assert.equal(tab.manager.backend.pendingCount, 0);

    // A repeated result (the server answers a re-send from memory) is
    // dropped quietly, and answered commands are not sent again.
    server.reply(String(chatId));
    server.reply(String(listId));
    await roundTrip(rig);
    assert.equal(resolved.length, 2);
    const upgrades = server.ws.upgrades.length;
    server.backend!.close(1011, "trouble again");
    await until(
      () => server.ws.upgrades.length > upgrades && server.backend !== null,
      "another reconnect",
    );
    await bothOpen();
    await settle(clock);
    assert.equal(server.commands.length, 5, "4 and the round trip");
    assert.equal(resolved.length, 2);
    assert.deepEqual(tab.warnings, []);
  });
});
