/**
 * Agent files: Markdown with a YAML front matter block (agents/README.md).
 *
 * Every problem is reported as an {@link AgentConfigError} that names the file
 * and the field, because the person reading it is editing that file by hand
 * and start-up is where they will see it.
 */
import { join } from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import type { AgentSummary, SeedMessage } from "./protocol.ts";

export type { AgentSummary };
import { slugify } from "./session_id.ts";

/** One agent, as the rest of the server uses it. */
export interface AgentConfig {
  /** The file name without `.md`. */
  id: string;
  name: string;
  description: string;
  /** null: use the server's default model. */
  model: string | null;
  systemPrompt: string;
  /** Few-shot turns, alternating user and assistant, starting with user. */
  seedMessages: SeedMessage[];
  /** In tokens. */
  contextWindow: number;
  /** null: the provider's default. */
  temperature: number | null;
  /** null: no limit beyond the context window. */
  maxOutputTokens: number | null;
  /** The path it was loaded from. */
  file: string;
}

/** A broken agent file; the message starts with the file's path. */
export class AgentConfigError extends Error {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = "AgentConfigError";
  }
}

/** Agent ids: the file name without `.md`. */
export const AGENT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Tokens, when a file sets no `context_window`. */
export const DEFAULT_CONTEXT_WINDOW = 128_000;

const text = (max?: number) => {
  const base = z.string().trim().min(1);
  return max === undefined ? base : base.max(max);
};
const positiveInt = z.number().int().positive();

// `key:` with nothing after it is YAML null; for optional fields that reads as
// "not set", which is what someone blanking a value means.
const SeedPairSchema = z.strictObject({ user: text(), assistant: text() });
const FrontMatterSchema = z.strictObject({
  name: text(80),
  description: text(300),
  // Model names are short; the cap stops a pasted prompt landing here.
  model: text(200).nullish(),
  context_window: positiveInt.nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  max_output_tokens: positiveInt.nullish(),
  seed: z.array(SeedPairSchema).nullish(),
});

const KNOWN_KEYS: Record<string, readonly string[]> = {
  "": Object.keys(FrontMatterSchema.shape),
  seed: Object.keys(SeedPairSchema.shape),
};

// The opening `---` line, then the YAML, then a closing `---` line.
const FRONT_MATTER = /^(---[ \t]*\r?\n(?:[\s\S]*?\r?\n)?)---[ \t]*(?:\r?\n|$)/;
const OPENING_LINE = /^---[ \t]*\r?\n/;

/**
 * Parses the text of one agent file. `file` is the path it came from: the id
 * is its name without `.md`, and every error message starts with it.
 * Throws an {@link AgentConfigError} for anything wrong with the file.
 */
export function parseAgentFile(text: string, file: string): AgentConfig {
  const id = idFromPath(file);
  const source = text.replace(/^\uFEFF/, "");
  const match = FRONT_MATTER.exec(source);
  if (match === null) {
    throw new AgentConfigError(
      file,
      OPENING_LINE.test(source)
        ? "front matter is not closed (add a --- line after it)"
        : "missing front matter (a --- block at the top)",
    );
  }
  const fields = readFields(file, parseYaml(match[1], file));
  const systemPrompt = source.slice(match[0].length).trim();
  if (systemPrompt === "") {
    throw new AgentConfigError(
      file,
      "the system prompt (the text after the front matter) is empty",
    );
  }
  const contextWindow = fields.context_window ?? DEFAULT_CONTEXT_WINDOW;
  const maxOutputTokens = fields.max_output_tokens ?? null;
  if (maxOutputTokens !== null && maxOutputTokens >= contextWindow) {
    throw new AgentConfigError(
      file,
      `field "max_output_tokens": must be less than context_window (${contextWindow})`,
    );
  }
  return {
    id,
    name: fields.name,
    description: fields.description,
    model: fields.model ?? null,
    systemPrompt,
    seedMessages: (fields.seed ?? []).flatMap((pair): SeedMessage[] => [
      { role: "user", content: pair.user },
      { role: "assistant", content: pair.assistant },
    ]),
    contextWindow,
    temperature: fields.temperature ?? null,
    maxOutputTokens,
    file,
  };
}

/**
 * Loads every `*.md` file directly in `dir` (sorted by name; README.md and
 * hidden files are skipped) into a map keyed by agent id. Throws an
 * {@link AgentConfigError} for the first broken file, and an Error naming the
 * folder if it is missing or holds no agent files.
 */
export async function loadAgentConfigs(
  dir: string,
): Promise<Map<string, AgentConfig>> {
  const names = await listAgentFiles(dir);
  if (names.length === 0) {
    throw new Error(
      `agents folder "${dir}" has no agent files (*.md other than README.md); see agents/README.md for the format`,
    );
  }
  const agents = new Map<string, AgentConfig>();
  for (const name of names) {
    const file = join(dir, name);
    const agent = parseAgentFile(await Deno.readTextFile(file), file);
    agents.set(agent.id, agent);
  }
  return agents;
}

/** The public face of an agent for the `/api/agents` listing. */
export function summarizeAgent(config: AgentConfig): AgentSummary {
  return {
    id: config.id,
    name: config.name,
    description: config.description,
  };
}

function idFromPath(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  const id = base.endsWith(".md") ? base.slice(0, -3) : base;
  if (!AGENT_ID_PATTERN.test(id)) {
    throw new AgentConfigError(
      file,
      `the file name must be <agent id>.md, where the id is 1-64 lower-case letters, digits, "-" or "_" and starts with a letter or digit; rename it, e.g. to "${
        slugify(id)
      }.md"`,
    );
  }
  return id;
}

async function listAgentFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const name = entry.name;
      if (!name.endsWith(".md") || name.startsWith(".")) continue;
      if (name.toLowerCase() === "readme.md") continue;
      // A symlink counts when it points at a file.
      const isFile = entry.isFile ||
        (entry.isSymlink && (await Deno.stat(join(dir, name))).isFile);
      if (isFile) names.push(name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `agents folder "${dir}" does not exist (set AGENTS_DIR to the folder that holds the agent files)`,
        { cause: error },
      );
    }
    if (error instanceof Deno.errors.NotADirectory) {
      throw new Error(`agents folder "${dir}" is not a folder`, {
        cause: error,
      });
    }
    throw error;
  }
  return names.sort();
}

/**
 * `source` keeps the opening `---` line, which YAML reads as a document
 * start, so the line numbers in YAML's messages are the file's.
 */
function parseYaml(source: string, file: string): unknown {
  let value: unknown;
  try {
    const doc = parseDocument(source, { prettyErrors: true });
    if (doc.errors.length > 0) {
      throw new AgentConfigError(
        file,
        `front matter is not valid YAML: ${doc.errors[0].message.trim()}`,
      );
    }
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    if (error instanceof AgentConfigError) throw error;
    if (error instanceof Deno.errors.NotCapable) {
      // The yaml package reads LOG_TOKENS and LOG_STREAM while it parses.
      throw new Error(
        "reading agent files needs env access to LOG_TOKENS and LOG_STREAM (the yaml package checks them); run with --allow-env or --allow-env=LOG_TOKENS,LOG_STREAM",
        { cause: error },
      );
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new AgentConfigError(
      file,
      `front matter is not valid YAML: ${message}`,
    );
  }
  return value;
}

type FrontMatter = z.infer<typeof FrontMatterSchema>;

function readFields(file: string, value: unknown): FrontMatter {
  // An empty block is an empty mapping: the missing fields are then named.
  const input = value ?? {};
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new AgentConfigError(
      file,
      `front matter must be a YAML mapping of fields (name: ..., description: ...), got ${
        describeValue(input)
      }`,
    );
  }
  const parsed = FrontMatterSchema.safeParse(input, { reportInput: true });
  if (parsed.success) return parsed.data;
  // A typo'd key also shows up as its real key missing; the typo is the cause.
  const issues = [...parsed.error.issues].sort((a, b) =>
    Number(b.code === "unrecognized_keys") -
    Number(a.code === "unrecognized_keys")
  );
  const [path, problem] = describeIssue(issues[0]);
  throw new AgentConfigError(file, `field "${path}": ${problem}`);
}

/** The dotted path and what is wrong there. */
function describeIssue(issue: z.core.$ZodIssue): [string, string] {
  const path = issue.path.map(String);
  switch (issue.code) {
    case "unrecognized_keys": {
      const key = issue.keys[0];
      // Seed pairs sit under a numeric index: look their keys up as "seed".
      const known = KNOWN_KEYS[path.filter((p) => !/^\d+$/.test(p)).join(".")];
      return [[...path, key].join("."), unknownKey(key, known ?? [])];
    }
    case "invalid_type":
      return [
        path.join("."),
        issue.input === undefined
          ? "is missing"
          : `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, got ${
            describeValue(issue.input)
          }`,
      ];
    case "too_small":
      return [path.join("."), tooSmall(issue)];
    case "too_big":
      return [
        path.join("."),
        issue.origin === "string"
          ? `must be at most ${issue.maximum} characters (it has ${
            String(issue.input).trim().length
          })`
          : `must be at most ${issue.maximum}`,
      ];
    default:
      return [path.join("."), issue.message];
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  array: "a list",
  object: "a mapping",
};

function tooSmall(issue: z.core.$ZodIssueTooSmall): string {
  if (issue.origin === "string") {
    return issue.minimum === 1
      ? "must not be empty"
      : `must be at least ${issue.minimum} characters`;
  }
  return issue.inclusive
    ? `must be at least ${issue.minimum}`
    : `must be greater than ${issue.minimum}`;
}

function unknownKey(key: string, known: readonly string[]): string {
  const near = known.find((k) => editDistance(k, key) <= 2);
  return near === undefined
    ? `unknown field (known fields: ${known.join(", ")})`
    : `unknown field; did you mean "${near}"?`;
}

function describeValue(value: unknown): string {
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return "a string";
  if (typeof value === "boolean") return `${value} (a boolean)`;
  return String(value);
}

/** Levenshtein distance; keys are short, so the plain table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}
