/**
 * The browser's two connections, bound by one client id: the
 * FrontendAPIService reads numbered events (replay, dedupe, acks) and the
 * BackendAPIService sends commands (queued while the socket is down, re-sent
 * with the same request_id so the server never runs one twice). The
 * ConnectionManager owns both and their shared state.
 */
import { computed, type ReadonlySignal } from "@preact/signals";
import type {
  Command,
  ConnectedFrame,
  FrontendEvent,
  FrontendPing,
  PingCommand,
  RequestCommand,
  ResultFrame,
} from "../protocol.ts";
import type { BackoffPolicy } from "./backoff.ts";
import { parseFrontendFrame, parseResultFrame } from "./frames.ts";
import {
  type Heartbeat,
  ReconnectingSocket,
  type SocketState,
} from "./reconnecting_socket.ts";

/** A command before it gets its request_id. */
export type CommandInput = RequestCommand extends infer C
  ? C extends { request_id: string } ? Omit<C, "request_id"> : never
  : never;

/** How often the page pings each socket, and how long it waits for life. */
export interface HeartbeatTiming {
  intervalMs: number;
  timeoutMs: number;
}

/**
 * A dead connection is noticed within 30 s, and a live one is never quiet
 * long enough for the server's own check (HEARTBEAT_TIMEOUT_MS, 30 s).
 */
export const DEFAULT_HEARTBEAT: HeartbeatTiming = {
  intervalMs: 20_000,
  timeoutMs: 10_000,
};

function heartbeat(
  options: ConnectionOptions,
  ping: () => string,
): Heartbeat | undefined {
  const timing = options.heartbeat === undefined
    ? DEFAULT_HEARTBEAT
    : options.heartbeat;
  return timing === null ? undefined : { ...timing, ping };
}

export interface ConnectionOptions {
  /** e.g. "ws://localhost:8000"; no trailing slash. */
  baseUrl: string;
  clientId: string;
  backoff?: BackoffPolicy;
  random?: () => number;
  connect?: (url: string) => WebSocket;
  /** Acks are batched: one per this many ms of events. */
  ackDelayMs?: number;
  /** Logs what the server sent that the browser could not read. */
  warn?: (message: string) => void;
  /** Pings on both sockets; {@link DEFAULT_HEARTBEAT} unless set, null for none. */
  heartbeat?: HeartbeatTiming | null;
}

export interface FrontendHandlers {
  /** Each event exactly once, in seq order. */
  onEvent: (event: FrontendEvent) => void;
  /**
   * The event stream could not be resumed (a first connect, a server
   * restart, events no longer held): what is shown must be rebuilt.
   */
  onResync: () => void;
}

/** The FrontendAPI side: replay with last_seq/epoch, dedupe by seq, acks. */
export class FrontendAPIService {
  readonly socket: ReconnectingSocket;
  #epoch: string | null = null;
  #lastSeq = 0;
  /** Events up to here came before this page existed; skip them. */
  #skipThrough = 0;
  #ackTimer: ReturnType<typeof setTimeout> | null = null;
  #options: ConnectionOptions;
  #handlers: FrontendHandlers;
  #ack: (seq: number) => void;

  constructor(
    options: ConnectionOptions,
    handlers: FrontendHandlers,
    ack: (seq: number) => void,
  ) {
    this.#options = options;
    this.#handlers = handlers;
    this.#ack = ack;
    this.socket = new ReconnectingSocket({
      url: () => this.#url(),
      onMessage: (data) => this.#receive(data),
      backoff: options.backoff,
      random: options.random,
      connect: options.connect,
      heartbeat: heartbeat(
        options,
        () => JSON.stringify({ type: "ping" } satisfies FrontendPing),
      ),
    });
  }

  /** The highest seq handled so far. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  #url(): string {
    const query = new URLSearchParams({ client: this.#options.clientId });
    if (this.#epoch !== null) {
      query.set("epoch", this.#epoch);
      query.set("last_seq", String(this.#lastSeq));
    }
    return `${this.#options.baseUrl}/ws/frontend-api?${query}`;
  }

  #receive(data: unknown): void {
    const reading = parseFrontendFrame(data);
    if (!reading.ok) {
      this.#options.warn?.(`frontend-api: ${reading.message}`);
      return;
    }
    const frame = reading.frame;
    if (frame === null) return;
    if (frame.type === "connected") {
      this.#connected(frame);
      return;
    }
    if (frame.seq <= this.#lastSeq) return;
    if (frame.seq > this.#lastSeq + 1) {
      // A gap means events were lost on the way: only a rebuild is right.
      this.#options.warn?.(
        `frontend-api: expected seq ${this.#lastSeq + 1}, got ${frame.seq}`,
      );
      this.#lastSeq = frame.seq;
      this.#handlers.onResync();
      return;
    }
    this.#lastSeq = frame.seq;
    if (frame.seq > this.#skipThrough) this.#handlers.onEvent(frame);
    this.#scheduleAck();
  }

  #connected(frame: ConnectedFrame): void {
    const firstOfPage = this.#epoch === null;
    const resumed = !firstOfPage && frame.recovered &&
      frame.epoch === this.#epoch;
    this.#epoch = frame.epoch;
    if (resumed) return;
    if (firstOfPage && frame.recovered) {
      // The server replays what it holds for this client id from seq 1; this
      // page has none of that state, so it rebuilds by refresh instead.
      this.#lastSeq = 0;
      this.#skipThrough = frame.last_seq;
    } else {
      // Nothing is replayed (on a first connect: the events before were
      // dropped, say after a reload that had acked them); live events go on
      // from the server's last_seq + 1, which is no gap.
      this.#lastSeq = frame.last_seq;
      this.#skipThrough = 0;
    }
    this.#handlers.onResync();
  }

  #scheduleAck(): void {
    if (this.#ackTimer !== null) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = null;
      this.#ack(this.#lastSeq);
    }, this.#options.ackDelayMs ?? 1000);
  }

  /** Stops the ack timer along with the socket. */
  stop(): void {
    if (this.#ackTimer !== null) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    this.socket.stop();
  }
}

interface Pending {
  text: string;
  resolve: (result: ResultFrame) => void;
}

/** The BackendAPI side: commands with request ids, queued while down. */
export class BackendAPIService {
  readonly socket: ReconnectingSocket;
  /** In send order; a command leaves only when its result arrives. */
  #pending = new Map<string, Pending>();
  #options: ConnectionOptions;

  /** `onOpen` runs after the queued commands went out on a new socket. */
  constructor(options: ConnectionOptions, onOpen?: () => void) {
    this.#options = options;
    this.socket = new ReconnectingSocket({
      url: () =>
        `${options.baseUrl}/ws/backend-api?client=${
          encodeURIComponent(options.clientId)
        }`,
      onOpen: () => {
        this.#flush();
        onOpen?.();
      },
      onMessage: (data) => this.#receive(data),
      backoff: options.backoff,
      random: options.random,
      connect: options.connect,
      // Its result matches no pending command, so it is dropped unread.
      heartbeat: heartbeat(options, () =>
        JSON.stringify(
          {
            type: "ping",
            request_id: `ping-${crypto.randomUUID()}`,
          } satisfies PingCommand,
        )),
    });
  }

  /** Commands sent or waiting to be sent, without a result yet. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Sends a command and resolves with its result. While the socket is down
   * the command waits; commands without a result are sent again after every
   * reconnect with the same request_id, which the server answers from memory
   * instead of running them again.
   */
  request(command: CommandInput): Promise<ResultFrame> {
    const request_id = crypto.randomUUID();
    const text = JSON.stringify({ ...command, request_id });
    return new Promise((resolve) => {
      this.#pending.set(request_id, { text, resolve });
      this.socket.send(text);
    });
  }

  /** Fire-and-forget; an ack lost with the socket is covered by the next. */
  ack(seq: number): void {
    const ack: Command = { type: "ack", seq };
    this.socket.send(JSON.stringify(ack));
  }

  #flush(): void {
    for (const pending of this.#pending.values()) {
      if (!this.socket.send(pending.text)) return;
    }
  }

  #receive(data: unknown): void {
    const reading = parseResultFrame(data);
    if (!reading.ok) {
      this.#options.warn?.(`backend-api: ${reading.message}`);
      return;
    }
    const { frame } = reading;
    const pending = frame.request_id === null
      ? undefined
      : this.#pending.get(frame.request_id);
    if (pending === undefined) {
      if (!frame.ok) {
        this.#options.warn?.(
          `backend-api: ${frame.error.code}: ${frame.error.message}`,
        );
      }
      return;
    }
    this.#pending.delete(frame.request_id!);
    pending.resolve(frame);
  }
}

export interface ConnectionState {
  frontend: SocketState;
  backend: SocketState;
  /** Either socket lost its connection and is not back: the dialog shows. */
  down: boolean;
  /** Another tab uses this client id; neither socket retries. */
  replaced: boolean;
}

/**
 * Not open and not on its way to a first open: a connecting socket that has
 * failed before still counts, so the dialog does not blink at every attempt.
 */
function failing(state: SocketState): boolean {
  return state.status === "closed" ||
    (state.status === "connecting" && state.retries > 0);
}

/** Both connections of one browser tab, and their combined state. */
export class ConnectionManager {
  readonly frontend: FrontendAPIService;
  readonly backend: BackendAPIService;
  readonly state: ReadonlySignal<ConnectionState>;
  #started = false;

  constructor(options: ConnectionOptions, handlers: FrontendHandlers) {
    // An ack lost with the old backend socket is repeated on the new one, so
    // the server can let go of what this page already has.
    this.backend = new BackendAPIService(options, () => {
      if (this.frontend.lastSeq > 0) this.backend.ack(this.frontend.lastSeq);
    });
    this.frontend = new FrontendAPIService(
      options,
      handlers,
      (seq) => this.backend.ack(seq),
    );
    this.state = computed(() => {
      const frontend = this.frontend.socket.state.value;
      const backend = this.backend.socket.state.value;
      const replaced = frontend.replaced || backend.replaced;
      return {
        frontend,
        backend,
        replaced,
        down: !replaced && (failing(frontend) || failing(backend)),
      };
    });
  }

  /** Opens both sockets. */
  start(): void {
    this.#started = true;
    this.backend.socket.start();
    this.frontend.socket.start();
  }

  /** Both sockets try again now instead of at their next backoff time. */
  retryNow(): void {
    if (!this.#started) return;
    this.backend.socket.retryNow();
    this.frontend.socket.retryNow();
  }

  /** After a "replaced" close: take this client id back from the other tab. */
  reclaim(): void {
    this.stop();
    this.start();
  }

  /** Closes both sockets for good. */
  stop(): void {
    this.frontend.stop();
    this.backend.socket.stop();
  }
}
