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

  constructor(agent: AgentSummary, sessionId: string | null = null) {
    this.agent = agent;
    this.sessionId.value = sessionId;
  }

  /** Adds a bubble at the end. */
  push(entry: Entry): void {
    this.entries.value = [...this.entries.value, entry];
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
      case "history":
        this.entries.value = event.messages.map((message) => ({
          key: message.message_id,
          role: message.role,
          content: message.content,
        }));
        this.pending.value = event.pending;
        this.busy.value = event.pending !== null;
        break;
      case "agent_response_delta": {
        const pending = this.pending.value;
        this.pending.value = pending?.message_id === event.message_id
          ? { ...pending, content: pending.content + event.delta }
          : { message_id: event.message_id, content: event.delta };
        this.busy.value = true;
        break;
      }
      case "agent_response": {
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
