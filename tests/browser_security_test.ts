/**
 * The Content-Security-Policy in a real browser: the page hydrates and chats
 * under it with no violation, and a script injected into the page is blocked.
 */
import assert from "node:assert/strict";
import { openChat, withBrowser } from "./browser.ts";

type Violation = { directive: string; blocked: string };

/** Runs before the page's own code: records every CSP violation. */
function recordViolations() {
  const seen: Violation[] = [];
  (globalThis as unknown as { cspViolations: Violation[] }).cspViolations =
    seen;
  document.addEventListener("securitypolicyviolation", (event) => {
    seen.push({
      directive: event.effectiveDirective,
      blocked: event.blockedURI,
    });
  });
}

Deno.test("Content-Security-Policy - the page chats under it; an injected script does not run", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    provider.enqueue({ kind: "reply", text: "All **fine** here." });
    const page = await openPage();
    await page.addInitScript(recordViolations);
    await page.reload();
    await page.waitForSelector("#tandem-app[data-hydrated=true]");
    const chat = await openChat(page, "Assistant");
    await chat.getByLabel("Message to Assistant").fill("Are you there?");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.assistant", { hasText: "All fine here." })
      .waitFor();
    const violations = () =>
      page.evaluate(() =>
        (globalThis as unknown as { cspViolations: Violation[] }).cspViolations
      );
    assert.deepEqual(await violations(), [], "the app itself broke the CSP");

    // What an injection would try: an inline script and a foreign one.
    const ran = await page.evaluate(async () => {
      const w = globalThis as unknown as { injected?: boolean };
      const inline = document.createElement("script");
      inline.textContent = "globalThis.injected = true";
      document.body.append(inline);
      const foreign = document.createElement("script");
      foreign.src = "https://example.com/evil.js";
      document.body.append(foreign);
      await new Promise((r) => setTimeout(r, 200));
      return w.injected === true;
    });
    assert.equal(ran, false, "an inline script ran despite the CSP");
    const blocked = await violations();
    assert.ok(
      blocked.some((v) =>
        v.directive === "script-src-elem" && v.blocked === "inline"
      ),
      `no inline-script violation: ${JSON.stringify(blocked)}`,
    );
    assert.ok(
      blocked.some((v) => v.blocked.startsWith("https://example.com/")),
      `no foreign-script violation: ${JSON.stringify(blocked)}`,
    );
  });
});
