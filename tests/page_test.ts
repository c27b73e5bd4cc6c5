/**
 * The chat page and the built browser files, against a real server. The
 * project's own build is used (`deno task test` brings it up to date first).
 */
import assert from "node:assert/strict";
import { type BuildManifest, readManifest } from "../lib/assets.ts";
import { BUILD_DIR, startTandem, type Tandem } from "./harness.ts";

const EVIL =
  "</script><script>alert(1)</script> <!-- <script> \u2028\u2029 end";

async function projectManifest(): Promise<BuildManifest> {
  const manifest = await readManifest(BUILD_DIR);
  assert.ok(manifest, `no build in ${BUILD_DIR}: run \`deno task build\``);
  return manifest;
}

/** Runs `fn` with a fresh server, always closing it. */
async function withTandem(
  env: Record<string, string>,
  fn: (tandem: Tandem) => Promise<void>,
): Promise<void> {
  const tandem = await startTandem({ env, provider: false });
  try {
    await fn(tandem);
  } finally {
    await tandem.close();
  }
}

async function page(tandem: Tandem): Promise<string> {
  const response = await fetch(`${tandem.server.url}/`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
  return await response.text();
}

/** Every `<script ...>` start tag in `html`. */
const scriptTags = (html: string) => html.match(/<script\b[^>]*>/gi) ?? [];

/** What the browser's parser puts in the props script: up to `</script`. */
function propsText(html: string): string {
  const open = '<script type="application/json" id="tandem-props">';
  const start = html.indexOf(open);
  assert.ok(start >= 0, "no props script");
  const from = start + open.length;
  return html.slice(from, html.toLowerCase().indexOf("</script", from));
}

/** Sends `GET <target>` exactly as written (no URL normalising). */
async function rawStatus(port: number, target: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    ));
    const chunks: string[] = [];
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(new TextDecoder().decode(buffer.subarray(0, n)));
    }
    return chunks.join("");
  } finally {
    conn.close();
  }
}

Deno.test("Page - names the hashed script and stylesheet and carries the agents as props", async () => {
  const manifest = await projectManifest();
  await withTandem({}, async (tandem) => {
    const html = await page(tandem);
    assert.match(html, /^<!doctype html><html lang="en">/);
    assert.match(html, /<meta charset="utf-8"\/?>/);
    assert.match(html, /<meta name="viewport" [^>]*>/);
    assert.match(html, /<meta name="color-scheme" content="light dark"\/?>/);
    assert.match(html, /<title>Tandem<\/title>/);
    assert.ok(
      html.includes(`<link rel="stylesheet" href="/_build/${manifest.styles}"`),
      "stylesheet link",
    );
    // No inline script: only the module file and the JSON data block.
    assert.deepEqual(scriptTags(html), [
      `<script type="module" src="/_build/${manifest.island}">`,
      '<script type="application/json" id="tandem-props">',
    ]);
    const agents = await (await fetch(`${tandem.server.url}/api/agents`))
      .json();
    assert.deepEqual(JSON.parse(propsText(html)), { agents });
    // The island is rendered on the server, inside the element it hydrates.
    const app = html.slice(
      html.indexOf('<div id="tandem-app">'),
      html.indexOf("<script", html.indexOf('<div id="tandem-app">')),
    );
    assert.ok(app.includes("Assistant") && app.includes("Code Reviewer"));
    assert.doesNotMatch(html, /deno task build/);
    assert.equal(tandem.logs.filter((l) => /build/.test(l)).length, 0);
  });
});

Deno.test("Page - an agent description cannot break out of the props script", async () => {
  const agentsDir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${agentsDir}/evil.md`,
      `---\nname: Evil\ndescription: ${JSON.stringify(EVIL)}\n---\nYou help.\n`,
    );
    await withTandem({ AGENTS_DIR: agentsDir }, async (tandem) => {
      const html = await page(tandem);
      assert.equal(scriptTags(html).length, 2, "no script tag was injected");
      assert.ok(!html.includes("<script>alert(1)"));
      assert.ok(!html.includes("<!-- <script>"));
      const props = JSON.parse(propsText(html));
      assert.deepEqual(props, {
        agents: [{ id: "evil", name: "Evil", description: EVIL }],
      });
    });
  } finally {
    await Deno.remove(agentsDir, { recursive: true });
  }
});

Deno.test("Build route - serves the manifest's files with immutable caching", async () => {
  const manifest = await projectManifest();
  await withTandem({}, async (tandem) => {
    const url = `${tandem.server.url}/_build/${manifest.island}`;
    const onDisk = await Deno.readFile(`${BUILD_DIR}/${manifest.island}`);
    const response = await fetch(url, {
      headers: { "accept-encoding": "identity" },
    });
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/javascript; charset=utf-8",
    );
    assert.equal(
      response.headers.get("cache-control"),
      "public, max-age=31536000, immutable",
    );
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), onDisk);

    const gzipped = await fetch(url, {
      headers: { "accept-encoding": "gzip" },
    });
    assert.equal(gzipped.headers.get("content-encoding"), "gzip");
    // fetch decodes it: the same bytes arrive.
    assert.deepEqual(new Uint8Array(await gzipped.arrayBuffer()), onDisk);

    const etag = response.headers.get("etag")!;
    const cached = await fetch(url, { headers: { "if-none-match": etag } });
    assert.equal(cached.status, 304);
    await cached.body?.cancel();

    const css = await fetch(`${tandem.server.url}/_build/${manifest.styles}`);
    assert.equal(css.status, 200);
    assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
    assert.equal(
      await css.text(),
      await Deno.readTextFile(`${BUILD_DIR}/${manifest.styles}`),
    );
  });
});

Deno.test("Build route - other names and path tricks are 404", async () => {
  await withTandem({}, async (tandem) => {
    for (
      const path of [
        "/_build/x.js",
        "/_build/island-0000000000000000.js",
        "/_build/manifest.json",
        "/_build/..%2fdeno.json",
        "/_build/%2e%2e%2fdeno.json",
        "/_build/..%5cdeno.json",
        "/_build/",
      ]
    ) {
      const response = await fetch(`${tandem.server.url}${path}`);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    for (
      const target of [
        "/_build/../deno.json",
        "/_build/../_build/manifest.json",
        "/_build/./manifest.json",
      ]
    ) {
      const text = await rawStatus(tandem.server.port, target);
      assert.match(text, /^HTTP\/1\.1 404 /, target);
      assert.doesNotMatch(text, /"tasks"|"inputs"/, target);
    }
  });
});

Deno.test("Page - without a build it still lists the agents and says to run deno task build", async () => {
  const empty = await Deno.makeTempDir();
  try {
    await withTandem({ BUILD_DIR: empty }, async (tandem) => {
      const html = await page(tandem);
      assert.ok(html.includes("Assistant") && html.includes("Code Reviewer"));
      assert.match(
        html,
        /bundle is missing[\s\S]*<code>deno task build<\/code>/,
      );
      assert.deepEqual(scriptTags(html), [
        '<script type="application/json" id="tandem-props">',
      ]);
      assert.doesNotMatch(html, /stylesheet/);
      const manifest = await projectManifest();
      const island = await fetch(
        `${tandem.server.url}/_build/${manifest.island}`,
      );
      assert.equal(island.status, 404);
      await island.body?.cancel();
      const warnings = tandem.logs.filter((l) => /deno task build/.test(l));
      assert.equal(warnings.length, 1, tandem.logs.join("\n"));
      assert.match(warnings[0], /WARN .*bundle is missing/);
    });
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});
