/**
 * One chat window's state: a session of one agent, its conversation as the
 * FrontendAPI reports it, and what the person is typing. Signals, so each
 * window re-renders alone.
 */
import { signal } from "@preact/signals";
import type {
  AgentSummary,
  ContextUsage,
  FrontendEvent,
  SeedMessage,
} from "../protocol.ts";

export type EntryRole = "user" | "assistant" | "error";

/** One bubble after the seeds. */
export interface Entry {
  key: string;
  role: EntryRole;
  content: string;
  /** For replies: "stop", "length", "cancelled", ... */
  finishReason?: string;
}

/**
 * loading: the session is being made (or rebuilt); ready: system and seed
 * messages are shown and the input works; ended: the server no longer has
 * the session; failed: it could not be made.
 */
export type WindowStatus = "loading" | "ready" | "ended" | "failed";

let windowCount = 0;

/** One window's conversation and input. */
export class ChatWindow {
  readonly key = `w${++windowCount}`;
  readonly agent: AgentSummary;
  readonly sessionId = signal<string | null>(null);
  readonly status = signal<WindowStatus>("loading");
  /** Why the window is ended or failed, in words. */
  readonly problem = signal<string | null>(null);
  readonly system = signal<string | null>(null);
  readonly seeds = signal<SeedMessage[]>([]);
  readonly entries = signal<Entry[]>([]);
  /** A reply being generated: its text so far. */
  readonly pending = signal<{ message_id: string; content: string } | null>(
    null,
  );
  /** A chat was sent and its reply has not ended. */
  readonly busy = signal(false);
  readonly context = signal<ContextUsage | null>(null);
  readonly draft = signal("");
  /** Opened by the person just now: focus its input once it is ready. */
  focusWhenReady = false;
  /** The message just sent, until an event of its reply arrives. */
  #awaiting: Entry | null = null;
  /** Whether it was sent after the latest refresh was asked for. */
  #sentSinceRefresh = false;
  /** Events were lost since the last `history`: streamed text has holes. */
  #broken = false;

  constructor(agent: AgentSummary, sessionId: string | null = null) {
    this.agent = agent;
    this.sessionId.value = sessionId;
  }

  /** Adds a bubble at the end. */
  push(entry: Entry): void {
    this.entries.value = [...this.entries.value, entry];
  }

  /** Shows a message the person sent; the window waits for its reply. */
  sent(content: string): void {
    const entry: Entry = {
      key: `u${crypto.randomUUID()}`,
      role: "user",
      content,
    };
    this.push(entry);
    this.busy.value = true;
    this.#awaiting = entry;
    this.#sentSinceRefresh = true;
  }

  /** The server refused the message just sent: no reply will come. */
  sendRefused(): void {
    this.#awaiting = null;
  }

  /**
   * Events were lost (a resync): the pieces streamed from now on may follow
   * a hole, so they wait for the `history` of the rebuild.
   */
  streamBroken(): void {
    this.#broken = true;
  }

  /**
   * A refresh of the session is asked for: a message sent before it is in
   * the `history` it brings, one sent after it may not be.
   */
  refreshing(): void {
    this.#sentSinceRefresh = false;
  }

  /** The session is gone or never came; the input stays off. */
  end(status: "ended" | "failed", problem: string): void {
    this.status.value = status;
    this.problem.value = problem;
    this.busy.value = false;
    this.pending.value = null;
  }

  /** Applies one FrontendAPI event for this window's session. */
  apply(event: FrontendEvent): void {
    switch (event.type) {
      case "system_message":
        this.system.value = event.content;
        break;
      case "seed_messages":
        this.seeds.value = event.messages;
        if (this.status.value === "loading") this.status.value = "ready";
        break;
      case "history": {
        // Commands run in the order sent, so a snapshot asked for before the
        // message just sent was taken before it ran (no reply in progress,
        // since a reply that had begun would have shown first): the message
        // is not in it yet, and its bubble must not vanish.
        const awaiting = this.#sentSinceRefresh && event.pending === null
          ? this.#awaiting
          : null;
        this.entries.value = [
          ...event.messages.map((message): Entry => ({
            key: message.message_id,
            role: message.role,
            content: message.content,
          })),
          ...(awaiting === null ? [] : [awaiting]),
        ];
        this.#awaiting = awaiting;
        this.#broken = false;
        this.pending.value = event.pending;
        this.busy.value = event.pending !== null || awaiting !== null;
        break;
      }
      case "agent_response_delta": {
        this.#awaiting = null;
        this.busy.value = true;
        // The snapshot will have this piece and the lost ones before it.
        if (this.#broken) break;
        const pending = this.pending.value;
        this.pending.value = pending?.message_id === event.message_id
          ? { ...pending, content: pending.content + event.delta }
          : { message_id: event.message_id, content: event.delta };
        break;
      }
      case "agent_response": {
        this.#awaiting = null;
        const { message_id, content, finish_reason } = event.response;
        this.pending.value = null;
        this.busy.value = false;
        // The full text is authoritative: it also mends a missed delta.
        const entry: Entry = {
          key: message_id,
          role: "assistant",
          content,
          finishReason: finish_reason,
        };
        const others = this.entries.value.filter((e) => e.key !== message_id);
        this.entries.value = [...others, entry];
        break;
      }
      case "context_update":
        this.context.value = event.context;
        break;
      case "error":
        this.#awaiting = null;
        this.pending.value = null;
        this.busy.value = false;
        this.push({
          key: `e${event.seq}`,
          role: "error",
          content: event.error,
        });
        break;
    }
  }
}
