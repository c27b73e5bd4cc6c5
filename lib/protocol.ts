/**
 * Tandem wire protocol, version 1: the types and zod schemas of every frame.
 *
 * This module is the single source of truth for the wire contract
 * (docs/protocol.md). It has no server-only imports so the browser island can
 * import it too.
 */
import * as z from "zod/mini";

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
/** Tandem's addition: a heartbeat, answered `ok: true` and not remembered. */
export const PingSchema = z.object({
  type: z.literal("ping"),
  request_id: requestId,
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
export type PingCommand = z.infer<typeof PingSchema>;
export type Command =
  | SessionCommand
  | ChatCommand
  | RefreshCommand
  | CancelCommand
  | AckCommand
  | PingCommand;
/** Commands answered by a `result` frame (all but `ack`). */
export type RequestCommand = Exclude<Command, AckCommand>;

/** The schema of each command, by `type`. */
export const COMMAND_SCHEMAS = {
  session: SessionCommandSchema,
  chat: ChatSchema,
  refresh: RefreshSchema,
  cancel: CancelSchema,
  ack: AckSchema,
  ping: PingSchema,
} as const;

export type CommandType = keyof typeof COMMAND_SCHEMAS;

// ---------------------------------------------------------------------------
// Frontend-api input (browser -> server): Tandem's addition for heartbeats

/** The one frame a browser may send on the frontend-api socket. */
export const FrontendPingSchema = z.object({ type: z.literal("ping") });
export type FrontendPing = z.infer<typeof FrontendPingSchema>;

/** The server's unnumbered answer to a frontend-api ping. */
export const PONG_FRAME = '{"type":"pong"}';

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
