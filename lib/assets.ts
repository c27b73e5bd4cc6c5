/**
 * The browser files `deno task build` writes to `_build/`: the manifest that
 * names them, and how the server loads and serves them. The server only ever
 * reads here; writing is lib/build.ts, which the server never imports (so it
 * needs neither --allow-write nor --allow-run).
 */
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { z } from "zod";

/** The manifest's file name inside the build directory. */
export const MANIFEST_FILE = "manifest.json";

/** Where the browser fetches built files: `/_build/<name>`. */
export const ASSET_PREFIX = "/_build/";

/** The command that (re)builds the browser files, for messages to people. */
export const BUILD_COMMAND = "deno task build";

// Content-hashed names are the whole safety story of the route: only names
// of exactly these shapes are ever written, listed or served.
/** The bundled island's file name: `island-<16 hex digits>.js`. */
export const ISLAND_NAME = /^island-[0-9a-f]{16}\.js$/;
/** The stylesheet's file name: `styles-<16 hex digits>.css`. */
export const STYLES_NAME = /^styles-[0-9a-f]{16}\.css$/;

const ManifestSchema = z.strictObject({
  /** SHA-256 of everything the build reads; see lib/build.ts. */
  inputs: z.string().regex(/^[0-9a-f]{64}$/),
  island: z.string().regex(ISLAND_NAME),
  styles: z.string().regex(STYLES_NAME),
});

/** What `_build/manifest.json` holds. */
export type BuildManifest = z.infer<typeof ManifestSchema>;

/**
 * Reads `<dir>/manifest.json`. Returns null when there is none; throws when
 * it exists but is not a manifest this version wrote.
 */
export async function readManifest(dir: string): Promise<BuildManifest | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, MANIFEST_FILE));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const parsed = ManifestSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(
      `${join(dir, MANIFEST_FILE)} is not a build manifest: ${
        parsed.error.issues[0].message
      }`,
    );
  }
  return parsed.data;
}

/** One built file, held in memory. */
export interface AssetFile {
  body: Uint8Array<ArrayBuffer>;
  /** The body gzipped (level 9), for browsers that accept gzip. */
  gzipped: Uint8Array<ArrayBuffer>;
  contentType: string;
  /** A strong ETag: the content hash already in the name. */
  etag: string;
}

/** The built files the server serves, loaded once at start-up. */
export interface Assets {
  /** e.g. `/_build/island-0123456789abcdef.js` */
  islandUrl: string;
  /** e.g. `/_build/styles-0123456789abcdef.css` */
  stylesUrl: string;
  /** The file the manifest names `name`, or undefined for any other name. */
  file(name: string): AssetFile | undefined;
}

/** Assets, or why there are none (worded for a log line). */
export type AssetsReading =
  | { ok: true; assets: Assets }
  | { ok: false; problem: string };

const CONTENT_TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/**
 * Loads the manifest in `dir` and every file it names into memory. Held in
 * memory because the files are a few KB and a rebuild while the server runs
 * deletes the old hashed files: a page rendered before the rebuild must still
 * get the script it names. Never throws: a missing or broken build is a
 * reason the page can show.
 */
export async function loadAssets(dir: string): Promise<AssetsReading> {
  let manifest: BuildManifest | null;
  try {
    manifest = await readManifest(dir);
  } catch (error) {
    return { ok: false, problem: (error as Error).message };
  }
  if (manifest === null) {
    return {
      ok: false,
      problem: `the browser bundle is missing (no ${join(dir, MANIFEST_FILE)})`,
    };
  }
  const files = new Map<string, AssetFile>();
  for (const name of [manifest.island, manifest.styles]) {
    try {
      const body = await Deno.readFile(join(dir, name));
      files.set(name, {
        body,
        // Deno.serve does not compress these by itself; once at start-up
        // is cheaper than per request.
        gzipped: new Uint8Array(gzipSync(body, { level: 9 })),
        contentType: CONTENT_TYPES[name.slice(name.lastIndexOf("."))],
        etag: `"${name.slice(name.indexOf("-") + 1, name.lastIndexOf("."))}"`,
      });
    } catch (error) {
      return {
        ok: false,
        problem: `the browser bundle is incomplete: cannot read ${
          join(dir, name)
        } (${(error as Error).message})`,
      };
    }
  }
  return {
    ok: true,
    assets: {
      islandUrl: ASSET_PREFIX + manifest.island,
      stylesUrl: ASSET_PREFIX + manifest.styles,
      file: (name) => files.get(name),
    },
  };
}

// Hashed names never change content, so browsers and CDNs may keep them.
const IMMUTABLE = "public, max-age=31536000, immutable";

/** Whether an If-None-Match header value names one of `etags`. */
function matches(ifNoneMatch: string | undefined, etags: string[]): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((tag) => {
    const t = tag.trim().replace(/^W\//, "");
    return t === "*" || etags.includes(t);
  });
}

/** Whether an Accept-Encoding header value accepts gzip. */
function acceptsGzip(acceptEncoding: string | undefined): boolean {
  return (acceptEncoding ?? "").split(",").some((part) => {
    const [coding, ...params] = part.split(";").map((p) => p.trim());
    const q = params.find((p) => p.startsWith("q="));
    return (coding === "gzip" || coding === "*") &&
      (q === undefined || Number(q.slice(2)) > 0);
  });
}

/** The request headers {@link assetResponse} looks at. */
export interface AssetRequest {
  ifNoneMatch?: string;
  acceptEncoding?: string;
}

/**
 * The response for `GET /_build/<name>`: the file (gzipped when the browser
 * accepts it) with long cache headers, 304 when the browser already has it,
 * or null (a 404) for any name the manifest does not list.
 */
export function assetResponse(
  assets: Assets | null,
  name: string,
  request: AssetRequest,
): Response | null {
  const file = assets?.file(name);
  if (!file) return null;
  const gzip = acceptsGzip(request.acceptEncoding);
  // The two encodings are different bytes, so they get different tags.
  const gzipEtag = file.etag.replace(/"$/, '.gz"');
  const headers: Record<string, string> = {
    "cache-control": IMMUTABLE,
    "etag": gzip ? gzipEtag : file.etag,
    "vary": "Accept-Encoding",
    "x-content-type-options": "nosniff",
  };
  if (matches(request.ifNoneMatch, [file.etag, gzipEtag])) {
    return new Response(null, { status: 304, headers });
  }
  headers["content-type"] = file.contentType;
  if (gzip) headers["content-encoding"] = "gzip";
  return new Response(gzip ? file.gzipped : file.body, { headers });
}
