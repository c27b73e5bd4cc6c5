import assert from "node:assert/strict";
import { readManifest } from "./assets.ts";
import { build, type BuildResult, inputsHash, watchBuild } from "./build.ts";

const ENTRY_SOURCE = `// A comment the minifier drops.
const greetingForTheTitle: string = "hello from the island";
document.title = greetingForTheTitle;
`;

/**
 * Runs `fn` with a tiny project (its own entry, stylesheet and an empty
 * deno.json, so the real islands do not matter here) and an output folder.
 */
async function withProject(
  fn: (root: string, outDir: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir();
  const outDir = await Deno.makeTempDir();
  try {
    for (const dir of ["islands", "lib", "static"]) {
      await Deno.mkdir(`${root}/${dir}`);
    }
    await Deno.writeTextFile(`${root}/islands/entry.tsx`, ENTRY_SOURCE);
    await Deno.writeTextFile(`${root}/lib/util.ts`, "export const a = 1;\n");
    await Deno.writeTextFile(`${root}/static/styles.css`, "body { margin: 0 }");
    await Deno.writeTextFile(`${root}/deno.json`, "{}\n");
    await fn(root, outDir);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outDir, { recursive: true });
  }
}

async function listing(dir: string): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for await (const entry of Deno.readDir(dir)) {
    files.set(
      entry.name,
      (await Deno.stat(`${dir}/${entry.name}`)).mtime!.getTime(),
    );
  }
  return files;
}

// So a rewrite would show as a later modification time.
const tick = () => new Promise((resolve) => setTimeout(resolve, 30));

Deno.test("inputsHash - changes with any input, not with other files", async () => {
  await withProject(async (root) => {
    const first = await inputsHash(root);
    assert.match(first, /^[0-9a-f]{64}$/);
    assert.equal(await inputsHash(root), first);

    await Deno.writeTextFile(`${root}/README.md`, "not an input");
    await Deno.writeTextFile(`${root}/lib/notes.md`, "not an input either");
    assert.equal(await inputsHash(root), first);

    await Deno.writeTextFile(`${root}/lib/util.ts`, "export const a = 2;\n");
    const changed = await inputsHash(root);
    assert.notEqual(changed, first);

    await Deno.mkdir(`${root}/components/deep`, { recursive: true });
    await Deno.writeTextFile(`${root}/components/deep/x.tsx`, "export {};\n");
    const added = await inputsHash(root);
    assert.notEqual(added, changed);

    await Deno.writeTextFile(`${root}/deno.lock`, "{}\n");
    const locked = await inputsHash(root);
    assert.notEqual(locked, added);

    await Deno.writeTextFile(`${root}/static/styles.css`, "body{}");
    assert.notEqual(await inputsHash(root), locked);
  });
});

Deno.test("build - writes a minified island and the stylesheet under hashed names, and a manifest", async () => {
  await withProject(async (root, outDir) => {
    const result = await build({ root, outDir });
    assert.equal(result.wrote, true);
    const manifest = await readManifest(outDir);
    assert.deepEqual(manifest, result.manifest);
    assert.equal(manifest!.inputs, await inputsHash(root));
    assert.match(manifest!.island, /^island-[0-9a-f]{16}\.js$/);
    assert.match(manifest!.styles, /^styles-[0-9a-f]{16}\.css$/);
    assert.deepEqual(
      [...(await listing(outDir)).keys()].sort(),
      ["manifest.json", manifest!.island, manifest!.styles].sort(),
    );
    const island = await Deno.readTextFile(`${outDir}/${manifest!.island}`);
    assert.match(island, /hello from the island/);
    assert.doesNotMatch(
      island,
      /A comment|sourceMappingURL|greetingForTheTitle/,
    );
    assert.doesNotMatch(island, /: string/, "types are stripped");
    assert.equal(
      await Deno.readTextFile(`${outDir}/${manifest!.styles}`),
      "body { margin: 0 }",
    );
    const sizes = new Map(result.files.map((f) => [f.name, f]));
    assert.equal(sizes.get(manifest!.island)!.bytes, island.length);
    assert.ok(sizes.get(manifest!.island)!.gzipBytes > 0);
  });
});

Deno.test("build - an up-to-date build writes nothing; a changed input rebuilds and removes the old files", async () => {
  await withProject(async (root, outDir) => {
    const first = await build({ root, outDir });
    const before = await listing(outDir);
    await tick();

    const again = await build({ root, outDir });
    assert.equal(again.wrote, false);
    assert.deepEqual(again.manifest, first.manifest);
    assert.deepEqual(again.files, first.files);
    assert.deepEqual(await listing(outDir), before, "no file was rewritten");

    await Deno.writeTextFile(
      `${root}/islands/entry.tsx`,
      ENTRY_SOURCE.replace("hello", "goodbye"),
    );
    const rebuilt = await build({ root, outDir });
    assert.equal(rebuilt.wrote, true);
    assert.notEqual(rebuilt.manifest.island, first.manifest.island);
    assert.equal(rebuilt.manifest.styles, first.manifest.styles);
    assert.deepEqual(rebuilt.removed, [first.manifest.island]);
    assert.deepEqual(
      [...(await listing(outDir)).keys()].sort(),
      ["manifest.json", rebuilt.manifest.island, rebuilt.manifest.styles]
        .sort(),
    );
  });
});

Deno.test("build - force rebuilds unchanged inputs; a deleted output is rebuilt", async () => {
  await withProject(async (root, outDir) => {
    const first = await build({ root, outDir });
    const forced = await build({ root, outDir, force: true });
    assert.equal(forced.wrote, true);
    assert.deepEqual(
      forced.manifest,
      first.manifest,
      "same inputs, same names",
    );
    assert.deepEqual(forced.removed, []);

    await Deno.remove(`${outDir}/${first.manifest.island}`);
    const restored = await build({ root, outDir });
    assert.equal(restored.wrote, true);
    await Deno.stat(`${outDir}/${first.manifest.island}`);
  });
});

Deno.test("build - a bundling error names the file and leaves the previous build alone", async () => {
  await withProject(async (root, outDir) => {
    const first = await build({ root, outDir });
    const before = await listing(outDir);
    await tick();
    await Deno.writeTextFile(
      `${root}/islands/entry.tsx`,
      "const x: number = ;",
    );
    await assert.rejects(
      build({ root, outDir }),
      /deno bundle islands\/entry\.tsx failed:[\s\S]*entry\.tsx/,
    );
    assert.deepEqual(await readManifest(outDir), first.manifest);
    assert.deepEqual(await listing(outDir), before);
  });
});

Deno.test("watchBuild - rebuilds after an edit, reports a broken edit, stops on abort", async () => {
  await withProject(async (root, outDir) => {
    const first = await build({ root, outDir });
    const reports: (BuildResult | Error)[] = [];
    let wake = () => {};
    const controller = new AbortController();
    const watching = watchBuild({ root, outDir }, (report) => {
      reports.push(report);
      wake();
    }, controller.signal);
    const nextReport = () =>
      new Promise<BuildResult | Error>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no report")), 10_000);
        wake = () => {
          clearTimeout(timer);
          resolve(reports.at(-1)!);
        };
      });
    try {
      // Give the watcher time to be in place before the edit.
      await new Promise((resolve) => setTimeout(resolve, 200));
      let report = nextReport();
      await Deno.writeTextFile(
        `${root}/islands/entry.tsx`,
        "document.title = 'edited';\n",
      );
      const edited = await report;
      assert.ok(!(edited instanceof Error), String(edited));
      assert.equal(edited.wrote, true);
      assert.notEqual(edited.manifest.island, first.manifest.island);
      assert.deepEqual(await readManifest(outDir), edited.manifest);

      report = nextReport();
      await Deno.writeTextFile(`${root}/islands/entry.tsx`, "const = ;\n");
      const broken = await report;
      assert.ok(broken instanceof Error);
      assert.match(broken.message, /entry\.tsx/);
    } finally {
      controller.abort();
      await watching;
    }
  });
});
