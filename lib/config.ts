/**
 * Settings, read once from the environment and validated, so a typo in a
 * variable stops start-up with a message that names it.
 */
import { z } from "zod";
import { type LogLevel, parseLogLevel } from "./logger.ts";

/** Per-client limits; each is a setting with the default shown in docs. */
export interface Limits {
  /** A backend-api frame over this many UTF-8 bytes is answered `too_large`. */
  maxFrameBytes: number;
  /** A frame over this many bytes closes the socket with 1009. */
  hardFrameBytes: number;
  /** A chat message over this many characters is answered `too_large`. */
  maxMessageChars: number;
  /** Sustained commands per second per client (token bucket refill rate). */
  commandsPerSecond: number;
  /** Commands a client may send in one burst. */
  commandBurst: number;
  /** Live sessions one client may hold. */
  maxSessionsPerClient: number;
  /**
   * A session no command named and no reply ran in for this long is closed
   * (its owner gets a notification), so abandoned chats do not hold memory.
   */
  sessionIdleMs: number;
}

/** How long the FrontendAPI holds sent events for replay. */
export interface ReplaySettings {
  /** Events are held at least this long after they were produced. */
  holdMs: number;
  /** And at least this many of the newest are held regardless of age. */
  holdCount: number;
  /** Hard cap per client, to bound memory when a client never acks. */
  maxHeld: number;
}

export interface LlmSettings {
  apiKey: string | null;
  baseUrl: string | null;
  defaultModel: string;
  /** Time allowed until the first streamed chunk arrives. */
  firstTokenTimeoutMs: number;
  /** Time allowed between two streamed chunks. */
  idleTimeoutMs: number;
  /**
   * Tandem's retries of a failed model call before the first token reached
   * the browser (never after: that would duplicate text).
   */
  maxRetries: number;
  /**
   * A retry starts only if its wait ends within this long after the chat was
   * accepted, so a person is not left waiting on a provider that is down.
   */
  retryBudgetMs: number;
  /** Ceiling of the first retry's random wait; each retry doubles it. */
  retryBaseMs: number;
}

export interface Config {
  port: number;
  hostname: string;
  agentsDir: string;
  /** Where `deno task build` put the browser files and their manifest. */
  buildDir: string;
  allowedOrigins: string[];
  logLevel: LogLevel;
  llm: LlmSettings;
  limits: Limits;
  replay: ReplaySettings;
  /**
   * A socket from which nothing (not even a pong) arrived for this long is
   * dead: the server pings it halfway, closes it and holds its events.
   */
  heartbeatTimeoutMs: number;
}

const int = (min: number) => z.coerce.number().int().min(min);

const EnvSchema = z.object({
  PORT: int(0).max(65535).default(8000),
  HOSTNAME: z.string().min(1).default("127.0.0.1"),
  AGENTS_DIR: z.string().min(1).optional(),
  BUILD_DIR: z.string().min(1).optional(),
  ALLOWED_ORIGINS: z.string().default(""),
  LOG_LEVEL: z.string().optional(),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: z.url().optional(),
  OPENAI_MODEL: z.string().min(1).default("gpt-4o-mini"),
  LLM_FIRST_TOKEN_TIMEOUT_MS: int(1).default(60_000),
  LLM_IDLE_TIMEOUT_MS: int(1).default(60_000),
  LLM_MAX_RETRIES: int(0).max(10).default(2),
  LLM_RETRY_BUDGET_MS: int(0).default(30_000),
  LLM_RETRY_BASE_MS: int(1).default(500),
  MAX_FRAME_BYTES: int(256).default(64 * 1024),
  HARD_FRAME_BYTES: int(256).default(1024 * 1024),
  MAX_MESSAGE_CHARS: int(1).default(32_000),
  COMMANDS_PER_SECOND: int(1).default(20),
  COMMAND_BURST: int(1).default(40),
  MAX_SESSIONS_PER_CLIENT: int(1).default(32),
  SESSION_IDLE_MS: int(100).default(60 * 60_000),
  EVENT_HOLD_MS: int(0).default(5 * 60_000),
  EVENT_HOLD_COUNT: int(0).default(1000),
  MAX_HELD_EVENTS: int(1).default(10_000),
  HEARTBEAT_TIMEOUT_MS: int(200).default(30_000),
});

/** The environment variables Tandem reads. */
export const ENV_VARS = Object.keys(EnvSchema.shape);

/**
 * Builds the configuration from environment variables. Empty strings count as
 * unset. Throws an Error naming the variable when one is invalid. The default
 * folders are main.ts's (`agents/` and `_build/` beside it); a relative
 * default build folder is taken from the working directory.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  defaultAgentsDir: string,
  defaultBuildDir = "_build",
): Config {
  const present: Record<string, string> = {};
  for (const name of ENV_VARS) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") {
      present[name] = value.trim();
    }
  }
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `invalid setting ${issue.path.join(".")}=${
        JSON.stringify(present[String(issue.path[0])])
      }: ${issue.message}`,
    );
  }
  const e = parsed.data;
  if (e.HARD_FRAME_BYTES < e.MAX_FRAME_BYTES) {
    throw new Error(
      "invalid setting HARD_FRAME_BYTES: must be at least MAX_FRAME_BYTES",
    );
  }
  return {
    port: e.PORT,
    hostname: e.HOSTNAME,
    agentsDir: e.AGENTS_DIR ?? defaultAgentsDir,
    buildDir: e.BUILD_DIR ?? defaultBuildDir,
    allowedOrigins: e.ALLOWED_ORIGINS.split(",").map((o) => o.trim()).filter(
      Boolean,
    ),
    logLevel: parseLogLevel(e.LOG_LEVEL),
    llm: {
      apiKey: e.OPENAI_API_KEY ?? null,
      baseUrl: e.OPENAI_BASE_URL ?? null,
      defaultModel: e.OPENAI_MODEL,
      firstTokenTimeoutMs: e.LLM_FIRST_TOKEN_TIMEOUT_MS,
      idleTimeoutMs: e.LLM_IDLE_TIMEOUT_MS,
      maxRetries: e.LLM_MAX_RETRIES,
      retryBudgetMs: e.LLM_RETRY_BUDGET_MS,
      retryBaseMs: e.LLM_RETRY_BASE_MS,
    },
    limits: {
      maxFrameBytes: e.MAX_FRAME_BYTES,
      hardFrameBytes: e.HARD_FRAME_BYTES,
      maxMessageChars: e.MAX_MESSAGE_CHARS,
      commandsPerSecond: e.COMMANDS_PER_SECOND,
      commandBurst: e.COMMAND_BURST,
      maxSessionsPerClient: e.MAX_SESSIONS_PER_CLIENT,
      sessionIdleMs: e.SESSION_IDLE_MS,
    },
    replay: {
      holdMs: e.EVENT_HOLD_MS,
      holdCount: e.EVENT_HOLD_COUNT,
      maxHeld: e.MAX_HELD_EVENTS,
    },
    heartbeatTimeoutMs: e.HEARTBEAT_TIMEOUT_MS,
  };
}
