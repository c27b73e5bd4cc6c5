import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { assetResponse, type Assets, loadAssets } from "./assets.ts";

const ISLAND = "island-0123456789abcdef.js";
const STYLES = "styles-fedcba9876543210.css";
const INPUTS = "a".repeat(64);

/** Runs `fn` with a temp folder holding `files`, always removing it. */
async function withDir(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const manifest = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({ inputs: INPUTS, island: ISLAND, styles: STYLES, ...fields });

async function loaded(dir: string): Promise<Assets> {
  const reading = await loadAssets(dir);
  assert.ok(reading.ok, reading.ok ? "" : reading.problem);
  return reading.assets;
}

Deno.test("loadAssets - a missing, broken or incomplete build is a problem to show, not a throw", async () => {
  await withDir({}, async (dir) => {
    const reading = await loadAssets(dir);
    assert.equal(reading.ok, false);
    assert.match(!reading.ok ? reading.problem : "", /missing.*manifest\.json/);
  });
  await withDir({ "manifest.json": "{not json" }, async (dir) => {
    assert.equal((await loadAssets(dir)).ok, false);
  });
  // A name outside the hashed pattern is refused, so it is never served.
  await withDir(
    { "manifest.json": manifest({ island: "../deno.json" }) },
    async (dir) => {
      const reading = await loadAssets(dir);
      assert.match(!reading.ok ? reading.problem : "", /not a build manifest/);
    },
  );
  await withDir({ "manifest.json": manifest(), [ISLAND]: "x" }, async (dir) => {
    const reading = await loadAssets(dir);
    assert.match(
      !reading.ok ? reading.problem : "",
      new RegExp(`incomplete.*${STYLES}`),
    );
  });
});

Deno.test("loadAssets - serves exactly the files the manifest names", async () => {
  await withDir({
    "manifest.json": manifest(),
    [ISLAND]: "console.log(1)",
    [STYLES]: "body{}",
    "island-1111111111111111.js": "an old build",
  }, async (dir) => {
    const assets = await loaded(dir);
    assert.equal(assets.islandUrl, `/_build/${ISLAND}`);
    assert.equal(assets.stylesUrl, `/_build/${STYLES}`);
    assert.equal(
      new TextDecoder().decode(assets.file(ISLAND)!.body),
      "console.log(1)",
    );
    assert.match(assets.file(STYLES)!.contentType, /^text\/css/);
    for (
      const name of ["manifest.json", "island-1111111111111111.js", "", "x.js"]
    ) {
      assert.equal(assets.file(name), undefined, name);
      assert.equal(assetResponse(assets, name, {}), null, name);
    }
    assert.equal(assetResponse(null, ISLAND, {}), null);
  });
});

Deno.test("assetResponse - immutable caching, gzip when accepted, 304 for a known ETag", async () => {
  const body = "export const x = 1;".repeat(50);
  await withDir(
    { "manifest.json": manifest(), [ISLAND]: body, [STYLES]: "" },
    async (dir) => {
      const assets = await loaded(dir);
      const plain = assetResponse(assets, ISLAND, {})!;
      assert.equal(plain.status, 200);
      assert.equal(
        plain.headers.get("cache-control"),
        "public, max-age=31536000, immutable",
      );
      assert.equal(
        plain.headers.get("content-type"),
        "text/javascript; charset=utf-8",
      );
      assert.equal(plain.headers.get("content-encoding"), null);
      assert.equal(await plain.text(), body);
      const etag = plain.headers.get("etag")!;
      assert.equal(etag, '"0123456789abcdef"');

      const gzipped = assetResponse(assets, ISLAND, {
        acceptEncoding: "br, gzip;q=0.8",
      })!;
      assert.equal(gzipped.headers.get("content-encoding"), "gzip");
      assert.equal(gzipped.headers.get("vary"), "Accept-Encoding");
      assert.notEqual(gzipped.headers.get("etag"), etag);
      const bytes = new Uint8Array(await gzipped.arrayBuffer());
      assert.ok(bytes.length < body.length);
      assert.equal(new TextDecoder().decode(gunzipSync(bytes)), body);
      const refused = assetResponse(assets, ISLAND, {
        acceptEncoding: "gzip;q=0, identity",
      })!;
      assert.equal(refused.headers.get("content-encoding"), null);
      await refused.body?.cancel();

      for (
        const ifNoneMatch of [
          etag,
          `W/${etag}`,
          `"other", ${gzipped.headers.get("etag")}`,
          "*",
        ]
      ) {
        const cached = assetResponse(assets, ISLAND, { ifNoneMatch })!;
        assert.equal(cached.status, 304, ifNoneMatch);
        assert.equal(cached.body, null);
        assert.match(cached.headers.get("cache-control")!, /immutable/);
      }
      const stale = assetResponse(assets, ISLAND, { ifNoneMatch: '"other"' })!;
      assert.equal(stale.status, 200);
      await stale.body?.cancel();
    },
  );
});
