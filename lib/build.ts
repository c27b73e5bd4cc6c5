/**
 * The browser build: bundles `islands/entry.tsx` with Deno's bundler and
 * writes it and the stylesheet under content-hashed names, plus a manifest
 * naming them and a hash of the build's inputs, so an unchanged tree is not
 * rebuilt. build.ts is its command line; the server never imports this.
 */
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  type BuildManifest,
  ISLAND_NAME,
  MANIFEST_FILE,
  readManifest,
  STYLES_NAME,
} from "./assets.ts";

/** The bundle's entry, relative to the project root. */
export const ENTRY = "islands/entry.tsx";
/** The stylesheet, copied as it is. */
export const STYLES = "static/styles.css";
/** Every .ts/.tsx file under these folders is an input of the build. */
export const INPUT_DIRS = ["islands", "components", "lib"];
/** And these files. */
export const INPUT_FILES = [STYLES, "deno.json", "deno.lock"];

export interface BuildOptions {
  /** The project root: where islands/, lib/, deno.json ... are. */
  root: string;
  /** Where the hashed files and the manifest go (`<root>/_build`). */
  outDir: string;
  /** Rebuild even when the inputs hash matches the manifest's. */
  force?: boolean;
}

export interface BuiltFile {
  name: string;
  bytes: number;
  /** gzip -9 size: what the budget in bench/page.ts counts. */
  gzipBytes: number;
}

export interface BuildResult {
  /** False when the build was up to date and nothing was written. */
  wrote: boolean;
  manifest: BuildManifest;
  files: BuiltFile[];
  /** Hashed files of earlier builds that were deleted. */
  removed: string[];
}

const encoder = new TextEncoder();

async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readOrNull(
  path: string,
): Promise<Uint8Array<ArrayBuffer> | null> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Relative paths (with "/") of the .ts/.tsx files under `root/dir`. */
async function sourcesUnder(root: string, dir: string): Promise<string[]> {
  const found: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(join(root, dir)));
  } catch (error) {
    // An empty folder is not in git, so a fresh clone may lack it.
    if (error instanceof Deno.errors.NotFound) return found;
    throw error;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await sourcesUnder(root, path));
    else if (entry.isFile && /\.tsx?$/.test(entry.name)) found.push(path);
  }
  return found;
}

/**
 * SHA-256 (hex) over the build's inputs: the path and contents of every
 * .ts/.tsx file under {@link INPUT_DIRS}, the {@link INPUT_FILES}, and the
 * Deno version (its bundler makes the output). Any change to one of them
 * changes the hash; nothing else does.
 */
export async function inputsHash(root: string): Promise<string> {
  const sources = (await Promise.all(
    INPUT_DIRS.map((dir) => sourcesUnder(root, dir)),
  )).flat();
  const paths = [...sources, ...INPUT_FILES].sort();
  const lines = [`deno ${Deno.version.deno}`];
  for (const path of paths) {
    const bytes = await readOrNull(join(root, path));
    lines.push(
      `${path} ${bytes === null ? "missing" : await sha256Hex(bytes)}`,
    );
  }
  return await sha256Hex(encoder.encode(lines.join("\n")));
}

/**
 * Bundles {@link ENTRY} for the browser, minified, as one ES module. Runs
 * `deno bundle` in a subprocess rather than `Deno.bundle`, which needs
 * --unstable-bundle at run time and unstable types to type-check; the CLI
 * is the same bundler without either. Throws with the bundler's message.
 */
export async function bundleIsland(
  root: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--minify",
      "--platform=browser",
      "--format=esm",
      `--config=${join(root, "deno.json")}`,
      ENTRY,
    ],
    cwd: root,
    // Plain text errors, without colour codes or a Rust backtrace.
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `deno bundle ${ENTRY} failed:\n${
        new TextDecoder().decode(stderr).trim()
      }`,
    );
  }
  if (stdout.length === 0) throw new Error(`deno bundle ${ENTRY}: no output`);
  return new Uint8Array(stdout);
}

/** Size of `bytes` after gzip at level 9. */
export function gzipSize(bytes: Uint8Array): number {
  return gzipSync(bytes, { level: 9 }).length;
}

function describe(name: string, bytes: Uint8Array): BuiltFile {
  return { name, bytes: bytes.length, gzipBytes: gzipSize(bytes) };
}

/** The manifest's files as they are on disk, or null if one is gone. */
async function readBuilt(
  outDir: string,
  manifest: BuildManifest,
): Promise<BuiltFile[] | null> {
  const files: BuiltFile[] = [];
  for (const name of [manifest.island, manifest.styles]) {
    const bytes = await readOrNull(join(outDir, name));
    if (bytes === null) return null;
    files.push(describe(name, bytes));
  }
  return files;
}

async function hashedName(
  prefix: string,
  ext: string,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<string> {
  return `${prefix}-${(await sha256Hex(bytes)).slice(0, 16)}${ext}`;
}

/**
 * Builds into `outDir` unless its manifest already records the current
 * inputs hash (and its files are there). Writes the hashed files first and
 * the manifest last, by rename, so a server starting meanwhile reads either
 * the old build or the new one, whole; then deletes older hashed files.
 * Throws when bundling fails, leaving the previous build as it was.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const { root, outDir } = options;
  const inputs = await inputsHash(root);
  const previous = await readManifest(outDir).catch(() => null);
  if (!options.force && previous?.inputs === inputs) {
    const files = await readBuilt(outDir, previous);
    if (files !== null) {
      return { wrote: false, manifest: previous, files, removed: [] };
    }
  }
  const island = await bundleIsland(root);
  const styles = await readOrNull(join(root, STYLES));
  if (styles === null) throw new Error(`${join(root, STYLES)} not found`);
  const manifest: BuildManifest = {
    inputs,
    island: await hashedName("island", ".js", island),
    styles: await hashedName("styles", ".css", styles),
  };
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeFile(join(outDir, manifest.island), island);
  await Deno.writeFile(join(outDir, manifest.styles), styles);
  const temp = join(outDir, `.${MANIFEST_FILE}.tmp`);
  await Deno.writeTextFile(temp, JSON.stringify(manifest, null, 2) + "\n");
  await Deno.rename(temp, join(outDir, MANIFEST_FILE));
  const removed: string[] = [];
  for await (const entry of Deno.readDir(outDir)) {
    const hashed = ISLAND_NAME.test(entry.name) ||
      STYLES_NAME.test(entry.name);
    if (
      entry.isFile && hashed && entry.name !== manifest.island &&
      entry.name !== manifest.styles
    ) {
      await Deno.remove(join(outDir, entry.name));
      removed.push(entry.name);
    }
  }
  return {
    wrote: true,
    manifest,
    files: [
      describe(manifest.island, island),
      describe(manifest.styles, styles),
    ],
    removed: removed.sort(),
  };
}

/**
 * Rebuilds whenever an input changes, until `signal` aborts; `report` gets
 * each build that wrote something, or its error (a broken edit must not end
 * `deno task dev`). Changes arriving during a build start one more build.
 */
export async function watchBuild(
  options: BuildOptions,
  report: (result: BuildResult | Error) => void,
  signal?: AbortSignal,
): Promise<void> {
  const paths: string[] = [];
  for (const path of [...INPUT_DIRS, ...INPUT_FILES]) {
    const full = join(options.root, path);
    try {
      await Deno.stat(full);
      paths.push(full);
    } catch {
      // Not there (yet): a folder created later is watched after a restart.
    }
  }
  const watcher = Deno.watchFs(paths, { recursive: true });
  signal?.addEventListener("abort", () => watcher.close(), { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  const rebuild = () => {
    running = running.then(async () => {
      try {
        const result = await build({ ...options, force: false });
        if (result.wrote) report(result);
      } catch (error) {
        report(error as Error);
      }
    });
  };
  for await (const _event of watcher) {
    // Editors save in bursts (write, rename, chmod): build once per burst.
    clearTimeout(timer);
    timer = setTimeout(rebuild, 100);
  }
  clearTimeout(timer);
  await running;
}
