/**
 * Tandem wire protocol, version 1: the types and zod schemas of every frame.
 *
 * This module is the single source of truth for the wire contract
 * (docs/protocol.md). It has no server-only imports so the browser island can
 * import it too.
 */
import * as z from "zod/mini";
import type { $ZodIssue } from "zod/v4/core";

export const PROTOCOL_VERSION = 1;

/** Error codes carried in `result.error.code` and in `error` events. */
export const ERROR_CODES = [
  "bad_request",
  "too_large",
  "unknown_agent",
  "session_not_found",
  "busy",
  "rate_limited",
  "not_configured",
  "llm_error",
  "internal",
] as const;
export type ErrorCode = typeof ERROR_CODES[number];

/** Client ids: 16-128 characters of `[A-Za-z0-9_-]`. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

// ---------------------------------------------------------------------------
// BackendAPI commands (browser -> server)

const requestId = z.string().check(z.minLength(1), z.maxLength(64));
const agentId = z.string().check(z.minLength(1), z.maxLength(128));
const sessionId = z.string().check(z.minLength(1), z.maxLength(160));

export const SessionCreateSchema = z.object({
  type: z.literal("session"),
  request_id: requestId,
  action: z.literal("create"),
  agent_id: agentId,
});
export const SessionCloseSchema = z.object({
  type: z.literal("session"),
  request_id: requestId,
  action: z.literal("close"),
  session_id: sessionId,
});
export const SessionListSchema = z.object({
  type: z.literal("session"),
  request_id: requestId,
  action: z.literal("list"),
});
export const ChatSchema = z.object({
  type: z.literal("chat"),
  request_id: requestId,
  agent_id: agentId,
  session_id: sessionId,
  message: z.string().check(z.minLength(1)),
});
export const RefreshSchema = z.object({
  type: z.literal("refresh"),
  request_id: requestId,
  agent_id: agentId,
  session_id: sessionId,
});
export const CancelSchema = z.object({
  type: z.literal("cancel"),
  request_id: requestId,
  session_id: sessionId,
});
export const AckSchema = z.object({
  type: z.literal("ack"),
  seq: z.int().check(z.minimum(0)),
});

export const SessionCommandSchema = z.discriminatedUnion("action", [
  SessionCreateSchema,
  SessionCloseSchema,
  SessionListSchema,
]);

export type SessionCreateCommand = z.infer<typeof SessionCreateSchema>;
export type SessionCloseCommand = z.infer<typeof SessionCloseSchema>;
export type SessionListCommand = z.infer<typeof SessionListSchema>;
export type SessionCommand = z.infer<typeof SessionCommandSchema>;
export type ChatCommand = z.infer<typeof ChatSchema>;
export type RefreshCommand = z.infer<typeof RefreshSchema>;
export type CancelCommand = z.infer<typeof CancelSchema>;
export type AckCommand = z.infer<typeof AckSchema>;
export type Command =
  | SessionCommand
  | ChatCommand
  | RefreshCommand
  | CancelCommand
  | AckCommand;
/** Commands answered by a `result` frame (all but `ack`). */
export type RequestCommand = Exclude<Command, AckCommand>;

const COMMAND_SCHEMAS = {
  session: SessionCommandSchema,
  chat: ChatSchema,
  refresh: RefreshSchema,
  cancel: CancelSchema,
  ack: AckSchema,
} as const;

export type CommandType = keyof typeof COMMAND_SCHEMAS;

/** A frame that could not be turned into a command, with what to answer. */
export interface FrameRejection {
  ok: false;
  /** The request id, when one could be read from the malformed frame. */
  request_id: string | null;
  code: ErrorCode;
  message: string;
}

export type ParseResult = { ok: true; command: Command } | FrameRejection;

/** Limits applied while parsing; the frame limit is in UTF-8 bytes. */
export interface ParseLimits {
  maxFrameBytes: number;
  maxMessageChars: number;
}

const encoder = new TextEncoder();

/**
 * The UTF-8 size of `text` when it is over `limit` bytes, else null. A UTF-16
 * unit never takes more than 3 bytes, so short frames skip the encode.
 */
export function sizeOverLimit(text: string, limit: number): number | null {
  if (text.length * 3 <= limit) return null;
  const size = encoder.encode(text).length;
  return size > limit ? size : null;
}

/**
 * Parse options that keep each issue's input, so {@link describeIssue} can
 * tell a missing field from one of the wrong type.
 */
export const REPORT_INPUT = { reportInput: true } as const;

/** One sentence naming the field and what is wrong with it. */
export function describeIssue(issue: $ZodIssue): string {
  const path = issue.path.length > 0 ? issue.path.map(String).join(".") : "";
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.join(", ");
    return path
      ? `field "${path}" has unknown field(s): ${keys}`
      : `unknown field(s): ${keys}`;
  }
  if (issue.code === "invalid_type" && issue.input === undefined) {
    return `field "${path}" is missing`;
  }
  if (issue.code === "invalid_union" && path === "action") {
    return `field "action" must be one of create, close, list`;
  }
  const problem = describeProblem(issue);
  return path
    ? `field "${path}" is invalid: ${problem}`
    : `frame is invalid: ${problem}`;
}

/**
 * zod/mini ships no message texts (that keeps the browser bundle small), so
 * the few issues a command can raise are worded here.
 */
function describeProblem(issue: $ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${issue.expected}`;
    case "too_small":
      return issue.origin === "string"
        ? `must be at least ${issue.minimum} characters`
        : `must be at least ${issue.minimum}`;
    case "too_big":
      return issue.origin === "string"
        ? `must be at most ${issue.maximum} characters`
        : `must be at most ${issue.maximum}`;
    case "invalid_value":
      return `must be ${
        issue.values.map((v) => JSON.stringify(v)).join(" or ")
      }`;
    default:
      return "invalid value";
  }
}

/**
 * Finds a `"request_id": "..."` member without parsing a frame too large to
 * parse, so the sender still gets its answer. Inside a JSON string the quotes
 * would be escaped, so message text cannot fake one.
 */
function peekRequestId(text: string): string | null {
  return text.match(/(?:^|[{,])\s*"request_id"\s*:\s*"([^"\\]{1,64})"/)
    ?.[1] ?? null;
}

function readRequestId(value: Record<string, unknown>): string | null {
  const id = value.request_id;
  return typeof id === "string" && id.length >= 1 && id.length <= 64
    ? id
    : null;
}

/**
 * Parses and validates one backend-api frame. Never throws: anything that is
 * not a valid command comes back as a {@link FrameRejection} naming what was
 * wrong.
 */
export function parseCommand(
  data: string | ArrayBuffer | Blob | Uint8Array,
  limits: ParseLimits,
): ParseResult {
  if (typeof data !== "string") {
    return reject(
      null,
      "bad_request",
      "binary frames are not accepted; send UTF-8 JSON text",
    );
  }
  const bytes = sizeOverLimit(data, limits.maxFrameBytes);
  if (bytes !== null) {
    return reject(
      peekRequestId(data),
      "too_large",
      `frame is ${bytes} bytes; the limit is ${limits.maxFrameBytes} bytes`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return reject(null, "bad_request", "frame is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return reject(null, "bad_request", "frame must be a JSON object");
  }
  const record = value as Record<string, unknown>;
  const id = readRequestId(record);
  const type = record.type;
  if (typeof type !== "string") {
    return reject(id, "bad_request", 'field "type" is missing');
  }
  if (!Object.hasOwn(COMMAND_SCHEMAS, type)) {
    return reject(
      id,
      "bad_request",
      `unknown type "${type.slice(0, 40)}"; expected one of ${
        Object.keys(COMMAND_SCHEMAS).join(", ")
      }`,
    );
  }
  const parsed = COMMAND_SCHEMAS[type as CommandType].safeParse(
    record,
    REPORT_INPUT,
  );
  if (!parsed.success) {
    return reject(id, "bad_request", describeIssue(parsed.error.issues[0]));
  }
  const command = parsed.data as Command;
  if (
    command.type === "chat" && command.message.length > limits.maxMessageChars
  ) {
    return reject(
      id,
      "too_large",
      `message is ${command.message.length} characters; the limit is ${limits.maxMessageChars}`,
    );
  }
  return { ok: true, command };
}

function reject(
  request_id: string | null,
  code: ErrorCode,
  message: string,
): FrameRejection {
  return { ok: false, request_id, code, message };
}

// ---------------------------------------------------------------------------
// BackendAPI results

export interface ResultError {
  code: ErrorCode;
  message: string;
}

export type ResultFrame =
  | (
    & { type: "result"; request_id: string | null; ok: true }
    & Record<
      string,
      unknown
    >
  )
  | {
    type: "result";
    request_id: string | null;
    ok: false;
    error: ResultError;
  };

/** What `/api/agents` shows of an agent: never the prompt or the seeds. */
export interface AgentSummary {
  id: string;
  name: string;
  description: string;
}

export interface SessionInfo {
  session_id: string;
  agent_id: string;
  busy: boolean;
}

// ---------------------------------------------------------------------------
// FrontendAPI events (server -> browser)

export const ChatRoleSchema = z.enum(["user", "assistant"]);
export type ChatRole = z.infer<typeof ChatRoleSchema>;

export const SeedMessageSchema = z.object({
  role: ChatRoleSchema,
  content: z.string(),
});
export type SeedMessage = z.infer<typeof SeedMessageSchema>;

export const HistoryMessageSchema = z.object({
  message_id: z.string(),
  role: ChatRoleSchema,
  content: z.string(),
});
export type HistoryMessage = z.infer<typeof HistoryMessageSchema>;

export const UsageSchema = z.object({
  prompt_tokens: z.number(),
  completion_tokens: z.number(),
  total_tokens: z.number(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const ContextSchema = z.object({
  used_tokens: z.number(),
  max_tokens: z.number(),
  percentage: z.number(),
});
export type ContextUsage = z.infer<typeof ContextSchema>;

export const NotificationTypeSchema = z.enum(["info", "warning", "error"]);
export type NotificationType = z.infer<typeof NotificationTypeSchema>;

export const ConnectedFrameSchema = z.object({
  type: z.literal("connected"),
  epoch: z.string(),
  last_seq: z.int(),
  recovered: z.boolean(),
});
export type ConnectedFrame = z.infer<typeof ConnectedFrameSchema>;

const sessionScoped = {
  seq: z.int(),
  agent_id: z.string(),
  session_id: z.string(),
};

export const EventSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("system_message"),
    ...sessionScoped,
    content: z.string(),
  }),
  z.object({
    type: z.literal("seed_messages"),
    ...sessionScoped,
    messages: z.array(SeedMessageSchema),
  }),
  z.object({
    type: z.literal("history"),
    ...sessionScoped,
    messages: z.array(HistoryMessageSchema),
    pending: z.nullable(
      z.object({ message_id: z.string(), content: z.string() }),
    ),
  }),
  z.object({
    type: z.literal("agent_response_delta"),
    ...sessionScoped,
    message_id: z.string(),
    delta: z.string(),
  }),
  z.object({
    type: z.literal("agent_response"),
    ...sessionScoped,
    response: z.object({
      message_id: z.string(),
      content: z.string(),
      model: z.string(),
      finish_reason: z.string(),
      usage: z.nullable(UsageSchema),
    }),
  }),
  z.object({
    type: z.literal("context_update"),
    ...sessionScoped,
    context: ContextSchema,
  }),
  z.object({
    type: z.literal("error"),
    seq: z.int(),
    agent_id: z.nullable(z.string()),
    session_id: z.nullable(z.string()),
    error: z.string(),
    code: z.enum(ERROR_CODES),
  }),
  z.object({
    type: z.literal("notification"),
    seq: z.int(),
    notification_type: NotificationTypeSchema,
    message: z.string(),
  }),
]);

/** A numbered FrontendAPI event. */
export type FrontendEvent = z.infer<typeof EventSchema>;
export type EventType = FrontendEvent["type"];
/** An event before the FrontendAPI numbers it. */
export type UnnumberedEvent = FrontendEvent extends infer E
  ? E extends { seq: number } ? Omit<E, "seq"> : never
  : never;
/** Any frame on the frontend-api socket. */
export type FrontendFrame = ConnectedFrame | FrontendEvent;

/** A `result` frame: success carries command data, failure an error. */
export const ResultFrameSchema = z.discriminatedUnion("ok", [
  z.looseObject({
    type: z.literal("result"),
    request_id: z.nullable(z.string()),
    ok: z.literal(true),
  }),
  z.object({
    type: z.literal("result"),
    request_id: z.nullable(z.string()),
    ok: z.literal(false),
    error: z.object({ code: z.enum(ERROR_CODES), message: z.string() }),
  }),
]);
