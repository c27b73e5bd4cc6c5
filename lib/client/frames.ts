/**
 * The browser's readers of server frames: the twins of parseCommand for the
 * two sockets. Both never throw.
 */
import { describeIssue, REPORT_INPUT } from "../frame_parser.ts";
import {
  ConnectedFrameSchema,
  EventSchema,
  type FrontendFrame,
  type ResultFrame,
  ResultFrameSchema,
} from "../protocol.ts";

function readJson(
  data: unknown,
  socket: string,
): { ok: true; value: unknown } | { ok: false; message: string } {
  if (typeof data !== "string") {
    return { ok: false, message: `binary frame on the ${socket} socket` };
  }
  try {
    return { ok: true, value: JSON.parse(data) };
  } catch {
    return { ok: false, message: `${socket} frame is not valid JSON` };
  }
}

/** What the browser makes of one frontend-api frame. */
export type FrameReading =
  | { ok: true; frame: FrontendFrame }
  /** A pong, or a type this version does not know (to be ignored). */
  | { ok: true; frame: null }
  | { ok: false; message: string };

const EVENT_TYPES: ReadonlySet<string> = new Set(
  EventSchema._zod.def.options.map((option) =>
    option._zod.def.shape.type._zod.def.values[0] as string
  ),
);

/**
 * Parses and validates one frontend-api frame (the browser's twin of
 * parseCommand). Never throws.
 */
export function parseFrontendFrame(data: unknown): FrameReading {
  const json = readJson(data, "frontend-api");
  if (!json.ok) return json;
  const value = json.value;
  const type = (value as { type?: unknown } | null)?.type;
  // The answer to the page's heartbeat: life, and nothing to handle.
  if (type === "pong") return { ok: true, frame: null };
  const schema = type === "connected"
    ? ConnectedFrameSchema
    : typeof type === "string" && EVENT_TYPES.has(type)
    ? EventSchema
    : null;
  if (schema === null) {
    return typeof type === "string"
      ? { ok: true, frame: null }
      : { ok: false, message: 'frame has no "type"' };
  }
  const parsed = schema.safeParse(value, REPORT_INPUT);
  return parsed.success ? { ok: true, frame: parsed.data } : {
    ok: false,
    message: `${type}: ${describeIssue(parsed.error.issues[0])}`,
  };
}

/**
 * Parses one backend-api frame in the browser: a `result`, or null with the
 * reason logged by the caller.
 */
export function parseResultFrame(
  data: unknown,
): { ok: true; frame: ResultFrame } | { ok: false; message: string } {
  const json = readJson(data, "backend-api");
  if (!json.ok) return json;
  const parsed = ResultFrameSchema.safeParse(json.value, REPORT_INPUT);
  return parsed.success ? { ok: true, frame: parsed.data as ResultFrame } : {
    ok: false,
    message: `result: ${describeIssue(parsed.error.issues[0])}`,
  };
}
