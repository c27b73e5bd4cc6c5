/**
 * Parsing of the frames a browser sends, and the wording of what was wrong
 * with them. The one place every incoming frame is parsed and validated:
 * `parseCommand` for the backend-api socket, `parseFrontendInput` for the
 * frontend-api socket. Like lib/protocol.ts it has no server-only imports,
 * so the island words its own parse errors with `describeIssue`.
 */
import type { $ZodIssue } from "zod/v4/core";
import {
  type Command,
  COMMAND_SCHEMAS,
  type CommandType,
  type ErrorCode,
  type FrontendPing,
  FrontendPingSchema,
} from "./protocol.ts";

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
 * The size of a raw frame (text or binary) when it is over `limit` bytes,
 * else null: past the hard limit a socket is closed without parsing.
 */
export function frameOverLimit(data: unknown, limit: number): number | null {
  if (typeof data === "string") return sizeOverLimit(data, limit);
  return data instanceof ArrayBuffer && data.byteLength > limit
    ? data.byteLength
    : null;
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
  return typeof id === "string" && id.length >= 1 && id.length <= 64 &&
      id.isWellFormed()
    ? id
    : null;
}

/**
 * The first string field of `command` holding an unpaired UTF-16 surrogate
 * (JSON's `"\ud800"` escape makes one), else null. Such text cannot be
 * encoded as UTF-8, so it would be mangled on its way to the model or back.
 */
function illFormedField(command: Record<string, unknown>): string | null {
  for (const [field, value] of Object.entries(command)) {
    if (typeof value === "string" && !value.isWellFormed()) return field;
  }
  return null;
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
  const envelope = readEnvelope(data, limits.maxFrameBytes, null);
  if (!envelope.ok) return envelope;
  const { record, type, id } = envelope;
  if (!type.isWellFormed()) return reject(id, "bad_request", surrogate("type"));
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
  const illFormed = illFormedField(command);
  if (illFormed !== null) {
    return reject(id, "bad_request", surrogate(illFormed));
  }
  return { ok: true, command };
}

/**
 * The checks every frame goes through on either socket, in order: text, not
 * over the frame limit, JSON, an object, a string `type`. `hint` (the
 * frontend-api socket's) ends each bad_request message; without one, the
 * frame is a command and a readable request_id is echoed.
 */
function readEnvelope(
  data: string | ArrayBuffer | Blob | Uint8Array,
  maxFrameBytes: number,
  hint: string | null,
):
  | {
    ok: true;
    record: Record<string, unknown>;
    type: string;
    id: string | null;
  }
  | FrameRejection {
  const say = (text: string) => hint === null ? text : `${text}; ${hint}`;
  if (typeof data !== "string") {
    return reject(
      null,
      "bad_request",
      `binary frames are not accepted; ${hint ?? "send UTF-8 JSON text"}`,
    );
  }
  const bytes = sizeOverLimit(data, maxFrameBytes);
  if (bytes !== null) {
    return reject(
      hint === null ? peekRequestId(data) : null,
      "too_large",
      `frame is ${bytes} bytes; the limit is ${maxFrameBytes} bytes`,
    );
  }
  let value: unknown;
  try {
    // V8 parses nesting without recursion (100k levels take ~20 ms); were
    // that ever to change, the RangeError would be caught here as well.
    value = JSON.parse(data);
  } catch {
    return reject(null, "bad_request", say("frame is not valid JSON"));
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return reject(null, "bad_request", say("frame must be a JSON object"));
  }
  const record = value as Record<string, unknown>;
  const id = hint === null ? readRequestId(record) : null;
  const type = record.type;
  if (typeof type !== "string") {
    return reject(
      id,
      "bad_request",
      say(
        type === undefined
          ? 'field "type" is missing'
          : 'field "type" is invalid: expected string',
      ),
    );
  }
  return { ok: true, record, type, id };
}

function surrogate(field: string): string {
  return `field "${field}" contains an unpaired UTF-16 surrogate`;
}

function reject(
  request_id: string | null,
  code: ErrorCode,
  message: string,
): FrameRejection {
  return { ok: false, request_id, code, message };
}

const FRONTEND_ONLY_PING =
  'the frontend-api socket takes only {"type":"ping"}; send commands on /ws/backend-api';

/**
 * Parses one frame a browser sent on the frontend-api socket: a ping, or a
 * {@link FrameRejection} (request_id always null) saying what was wrong.
 * Never throws.
 */
export function parseFrontendInput(
  data: string | ArrayBuffer | Blob | Uint8Array,
  limits: Pick<ParseLimits, "maxFrameBytes">,
): { ok: true; frame: FrontendPing } | FrameRejection {
  const envelope = readEnvelope(data, limits.maxFrameBytes, FRONTEND_ONLY_PING);
  if (!envelope.ok) return envelope;
  const parsed = FrontendPingSchema.safeParse(envelope.record);
  if (!parsed.success) {
    return reject(
      null,
      "bad_request",
      // toWellFormed: a cut (or sent) lone surrogate is not echoed back.
      `unknown type "${
        envelope.type.slice(0, 40).toWellFormed()
      }"; ${FRONTEND_ONLY_PING}`,
    );
  }
  return { ok: true, frame: parsed.data };
}
