/**
 * The well-behaved client of tests/fuzz_test.ts: it keeps chatting as a
 * browser would while hostile clients hammer the server, and records
 * anything unusual it sees.
 */
import type { FrontendEvent } from "../lib/protocol.ts";
import { joinDeltas, Socket } from "./harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Json = Record<string, unknown>;

/** A client that creates sessions, chats, refreshes and closes, in a loop. */
export class Chatter {
  /** Its live sessions, which hostile clients try to touch. */
  readonly sessions: string[] = [];
  readonly created: string[] = [];
  chats = 0;
  cycles = 0;
  /** What went wrong while chatting, if anything. */
  failure: Error | null = null;
  #requests = 0;
  #commands = 0;
  #lastCommand = 0;
  #pause: { wanted: boolean; reached?: () => void } = { wanted: false };
  #stop = false;
  #loop: Promise<void> | null = null;

  private constructor(
    readonly id: string,
    readonly backend: Socket,
    readonly frontend: Socket,
    /** Least time between two commands, to stay under the rate limit. */
    readonly intervalMs: number,
  ) {}

  static async connect(
    wsBase: string,
    id: string,
    intervalMs: number,
  ): Promise<Chatter> {
    const backend = new Socket(`${wsBase}/ws/backend-api?client=${id}`);
    const frontend = new Socket(`${wsBase}/ws/frontend-api?client=${id}`);
    await Promise.all([backend.opened, frontend.opened]);
    await frontend.next((f) => f.type === "connected");
    return new Chatter(id, backend, frontend, intervalMs);
  }

  /** Starts chatting until {@link stop}. */
  start(): void {
    this.#loop = (async () => {
      try {
        while (!this.#stop) {
          if (this.#pause.wanted) {
            this.#pause.reached?.();
            await sleep(20);
            continue;
          }
          await this.cycle();
        }
      } catch (error) {
        this.failure = error as Error;
      } finally {
        this.#stop = true;
        this.#pause.reached?.();
      }
    })();
  }

  /** Throws what stopped the chatting, if anything did. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Resolves once the client is between cycles (no session open). */
  pause(): Promise<void> {
    if (this.#stop) return Promise.resolve();
    return new Promise((resolve) => {
      this.#pause = { wanted: true, reached: resolve };
    });
  }

  resume(): void {
    this.#pause = { wanted: false };
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#loop;
  }

  async #command(command: Json): Promise<Json> {
    const wait = this.#lastCommand + this.intervalMs - Date.now();
    if (wait > 0) await sleep(wait);
    this.#lastCommand = Date.now();
    const request_id = `w${++this.#requests}`;
    this.#commands++;
    this.backend.send({ ...command, request_id });
    const result = await this.backend.next(
      (f) => f.request_id === request_id,
      10_000,
      `result of ${request_id}`,
    );
    if (result.ok !== true) {
      throw new Error(
        `${JSON.stringify(command)} -> ${JSON.stringify(result)}`,
      );
    }
    return result;
  }

  #event<T = FrontendEvent>(type: string, sessionId: string): Promise<T> {
    return this.frontend.next<T>(
      (f) => f.type === type && f.session_id === sessionId,
      10_000,
      `${type} of ${sessionId}`,
    );
  }

  /** One session's life: create, chat three times, refresh, list, close. */
  async cycle(): Promise<void> {
    const k = ++this.cycles;
    const agent_id = k % 2 ? "assistant" : "code-reviewer";
    const created = await this.#command({
      type: "session",
      action: "create",
      agent_id,
    });
    const session_id = created.session_id as string;
    this.created.push(session_id);
    this.sessions.push(session_id);
    for (const type of ["system_message", "seed_messages", "context_update"]) {
      await this.#event(type, session_id);
    }
    const said: string[] = [];
    for (let j = 0; j < 3; j++) {
      const message = `hello ${k}.${j}, é中 <b>bold</b> "quoted"`;
      await this.#command({ type: "chat", agent_id, session_id, message });
      const reply = await this.#event<{ response: Json }>(
        "agent_response",
        session_id,
      );
      const content = reply.response.content as string;
      const id = reply.response.message_id as string;
      if (
        content !== `Echo: ${message}` ||
        reply.response.finish_reason !== "stop"
      ) {
        throw new Error(`wrong reply to ${message}: ${JSON.stringify(reply)}`);
      }
      if (joinDeltas(this.frontend.all<FrontendEvent>(), id) !== content) {
        throw new Error(`deltas of ${id} do not add up to its reply`);
      }
      await this.#event("context_update", session_id);
      said.push(message, content);
      this.chats++;
    }
    await this.#command({ type: "refresh", agent_id, session_id });
    const history = await this.#event<{ messages: Json[] }>(
      "history",
      session_id,
    );
    const contents = history.messages.map((m) => m.content);
    if (JSON.stringify(contents) !== JSON.stringify(said)) {
      throw new Error(
        `history of ${session_id} is ${JSON.stringify(contents)}`,
      );
    }
    for (const type of ["system_message", "seed_messages", "context_update"]) {
      await this.#event(type, session_id);
    }
    const listed = await this.#command({ type: "session", action: "list" });
    const expected = [{ session_id, agent_id, busy: false }];
    if (JSON.stringify(listed.sessions) !== JSON.stringify(expected)) {
      throw new Error(`session list: ${JSON.stringify(listed.sessions)}`);
    }
    const seqs = this.#seqs();
    this.backend.send({ type: "ack", seq: seqs[seqs.length - 1] });
    await this.#command({ type: "session", action: "close", session_id });
    this.sessions.splice(this.sessions.indexOf(session_id), 1);
  }

  #seqs(): number[] {
    return this.frontend.all().filter((f) => "seq" in f).map((f) =>
      f.seq as number
    );
  }

  /** What was unusual in everything this client received; empty if nothing. */
  problems(): string[] {
    const problems: string[] = [];
    const events = this.frontend.all<FrontendEvent>().filter((f) => "seq" in f);
    events.forEach((event, i) => {
      if (event.seq !== i + 1) {
        problems.push(`event ${i} has seq ${event.seq}, expected ${i + 1}`);
      }
      if (event.type === "error" || event.type === "notification") {
        problems.push(`unexpected event ${JSON.stringify(event)}`);
      } else if (!this.created.includes(event.session_id)) {
        problems.push(`event of a foreign session ${JSON.stringify(event)}`);
      }
    });
    const replies = events.filter((e) => e.type === "agent_response").length;
    if (replies !== this.chats) {
      problems.push(`${replies} replies to ${this.chats} chats`);
    }
    const results = this.backend.all();
    if (results.length !== this.#commands) {
      problems.push(`${results.length} results for ${this.#commands} commands`);
    }
    for (const result of results) {
      if (result.ok !== true) problems.push(`failed ${JSON.stringify(result)}`);
    }
    return problems;
  }

  async close(): Promise<void> {
    await Promise.all([this.backend.close(), this.frontend.close()]);
  }
}
