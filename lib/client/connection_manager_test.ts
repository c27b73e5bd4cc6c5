import assert from "node:assert/strict";
import { refuse, withRig } from "./connection_rig.ts";
import { settle } from "./testing.ts";

Deno.test("ConnectionManager - down is false on the first connect, true from a failure until both are open again", async () => {
  await withRig(async ({ clock, server, tab, until, bothOpen }) => {
    const { manager, states } = tab;
    assert.equal(manager.state.value.down, false, "before start()");
    manager.start();
    assert.equal(manager.state.value.down, false, "first connecting");
    await bothOpen();
    assert.ok(states.every((s) => !s.down), "never down on the way to open");

    await server.ws.stop();
    await until(() => manager.state.value.down, "down");
    // 0.5 of 500 ms: the first retry of each socket, to a server still down.
    await clock.tickAsync(250);
    await until(
      () =>
        manager.state.value.frontend.retries === 2 &&
        manager.state.value.backend.retries === 2,
      "a second failure of each socket",
    );
    server.ws.start();
    await clock.tickAsync(500);
    await bothOpen();

    const failedAt = states.findIndex((s) => s.down);
    const backAt = states.findIndex((s, i) => i > failedAt && !s.down);
    assert.ok(failedAt > 0 && backAt > failedAt, `${failedAt} ${backAt}`);
    assert.equal(states[backAt].frontend.status, "open");
    assert.equal(states[backAt].backend.status, "open");
    assert.equal(backAt, states.length - 1, "not down again after that");
    const down = states.slice(failedAt, backAt);
    assert.ok(
      down.some((s) =>
        s.frontend.status === "connecting" && s.frontend.retries > 0
      ),
      "down even while a failed socket was connecting again",
    );
    assert.ok(states.every((s) => !s.replaced));
  }, { random: () => 0.5 });
});

Deno.test("ConnectionManager - down while only one socket has failed", async () => {
  await withRig(async ({ server, tab, until, bothOpen }) => {
    tab.manager.start();
    await bothOpen();
    refuse(server, "backend");
    server.backend!.close(1011, "trouble");
    await until(() => tab.manager.state.value.down, "down");
    assert.equal(tab.manager.state.value.frontend.status, "open");
    refuse(server, null);
    await bothOpen();
    assert.equal(tab.manager.state.value.down, false);
  });
});

Deno.test("ConnectionManager - replaced after a 4000 close, without retries, until reclaimed", async () => {
  await withRig(async (rig) => {
    const { clock, tab, until, bothOpen, openTab } = rig;
    tab.manager.start();
    await bothOpen();
    const attempts = tab.recorder.count;

    // The same client id in a second tab takes both sockets over.
    const other = openTab();
    other.manager.start();
    await until(() => tab.manager.state.value.replaced, "replaced");
    await bothOpen(other);
    assert.equal(tab.manager.state.value.down, false, "replaced is not down");

    await clock.tickAsync(60 * 60_000);
    tab.manager.retryNow();
    await settle(clock);
    assert.equal(
      tab.recorder.count,
      attempts,
      "no attempt, even after an hour",
    );
    assert.equal(tab.manager.state.value.replaced, true);
    assert.equal(other.manager.state.value.replaced, false);

    // "Continue here": this tab takes the client id back.
    tab.manager.reclaim();
    await bothOpen();
    await until(() => other.manager.state.value.replaced, "the other replaced");
    assert.equal(tab.manager.state.value.replaced, false);
  });
});
