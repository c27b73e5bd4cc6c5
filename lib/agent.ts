/**
 * Agent: one per session. Owns the conversation, builds the model context
 * from it, streams the model's reply through the FrontendAPI it was given,
 * and reports context usage.
 *
 * Failure policy: when a model call fails, the user's turn is kept (it was
 * sent and shown; Tandem never loses a message) and any partial reply is
 * discarded, so the conversation stays a valid alternation the next message
 * can build on. A cancelled reply keeps the text streamed so far.
 */
import { encode } from "gpt-tokenizer";
import { APIError } from "openai";
import type { AgentConfig } from "./agent_config.ts";
import type { LlmSettings } from "./config.ts";
import { BusyError, TandemError } from "./errors.ts";
import type { FrontendAPI } from "./frontend_api.ts";
import {
  describeModelError,
  type ModelClient,
  NOT_CONFIGURED_MESSAGE,
} from "./llm.ts";
import type { Logger } from "./logger.ts";
import type { ContextUsage, HistoryMessage, Usage } from "./protocol.ts";

export interface AgentDeps {
  config: AgentConfig;
  sessionId: string;
  clientId: string;
  frontend: FrontendAPI;
  /** Null when no provider is configured: every chat is `not_configured`. */
  model: ModelClient | null;
  llm: LlmSettings;
  logger: Logger;
}

interface PendingReply {
  messageId: string;
  content: string;
  controller: AbortController;
  /** Why the stream was aborted, when we aborted it. */
  abortedFor: "cancel" | "timeout" | "close" | null;
  timeoutMessage: string;
  done: Promise<void>;
}

type ModelMessage = { role: "system" | "user" | "assistant"; content: string };

const BROKE_OFF =
  "the model provider's stream broke off before the reply was complete; try again";

/** 300 -> "0.3", 60000 -> "60": exact enough for a person to act on. */
function seconds(ms: number): string {
  const s = Math.max(0.1, Math.round(ms / 100) / 10);
  return String(s);
}

/** Tokens a chat message costs beyond its text (role and separators). */
const MESSAGE_OVERHEAD_TOKENS = 4;

export class Agent {
  readonly agentId: string;
  readonly sessionId: string;
  readonly clientId: string;
  readonly #deps: AgentDeps;
  readonly #log: Logger;
  readonly #turns: HistoryMessage[] = [];
  #pending: PendingReply | null = null;
  /** Context size the provider reported after the last reply. */
  #reportedTokens: number | null = null;

  constructor(deps: AgentDeps) {
    this.#deps = deps;
    this.agentId = deps.config.id;
    this.sessionId = deps.sessionId;
    this.clientId = deps.clientId;
    this.#log = deps.logger.child("agent");
  }

  /** True while a reply is being generated. */
  get busy(): boolean {
    return this.#pending !== null;
  }

  /** The conversation after the seeds (a copy). */
  get history(): HistoryMessage[] {
    return this.#turns.map((turn) => ({ ...turn }));
  }

  /** Resolves when the reply in progress (if any) has ended. */
  get settled(): Promise<void> {
    return this.#pending?.done ?? Promise.resolve();
  }

  /** Shows a new session: system message, seed messages, context usage. */
  start(): void {
    const { id, systemPrompt, seedMessages } = this.#deps.config;
    const frontend = this.#deps.frontend;
    frontend.sendSystemMessage(id, this.sessionId, systemPrompt);
    frontend.sendSeedMessages(id, this.sessionId, seedMessages);
    frontend.sendContextUpdate(id, this.sessionId, this.contextUsage());
  }

  /** Re-sends the whole state, including a reply still being generated. */
  refresh(): void {
    const { id, systemPrompt, seedMessages } = this.#deps.config;
    const frontend = this.#deps.frontend;
    frontend.sendSystemMessage(id, this.sessionId, systemPrompt);
    frontend.sendSeedMessages(id, this.sessionId, seedMessages);
    const pending = this.#pending;
    frontend.sendHistory(
      id,
      this.sessionId,
      this.history,
      pending
        ? { message_id: pending.messageId, content: pending.content }
        : null,
    );
    frontend.sendContextUpdate(id, this.sessionId, this.contextUsage());
  }

  /**
   * Accepts a user message and starts the reply in the background.
   * Throws `busy` or `not_configured` before accepting anything.
   * Returns the id the reply's events will carry.
   */
  chat(message: string): string {
    if (this.#pending) throw new BusyError(this.sessionId);
    if (this.#deps.model === null) {
      throw new TandemError("not_configured", NOT_CONFIGURED_MESSAGE);
    }
    this.#turns.push({
      message_id: crypto.randomUUID(),
      role: "user",
      content: message,
    });
    const pending: PendingReply = {
      messageId: crypto.randomUUID(),
      content: "",
      controller: new AbortController(),
      abortedFor: null,
      timeoutMessage: "",
      done: Promise.resolve(),
    };
    this.#pending = pending;
    pending.done = this.#reply(pending, this.#deps.model);
    return pending.messageId;
  }

  /**
   * Ends the reply in progress now with `finish_reason: "cancelled"`, keeping
   * the text streamed so far. Returns false when nothing was being generated.
   */
  cancel(): boolean {
    const pending = this.#pending;
    if (!pending) return false;
    pending.abortedFor = "cancel";
    pending.controller.abort();
    this.#finish(pending, {
      finishReason: "cancelled",
      model: this.#modelName(),
      usage: null,
    });
    return true;
  }

  /** Stops any reply without sending more events (the session is gone). */
  close(): void {
    const pending = this.#pending;
    if (!pending) return;
    pending.abortedFor = "close";
    pending.controller.abort();
    this.#pending = null;
  }

  /** Context usage: the provider's count after a reply, else an estimate. */
  contextUsage(): ContextUsage {
    const used = this.#reportedTokens ?? this.#estimateTokens();
    const max = this.#deps.config.contextWindow;
    return {
      used_tokens: used,
      max_tokens: max,
      percentage: Math.round((used / max) * 1000) / 10,
    };
  }

  /** The messages sent to the model: system, seeds, then the conversation. */
  modelContext(): ModelMessage[] {
    const { systemPrompt, seedMessages } = this.#deps.config;
    return [
      { role: "system", content: systemPrompt },
      ...seedMessages.map((m) => ({ role: m.role, content: m.content })),
      ...this.#turns.map((t) => ({ role: t.role, content: t.content })),
    ];
  }

  #estimateTokens(): number {
    let total = 0;
    for (const message of this.modelContext()) {
      total += encode(message.content).length + MESSAGE_OVERHEAD_TOKENS;
    }
    return total;
  }

  #modelName(): string {
    return this.#deps.config.model ?? this.#deps.llm.defaultModel;
  }

  async #reply(pending: PendingReply, client: ModelClient): Promise<void> {
    const { config, llm } = this.#deps;
    let model = this.#modelName();
    let finishReason: string | null = null;
    let usage: Usage | null = null;
    const { signal } = pending.controller;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (ms: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        pending.abortedFor = "timeout";
        pending.timeoutMessage = `the model provider sent nothing for ${
          seconds(ms)
        } s ${what}; try again`;
        pending.controller.abort();
      }, ms);
    };
    arm(llm.firstTokenTimeoutMs, "before the first token");
    let streaming = false;
    try {
      const stream = await client.chat.completions.create({
        model,
        messages: this.modelContext(),
        stream: true,
        stream_options: { include_usage: true },
        ...(config.temperature === null
          ? {}
          : { temperature: config.temperature }),
        ...(config.maxOutputTokens === null
          ? {}
          : { max_tokens: config.maxOutputTokens }),
      }, { signal });
      streaming = true;
      // An aborted stream ends this loop silently; abortedFor tells why.
      for await (const chunk of stream) {
        if (this.#pending !== pending) break;
        arm(llm.idleTimeoutMs, "in the middle of the reply");
        if (chunk.model) model = chunk.model;
        if (chunk.usage) {
          usage = {
            prompt_tokens: chunk.usage.prompt_tokens,
            completion_tokens: chunk.usage.completion_tokens,
            total_tokens: chunk.usage.total_tokens,
          };
        }
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const delta = choice.delta?.content;
        if (delta) {
          pending.content += delta;
          this.#deps.frontend.sendAgentResponseDelta(
            this.agentId,
            this.sessionId,
            pending.messageId,
            delta,
          );
        }
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
    } catch (error) {
      if (!signal.aborted) {
        // Once the stream is open, a read failure means the connection broke.
        this.#fail(
          pending,
          streaming && !(error instanceof APIError)
            ? BROKE_OFF
            : describeModelError(error, model),
          error,
        );
        return;
      }
    } finally {
      clearTimeout(timer);
    }
    if (this.#pending !== pending) return; // cancelled or closed meanwhile
    if (pending.abortedFor === "timeout") {
      this.#fail(pending, pending.timeoutMessage, null);
    } else if (finishReason === null) {
      this.#fail(pending, BROKE_OFF, null);
    } else if (pending.content === "") {
      this.#fail(pending, "the model returned an empty reply; try again", null);
    } else {
      if (usage) this.#reportedTokens = usage.total_tokens;
      this.#finish(pending, { finishReason, model, usage });
    }
  }

  #finish(
    pending: PendingReply,
    end: { finishReason: string; model: string; usage: Usage | null },
  ): void {
    if (this.#pending !== pending) return;
    this.#pending = null;
    if (end.usage === null) this.#reportedTokens = null;
    if (pending.content !== "") {
      this.#turns.push({
        message_id: pending.messageId,
        role: "assistant",
        content: pending.content,
      });
    }
    const frontend = this.#deps.frontend;
    frontend.sendAgentResponse(this.agentId, this.sessionId, {
      message_id: pending.messageId,
      content: pending.content,
      model: end.model,
      finish_reason: end.finishReason,
      usage: end.usage,
    });
    frontend.sendContextUpdate(
      this.agentId,
      this.sessionId,
      this.contextUsage(),
    );
  }

  #fail(pending: PendingReply, message: string, cause: unknown): void {
    if (this.#pending !== pending) return;
    this.#pending = null;
    this.#reportedTokens = null;
    this.#log.warn("model call failed", {
      sessionId: this.sessionId,
      error: message,
      cause: cause instanceof Error ? cause.name : undefined,
    });
    const frontend = this.#deps.frontend;
    frontend.sendError(this.agentId, this.sessionId, "llm_error", message);
    frontend.sendContextUpdate(
      this.agentId,
      this.sessionId,
      this.contextUsage(),
    );
  }
}
