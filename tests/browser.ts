/**
 * Headless Chromium for the browser suites: Debian's chromium driven by
 * playwright-core, against Tandem running as its own process (so a test can
 * stop and restart it) and a FakeOpenAI in the test process.
 */
import { type Browser, chromium, type Page } from "playwright-core";
import { FakeOpenAI } from "./fake_openai.ts";
import { type Running, spawnMain } from "./main_process.ts";
import { AGENTS_DIR } from "./harness.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Debian's Chromium, headless, with the flags this closed network needs. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Screenshots land here; .gitignore covers it. */
export const ARTIFACTS = new URL("../test-artifacts/", import.meta.url)
  .pathname;

/** Saves a screenshot of `page` as test-artifacts/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

/** A Tandem process, a fake provider and a browser, torn down together. */
export interface BrowserWorld {
  browser: Browser;
  provider: FakeOpenAI;
  server: Running;
  /** The port Tandem listens on; a restart keeps it. */
  port: number;
  /** SIGTERM, then wait for the exit. */
  stopServer(): Promise<void>;
  /** Starts main.ts again on the same port. */
  startServer(): Promise<void>;
  /**
   * A new page on Tandem's index, hydrated. With `pausedClock`, the page's
   * timers fire only when the test moves `page.clock`, so every reconnect
   * is one the test caused; sockets stay real.
   */
  openPage(
    options?: { width?: number; dark?: boolean; pausedClock?: boolean },
  ): Promise<Page>;
}

async function spawnOn(
  port: number,
  provider: FakeOpenAI,
  env: Record<string, string>,
): Promise<Running> {
  const server = await spawnMain({
    PORT: String(port),
    HOSTNAME: "127.0.0.1",
    AGENTS_DIR,
    OPENAI_API_KEY: "sk-test-secret",
    OPENAI_BASE_URL: provider.url,
    LLM_MAX_RETRIES: "0",
    ...env,
  });
  if (server.url === "") {
    throw new Error(`Tandem did not start:\n${server.output()}`);
  }
  return server;
}

/**
 * Runs `fn` with a fresh Tandem process (`env` added to its settings),
 * FakeOpenAI and Chromium. Chromium
 * must be installed: a missing browser fails the test, it never skips.
 */
export async function withBrowser(
  fn: (world: BrowserWorld) => Promise<void>,
  options: { env?: Record<string, string> } = {},
): Promise<void> {
  const env = options.env ?? {};
  const provider = await FakeOpenAI.start();
  let server = await spawnOn(0, provider, env);
  const port = Number(new URL(server.url).port);
  let running = true;
  const browser = await launchChromium();
  const world: BrowserWorld = {
    browser,
    provider,
    get server() {
      return server;
    },
    port,
    async stopServer() {
      if (!running) return;
      running = false;
      server.child.kill("SIGTERM");
      await server.exited;
    },
    async startServer() {
      server = await spawnOn(port, provider, env);
      running = true;
    },
    async openPage(options = {}) {
      const context = await browser.newContext({
        viewport: { width: options.width ?? 1280, height: 900 },
        colorScheme: options.dark ? "dark" : "light",
      });
      const page = await context.newPage();
      page.on("pageerror", (error) => pageErrors.push(error));
      if (options.pausedClock) await page.clock.install();
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector("#tandem-app[data-hydrated=true]");
      // An installed clock still flows with real time until paused.
      if (options.pausedClock) await page.clock.pauseAt(Date.now() + 60_000);
      return page;
    },
  };
  const pageErrors: Error[] = [];
  try {
    await fn(world);
    if (pageErrors.length > 0) {
      throw new Error(`the page threw: ${pageErrors.join("; ")}`);
    }
  } finally {
    await browser.close();
    await world.stopServer();
    await provider.close();
  }
}

/** Opens a chat on `agentName` and waits until its input is enabled. */
export async function openChat(page: Page, agentName: string) {
  const before = await page.locator("section.chat").count();
  await page.getByRole("button", { name: `Open chat with ${agentName}` })
    .click();
  const chat = page.locator("section.chat").nth(before);
  await chat.locator("textarea:enabled").waitFor();
  return chat;
}
