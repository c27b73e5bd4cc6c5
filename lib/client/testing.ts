/**
 * Helpers for the lib/client tests (not shipped to the browser): a fake
 * clock that leaves real socket I/O alone, a wait that works with it, a real
 * WebSocket server on a real port that can go down and come back on the
 * same port, and a small server that speaks Tandem's wire protocol.
 */
import * as FakeTimers from "@sinonjs/fake-timers";
import type { FrontendEvent, UnnumberedEvent } from "../protocol.ts";

export type Clock = FakeTimers.Clock;

/**
 * Fakes timers and Date only: sockets, promises and `performance.now()`
 * stay real. Deno's server-side WebSocket clears its own (native) idle
 * timer with the global clearTimeout, hence shouldClearNativeTimers.
 */
export function installClock(): Clock {
  return FakeTimers.install({
    toFake: [
      "setTimeout",
      "clearTimeout",
      "setInterval",
      "clearInterval",
      "Date",
    ],
    shouldClearNativeTimers: true,
  });
}

/**
 * Waits for `condition` while real socket events come in: each round runs
 * the fake timers due now (without moving fake time) and yields one real
 * macrotask. Gives up after `timeoutMs` of real time.
 */
export async function until(
  condition: () => boolean,
  what: string,
  clock: Clock,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await clock.tickAsync(0);
  }
}

/**
 * Lets real I/O run for some rounds without waiting for anything: for
 * checking that something does NOT happen (as far as a test can tell).
 */
export async function settle(clock: Clock, rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await clock.tickAsync(0);
}

/** A WebSocket factory that keeps every socket it made, for counting and cleanup. */
export class SocketRecorder {
  readonly sockets: WebSocket[] = [];
  readonly urls: string[] = [];
  readonly connect = (url: string): WebSocket => {
    this.urls.push(url);
    const socket = new WebSocket(url);
    this.sockets.push(socket);
    return socket;
  };

  get count(): number {
    return this.sockets.length;
  }

  /** True when every socket made has finished closing. */
  get allClosed(): boolean {
    return this.sockets.every((s) => s.readyState === WebSocket.CLOSED);
  }
}

/** A real WebSocket server on 127.0.0.1 that can stop and start again on its port. */
export class TestWsServer {
  /** 0 until the first start; then the same port every time. */
  port = 0;
  /** Every upgrade request, in order. */
  readonly upgrades: URL[] = [];
  /** The server's side of the sockets that are open now. */
  readonly sockets = new Set<WebSocket>();
  /** When set, requests it returns a Response for are refused with it. */
  refuse: ((url: URL) => Response | null) | null = null;
  #server: Deno.HttpServer<Deno.NetAddr> | null = null;
  #onSocket: (socket: WebSocket, url: URL) => void;

  constructor(onSocket: (socket: WebSocket, url: URL) => void = () => {}) {
    this.#onSocket = onSocket;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  start(): this {
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: this.port,
      onListen() {},
    }, (request) => {
      const url = new URL(request.url);
      const refusal = this.refuse?.(url);
      if (refusal) return refusal;
      const { socket, response } = Deno.upgradeWebSocket(request);
      this.upgrades.push(url);
      socket.addEventListener("open", () => {
        this.sockets.add(socket);
        this.#onSocket(socket, url);
      });
      socket.addEventListener("close", () => this.sockets.delete(socket));
      return response;
    });
    this.port = this.#server.addr.port;
    return this;
  }

  /** Stops listening; Deno closes the open sockets with 1001. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    await server?.shutdown();
  }
}

/** A BackendAPI command as the test server received it. */
export type ReceivedCommand = Record<string, unknown> & { type: string };

/**
 * Plays the server's part of the wire protocol for one client id at a time:
 * `connected` then replay on the frontend-api socket, numbered events,
 * results remembered by request_id, 4000 for a replaced socket. It holds
 * every event unless told what it dropped.
 */
export class ProtocolServer {
  readonly ws: TestWsServer;
  epoch = "epoch-1";
  /** Every event produced; events[i] has seq i + 1. */
  readonly events: FrontendEvent[] = [];
  /** Events up to this seq are no longer held (as after acks). */
  droppedThrough = 0;
  /** Commands and acks received on the backend socket, in order. */
  readonly received: ReceivedCommand[] = [];
  /** The `connected` frames sent, in order. */
  readonly connectedSent: Record<string, unknown>[] = [];
  /**
   * Answers a command: the result's data (`{}` for none, `{ok: false,
   * error}` for a refusal) or null to leave it unanswered for now.
   */
  answer: (command: ReceivedCommand) => Record<string, unknown> | null =
    () => ({});
  frontend: WebSocket | null = null;
  backend: WebSocket | null = null;
  /** Whether pings are answered, as Tandem does (false: a dead server). */
  answerPings = true;
  /** Pings received on either socket (they are not in `received`). */
  pings = 0;
  #results = new Map<string, string>();

  constructor() {
    this.ws = new TestWsServer((socket, url) => this.#attach(socket, url));
  }

  get url(): string {
    return this.ws.url;
  }

  get seq(): number {
    return this.events.length;
  }

  /** Commands (not acks) received, in order. */
  get commands(): ReceivedCommand[] {
    return this.received.filter((c) => c.type !== "ack");
  }

  /** The seqs of the acks received, in order. */
  get acks(): number[] {
    return this.received.filter((c) => c.type === "ack").map((c) =>
      Number(c.seq)
    );
  }

  /** Numbers an event and sends it if the frontend socket is open. */
  emit(event: UnnumberedEvent): FrontendEvent {
    const numbered = { ...event, seq: this.seq + 1 } as FrontendEvent;
    this.events.push(numbered);
    this.sendFrontend(numbered);
    return numbered;
  }

  /** Numbers and holds an event but never sends it: an event lost on the way. */
  lose(event: UnnumberedEvent): FrontendEvent {
    const numbered = { ...event, seq: this.seq + 1 } as FrontendEvent;
    this.events.push(numbered);
    return numbered;
  }

  /** A restart that lost the event stream: a new epoch, seq from 0. */
  restart(epoch: string): void {
    this.epoch = epoch;
    this.events.length = 0;
    this.droppedThrough = 0;
  }

  /** Sends any frame on the frontend socket (for duplicates and gaps). */
  sendFrontend(frame: unknown): void {
    if (this.frontend?.readyState === WebSocket.OPEN) {
      this.frontend.send(JSON.stringify(frame));
    }
  }

  /** Answers a command left unanswered (or answers it again). */
  reply(requestId: string, data: Record<string, unknown> = {}): void {
    const text = this.#results.get(requestId) ??
      JSON.stringify({
        type: "result",
        request_id: requestId,
        ok: true,
        ...data,
      });
    this.#results.set(requestId, text);
    if (this.backend?.readyState === WebSocket.OPEN) this.backend.send(text);
  }

  #attach(socket: WebSocket, url: URL): void {
    const kind = url.pathname === "/ws/frontend-api" ? "frontend" : "backend";
    const previous = this[kind];
    if (previous !== null && previous !== socket) {
      previous.close(4000, "replaced");
    }
    this[kind] = socket;
    socket.addEventListener("close", () => {
      if (this[kind] === socket) this[kind] = null;
    });
    if (kind === "frontend") {
      socket.addEventListener("message", (e) => {
        if (JSON.parse(String(e.data)).type !== "ping") return;
        this.pings++;
        if (this.answerPings) socket.send('{"type":"pong"}');
      });
      this.#connected(socket, url);
    } else socket.addEventListener("message", (e) => this.#command(e.data));
  }

  #connected(socket: WebSocket, url: URL): void {
    const epoch = url.searchParams.get("epoch");
    const from = epoch === null ? 0 : Number(url.searchParams.get("last_seq"));
    const recovered = (epoch === null || epoch === this.epoch) &&
      from <= this.seq && from >= this.droppedThrough;
    const connected = {
      type: "connected",
      epoch: this.epoch,
      last_seq: this.seq,
      recovered,
    };
    this.connectedSent.push(connected);
    socket.send(JSON.stringify(connected));
    if (recovered) {
      for (const event of this.events.slice(from)) {
        socket.send(JSON.stringify(event));
      }
    }
  }

  #command(data: unknown): void {
    const command = JSON.parse(String(data)) as ReceivedCommand;
    if (command.type === "ping") {
      this.pings++;
      const { request_id } = command;
      const result = { type: "result", request_id, ok: true };
      if (this.answerPings) this.backend?.send(JSON.stringify(result));
      return;
    }
    this.received.push(command);
    if (command.type === "ack") return;
    const requestId = String(command.request_id);
    if (this.#results.has(requestId)) {
      this.reply(requestId);
      return;
    }
    const answer = this.answer(command);
    if (answer !== null) this.reply(requestId, answer);
  }
}

/** A system_message event for `session_id` of agent "a". */
export function systemMessage(
  session_id: string,
  content = "hello",
): UnnumberedEvent {
  return { type: "system_message", agent_id: "a", session_id, content };
}
