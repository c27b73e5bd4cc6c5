/**
 * The backend-api fuzzer of tests/fuzz_test.ts: malformed frames from
 * fuzz_frames.ts, mixed with commands that parse and run (on sessions the
 * client does not own, agents that do not exist) wrapped in hostile shapes:
 * `__proto__` keys, deep nesting, thousands of keys, duplicate keys.
 */
import type { ErrorCode } from "../lib/protocol.ts";
import {
  type BackendAnswer,
  type FuzzLimits,
  type Hostile,
  malformed,
  names,
  nested,
  PROTO_NAMES,
  refused,
  type ResultAnswer,
  withMembers,
} from "./fuzz_frames.ts";
import type { SeededRandom } from "./seeded_random.ts";

/**
 * Request ids of commands that run. They are reused, so the server's memory
 * of answers stays bounded and every re-send must get the first answer back.
 */
const POOL = [
  ...Array.from({ length: 9 }, (_, i) => `p${i}`),
  ...PROTO_NAMES,
  "hasOwnProperty",
  "é中-id",
  "x".repeat(64),
  'q"uote\\back',
];

type Runnable = { command: Record<string, unknown>; answer: ResultAnswer };

/** Hostile frames for the backend-api socket of one client. */
export class BackendFuzzer {
  #n = 0;
  #runs = 0;
  readonly #table: [number, () => Hostile<BackendAnswer>][];

  constructor(
    readonly rng: SeededRandom,
    readonly limits: FuzzLimits,
    /** Live session ids of another client, which this one must not touch. */
    readonly foreign: () => string[],
    /** Whether the backend knows the `ping` command. */
    readonly ping: boolean,
  ) {
    const r = rng;
    const id = () => this.#id();
    this.#table = [
      [10, () => malformed.notJson(r, id())],
      [6, () => malformed.notObject(r)],
      [12, () => malformed.wrongType(r, id())],
      [10, () => malformed.missingOrUnknown(r, id())],
      [8, () => malformed.surrogate(r, id())],
      [5, () => malformed.binary(r, id())],
      [6, () => malformed.tooLarge(r, id(), limits)],
      [1, () => malformed.overHard(r, id(), limits)],
      [6, () => this.#deep()],
      [8, () => this.#proto()],
      [2, () => this.#manyKeys()],
      [3, () => this.#duplicateKeys()],
      [16, () => this.#valid()],
      [4, () => this.#ack()],
      [ping ? 2 : 0, () => this.#ping()],
    ];
  }

  /** A fresh request id, used once. */
  #id(): string {
    return `u${++this.#n}`;
  }

  /** A request id from the pool, each used once early on, then at random. */
  #pooled(): string {
    const id = this.#runs < POOL.length
      ? POOL[this.#runs]
      : this.rng.pick(POOL);
    this.#runs++;
    return id;
  }

  next(): Hostile<BackendAnswer> {
    let roll = this.rng.next() * this.#table.reduce((sum, [w]) => sum + w, 0);
    for (const [weight, make] of this.#table) {
      if ((roll -= weight) < 0) return make();
    }
    return this.#valid();
  }

  /**
   * A command that parses and runs, and the answer it must get. `small`
   * keeps it short, for wrappers that fill the frame up to its limit.
   */
  #runnable(small = false): Runnable {
    const r = this.rng;
    const request_id = this.#pooled();
    const answer = (code: ErrorCode | "ok", named?: RegExp): ResultAnswer => ({
      kind: "result",
      code,
      requestId: request_id,
      runs: true,
      ...named ? { names: named } : {},
    });
    const pick = r.int(0, 9);
    if (pick <= 1) {
      const command = { type: "session", action: "list", request_id };
      return { command, answer: answer("ok") };
    }
    if (pick <= 3) {
      const agent_id = r.pick([
        "nope",
        "ASSISTANT",
        "assistant ",
        "../agents/assistant",
        "assistant.md",
        ...PROTO_NAMES,
        `bot-${r.int(0, 1e6)}`,
      ]);
      const command = {
        type: "session",
        action: "create",
        agent_id,
        request_id,
      };
      return { command, answer: answer("unknown_agent", names(agent_id)) };
    }
    const foreign = this.foreign();
    const session_id = foreign.length > 0 && r.chance(0.6)
      ? r.pick(foreign)
      : r.pick([
        `assistant_${r.int(100, 999999)}`,
        `code-reviewer_${r.int(100, 999)}`,
        ...PROTO_NAMES,
        "assistant_",
        "../etc/passwd",
      ]);
    const agent_id = r.pick(["assistant", "code-reviewer", "nope"]);
    const message = r.pick([
      "hi",
      "emoji \ud83d\ude00 and é中",
      "<script>alert(1)</script>",
      // Exactly at the limit is allowed.
      small ? "hi" : "m".repeat(this.limits.maxMessageChars),
    ]);
    const command = r.pick<Record<string, unknown>>([
      { type: "chat", agent_id, session_id, message },
      { type: "refresh", agent_id, session_id },
      { type: "cancel", session_id },
      { type: "session", action: "close", session_id },
    ]);
    return {
      command: { ...command, request_id },
      answer: answer("session_not_found", names(session_id)),
    };
  }

  #valid(): Hostile<BackendAnswer> {
    const { command, answer } = this.#runnable();
    // Fields not in the protocol are ignored.
    const extra = this.rng.chance(0.3) ? { extra: [1, { nested: "x" }] } : {};
    const data = JSON.stringify({ ...command, ...extra });
    return { category: "valid-looking", data, answer };
  }

  #deep(): Hostile<BackendAnswer> {
    const r = this.rng;
    const depth = r.int(1000, Math.floor(this.limits.maxFrameBytes / 6) - 100);
    const id = this.#id();
    const chat = JSON.stringify({
      type: "chat",
      request_id: id,
      agent_id: "assistant",
      session_id: "assistant_1",
    });
    switch (r.int(0, 4)) {
      case 0: {
        const frame = withMembers(chat, `"message":${nested(depth, "array")}`);
        return refused("deep", frame, id, /field "message" is invalid/);
      }
      case 1: {
        const frame = `{"request_id":"${id}","a":${nested(depth, "object")}}`;
        return refused("deep", frame, id, /"type" is missing/);
      }
      case 2:
        return refused("deep", "[".repeat(depth), null, /not valid JSON/);
      case 3:
        return refused("deep", nested(depth, "array"), null, /JSON object/);
      default: {
        // Deep nesting in an ignored field: the command still runs.
        const { command, answer } = this.#runnable(true);
        const members = `"x":${nested(depth, "object")}`;
        const data = withMembers(JSON.stringify(command), members);
        return { category: "deep", data, answer };
      }
    }
  }

  #proto(): Hostile<BackendAnswer> {
    const r = this.rng;
    const id = this.#id();
    const json = (frame: unknown) => JSON.stringify(frame);
    switch (r.int(0, 3)) {
      case 0: {
        const type = r.pick([...PROTO_NAMES, "hasOwnProperty"]);
        const named = new RegExp(`unknown type "${type}"`);
        return refused("proto", json({ type, request_id: id }), id, named);
      }
      case 1: {
        // An own `__proto__` member is just data: agent_id is still missing.
        const create = json({
          type: "session",
          action: "create",
          request_id: id,
        });
        const frame = withMembers(
          create,
          '"__proto__":{"agent_id":"assistant"}',
        );
        return refused("proto", frame, id, /"agent_id" is missing/);
      }
      case 2: {
        const action = r.pick(PROTO_NAMES);
        const frame = json({ type: "session", action, request_id: id });
        return refused("proto", frame, id, /"action"/);
      }
      default: {
        const { command, answer } = this.#runnable();
        const members = r.pick([
          '"__proto__":{"type":"chat","polluted":true}',
          '"constructor":{"prototype":{"polluted":true}}',
          '"__proto__":null',
        ]);
        const data = withMembers(JSON.stringify(command), members);
        return { category: "proto", data, answer };
      }
    }
  }

  #manyKeys(): Hostile<BackendAnswer> {
    const r = this.rng;
    // Each member takes at most 16 bytes, so the frame stays under the limit.
    const count = r.int(100, Math.floor(this.limits.maxFrameBytes / 16) - 50);
    const keys = Array.from({ length: count }, (_, i) => `"k${i}":${i}`);
    if (r.chance(0.5)) {
      const { command, answer } = this.#runnable(true);
      const data = withMembers(JSON.stringify(command), keys.join(","));
      return { category: "many keys", data, answer };
    }
    return refused("many keys", `{${keys}}`, null, /"type" is missing/);
  }

  #duplicateKeys(): Hostile<BackendAnswer> {
    const r = this.rng;
    const id = this.#id();
    // The last member wins, as in every JSON parser of note.
    if (r.chance(0.5)) {
      const list = JSON.stringify({
        type: "session",
        action: "list",
        request_id: id,
      });
      const frame = `${list.slice(0, -1)},"type":"frobnicate"}`;
      return refused("duplicate keys", frame, id, /unknown type "frobnicate"/);
    }
    const { command, answer } = this.#runnable();
    const members = '"type":"frobnicate","request_id":5';
    const data = withMembers(JSON.stringify(command), members);
    return { category: "duplicate keys", data, answer };
  }

  #ack(): Hostile<BackendAnswer> {
    const r = this.rng;
    if (r.chance(0.3)) {
      const data = JSON.stringify({ type: "ack", seq: r.int(0, 1e6) });
      return { category: "ack", data, answer: { kind: "none" } };
    }
    const seq = r.pick([
      '"3"',
      "-1",
      "1.5",
      "null",
      "1e400",
      "[]",
      "{}",
      "true",
    ]);
    const id = this.#id();
    const withId = r.chance(0.3);
    const frame = `{"type":"ack","seq":${seq}${
      withId ? `,"request_id":"${id}"` : ""
    }}`;
    return refused("bad ack", frame, withId ? id : null, /"seq"/);
  }

  #ping(): Hostile<BackendAnswer> {
    const id = this.#id();
    const data = JSON.stringify({ type: "ping", request_id: id });
    const answer = {
      kind: "result",
      code: "ok",
      requestId: id,
      runs: false,
    } as const;
    return { category: "ping", data, answer };
  }
}
