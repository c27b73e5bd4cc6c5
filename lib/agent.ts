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
import type { AgentConfig } from "./agent_config.ts";
import type { LlmSettings } from "./config.ts";
import { fitContext, fixedTokens, messageTokens } from "./context_window.ts";
import { BusyError, TandemError } from "./errors.ts";
import type { FrontendAPI } from "./frontend_api.ts";
import { type ModelClient, NOT_CONFIGURED_MESSAGE } from "./llm.ts";
import type { Logger } from "./logger.ts";
import { streamReply } from "./model_call.ts";
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
  abortedFor: "cancel" | "close" | null;
  done: Promise<void>;
}

type ModelMessage = { role: "system" | "user" | "assistant"; content: string };

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
  /** Estimated tokens of each turn, counted once. */
  readonly #turnTokens = new WeakMap<HistoryMessage, number>();

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
   * Accepts a user message and starts the reply in the background. When the
   * request would not fit the context window, the oldest exchanges leave the
   * conversation first (the owner gets a notification). Throws `busy`,
   * `not_configured`, or `too_large` (the message cannot fit even alone)
   * before accepting anything. Returns the id the reply's events will carry.
   */
  chat(message: string): string {
    if (this.#pending) throw new BusyError(this.sessionId);
    if (this.#deps.model === null) {
      throw new TandemError("not_configured", NOT_CONFIGURED_MESSAGE);
    }
    const turn: HistoryMessage = {
      message_id: crypto.randomUUID(),
      role: "user",
      content: message,
    };
    this.#makeRoom(this.#tokensOf(turn));
    this.#turns.push(turn);
    const pending: PendingReply = {
      messageId: crypto.randomUUID(),
      content: "",
      controller: new AbortController(),
      abortedFor: null,
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
    let total = fixedTokens(this.#deps.config);
    for (const turn of this.#turns) total += this.#tokensOf(turn);
    return total;
  }

  #tokensOf(turn: HistoryMessage): number {
    let tokens = this.#turnTokens.get(turn);
    if (tokens === undefined) {
      tokens = messageTokens(turn.content);
      this.#turnTokens.set(turn, tokens);
    }
    return tokens;
  }

  /**
   * Drops the oldest exchanges so system, seeds, the conversation, a new
   * message of `incoming` tokens and the reply reserve fit the context
   * window (see context_window.ts), and tells the owner. They leave the
   * session, not just the request: that is what bounds its memory, and a
   * refresh shows what the model sees. Throws `too_large` when the message
   * cannot fit even with no conversation.
   */
  #makeRoom(incoming: number): void {
    const { config, frontend } = this.#deps;
    const fit = fitContext(
      config,
      this.#turns.map((t) => ({ role: t.role, tokens: this.#tokensOf(t) })),
      incoming,
    );
    if (!fit.ok) throw new TandemError("too_large", fit.message);
    if (fit.drop === 0) return;
    this.#turns.splice(0, fit.drop);
    // The provider's count included the turns that just left.
    this.#reportedTokens = null;
    this.#log.info("oldest turns left the context", {
      sessionId: this.sessionId,
      dropped: fit.drop,
    });
    const messages = fit.drop === 1 ? "message" : "messages";
    frontend.sendNotification(
      "info",
      `${fit.drop} earlier ${messages} of your chat with ${config.name} (session ${this.sessionId}) left the model's context to fit its context window of ${config.contextWindow} tokens; the system prompt and examples are kept.`,
      this.clientId,
    );
  }

  #modelName(): string {
    return this.#deps.config.model ?? this.#deps.llm.defaultModel;
  }

  async #reply(pending: PendingReply, client: ModelClient): Promise<void> {
    const { config, llm } = this.#deps;
    // Taken before the first await, so the same tick the chat was accepted.
    const startedAt = Date.now();
    try {
      const outcome = await streamReply({
        client,
        request: {
          model: this.#modelName(),
          messages: this.modelContext(),
          stream: true,
          stream_options: { include_usage: true },
          ...(config.temperature === null
            ? {}
            : { temperature: config.temperature }),
          ...(config.maxOutputTokens === null
            ? {}
            : { max_tokens: config.maxOutputTokens }),
        },
        llm,
        startedAt,
        signal: pending.controller.signal,
        onDelta: (delta) => {
          pending.content += delta;
          this.#deps.frontend.sendAgentResponseDelta(
            this.agentId,
            this.sessionId,
            pending.messageId,
            delta,
          );
        },
        log: this.#log,
        logContext: { sessionId: this.sessionId },
      });
      if (this.#pending !== pending) return; // cancelled or closed meanwhile
      if (outcome.kind === "done") {
        if (outcome.usage) this.#reportedTokens = outcome.usage.total_tokens;
        this.#finish(pending, outcome);
      } else if (outcome.kind === "failed") {
        const { kind, status } = outcome.failure;
        this.#fail(pending, outcome.message, {
          kind,
          status: status ?? undefined,
          attempts: outcome.attempts,
        });
      }
    } catch (error) {
      // A bug, not the provider: the reply still ends and the session lives.
      this.#log.error("reply failed", { sessionId: this.sessionId, error });
      this.#fail(pending, "Tandem failed while getting the reply; try again", {
        kind: "internal",
      });
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

  /** `what`: kind, status, attempts; never text the provider or person wrote. */
  #fail(
    pending: PendingReply,
    message: string,
    what: Record<string, unknown>,
  ): void {
    if (this.#pending !== pending) return;
    this.#pending = null;
    this.#reportedTokens = null;
    const context = { sessionId: this.sessionId, ...what };
    this.#log.warn("model call failed", context);
    // The sentence may quote the provider's answer: details only at debug.
    this.#log.debug("model call failed", { ...context, error: message });
    const frontend = this.#deps.frontend;
    frontend.sendError(this.agentId, this.sessionId, "llm_error", message);
    frontend.sendContextUpdate(
      this.agentId,
      this.sessionId,
      this.contextUsage(),
    );
  }
}
