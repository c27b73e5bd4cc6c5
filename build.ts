/**
 * Builds the browser files: `deno task build`.
 *
 *   deno task build            # rebuild only when an input changed
 *   deno task build --force    # rebuild regardless
 *   deno task build --watch    # build, then rebuild on every change (dev)
 *
 * Writes `_build/` beside this file; see lib/build.ts.
 */
import { join } from "node:path";
import { build, type BuildResult, watchBuild } from "./lib/build.ts";

const USAGE = "usage: deno task build [--force] [--watch]";

function size(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KB`;
}

function print(result: BuildResult): void {
  const sizes = result.files.map((f) =>
    `${f.name} ${size(f.bytes)} (${size(f.gzipBytes)} gzip)`
  ).join(", ");
  console.log(`build: ${result.wrote ? "wrote" : "up to date"}: ${sizes}`);
  if (result.removed.length > 0) {
    console.log(`build: removed ${result.removed.join(", ")}`);
  }
}

async function main(args: string[]): Promise<number> {
  const unknown = args.filter((a) => a !== "--force" && a !== "--watch");
  if (unknown.length > 0) {
    console.error(`build: unknown argument ${unknown[0]}\n${USAGE}`);
    return 2;
  }
  const root = import.meta.dirname!;
  const options = {
    root,
    outDir: join(root, "_build"),
    force: args.includes("--force"),
  };
  try {
    print(await build(options));
  } catch (error) {
    console.error(`build: ${(error as Error).message}`);
    if (!args.includes("--watch")) return 1;
  }
  if (args.includes("--watch")) {
    console.log("build: watching for changes");
    await watchBuild(options, (result) => {
      if (result instanceof Error) console.error(`build: ${result.message}`);
      else print(result);
    });
  }
  return 0;
}

Deno.exit(await main(Deno.args));
