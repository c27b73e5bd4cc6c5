/**
 * One WebSocket that comes back by itself: the state machine behind both of
 * the browser's connections. States: connecting -> open -> closed -> (wait a
 * backoff delay) -> connecting ... A close with code 4000 ("replaced": the
 * same client id is live in another tab) stops it until told to go on.
 * With a heartbeat it also notices a connection that died without a close
 * (a browser never sees WebSocket pings, so it pings in frames of its own).
 */
import { signal } from "@preact/signals";
import {
  backoffDelay,
  type BackoffPolicy,
  DEFAULT_BACKOFF,
} from "./backoff.ts";

export type SocketStatus = "connecting" | "open" | "closed";

export interface SocketState {
  status: SocketStatus;
  /** Failed attempts since the socket was last open. */
  retries: number;
  /** When the next attempt starts (ms since epoch), while one is scheduled. */
  nextRetryAt: number | null;
  /** Closed because another tab took over this client id; no auto-retry. */
  replaced: boolean;
}

/** The close code the server uses when a newer socket replaced this one. */
export const REPLACED_CODE = 4000;
/** The close code of a socket this side gave up on (to test, or as dead). */
export const DROPPED_CODE = 4001;

/** The page's own check that a connection is alive. */
export interface Heartbeat {
  /** While open, a ping goes out this often. */
  intervalMs: number;
  /** Nothing at all arrived this long after a ping: the socket is dead. */
  timeoutMs: number;
  /** Makes the ping frame. */
  ping: () => string;
}

export interface ReconnectingSocketOptions {
  /** Computed at every attempt, so it can carry the latest last_seq. */
  url: () => string;
  onOpen?: () => void;
  onMessage: (data: unknown) => void;
  onClose?: (code: number, reason: string) => void;
  backoff?: BackoffPolicy;
  random?: () => number;
  /** How sockets are made; the browser's WebSocket unless told otherwise. */
  connect?: (url: string) => WebSocket;
  /** Pings while open, and reconnects when no answer comes; none if unset. */
  heartbeat?: Heartbeat;
}

const INITIAL: SocketState = {
  status: "connecting",
  retries: 0,
  nextRetryAt: null,
  replaced: false,
};

/** A WebSocket with automatic reconnects and its state in a signal. */
export class ReconnectingSocket {
  /** Read by the UI; written only here. */
  readonly state = signal<SocketState>(INITIAL);
  #options: ReconnectingSocketOptions;
  #socket: WebSocket | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #stopped = true;
  /** The next ping, or the check after one. */
  #beat: ReturnType<typeof setTimeout> | null = null;
  /** Whether anything arrived since the last ping. */
  #heard = false;

  constructor(options: ReconnectingSocketOptions) {
    this.#options = options;
  }

  /** Opens the socket; from now on it reconnects until {@link stop}. */
  start(): void {
    this.#stopped = false;
    this.state.value = { ...INITIAL };
    this.#open();
  }

  /** Closes for good (no reconnect). */
  stop(): void {
    this.#stopped = true;
    this.#clearTimer();
    this.#stopHeartbeat();
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000, "bye");
    this.#set({ status: "closed", nextRetryAt: null });
  }

  /**
   * Skips the rest of the backoff wait: the network came back, the tab
   * became visible, or the person asked. Does nothing while open or already
   * connecting.
   */
  retryNow(): void {
    if (this.#stopped || this.#socket !== null) return;
    this.#clearTimer();
    this.#open();
  }

  /** Drops the current connection as if the network failed; it reconnects. */
  drop(): void {
    this.#socket?.close(DROPPED_CODE, "dropped by the client");
  }

  /** Sends when open; false when the text could not be sent now. */
  send(text: string): boolean {
    const socket = this.#socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(text);
    return true;
  }

  #open(): void {
    this.#set({ status: "connecting", nextRetryAt: null, replaced: false });
    let socket: WebSocket;
    try {
      socket = (this.#options.connect ?? ((url) => new WebSocket(url)))(
        this.#options.url(),
      );
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#socket = socket;
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      this.#set({ status: "open", retries: 0, nextRetryAt: null });
      this.#startHeartbeat(socket);
      this.#options.onOpen?.();
    };
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return;
      this.#heard = true;
      this.#options.onMessage(event.data);
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      this.#stopHeartbeat();
      this.#options.onClose?.(event.code, event.reason);
      if (this.#stopped) return;
      if (event.code === REPLACED_CODE) {
        this.#stopped = true;
        this.#set({ status: "closed", nextRetryAt: null, replaced: true });
        return;
      }
      this.#scheduleRetry();
    };
  }

  #startHeartbeat(socket: WebSocket): void {
    const heartbeat = this.#options.heartbeat;
    if (heartbeat === undefined) return;
    const ping = () => {
      if (this.#socket !== socket) return;
      this.#heard = false;
      try {
        socket.send(heartbeat.ping());
      } catch {
        // A socket that cannot send is dead; the check below says so.
      }
      this.#beat = setTimeout(check, heartbeat.timeoutMs);
    };
    const check = () => {
      if (this.#socket !== socket) return;
      if (!this.#heard) {
        this.#lost(socket);
        return;
      }
      this.#beat = setTimeout(
        ping,
        Math.max(0, heartbeat.intervalMs - heartbeat.timeoutMs),
      );
    };
    this.#beat = setTimeout(ping, heartbeat.intervalMs);
  }

  #stopHeartbeat(): void {
    if (this.#beat !== null) clearTimeout(this.#beat);
    this.#beat = null;
  }

  /**
   * Nothing came back after a ping: the connection died without a close the
   * browser could see (a half-open TCP connection). Its late events are
   * ignored from now on, and it reconnects the usual way.
   */
  #lost(socket: WebSocket): void {
    this.#stopHeartbeat();
    this.#socket = null;
    const reason = "no answer to ping";
    try {
      socket.close(DROPPED_CODE, reason);
    } catch {
      // Closing is best-effort: the socket is already being abandoned.
    }
    this.#options.onClose?.(DROPPED_CODE, reason);
    if (!this.#stopped) this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    const attempt = this.state.value.status === "open"
      ? 0
      : this.state.value.retries;
    const delay = backoffDelay(
      attempt,
      this.#options.backoff ?? DEFAULT_BACKOFF,
      this.#options.random,
    );
    this.#set({
      status: "closed",
      retries: attempt + 1,
      nextRetryAt: Date.now() + delay,
    });
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#stopped) this.#open();
    }, delay);
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #set(change: Partial<SocketState>): void {
    this.state.value = { ...this.state.value, ...change };
  }
}
