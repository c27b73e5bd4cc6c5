/**
 * The page's heartbeat in headless Chromium: when its connections stop
 * carrying anything without closing (as on a dead network), the page
 * notices by itself, shows the retry dialog, reconnects and goes on.
 */
import assert from "node:assert/strict";
import { openChat, withBrowser } from "./browser.ts";

interface Link {
  url: string;
  frozen: boolean;
  /** Frames the page sent on it. */
  sent: string[];
}

Deno.test("Connection - connections that go silent are noticed by the page's heartbeat and replaced", async () => {
  await withBrowser(async ({ browser, port }) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const links: Link[] = [];
    // While the network is "down", new sockets fail at once, so the retry
    // dialog stays up however the page's timers line up with the test's.
    let down = false;
    await page.routeWebSocket(/\/ws\/(frontend|backend)-api/, (ws) => {
      const link: Link = { url: ws.url(), frozen: false, sent: [] };
      links.push(link);
      if (down) {
        void ws.close({ code: 1011, reason: "network down" });
        return;
      }
      const server = ws.connectToServer();
      // A frozen link carries nothing either way and closes nothing.
      ws.onMessage((message) => {
        link.sent.push(String(message));
        if (!link.frozen) server.send(message);
      });
      server.onMessage((message) => {
        if (!link.frozen) ws.send(message);
      });
      ws.onClose((code, reason) => {
        if (!link.frozen) void server.close({ code, reason });
      });
      server.onClose((code, reason) => {
        if (!link.frozen) void ws.close({ code, reason });
      });
    });
    await page.clock.install();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector("#tandem-app[data-hydrated=true]");
    // From here the page's timers run only when the test moves the clock.
    await page.clock.pauseAt(Date.now() + 1_000);
    const chat = await openChat(page, "Assistant");
    await chat.getByLabel("Message to Assistant").fill("first");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.assistant", { hasText: "Echo: first" }).waitFor();
    assert.equal(links.length, 2);

    for (const link of links) link.frozen = true;
    down = true;
    const dialog = page.getByRole("alertdialog");
    await page.clock.runFor(20_000);
    const pings = (link: Link) =>
      link.sent.filter((f) => JSON.parse(f).type === "ping").length;
    assert.deepEqual(links.map(pings), [1, 1], "one ping on each socket");
    assert.equal(await dialog.count(), 0, "not before the timeout");
    await page.clock.runFor(10_000);
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Connection closed - retrying/);

    // The network is back: the next backoff retry opens new sockets.
    down = false;
    const failed = links.length;
    await page.clock.runFor(31_000);
    await dialog.waitFor({ state: "detached" });
    const fresh = links.slice(failed);
    assert.equal(fresh.length, 2, "one new socket of each kind");
    const resumed = new URL(
      fresh.find((l) => l.url.includes("frontend-api"))!.url,
    );
    assert.ok(resumed.searchParams.get("epoch"), "resumed, with the epoch");
    assert.ok(Number(resumed.searchParams.get("last_seq")) > 0);

    await chat.getByLabel("Message to Assistant").fill("second");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.assistant", { hasText: "Echo: second" })
      .waitFor();
    assert.equal(
      await chat.locator(".msg.assistant", { hasText: "Echo: first" }).count(),
      1,
      "nothing shown twice",
    );
    await context.close();
  });
});
