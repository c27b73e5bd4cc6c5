import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AgentConfigError,
  loadAgentConfigs,
  parseAgentFile,
  summarizeAgent,
} from "./agent_config.ts";

const SHIPPED_AGENTS = fileURLToPath(new URL("../agents", import.meta.url));
const FILE = "agents/x.md";

const FULL = `---
name: Code Reviewer
description: Reviews diffs for bugs.
model: gpt-4o-mini
context_window: 64000
temperature: 0.3
max_output_tokens: 1024
seed:
  - user: |
      Review this.
    assistant: |
      Looks good.
  - user: Second question
    assistant: Second answer
---

You review code.

Be brief.
`;

const MINIMAL = `---
name: Minimal
description: The least a file needs.
---
Be helpful.
`;

/** Asserts that parsing `text` fails with a message naming the file and containing every part. */
function assertBroken(text: string, ...parts: string[]): void {
  assert.throws(
    () => parseAgentFile(text, FILE),
    (error: unknown) => {
      assert.ok(error instanceof AgentConfigError, String(error));
      assert.ok(
        error.message.startsWith(`${FILE}: `),
        `does not name the file: ${error.message}`,
      );
      for (const part of parts) {
        assert.ok(
          error.message.includes(part),
          `"${error.message}" lacks "${part}"`,
        );
      }
      return true;
    },
  );
}

/** Writes files into a fresh temp dir, runs `body`, and always removes it. */
async function withAgentsDir(
  files: Record<string, string>,
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tandem_agents_" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseAgentFile - parses every field of a valid file", () => {
  assert.deepEqual(parseAgentFile(FULL, "agents/code-reviewer.md"), {
    id: "code-reviewer",
    name: "Code Reviewer",
    description: "Reviews diffs for bugs.",
    model: "gpt-4o-mini",
    systemPrompt: "You review code.\n\nBe brief.",
    seedMessages: [
      { role: "user", content: "Review this." },
      { role: "assistant", content: "Looks good." },
      { role: "user", content: "Second question" },
      { role: "assistant", content: "Second answer" },
    ],
    contextWindow: 64000,
    temperature: 0.3,
    maxOutputTokens: 1024,
    file: "agents/code-reviewer.md",
  });
});

Deno.test("parseAgentFile - fills the defaults of optional fields", () => {
  const agent = parseAgentFile(MINIMAL, "minimal.md");
  assert.equal(agent.id, "minimal");
  assert.equal(agent.model, null);
  assert.equal(agent.contextWindow, 128000);
  assert.equal(agent.temperature, null);
  assert.equal(agent.maxOutputTokens, null);
  assert.deepEqual(agent.seedMessages, []);
  assert.equal(agent.systemPrompt, "Be helpful.");
});

Deno.test("parseAgentFile - accepts CRLF line ends and a byte order mark", () => {
  const agent = parseAgentFile(
    "\uFEFF" + MINIMAL.replaceAll("\n", "\r\n"),
    FILE,
  );
  assert.equal(agent.name, "Minimal");
  assert.equal(agent.systemPrompt, "Be helpful.");
});

Deno.test("parseAgentFile - a missing name names the field", () => {
  assertBroken(
    "---\ndescription: d\n---\nPrompt",
    'field "name": is missing',
  );
});

Deno.test("parseAgentFile - a wrong type names the field and the type", () => {
  assertBroken(
    "---\nname: 42\ndescription: d\n---\nPrompt",
    'field "name": expected a string',
  );
  assertBroken(
    "---\nname: a\ndescription: d\ncontext_window: lots\n---\nPrompt",
    'field "context_window": expected a number',
  );
});

Deno.test("parseAgentFile - out-of-range values name the field", () => {
  assertBroken(
    "---\nname: a\ndescription: d\ntemperature: 2.5\n---\nPrompt",
    'field "temperature": must be at most 2',
  );
  assertBroken(
    "---\nname: a\ndescription: d\ncontext_window: 0\n---\nPrompt",
    'field "context_window"',
  );
  assertBroken(
    `---\nname: ${"n".repeat(81)}\ndescription: d\n---\nPrompt`,
    'field "name": must be at most 80 characters',
  );
  assertBroken(
    "---\nname: a\ndescription: d\ncontext_window: 1000\nmax_output_tokens: 1000\n---\nPrompt",
    'field "max_output_tokens"',
  );
});

Deno.test("parseAgentFile - a seed pair without assistant names its path", () => {
  assertBroken(
    "---\nname: a\ndescription: d\nseed:\n  - user: hi\n---\nPrompt",
    'field "seed.0.assistant": is missing',
  );
  assertBroken(
    "---\nname: a\ndescription: d\nseed:\n  - user: hi\n    assistant: ''\n---\nPrompt",
    'field "seed.0.assistant": must not be empty',
  );
});

Deno.test("parseAgentFile - an unknown key is named, with a suggestion", () => {
  assertBroken(
    "---\nname: a\ndescription: d\nsead: []\n---\nPrompt",
    'field "sead": unknown field',
    '"seed"',
  );
  assertBroken(
    "---\nname: a\ndescription: d\nseed:\n  - user: u\n    assistent: a\n---\nPrompt",
    'field "seed.0.assistent": unknown field',
  );
});

Deno.test("parseAgentFile - bad YAML reports YAML's message with the file line", () => {
  assertBroken(
    "---\nname: a\ndescription: d: e\n---\nPrompt",
    "front matter is not valid YAML: ",
    "line 3",
  );
});

Deno.test("parseAgentFile - a file without front matter says so", () => {
  assertBroken(
    "# Just Markdown\n\nNo front matter here.",
    "missing front matter (a --- block at the top)",
  );
  assertBroken("---\nname: a\ndescription: d\n", "front matter is not closed");
});

Deno.test("parseAgentFile - an empty body is an error", () => {
  assertBroken(
    "---\nname: a\ndescription: d\n---\n  \n\n",
    "the system prompt (the text after the front matter) is empty",
  );
});

Deno.test("parseAgentFile - a file name that is not a valid id is an error", () => {
  for (
    const file of ["agents/Code Reviewer.md", "agents/-x.md", "agents/.md"]
  ) {
    assert.throws(
      () => parseAgentFile(MINIMAL, file),
      (error: unknown) =>
        error instanceof AgentConfigError &&
        error.message.startsWith(`${file}: the file name`),
    );
  }
});

Deno.test("summarizeAgent - shows id, name and description only", () => {
  const agent = parseAgentFile(FULL, "agents/code-reviewer.md");
  assert.deepEqual(summarizeAgent(agent), {
    id: "code-reviewer",
    name: "Code Reviewer",
    description: "Reviews diffs for bugs.",
  });
});

Deno.test("loadAgentConfigs - loads the shipped agents", async () => {
  const agents = await loadAgentConfigs(SHIPPED_AGENTS);
  for (const id of ["assistant", "code-reviewer"]) {
    const agent = agents.get(id);
    assert.ok(agent, `agent "${id}" is missing`);
    assert.ok(agent.systemPrompt.length > 100, `${id} has a thin prompt`);
    assert.ok(agent.seedMessages.length >= 2, `${id} has no seeds`);
    assert.equal(agent.file, join(SHIPPED_AGENTS, `${id}.md`));
  }
  assert.equal(agents.get("assistant")?.seedMessages.length, 2);
  assert.equal(agents.get("code-reviewer")?.seedMessages.length, 4);
});

Deno.test("loadAgentConfigs - reads *.md in name order, skipping README.md and other files", async () => {
  await withAgentsDir({
    "zeta.md": MINIMAL,
    "alpha.md": MINIMAL,
    "README.md": "# Not an agent",
    "notes.txt": "ignored",
  }, async (dir) => {
    await Deno.mkdir(join(dir, "nested"));
    await Deno.writeTextFile(join(dir, "nested", "deep.md"), MINIMAL);
    const agents = await loadAgentConfigs(dir);
    // Same display name twice is fine: the ids differ.
    assert.deepEqual([...agents.keys()], ["alpha", "zeta"]);
    assert.equal(agents.get("alpha")?.file, join(dir, "alpha.md"));
  });
});

Deno.test("loadAgentConfigs - a broken file fails with its path", async () => {
  await withAgentsDir({
    "good.md": MINIMAL,
    "broken.md": "---\nname: a\ndescription: d\nsead: []\n---\nPrompt",
  }, async (dir) => {
    await assert.rejects(
      () => loadAgentConfigs(dir),
      (error: unknown) =>
        error instanceof AgentConfigError &&
        error.message.startsWith(`${join(dir, "broken.md")}: field "sead"`),
    );
  });
});

Deno.test("loadAgentConfigs - a missing or empty folder is an error naming it", async () => {
  await withAgentsDir({ "README.md": "# Only docs" }, async (dir) => {
    await assert.rejects(() => loadAgentConfigs(dir), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.ok(
        error.message.includes(dir) && /no agent files/.test(error.message),
      );
      return true;
    });
    const missing = join(dir, "nope");
    await assert.rejects(() => loadAgentConfigs(missing), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.ok(
        error.message.includes(missing) && /does not exist/.test(error.message),
      );
      return true;
    });
  });
});
