/**
 * Seeded hostile frames for tests/fuzz_test.ts, each with the answer the
 * protocol requires (docs/protocol.md, "Errors"). The answer comes from how
 * the frame was built, never from running the server's parser on it. This
 * module has the malformed frames and the frontend-api fuzzer; the backend
 * fuzzer, which also builds valid commands, is in fuzz_backend_frames.ts.
 */
import type { ErrorCode } from "../lib/protocol.ts";
import type { SeededRandom } from "./seeded_random.ts";

export interface FuzzLimits {
  maxFrameBytes: number;
  hardFrameBytes: number;
  maxMessageChars: number;
}

/** What the backend-api socket must do with a frame. */
export type BackendAnswer =
  | {
    kind: "result";
    code: ErrorCode | "ok";
    /** The request id the result must carry (null: none was readable). */
    requestId: string | null;
    /** What the error message must say (the field, the limit). */
    names?: RegExp;
    /** A valid command that runs: its answer is remembered by request id. */
    runs: boolean;
  }
  | { kind: "none" }
  | { kind: "close"; code: number };

/** What the frontend-api socket must do with a frame. */
export type FrontendAnswer =
  | { kind: "pong" }
  | { kind: "error"; code: ErrorCode; names?: RegExp }
  | { kind: "close"; code: number };

export interface Hostile<A> {
  category: string;
  data: string | Uint8Array;
  answer: A;
}

export type ResultAnswer = BackendAnswer & { kind: "result" };

const encoder = new TextEncoder();
export const utf8Bytes = (text: string): number => encoder.encode(text).length;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** A message naming `field` (in quotes, as every parse error does). */
export const names = (field: string): RegExp =>
  new RegExp(`"${escape(field)}"`);

export const PROTO_NAMES = ["__proto__", "constructor", "toString", "valueOf"];
const WRONG_VALUES = [42, -1, 0, 1.5, 1e308, true, false, null, [], ["a"], {}, {
  type: "session",
}];
const NOT_JSON = [
  "",
  " ",
  "{not json",
  "{'type':'session'}",
  '{"type":"session",}',
  '{"type":"session"} {"type":"chat"}',
  "NaN",
  "undefined",
  "<html>",
  "// comment",
  "\ufeff{}",
  '{"a":1',
  "\u0000",
  '{"message":"\\x41"}',
  "[1,2",
  '{"type" "session"}',
];
const NOT_OBJECT = ["42", "-0", "1e400", '"session"', "null", "true", "[]"];
/** JSON escapes that decode to unpaired surrogates. */
const LONE = ["\\ud800", "\\udfff", "a\\ud83d", "\\ude00\\ud83d", "\\udbff!"];
/** A chat on a session nobody has, the base of many malformed frames. */
const CHAT = {
  type: "chat",
  agent_id: "assistant",
  session_id: "assistant_1",
  message: "hi é中",
};

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Inserts raw JSON members at the start of an object's text. */
export function withMembers(json: string, members: string): string {
  return json === "{}" ? `{${members}}` : `{${members},${json.slice(1)}`;
}

/** A frame refused with `code`, echoing `requestId`, naming what `named` matches. */
export function refused(
  category: string,
  data: string | Uint8Array,
  requestId: string | null,
  named?: RegExp,
  code: ErrorCode = "bad_request",
): Hostile<BackendAnswer> {
  const answer: ResultAnswer = { kind: "result", code, requestId, runs: false };
  if (named) answer.names = named;
  return { category, data, answer };
}

/** `{"type":...}` padded to between one and two times `limit` bytes. */
function oversized(r: SeededRandom, limit: number): string {
  const char = r.pick(["x", "é", "中"]); // multi-byte text counts in bytes
  return char.repeat(
    Math.ceil(r.int(limit + 1, limit * 2) / utf8Bytes(char)),
  );
}

/** Malformed backend-api frames; `id` is a fresh request id. */
export const malformed = {
  notJson(r: SeededRandom, id: string): Hostile<BackendAnswer> {
    let text: string;
    if (r.chance(0.4)) {
      // A command cut short: a proper prefix of an object is never JSON.
      const json = JSON.stringify({ ...CHAT, request_id: id });
      text = json.slice(0, r.int(1, json.length - 1));
    } else if (r.chance(0.5)) {
      text = r.pick(NOT_JSON);
    } else {
      const alphabet = [...'{}[]":,ab 01\\\n\té中\ud83d\ude00'];
      text = "{" + Array.from({ length: r.int(1, 60) }, () => r.pick(alphabet))
        .join("");
    }
    if (isJson(text)) text = "{not json";
    return refused("not JSON", text, null, /not valid JSON/);
  },

  notObject(r: SeededRandom): Hostile<BackendAnswer> {
    const command = JSON.stringify({
      type: "session",
      action: "list",
      request_id: "x",
    });
    const depth = r.int(1, 5000);
    const text = r.pick([
      ...NOT_OBJECT,
      `[${command}]`,
      JSON.stringify(command),
      "[".repeat(depth) + "]".repeat(depth),
    ]);
    return refused("not an object", text, null, /JSON object/);
  },

  /** Numbers, arrays, objects, null or booleans where strings belong. */
  wrongType(r: SeededRandom, id: string): Hostile<BackendAnswer> {
    const base = r.pick<Record<string, unknown>>([
      CHAT,
      { type: "refresh", agent_id: "assistant", session_id: "assistant_1" },
      { type: "cancel", session_id: "assistant_1" },
      { type: "session", action: "create", agent_id: "assistant" },
      { type: "session", action: "close", session_id: "assistant_1" },
      { type: "session", action: "list" },
    ]);
    const field = r.pick([...Object.keys(base), "request_id"]);
    const frame = { ...base, request_id: id, [field]: r.pick(WRONG_VALUES) };
    const named = field === "type"
      ? /field "type" is invalid: expected string/
      : names(field);
    const echoed = field === "request_id" ? null : id;
    return refused("wrong type", JSON.stringify(frame), echoed, named);
  },

  missingOrUnknown(r: SeededRandom, id: string): Hostile<BackendAnswer> {
    const chat = { ...CHAT, request_id: id };
    const json = (frame: unknown) => JSON.stringify(frame);
    switch (r.int(0, 5)) {
      case 0: {
        const field = r.pick([
          "agent_id",
          "session_id",
          "message",
          "request_id",
        ]);
        const frame: Record<string, unknown> = { ...chat };
        delete frame[field];
        const missing = new RegExp(`"${field}" is missing`);
        const echoed = field === "request_id" ? null : id;
        return refused("missing field", json(frame), echoed, missing);
      }
      case 1: {
        const type = r.pick(["Session", "chat ", "", "ack2", "result", "PING"]);
        const frame = json({ type, request_id: id });
        return refused("unknown type", frame, id, /unknown type/);
      }
      case 2: {
        const action = r.pick(["destroy", "CREATE", "", "list "]);
        const frame = json({ type: "session", action, request_id: id });
        return refused("unknown action", frame, id, /"action"/);
      }
      case 3: {
        const field = r.pick(["agent_id", "session_id", "message"]);
        const frame = json({ ...chat, [field]: "" });
        return refused("empty field", frame, id, names(field));
      }
      case 4: {
        const frame = json({ ...chat, request_id: "r".repeat(65) });
        return refused("long request_id", frame, null, /"request_id"/);
      }
      default: {
        const [field, length] = r.pick(
          [["agent_id", 129], ["session_id", 161]] as const,
        );
        const frame = json({ ...chat, [field]: "a".repeat(length) });
        return refused("long field", frame, id, names(field));
      }
    }
  },

  /** An unpaired UTF-16 surrogate in one of a chat's string fields. */
  surrogate(r: SeededRandom, id: string): Hostile<BackendAnswer> {
    const fields: Record<string, string> = {
      type: '"chat"',
      request_id: `"${id}"`,
      agent_id: '"assistant"',
      session_id: '"assistant_1"',
      message: '"hello"',
    };
    const field = r.pick(Object.keys(fields));
    fields[field] = `"${r.chance(0.5) ? "x" : ""}${r.pick(LONE)}"`;
    const members = Object.entries(fields).map(([k, v]) => `"${k}":${v}`);
    const named = new RegExp(
      `field "${field}" contains an unpaired UTF-16 surrogate`,
    );
    const echoed = field === "request_id" ? null : id;
    return refused("lone surrogate", `{${members}}`, echoed, named);
  },

  binary(r: SeededRandom, id: string): Hostile<BackendAnswer> {
    const list = { type: "session", action: "list", request_id: id };
    const bytes = r.chance(0.5)
      ? encoder.encode(JSON.stringify(list))
      : Uint8Array.from({ length: r.int(0, 2000) }, () => r.int(0, 255));
    return refused("binary", bytes, null, /binary/);
  },

  /** Over the message limit, or over the frame limit (not the hard one). */
  tooLarge(r: SeededRandom, id: string, limits: FuzzLimits) {
    const { maxFrameBytes: max, maxMessageChars: chars } = limits;
    if (r.chance(0.4)) {
      const length = r.int(chars + 1, Math.min(max - 300, chars * 2));
      const frame = { ...CHAT, request_id: id, message: "m".repeat(length) };
      const named = new RegExp(
        `message is ${length} characters; the limit is ${chars}\\b`,
      );
      return refused(
        "long message",
        JSON.stringify(frame),
        id,
        named,
        "too_large",
      );
    }
    const pad = oversized(r, max);
    const shape = r.int(0, 2);
    const text = JSON.stringify(
      shape === 0
        ? { request_id: id, type: "session", action: "list", pad }
        : shape === 1
        ? { type: "session", action: "list", pad }
        // Message text cannot fake the request id of an unparsed frame.
        : { type: "chat", message: `{"request_id":"fake"}${pad}` },
    );
    const named = new RegExp(
      `frame is ${utf8Bytes(text)} bytes; the limit is ${max} bytes`,
    );
    const echoed = shape === 0 ? id : null;
    return refused("large frame", text, echoed, named, "too_large");
  },

  /** Over the hard limit, text or binary: the socket is closed (1009). */
  overHard(r: SeededRandom, id: string, limits: FuzzLimits) {
    const size = limits.hardFrameBytes + r.int(1, 4096);
    const list = { type: "session", action: "list", request_id: id };
    const data = r.chance(0.5)
      ? JSON.stringify({ ...list, pad: "x".repeat(size) })
      : new Uint8Array(size);
    const answer = { kind: "close", code: 1009 } as const;
    return { category: "over the hard limit", data, answer };
  },
};

/** Nested arrays or objects `depth` levels deep. */
export function nested(depth: number, kind: "array" | "object"): string {
  return kind === "array"
    ? "[".repeat(depth) + "]".repeat(depth)
    : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
}

/** Hostile frames for the frontend-api socket, where only `ping` is valid. */
export class FrontendFuzzer {
  constructor(readonly rng: SeededRandom, readonly limits: FuzzLimits) {}

  next(): Hostile<FrontendAnswer> {
    const r = this.rng;
    const { maxFrameBytes, hardFrameBytes } = this.limits;
    const bad = (category: string, data: string | Uint8Array) => ({
      category,
      data,
      answer: { kind: "error", code: "bad_request" } as FrontendAnswer,
    });
    const roll = r.int(0, 99);
    if (roll < 20) {
      const ping = [
        '{"type":"ping"}',
        '{ "type" : "ping" }',
        '\n{"type":"ping"}\t',
      ];
      return { category: "ping", data: r.pick(ping), answer: { kind: "pong" } };
    }
    if (roll < 35) {
      return bad(
        "not JSON",
        r.pick(NOT_JSON.filter((t) => !isJson(t))),
      );
    }
    if (roll < 45) return bad("not an object", r.pick(NOT_OBJECT));
    if (roll < 70) {
      return bad(
        "unknown type",
        r.pick([
          '{"type":"PING"}',
          '{"type":"pong"}',
          "{}",
          '{"type":1}',
          '{"type":null}',
          '{"type":["ping"]}',
          '{"type":"__proto__"}',
          '{"type":"constructor"}',
          '{"type":"\\ud800"}',
          // A prototype trick must not make a ping.
          '{"__proto__":{"type":"ping"}}',
          '{"constructor":{"type":"ping"}}',
          // Commands belong on the other socket.
          JSON.stringify({ type: "session", action: "list", request_id: "x" }),
          JSON.stringify({ type: "ack", seq: 1 }),
          JSON.stringify({ ...CHAT, request_id: "y" }),
        ]),
      );
    }
    if (roll < 78) {
      const depth = r.int(1000, Math.floor(maxFrameBytes / 6) - 100);
      const deep = r.pick([
        nested(depth, "array"),
        "[".repeat(depth),
        `{"a":${nested(depth, "object")}}`,
      ]);
      return bad("deep", deep);
    }
    if (roll < 88) {
      const bytes = r.chance(0.5)
        ? encoder.encode('{"type":"ping"}')
        : Uint8Array.from({ length: r.int(0, 2000) }, () => r.int(0, 255));
      return bad("binary", bytes);
    }
    if (roll < 98) {
      const data = JSON.stringify({
        type: "ping",
        pad: oversized(r, maxFrameBytes),
      });
      const named = new RegExp(
        `frame is ${
          utf8Bytes(data)
        } bytes; the limit is ${maxFrameBytes} bytes`,
      );
      return {
        category: "large frame",
        data,
        answer: { kind: "error", code: "too_large", names: named },
      };
    }
    return {
      category: "over the hard limit",
      data: r.chance(0.5)
        ? JSON.stringify({ type: "ping", pad: "x".repeat(hardFrameBytes) })
        : new Uint8Array(hardFrameBytes + r.int(1, 4096)),
      answer: { kind: "close", code: 1009 },
    };
  }
}
