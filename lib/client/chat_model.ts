/**
 * The chat page's model: the open windows, notices, and the connection that
 * feeds them. Safe to build on the server for rendering: nothing connects
 * until {@link ChatModel.start}.
 */
import { effect, signal } from "@preact/signals";
import {
  type AgentSummary,
  CLIENT_ID_PATTERN,
  type FrontendEvent,
  type ResultFrame,
} from "../protocol.ts";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff.ts";
import { ChatWindow } from "./chat_window.ts";
import {
  type CommandInput,
  ConnectionManager,
  type ConnectionOptions,
} from "./connection_manager.ts";

/** The part of sessionStorage the model uses. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export const CLIENT_ID_KEY = "tandem.client";
export const WINDOWS_KEY = "tandem.windows";

/** This tab's client id: kept in `store` so a reload resumes it. */
export function loadClientId(store: KeyValueStore): string {
  const known = store.getItem(CLIENT_ID_KEY);
  if (known !== null && CLIENT_ID_PATTERN.test(known)) return known;
  const fresh = crypto.randomUUID();
  store.setItem(CLIENT_ID_KEY, fresh);
  return fresh;
}

/**
 * What the model needs from the browser: the connection's options (the
 * client id it finds in `store`), the store, and how to reload.
 */
export interface ChatEnvironment extends Omit<ConnectionOptions, "clientId"> {
  store: KeyValueStore;
  /** Reloads the page (after switching to a new client id). */
  reload?: () => void;
}

export interface Notice {
  key: number;
  kind: "info" | "warning" | "error";
  message: string;
}

/** Events for a session no window claims yet; beyond this, oldest go. */
const MAX_ORPHANS = 500;
const MAX_NOTICES = 4;
const SESSION_ENDED = "This session has ended: the server no longer has it.";

/** The page's state and the actions its buttons call. */
export class ChatModel {
  readonly agents: AgentSummary[];
  readonly windows = signal<ChatWindow[]>([]);
  readonly notices = signal<Notice[]>([]);
  /** Null on the server and before start(). */
  readonly connection = signal<ConnectionManager | null>(null);
  #env: ChatEnvironment | null = null;
  /**
   * Events can overtake the result that names their session (they travel on
   * the other socket), so they wait here until a window claims the session.
   */
  #orphans: FrontendEvent[] = [];
  /** Rebuilds refused in a row, and the wait before the next one. */
  #resyncFailures = 0;
  #resyncTimer: ReturnType<typeof setTimeout> | null = null;
  #noticeCount = 0;

  constructor(agents: AgentSummary[]) {
    this.agents = agents;
  }

  /** Restores this tab's windows and connects. Browser only. */
  start(env: ChatEnvironment): void {
    this.#env = env;
    this.#restoreWindows();
    const connection = new ConnectionManager({
      ...env,
      clientId: loadClientId(env.store),
    }, {
      onEvent: (event) => this.#route(event),
      onResync: () => void this.#resync(),
    });
    effect(() => {
      const saved = this.windows.value.map((w) => ({
        agent_id: w.agent.id,
        session_id: w.sessionId.value,
      }));
      env.store.setItem(WINDOWS_KEY, JSON.stringify(saved));
    });
    this.connection.value = connection;
    connection.start();
    for (const w of this.windows.value) {
      if (w.sessionId.value === null) void this.#create(w);
    }
  }

  /** Opens a new window with a fresh session of `agentId`. */
  openChat(agentId: string): void {
    const agent = this.agents.find((a) => a.id === agentId);
    if (agent === undefined) return;
    const w = new ChatWindow(agent);
    w.focusWhenReady = true;
    this.windows.value = [...this.windows.value, w];
    void this.#create(w);
  }

  /** Replaces an ended window by a fresh session of the same agent. */
  restart(old: ChatWindow): void {
    const w = new ChatWindow(old.agent);
    w.focusWhenReady = true;
    this.windows.value = this.windows.value.map((x) => x === old ? w : x);
    void this.#create(w);
  }

  /** Closes the window and, on the server, its session. */
  close(w: ChatWindow): void {
    this.windows.value = this.windows.value.filter((x) => x !== w);
    const session_id = w.sessionId.value;
    if (session_id !== null && w.status.value !== "ended") {
      void this.#request({ type: "session", action: "close", session_id });
    }
  }

  /** Sends the window's draft as a chat message. */
  async send(w: ChatWindow): Promise<void> {
    const message = w.draft.value.trim();
    const session_id = w.sessionId.value;
    if (
      message === "" || session_id === null || w.busy.value ||
      w.status.value !== "ready"
    ) return;
    w.draft.value = "";
    w.sent(message);
    const result = await this.#request({
      type: "chat",
      agent_id: w.agent.id,
      session_id,
      message,
    });
    if (!result.ok) {
      w.sendRefused();
      this.#refused(w, result);
    }
  }

  /** Asks the server to stop the reply being generated. */
  async stop(w: ChatWindow): Promise<void> {
    const session_id = w.sessionId.value;
    if (session_id === null) return;
    const result = await this.#request({ type: "cancel", session_id });
    if (!result.ok) this.#refused(w, result);
  }

  /** Skips the backoff wait on both sockets. */
  retryNow(): void {
    this.connection.value?.retryNow();
  }

  /** Takes this tab's client id back from the tab that replaced it. */
  reclaim(): void {
    this.connection.value?.reclaim();
  }

  /**
   * Leaves the client id (and its chats) to the other tab: this tab starts
   * over with an id of its own.
   */
  startAsNewClient(): void {
    const env = this.#env;
    if (env === null) return;
    this.connection.value?.stop();
    env.store.setItem(CLIENT_ID_KEY, crypto.randomUUID());
    env.store.removeItem(WINDOWS_KEY);
    env.reload?.();
  }

  /** Closes a notice. */
  dismiss(key: number): void {
    this.notices.value = this.notices.value.filter((n) => n.key !== key);
  }

  #notify(kind: Notice["kind"], message: string): void {
    const notice = { key: ++this.#noticeCount, kind, message };
    this.notices.value = [...this.notices.value, notice].slice(-MAX_NOTICES);
  }

  #request(command: CommandInput): Promise<ResultFrame> {
    return this.connection.value!.backend.request(command);
  }

  #refused(w: ChatWindow, result: ResultFrame & { ok: false }): void {
    if (result.error.code === "session_not_found") {
      w.end("ended", SESSION_ENDED);
      return;
    }
    w.busy.value = w.pending.value !== null;
    w.push({
      key: `r${crypto.randomUUID()}`,
      role: "error",
      content: result.error.message,
    });
  }

  async #create(w: ChatWindow): Promise<void> {
    const result = await this.#request({
      type: "session",
      action: "create",
      agent_id: w.agent.id,
    });
    if (!result.ok) {
      w.end("failed", `Could not open a chat: ${result.error.message}`);
      return;
    }
    const sessionId = String(result.session_id);
    w.sessionId.value = sessionId;
    const mine = this.#orphans.filter((e) => sessionOf(e) === sessionId);
    this.#orphans = this.#orphans.filter((e) => sessionOf(e) !== sessionId);
    for (const event of mine) w.apply(event);
  }

  #route(event: FrontendEvent): void {
    if (event.type === "notification") {
      this.#notify(event.notification_type, event.message);
      // The server may have closed a session by itself (idle too long).
      void this.#endGone();
      return;
    }
    const sessionId = sessionOf(event);
    if (sessionId === null) {
      if (event.type === "error") this.#notify("error", event.error);
      return;
    }
    const w = this.windows.value.find((x) => x.sessionId.value === sessionId);
    if (w !== undefined) {
      w.apply(event);
      return;
    }
    this.#orphans.push(event);
    if (this.#orphans.length > MAX_ORPHANS) this.#orphans.shift();
  }

  /**
   * The event stream was not resumed: ask which sessions the server still
   * has, refresh those, and say which ended.
   */
  async #resync(): Promise<void> {
    this.#orphans = [];
    for (const w of this.windows.value) w.streamBroken();
    const result = await this.#request({ type: "session", action: "list" });
    if (!result.ok) {
      this.#resyncFailed(result.error.message);
      return;
    }
    const refreshes = this.#endUnlisted(result).map(async (w) => {
      const session_id = w.sessionId.value!;
      w.refreshing();
      const r = await this.#request({
        type: "refresh",
        agent_id: w.agent.id,
        session_id,
      });
      if (r.ok) return null;
      if (r.error.code !== "session_not_found") return r.error.message;
      w.end("ended", SESSION_ENDED);
      return null;
    });
    const failed = (await Promise.all(refreshes)).find((m) => m !== null);
    if (failed) this.#resyncFailed(failed);
    else this.#resyncFailures = 0;
  }

  /**
   * A rebuild the server refused (rate limited, an internal error) is tried
   * again after a backoff wait: until a window's `history` arrives it shows
   * no live text, so giving up would leave it frozen.
   */
  #resyncFailed(message: string): void {
    if (this.#resyncFailures++ === 0) {
      this.#notify("error", `Could not restore chats: ${message}; retrying`);
    }
    if (this.#resyncTimer !== null) return;
    const env = this.#env;
    const delay = backoffDelay(
      this.#resyncFailures - 1,
      env?.backoff ?? DEFAULT_BACKOFF,
      env?.random,
    );
    this.#resyncTimer = setTimeout(() => {
      this.#resyncTimer = null;
      void this.#resync();
    }, delay);
  }

  /**
   * Ends the windows whose session the server no longer has, without
   * touching the live ones: for when the server closed one by itself.
   */
  async #endGone(): Promise<void> {
    const result = await this.#request({ type: "session", action: "list" });
    if (result.ok) this.#endUnlisted(result);
  }

  /**
   * Ends each window whose session is not in a `session list` result and
   * returns the windows whose session is listed.
   */
  #endUnlisted(result: ResultFrame & { ok: true }): ChatWindow[] {
    const live = new Set(
      (result.sessions as { session_id: string }[]).map((s) => s.session_id),
    );
    const listed: ChatWindow[] = [];
    for (const w of this.windows.value) {
      const session_id = w.sessionId.value;
      if (session_id === null || w.status.value === "ended") continue;
      if (live.has(session_id)) listed.push(w);
      else w.end("ended", SESSION_ENDED);
    }
    return listed;
  }

  #restoreWindows(): void {
    let saved: unknown;
    try {
      saved = JSON.parse(this.#env!.store.getItem(WINDOWS_KEY) ?? "[]");
    } catch {
      return;
    }
    if (!Array.isArray(saved)) return;
    const restored: ChatWindow[] = [];
    for (const item of saved) {
      const agent = this.agents.find((a) => a.id === item?.agent_id);
      if (agent === undefined) continue;
      const session = typeof item.session_id === "string"
        ? item.session_id
        : null;
      restored.push(new ChatWindow(agent, session));
    }
    this.windows.value = restored;
  }
}

function sessionOf(event: FrontendEvent): string | null {
  return "session_id" in event ? event.session_id : null;
}
