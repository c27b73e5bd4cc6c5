/**
 * The chat page in headless Chromium against a real Tandem process with a
 * short SESSION_IDLE_MS: a window whose session the server closed for being
 * idle says so by itself, before anyone types in it.
 */
import assert from "node:assert/strict";
import { openChat, screenshot, withBrowser } from "./browser.ts";

Deno.test("Idle page - a window whose session the server closed says it ended without anyone typing", async () => {
  await withBrowser(async ({ openPage }) => {
    const page = await openPage();
    const chat = await openChat(page, "Assistant");
    const openedAt = Date.now();

    const ended = chat.getByRole("alert");
    await ended.waitFor({ timeout: 10_000 });
    assert.ok(Date.now() - openedAt >= 1_000, "not before the idle time");
    assert.match(await ended.innerText(), /session has ended/);
    assert.equal(await chat.locator("textarea:enabled").count(), 0);
    const notice = page.locator(".notices");
    assert.match(
      await notice.innerText(),
      /Your chat with Assistant \(session assistant_\d+\) was closed after \d+(\.\d)? s without activity; start a new chat to continue\./,
    );
    await screenshot(page, "idle-session-ended");

    await chat.getByRole("button", { name: "Start a new chat" }).click();
    const fresh = page.locator("section.chat").first();
    await fresh.locator("textarea:enabled").waitFor();
  }, { env: { SESSION_IDLE_MS: "1000" } });
});
