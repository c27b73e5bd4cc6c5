/**
 * Tandem as users run it: `main.ts` in its own process, configured by the
 * environment, stopped by a signal.
 */
import assert from "node:assert/strict";
import { readManifest } from "../lib/assets.ts";
import { FakeOpenAI } from "./fake_openai.ts";
import { AGENTS_DIR, BUILD_DIR, Client, type Tandem } from "./harness.ts";
import { spawnMain } from "./main_process.ts";

Deno.test("Process - SIGTERM tells clients, cancels replies and closes sockets with 1001", async () => {
  const fake = await FakeOpenAI.start();
  const running = await spawnMain({
    AGENTS_DIR,
    OPENAI_API_KEY: "sk-process-secret",
    OPENAI_BASE_URL: fake.url,
  });
  assert.ok(running.url, `server did not start: ${running.output()}`);
  const tandem = { wsBase: running.url.replace(/^http/, "ws") } as Tandem;
  const client = await Client.connect(tandem);
  try {
    const sessionId = await client.createSession();
    fake.enqueue({
      kind: "reply",
      chunks: Array(50).fill("x"),
      chunkDelayMs: 50,
    });
    await client.command({
      type: "chat",
      agent_id: "assistant",
      session_id: sessionId,
      message: "a long reply",
    });
    await client.event("agent_response_delta", sessionId);
    running.child.kill("SIGTERM");
    const notification = await client.event<
      { notification_type: string; message: string }
    >(
      "notification",
    );
    assert.equal(notification.notification_type, "warning");
    assert.match(notification.message, /shutting down/);
    const response = await client.event<
      { response: { finish_reason: string } }
    >(
      "agent_response",
      sessionId,
    );
    assert.equal(response.response.finish_reason, "cancelled");
    const [frontendClose, backendClose] = await Promise.all([
      client.frontend.closed,
      client.backend.closed,
    ]);
    assert.equal(frontendClose.code, 1001);
    assert.equal(backendClose.code, 1001);
    const status = await running.exited;
    assert.equal(status.code, 0, running.output());
    assert.doesNotMatch(running.output(), /sk-process-secret/);
    assert.doesNotMatch(
      running.output(),
      /a long reply/,
      "no message text in logs at info",
    );
  } finally {
    await client.close();
    try {
      running.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await running.exited;
    await fake.close();
  }
});

Deno.test("Process - a broken agent file stops start-up naming the file and the field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/broken.md`,
      "---\nname: 42\ndescription: d\n---\nYou help.\n",
    );
    const running = await spawnMain({ AGENTS_DIR: dir });
    const status = await running.exited;
    assert.equal(status.code, 1);
    assert.match(running.output(), /broken\.md: field "name"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Process - with no provider it starts and says once which setting to set", async () => {
  const running = await spawnMain({});
  try {
    assert.ok(running.url, `server did not start: ${running.output()}`);
    const health = await fetch(`${running.url}/healthz`);
    assert.deepEqual(await health.json(), { ok: true });
    const lines = running.output().split("\n").filter((l) =>
      /OPENAI_API_KEY/.test(l)
    );
    assert.equal(lines.length, 1, running.output());
    assert.match(lines[0], /no model provider configured/);
  } finally {
    running.child.kill("SIGINT");
    assert.equal((await running.exited).code, 0);
  }
});

Deno.test("Process - an invalid setting stops start-up naming the variable", async () => {
  const running = await spawnMain({ PORT: "eighty" });
  const status = await running.exited;
  assert.equal(status.code, 1);
  assert.match(running.output(), /invalid setting PORT="eighty"/);
});

Deno.test("Process - runs as the compiled binary would: its permissions, agents and _build beside main.ts", async () => {
  // `deno compile` needs a download we cannot make here; this runs main.ts
  // with exactly the compile task's permissions, from another folder, with
  // no AGENTS_DIR or BUILD_DIR, as the binary runs on a user's machine.
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const task = config.tasks.compile;
  const compile: string = typeof task === "string" ? task : task.command;
  assert.deepEqual(task.dependencies, ["build"]);
  assert.match(compile, /--include agents\b/);
  assert.match(compile, /--include _build\b/);
  assert.match(compile, / main\.ts$/);
  const manifest = await readManifest(BUILD_DIR);
  assert.ok(manifest, `no build in ${BUILD_DIR}: run \`deno task build\``);
  const permissions = compile.split(" ").filter((arg) =>
    arg.startsWith("--allow-")
  );
  assert.ok(permissions.length > 0);
  const cwd = await Deno.makeTempDir();
  const running = await spawnMain({}, { permissions, cwd });
  try {
    assert.ok(running.url, `server did not start: ${running.output()}`);
    const agents = await (await fetch(`${running.url}/api/agents`)).json();
    assert.deepEqual(
      agents.map((a: { id: string }) => a.id).sort(),
      ["assistant", "code-reviewer"],
    );
    const page = await (await fetch(running.url)).text();
    const src = `/_build/${manifest.island}`;
    assert.ok(page.includes(`<script type="module" src="${src}">`), page);
    const island = await fetch(`${running.url}${src}`);
    assert.equal(island.status, 200);
    assert.match(island.headers.get("content-type")!, /^text\/javascript/);
    assert.deepEqual(
      new Uint8Array(await island.arrayBuffer()),
      await Deno.readFile(`${BUILD_DIR}/${manifest.island}`),
    );
    assert.doesNotMatch(running.output(), /deno task build/);
  } finally {
    running.child.kill("SIGTERM");
    assert.equal((await running.exited).code, 0);
    await Deno.remove(cwd, { recursive: true });
  }
});
