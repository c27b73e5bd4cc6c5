/**
 * Page budget benchmark (not part of the test suite): main.ts in its own
 * process, the chat page loaded in headless Chromium.
 *
 *   deno task bench:page        # 10 measured loads after a warm-up
 *   deno task bench:page 30     # 30 measured loads
 *
 * Prints the JavaScript the page loads (raw and gzip -9) against the 30 KB
 * budget, and per load the time from navigation start to first contentful
 * paint and to the island's `tandem:hydrated` mark, with medians against
 * the 100 ms budget. Cold loads use a fresh browser context (empty cache);
 * warm loads reuse one, as a returning visitor's browser would.
 */
import type { Browser } from "playwright-core";
import { gzipSize } from "../lib/build.ts";
import { launchChromium } from "../tests/browser.ts";
import { AGENTS_DIR } from "../tests/harness.ts";
import { spawnMain } from "../tests/main_process.ts";

const JS_BUDGET_BYTES = 30 * 1024;
const RENDER_BUDGET_MS = 100;
const runs = Number(Deno.args[0] ?? 10);
if (!Number.isInteger(runs) || runs < 1) {
  console.error("usage: deno task bench:page [runs]");
  Deno.exit(2);
}

interface Asset {
  url: string;
  raw: number;
  gzip: number;
}

async function fetchAsset(
  url: string,
): Promise<{ asset: Asset; text: string }> {
  // identity: count the bytes themselves, then gzip them at level 9 here.
  const response = await fetch(url, {
    headers: { "accept-encoding": "identity" },
  });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  return {
    asset: {
      url,
      raw: bytes.length,
      gzip: gzipSize(bytes),
    },
    text: new TextDecoder().decode(bytes),
  };
}

const attribute = (tag: string, name: string) =>
  tag.match(new RegExp(`\\b${name}="([^"]*)"`))?.[1];

/**
 * Every script the page loads before it is interactive: module scripts,
 * module preloads, and what they import statically (dynamic `import()` is
 * loaded later, so it is not counted).
 */
async function pageScripts(pageUrl: string, html: string): Promise<Asset[]> {
  const queue: string[] = [];
  for (const tag of html.match(/<(script|link)\b[^>]*>/gi) ?? []) {
    const isModule = /^<script/i.test(tag) &&
      attribute(tag, "type") === "module";
    const isPreload = /^<link/i.test(tag) &&
      attribute(tag, "rel") === "modulepreload";
    const src = attribute(tag, isModule ? "src" : "href");
    if ((isModule || isPreload) && src) queue.push(new URL(src, pageUrl).href);
    if (/^<script/i.test(tag) && isModule && !src) {
      throw new Error("the page has an inline module script");
    }
  }
  const seen = new Map<string, Asset>();
  while (queue.length > 0) {
    const url = queue.shift()!;
    if (seen.has(url)) continue;
    const { asset, text } = await fetchAsset(url);
    seen.set(url, asset);
    // Minified static imports: import"./a.js" / import{x}from"./a.js" /
    // export*from"./a.js".
    const imports = text.matchAll(
      /(?:\bimport|\bexport)\s*(?:[\w$*{}\s,]*?\bfrom\s*)?["']([^"']+)["']/g,
    );
    for (const [, specifier] of imports) {
      if (/^(\.|\/|https?:)/.test(specifier)) {
        queue.push(new URL(specifier, url).href);
      }
    }
  }
  return [...seen.values()];
}

interface Timing {
  /** When the first byte of the HTML arrived. */
  response: number;
  fcp: number;
  hydrated: number;
}

async function load(
  browser: Browser,
  url: string,
  context?: Awaited<ReturnType<Browser["newContext"]>>,
): Promise<Timing> {
  const own = context ?? await browser.newContext();
  const page = await own.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  try {
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(
      () =>
        performance.getEntriesByName("first-contentful-paint").length > 0 &&
        performance.getEntriesByName("tandem:hydrated").length > 0,
      undefined,
      { timeout: 10_000 },
    );
    if (errors.length > 0) throw new Error(`page error: ${errors[0]}`);
    return await page.evaluate(() => ({
      response: (performance.getEntriesByType(
        "navigation",
      )[0] as PerformanceNavigationTiming).responseStart,
      fcp: performance.getEntriesByName("first-contentful-paint")[0].startTime,
      hydrated: performance.getEntriesByName("tandem:hydrated")[0].startTime,
    }));
  } finally {
    await page.close();
    if (!context) await own.close();
  }
}

const median = (values: number[]) => {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const verdict = (value: number, budget: number) =>
  value <= budget ? "PASS" : "OVER";

const running = await spawnMain({ AGENTS_DIR });
if (!running.url) throw new Error(`server did not start: ${running.output()}`);
let browser: Browser | null = null;
try {
  const html = await (await fetch(running.url)).text();
  if (html.includes("deno task build")) {
    throw new Error("the page has no browser bundle: run `deno task build`");
  }
  const scripts = await pageScripts(running.url, html);
  const styles = html.match(/<link rel="stylesheet" href="([^"]+)"/)?.[1];
  const raw = scripts.reduce((sum, s) => sum + s.raw, 0);
  const gzip = scripts.reduce((sum, s) => sum + s.gzip, 0);
  console.log("JavaScript loaded by the chat page:");
  for (const script of scripts) {
    console.log(
      `  ${new URL(script.url).pathname}  ${kb(script.raw)} raw, ${
        kb(script.gzip)
      } gzip`,
    );
  }
  console.log(
    `  total  ${kb(raw)} raw, ${kb(gzip)} gzip; budget ${
      kb(JS_BUDGET_BYTES)
    } gzip: ${verdict(gzip, JS_BUDGET_BYTES)}`,
  );
  if (styles) {
    const { asset } = await fetchAsset(new URL(styles, running.url).href);
    console.log(
      `  (stylesheet, not counted: ${kb(asset.raw)} raw, ${
        kb(asset.gzip)
      } gzip)`,
    );
  }

  browser = await launchChromium();
  await load(browser, running.url); // warm-up: server, browser, caches
  const cold: Timing[] = [];
  for (let i = 0; i < runs; i++) cold.push(await load(browser, running.url));
  const context = await browser.newContext();
  await load(browser, running.url, context); // fills this context's cache
  const warm: Timing[] = [];
  for (let i = 0; i < runs; i++) {
    warm.push(await load(browser, running.url, context));
  }
  await context.close();

  console.log(`\nFirst render in headless Chromium, ${runs} loads each:`);
  console.log("  run  cold FCP   cold hydrated  warm FCP   warm hydrated");
  for (let i = 0; i < runs; i++) {
    console.log(
      `  ${String(i + 1).padStart(3)}  ${ms(cold[i].fcp).padStart(8)}  ${
        ms(cold[i].hydrated).padStart(13)
      }  ${ms(warm[i].fcp).padStart(8)}  ${ms(warm[i].hydrated).padStart(13)}`,
    );
  }
  for (const [name, timings] of [["cold", cold], ["warm", warm]] as const) {
    const fcp = median(timings.map((t) => t.fcp));
    const hydrated = median(timings.map((t) => t.hydrated));
    const response = median(timings.map((t) => t.response));
    console.log(
      `  median ${name}: FCP ${ms(fcp)} ${verdict(fcp, RENDER_BUDGET_MS)}, ` +
        `hydrated ${ms(hydrated)} ${
          verdict(hydrated, RENDER_BUDGET_MS)
        } (budget ${RENDER_BUDGET_MS} ms; HTML first byte at ${ms(response)})`,
    );
  }
} finally {
  await browser?.close();
  running.child.kill("SIGTERM");
  await running.exited;
}
