/**
 * The model's context window: token estimates of what a request holds, the
 * room kept for the reply, and which oldest turns leave so the next request
 * fits. Estimates use `gpt-tokenizer` (o200k) plus a few tokens per message;
 * other models' tokenizers differ a little, which the reply reserve absorbs.
 *
 * Trimming policy: the system prompt and the seed examples are in every
 * request and never leave; the new user message never leaves; the rest of
 * the conversation leaves oldest first, in whole exchanges (a user turn and
 * the assistant reply after it), so the model never sees a reply without its
 * question.
 */
import { encode } from "gpt-tokenizer";
import type { AgentConfig } from "./agent_config.ts";

/** Tokens a chat message costs beyond its text (role and separators). */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** The most tokens kept for a reply when the agent sets no limit. */
export const DEFAULT_REPLY_RESERVE = 4096;

/** Estimated tokens of one message in a request: its text plus overhead. */
export function messageTokens(content: string): number {
  return encode(content).length + MESSAGE_OVERHEAD_TOKENS;
}

const fixedCache = new WeakMap<AgentConfig, number>();

/**
 * Estimated tokens of the part of every request that never leaves: the
 * system prompt and the seed messages. Cached per config, since every
 * session of an agent shares it.
 */
export function fixedTokens(config: AgentConfig): number {
  let tokens = fixedCache.get(config);
  if (tokens === undefined) {
    tokens = messageTokens(config.systemPrompt);
    for (const seed of config.seedMessages) {
      tokens += messageTokens(seed.content);
    }
    fixedCache.set(config, tokens);
  }
  return tokens;
}

/**
 * Tokens kept free for the reply: the agent's `max_output_tokens` when set
 * (the reply cannot be longer), else a quarter of the context window, at
 * most {@link DEFAULT_REPLY_RESERVE}.
 */
export function replyReserve(config: AgentConfig): number {
  return config.maxOutputTokens ??
    Math.min(DEFAULT_REPLY_RESERVE, Math.floor(config.contextWindow / 4));
}

/** What {@link fitContext} decided for the next request. */
export type ContextFit =
  /** Drop the first `drop` turns of the conversation (0: all fit). */
  | { ok: true; drop: number }
  /** Even with no conversation, the new message does not fit. */
  | { ok: false; message: string };

/**
 * Decides how many of the oldest `turns` must leave so that the fixed part,
 * the remaining turns, the new message (`incoming` tokens) and the reply
 * reserve fit `config.contextWindow`. Turns leave in whole exchanges.
 */
export function fitContext(
  config: AgentConfig,
  turns: readonly { role: "user" | "assistant"; tokens: number }[],
  incoming: number,
): ContextFit {
  const window = config.contextWindow;
  const fixed = fixedTokens(config);
  const reserve = replyReserve(config);
  const needed = fixed + incoming + reserve;
  if (needed > window) {
    return {
      ok: false,
      message:
        `this message is about ${incoming} tokens; with the system prompt and examples (${fixed} tokens) and ${reserve} tokens kept for the reply that is ${needed} tokens, more than the context window of ${config.name} (${window} tokens); send a shorter message`,
    };
  }
  let total = needed;
  for (const turn of turns) total += turn.tokens;
  let drop = 0;
  while (total > window && drop < turns.length) {
    total -= turns[drop].tokens;
    drop++;
    // A user turn takes its reply along (a failed chat's turn has none).
    if (turns[drop - 1].role === "user" && turns[drop]?.role === "assistant") {
      total -= turns[drop].tokens;
      drop++;
    }
  }
  return { ok: true, drop };
}
