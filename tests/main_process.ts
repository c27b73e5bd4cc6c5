/** `main.ts` in a child process, for tests and benchmarks of the real thing. */

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** main.ts running in a child process. */
export interface Running {
  child: Deno.ChildProcess;
  url: string;
  /** stderr so far */
  output: () => string;
  exited: Promise<Deno.CommandStatus>;
}

/** Only what Deno itself needs; the test controls every Tandem setting. */
function passThrough(): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

/**
 * Starts `main.ts` as users do, in its own process, with only `env` for
 * settings (PORT=0 picks a free port). Resolves once it says where it
 * listens; `url` is empty when it exited or did not start within 20 s.
 * `flags` are further `deno run` flags (e.g. `--inspect=127.0.0.1:0`).
 */
export async function spawnMain(
  env: Record<string, string>,
  options: { permissions?: string[]; cwd?: string; flags?: string[] } = {},
): Promise<Running> {
  const permissions = options.permissions ??
    ["--allow-net", "--allow-env", "--allow-read"];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, ...options.flags ?? [], MAIN],
    cwd: options.cwd,
    env: { ...passThrough(), PORT: "0", LOG_LEVEL: "info", ...env },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const reading = (async () => {
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      text += chunk;
    }
  })();
  const exited = child.status.then(async (status) => {
    await reading;
    return status;
  });
  const deadline = Date.now() + 20_000;
  while (!/listening on (http:\S+)/.test(text)) {
    const done = await Promise.race([
      exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 50)),
    ]);
    if (done || Date.now() > deadline) {
      return { child, url: "", output: () => text, exited };
    }
  }
  const url = text.match(/listening on (http:\S+)/)![1];
  return { child, url, output: () => text, exited };
}
