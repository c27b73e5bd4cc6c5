/**
 * One browser tab for the chaos test: the real ChatModel of lib/client/
 * (ConnectionManager, FrontendAPIService, BackendAPIService, ChatWindow)
 * running in Deno against a real server, with what the test needs on top:
 * sockets it can drop like a failed network, and a record of every event
 * each window applied and of every reply text it showed.
 */
import type { FrontendEvent } from "../lib/protocol.ts";
import { ChatModel, CLIENT_ID_KEY } from "../lib/client/chat_model.ts";
import { ChatWindow } from "../lib/client/chat_window.ts";
import { AGENTS, MemoryStore } from "../lib/client/chat_model_rig.ts";

export type DropKind = "frontend" | "backend" | "both";

/** One chat message of the plan and the chaos around it. */
export interface ChatPlan {
  text: string;
  /** Drop these sockets just before sending: the command waits offline. */
  offline: DropKind | null;
  /** Drop these sockets once this many deltas of the reply were applied. */
  midReply: { afterDeltas: number; kind: DropKind; silentMs: number } | null;
}

export interface ClientPlan {
  /** One entry per session (chat window); each its chats, in order. */
  sessions: ChatPlan[][];
}

/** Which test client owns a window; read by the ChatWindow.apply spy. */
const owners = new WeakMap<ChatWindow, ChaosClient>();
let realApply: ChatWindow["apply"] | null = null;

/**
 * Wraps ChatWindow.prototype.apply so every event a window applies is
 * recorded before the real apply runs. Returns the undo.
 */
export function spyOnWindows(): () => void {
  if (realApply !== null) throw new Error("the window spy is already on");
  const original = ChatWindow.prototype.apply;
  realApply = original;
  ChatWindow.prototype.apply = function (event: FrontendEvent) {
    owners.get(this)?.applied(this, event);
    original.call(this, event);
  };
  return () => {
    ChatWindow.prototype.apply = original;
    realApply = null;
  };
}

/** Polls `condition` in real time; throws `describe()` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean,
  describe: () => string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A browser tab running the real ChatModel, and what it went through. */
export class ChaosClient {
  readonly clientId: string;
  readonly model = new ChatModel(AGENTS);
  readonly windows: ChatWindow[] = [];
  /** Every WebSocket the tab opened, to wait for them to close. */
  readonly sockets: WebSocket[] = [];
  /** Every `connected` frame, in order. */
  readonly connecteds: {
    epoch: string;
    last_seq: number;
    recovered: boolean;
  }[] = [];
  readonly warnings: string[] = [];
  /** The seqs each window applied, in the order it applied them. */
  readonly seqs = new Map<ChatWindow, number[]>();
  /** Deltas applied, per reply message id. */
  readonly deltas = new Map<string, string[]>();
  /** The last text shown for a reply still streaming, per message id. */
  readonly shown = new Map<string, string>();
  /** A streaming reply whose shown text did not grow from what it was. */
  readonly rewinds: string[] = [];
  /** `history` events (answers to refresh) each window applied. */
  readonly histories = new Map<ChatWindow, number>();
  readonly drops = { frontend: 0, backend: 0 };
  /** Frames sent or received on a socket after the test dropped it: lost. */
  lostFrames = 0;
  /** Chats sent while the backend socket was down. */
  sentOffline = 0;
  readonly #store = new MemoryStore();
  readonly #current: Record<"frontend" | "backend", WebSocket | null> = {
    frontend: null,
    backend: null,
  };
  readonly #dead = new WeakSet<WebSocket>();
  readonly #midReply = new Map<ChatWindow, ChatPlan["midReply"]>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    readonly index: number,
    readonly plan: ClientPlan,
    readonly random: () => number,
  ) {
    this.clientId = `chaos-${index}-${crypto.randomUUID()}`;
    this.#store.setItem(CLIENT_ID_KEY, this.clientId);
  }

  /** Opens the tab, its windows, and sends every planned chat in turn. */
  async run(baseUrl: string): Promise<void> {
    this.model.start({
      baseUrl,
      store: this.#store,
      // Small waits, so reconnects happen many times within the test.
      backoff: { baseMs: 40, capMs: 250 },
      random: this.random,
      ackDelayMs: 50,
      connect: (url) => this.#connect(url),
      warn: (message) => this.warnings.push(message),
    });
    // A person clicks "new chat" once the page is up.
    await waitFor(() => this.bothOpen, () => `client ${this.index} to connect`);
    for (const _ of this.plan.sessions) {
      this.model.openChat("assistant");
      const w = this.model.windows.value.at(-1)!;
      owners.set(w, this);
      this.seqs.set(w, []);
      this.windows.push(w);
      this.#unsubscribe.push(w.pending.subscribe((p) => this.#showing(p)));
    }
    await waitFor(
      () => this.windows.every((w) => w.status.value === "ready"),
      () => `client ${this.index}: windows to be ready: ${this.describe()}`,
    );
    await Promise.all(
      this.plan.sessions.map((chats, j) =>
        this.#chatAll(this.windows[j], chats)
      ),
    );
  }

  get bothOpen(): boolean {
    const state = this.model.connection.value?.state.value;
    return state?.frontend.status === "open" &&
      state?.backend.status === "open";
  }

  /**
   * Drops sockets like a failed network: from now on nothing gets through
   * either way (frames sent or arriving are lost), and after `silentMs` the
   * socket closes, as a browser notices a dead connection, and reconnects.
   */
  drop(kind: DropKind, silentMs = 0): void {
    for (
      const k of kind === "both" ? ["frontend", "backend"] as const : [kind]
    ) {
      const ws = this.#current[k];
      if (
        ws === null || ws.readyState !== WebSocket.OPEN || this.#dead.has(ws)
      ) {
        continue;
      }
      this.#dead.add(ws);
      this.drops[k]++;
      const close = () => ws.close(4001, "dropped by the chaos test");
      if (silentMs > 0) this.#later(silentMs, close);
      else close();
    }
  }

  /**
   * After the chaos: frontend reconnects until one resumes with nothing
   * left to rebuild; returns the server's last seq it reported.
   */
  async finalSync(): Promise<number> {
    const connection = this.model.connection.value!;
    for (let round = 0; round < 5; round++) {
      // A resync in progress (session list, refresh) finishes first.
      await waitFor(
        () =>
          this.bothOpen && connection.backend.pendingCount === 0 &&
          this.windows.every((w) => !w.busy.value),
        () => `client ${this.index} to settle: ${this.describe()}`,
      );
      const before = this.connecteds.length;
      this.drop("frontend");
      await waitFor(
        () =>
          this.connecteds.length > before &&
          connection.frontend.lastSeq >= this.connecteds.at(-1)!.last_seq,
        () => `client ${this.index}: the final replay: ${this.describe()}`,
      );
      const last = this.connecteds.at(-1)!;
      if (last.recovered) return last.last_seq;
    }
    throw new Error(`client ${this.index}: never resumed: ${this.describe()}`);
  }

  /** Closes the tab and waits for its sockets to close. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.model.connection.value?.stop();
    await waitFor(
      () => this.sockets.every((s) => s.readyState === WebSocket.CLOSED),
      () => `client ${this.index}: sockets to close`,
      5000,
    );
  }

  /** Called by the window spy for every event a window applies. */
  applied(w: ChatWindow, event: FrontendEvent): void {
    this.seqs.get(w)?.push(event.seq);
    if (event.type === "history") {
      this.histories.set(w, (this.histories.get(w) ?? 0) + 1);
    }
    if (event.type !== "agent_response_delta") return;
    const deltas = this.deltas.get(event.message_id) ?? [];
    deltas.push(event.delta);
    this.deltas.set(event.message_id, deltas);
    const mid = this.#midReply.get(w);
    if (mid && deltas.length >= mid.afterDeltas) {
      this.#midReply.delete(w);
      this.#later(0, () => this.drop(mid.kind, mid.silentMs));
    }
  }

  /** The state of the tab in a line, for failure messages. */
  describe(): string {
    const state = this.model.connection.value?.state.value;
    const windows = this.windows.map((w) =>
      `${w.sessionId.value}:${w.status.value}${w.busy.value ? ",busy" : ""}:${
        w.entries.value.map((e) => e.role[0]).join("")
      }`
    );
    return `client ${this.index} ${this.clientId} frontend=${state?.frontend.status} backend=${state?.backend.status} lastSeq=${this.model.connection.value?.frontend.lastSeq} pending commands=${this.model.connection.value?.backend.pendingCount} windows=[${
      windows.join(" ")
    }] warnings=${JSON.stringify(this.warnings)}`;
  }

  async #chatAll(w: ChatWindow, chats: ChatPlan[]): Promise<void> {
    for (const [k, chat] of chats.entries()) {
      if (chat.offline !== null) this.drop(chat.offline);
      this.#midReply.set(w, chat.midReply);
      w.draft.value = chat.text;
      const sending = this.model.send(w);
      if (this.#current.backend?.readyState !== WebSocket.OPEN) {
        this.sentOffline++;
      }
      await sending;
      const replies = () =>
        w.entries.value.filter((e) => e.role === "assistant").length;
      await waitFor(
        () =>
          w.entries.value.some((e) => e.role === "error") ||
          (!w.busy.value && replies() === k + 1),
        () =>
          `client ${this.index}: the reply to "${chat.text}": ${this.describe()}`,
      );
      const error = w.entries.value.find((e) => e.role === "error");
      if (error) {
        throw new Error(
          `client ${this.index}: "${chat.text}" got an error: ${error.content}`,
        );
      }
    }
  }

  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #showing(p: { message_id: string; content: string } | null): void {
    if (p === null) return;
    const before = this.shown.get(p.message_id);
    if (before !== undefined && !p.content.startsWith(before)) {
      this.rewinds.push(`${p.message_id}: "${before}" -> "${p.content}"`);
    }
    this.shown.set(p.message_id, p.content);
  }

  #connect(url: string): WebSocket {
    const kind = url.includes("/ws/frontend-api") ? "frontend" : "backend";
    const ws = new WebSocket(url);
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      if (this.#dead.has(ws)) this.lostFrames++;
      else send(data);
    };
    // Registered before the ReconnectingSocket's onmessage, so it runs first
    // and can swallow what arrives after a drop.
    ws.addEventListener("message", (event) => {
      if (this.#dead.has(ws)) {
        event.stopImmediatePropagation();
        this.lostFrames++;
        return;
      }
      const data = String(event.data);
      if (kind === "frontend" && data.startsWith('{"type":"connected"')) {
        this.connecteds.push(JSON.parse(data));
      }
    });
    this.#current[kind] = ws;
    this.sockets.push(ws);
    return ws;
  }
}
