/**
 * The page across lost connections, in headless Chromium: the retry dialog
 * while the server is away, recovery without a reload when it returns, and
 * a reply that completes exactly once across a dropped frontend-api socket.
 */
import assert from "node:assert/strict";
import type { WebSocketRoute } from "playwright-core";
import { openChat, screenshot, withBrowser } from "./browser.ts";

async function retryCount(
  dialog: import("playwright-core").Locator,
): Promise<number> {
  const text = await dialog.locator(".retry-count").innerText();
  return Number(text.match(/Retry (\d+)/)![1]);
}

Deno.test("Connection - the retry dialog counts up while the server is down and leaves when it is back", async () => {
  await withBrowser(async ({ openPage, stopServer, startServer }) => {
    const page = await openPage({ pausedClock: true });
    const chat = await openChat(page, "Assistant");
    await chat.getByLabel("Message to Assistant").fill("first");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.assistant", { hasText: "Echo: first" }).waitFor();
    await page.evaluate(() => {
      (globalThis as unknown as { marker: string }).marker = "same page";
    });

    await stopServer();
    const dialog = page.getByRole("alertdialog");
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Connection closed - retrying/);
    assert.equal(await retryCount(dialog), 1);
    assert.match(await dialog.innerText(), /next try in \d+ s/);

    // "Retry now" tries at once instead of at the scheduled time.
    await dialog.getByRole("button", { name: "Retry now" }).click();
    await page.waitForFunction(() =>
      document.querySelector(".retry-count")?.textContent === "Retry 2"
    );

    // Without a click, the backoff schedule keeps trying.
    for (let i = 0; i < 20 && await retryCount(dialog) < 4; i++) {
      await page.clock.runFor(2_000);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(await retryCount(dialog) >= 4, "the retry count went up");
    await screenshot(page, "retry-dialog");

    await startServer();
    for (let i = 0; i < 40 && await dialog.count() > 0; i++) {
      await page.clock.runFor(1_000);
      await new Promise((r) => setTimeout(r, 50));
    }
    await dialog.waitFor({ state: "detached", timeout: 5_000 });
    assert.equal(
      await page.evaluate(() =>
        (globalThis as unknown as { marker?: string }).marker
      ),
      "same page",
      "the page was reloaded",
    );

    // The new server process does not have the old session: the window says
    // so and offers a new one in one click.
    const ended = chat.getByRole("alert");
    await ended.waitFor();
    assert.match(await ended.innerText(), /session has ended/);
    await chat.getByRole("button", { name: "Start a new chat" }).click();
    const fresh = page.locator("section.chat").first();
    await fresh.locator("textarea:enabled").waitFor();
    await fresh.getByLabel("Message to Assistant").fill("second");
    await fresh.getByLabel("Message to Assistant").press("Enter");
    await fresh.locator(".msg.assistant", { hasText: "Echo: second" })
      .waitFor();
  });
});

Deno.test("Connection - a frontend-api socket dropped mid-reply: the reply ends complete, no text twice", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    const chunks = Array.from({ length: 16 }, (_, i) => `word${i} `);
    provider.enqueue({ kind: "reply", chunks, chunkDelayMs: 120 });
    const page = await openPage();
    const routes: WebSocketRoute[] = [];
    await page.routeWebSocket(/\/ws\/frontend-api/, (ws) => {
      ws.connectToServer();
      routes.push(ws);
    });
    await page.addInitScript(() => {
      const seen: string[] = [];
      (globalThis as unknown as { streamed: string[] }).streamed = seen;
      new MutationObserver(() => {
        const text = document.querySelector(".msg.streaming .markdown")
          ?.textContent;
        if (text) seen.push(text);
      }).observe(document, {
        childList: true,
        subtree: true,
        characterData: true,
      });
    });
    await page.reload();
    await page.waitForSelector("#tandem-app[data-hydrated=true]");
    const chat = await openChat(page, "Assistant");

    await chat.getByLabel("Message to Assistant").fill("count");
    await chat.getByLabel("Message to Assistant").press("Enter");
    const streaming = chat.locator(".msg.streaming");
    await streaming.waitFor();
    await page.waitForFunction(() =>
      (document.querySelector(".msg.streaming")?.textContent ?? "").includes(
        "word3",
      )
    );
    const socketsBefore = routes.length;
    await routes.at(-1)!.close({ code: 4002, reason: "test drops it" });

    await chat.locator(".msg.assistant .markdown", { hasText: "word15" })
      .waitFor({ timeout: 10_000 });
    await page.waitForFunction(() =>
      document.querySelector(".msg.streaming") === null
    );
    assert.ok(routes.length > socketsBefore, "the page reconnected");
    const replies = chat.locator(".msg.assistant");
    // One seed reply and one new reply.
    assert.equal(await replies.count(), 2);
    const full = chunks.join("");
    assert.equal(
      (await replies.last().locator(".markdown").innerText()).trim(),
      full.trim(),
    );
    // Every text shown while streaming was a prefix of the reply: a delta
    // applied twice (or skipped) would have shown something else.
    const streamed = await page.evaluate(() =>
      (globalThis as unknown as { streamed: string[] }).streamed
    );
    assert.ok(streamed.some((t) => t.includes("word15")), "saw the last words");
    for (const text of streamed) {
      assert.ok(full.startsWith(text), `not a prefix of the reply: ${text}`);
    }
  });
});

Deno.test("Connection - a reload in the middle of a reply ends with the whole reply, once", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    const chunks = Array.from({ length: 20 }, (_, i) => `tok${i} `);
    provider.enqueue({ kind: "reply", chunks, chunkDelayMs: 100 });
    const page = await openPage();
    const chat = await openChat(page, "Assistant");
    const session = await chat.getAttribute("data-session");
    await chat.getByLabel("Message to Assistant").fill("long one");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.streaming", { hasText: "tok3" }).waitFor();

    await page.reload();
    await page.waitForSelector("#tandem-app[data-hydrated=true]");
    const again = page.locator("section.chat");
    assert.equal(await again.count(), 1);
    assert.equal(await again.getAttribute("data-session"), session);
    await again.locator(".msg.assistant .markdown", { hasText: "tok19" })
      .waitFor({ timeout: 10_000 });
    await page.waitForFunction(() =>
      document.querySelector(".msg.streaming") === null
    );
    const log = await again.locator(".log").innerText();
    assert.equal(
      log.split("long one").length - 1,
      1,
      "the question shows once",
    );
    assert.equal(log.split("tok0 ").length - 1, 1, "the reply shows once");
    assert.equal(
      (await again.locator(".msg.assistant .markdown").last().innerText())
        .trim(),
      chunks.join("").trim(),
    );
    assert.equal(provider.requests.length, 1, "one model call");
  });
});

Deno.test("Connection - a second tab with the same client id: the first offers to continue here", async () => {
  await withBrowser(async ({ openPage, browser, port }) => {
    const first = await openPage();
    await openChat(first, "Assistant");
    const clientId = await first.evaluate(() =>
      sessionStorage.getItem("tandem.client")
    );
    // A duplicated tab copies sessionStorage, and with it the client id.
    const context = await browser.newContext();
    await context.addInitScript((id) => {
      sessionStorage.setItem("tandem.client", id);
    }, clientId!);
    const second = await context.newPage();
    await second.goto(`http://127.0.0.1:${port}/`);
    await second.waitForSelector("#tandem-app[data-hydrated=true]");

    const dialog = first.getByRole("alertdialog");
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /open in another tab/);
    await first.waitForTimeout(1_500);
    assert.equal(
      await second.getByRole("alertdialog").count(),
      0,
      "the first tab took the sockets back without being asked",
    );

    await dialog.getByRole("button", { name: "Continue here" }).click();
    await dialog.waitFor({ state: "detached" });
    await second.getByRole("alertdialog", { name: /open in another tab/ })
      .waitFor();
    const chat = first.locator("section.chat");
    await chat.getByLabel("Message to Assistant").fill("still mine");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.assistant", { hasText: "Echo: still mine" })
      .waitFor();
  });
});

Deno.test("Connection - a chat whose result was lost is sent again with the same request_id and runs once", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    const page = await openPage();
    const sent: string[] = [];
    let loseNextResult = false;
    await page.routeWebSocket(/\/ws\/backend-api/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        sent.push(String(message));
        server.send(message);
      });
      server.onMessage((message) => {
        if (loseNextResult && String(message).includes('"result"')) {
          // The server ran the command; its answer dies with the socket.
          loseNextResult = false;
          void ws.close({ code: 4002, reason: "test drops it" });
          return;
        }
        ws.send(message);
      });
    });
    await page.reload();
    await page.waitForSelector("#tandem-app[data-hydrated=true]");
    const chat = await openChat(page, "Assistant");

    loseNextResult = true;
    await chat.getByLabel("Message to Assistant").fill("only once");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.assistant", { hasText: "Echo: only once" })
      .waitFor();
    await page.waitForFunction(() =>
      document.querySelector(".msg.streaming") === null
    );

    // The reply came on the other socket; the resend waits for the backoff.
    const chatsSent = () =>
      sent.map((text) => JSON.parse(text)).filter((f) => f.type === "chat");
    for (let i = 0; i < 100 && chatsSent().length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await page.getByRole("alertdialog").waitFor({ state: "detached" });
    const chats = chatsSent();
    assert.equal(chats.length, 2, "the chat was sent again after the drop");
    assert.equal(chats[0].request_id, chats[1].request_id);
    assert.equal(provider.requests.length, 1, "the model was called once");
    assert.equal(
      await chat.locator(".msg.assistant", { hasText: "Echo: only once" })
        .count(),
      1,
    );
    assert.equal(
      await chat.locator(".msg.user", { hasText: "only once" }).count(),
      1,
    );
  });
});

Deno.test("Connection - the browser's online event and a tab becoming visible retry at once", async () => {
  await withBrowser(async ({ openPage, stopServer }) => {
    const page = await openPage({ pausedClock: true });
    await stopServer();
    const dialog = page.getByRole("alertdialog");
    await dialog.waitFor();
    assert.equal(await retryCount(dialog), 1);

    await page.evaluate(() => dispatchEvent(new Event("online")));
    await page.waitForFunction(() =>
      document.querySelector(".retry-count")?.textContent === "Retry 2"
    );
    await page.evaluate(() =>
      document.dispatchEvent(new Event("visibilitychange"))
    );
    await page.waitForFunction(() =>
      document.querySelector(".retry-count")?.textContent === "Retry 3"
    );
  });
});
