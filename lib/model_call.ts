/**
 * One model reply, with Tandem's own retries. A failed call is retried only
 * while nothing of the reply has reached the browser (after the first
 * content delta a retry would send the text twice), only for failures a
 * retry can cure (unreachable, no first token in time, 408/409/429/5xx, a
 * stream that broke or could not be read), at most LLM_MAX_RETRIES times,
 * and only when the wait ends within LLM_RETRY_BUDGET_MS of the chat being
 * accepted. Waits are exponential with full jitter, or what a 429/503's
 * `retry-after` asked for.
 *
 * An empty reply is not retried: the call itself succeeded, and the usual
 * causes (a content filter, the output limit spent, a model that chose to
 * stop) come back the same; the person is told and can send again.
 */
import { APIConnectionError, APIError } from "openai";
import type OpenAI from "openai";
import { backoffDelay } from "./client/backoff.ts";
import type { LlmSettings } from "./config.ts";
import { describeModelError, type ModelClient, retryAfterMs } from "./llm.ts";
import type { Logger } from "./logger.ts";
import type { Usage } from "./protocol.ts";

export type ChatRequest =
  OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming;

/** What went wrong in one attempt. */
export type FailureKind =
  /** Connection refused or reset, DNS, the client's own request timeout. */
  | "unreachable"
  /** Our watchdog: nothing for LLM_FIRST_TOKEN / LLM_IDLE_TIMEOUT_MS. */
  | "timeout"
  /** An HTTP error status. */
  | "status"
  /** The stream broke, or ended without a finish_reason. */
  | "broken"
  /** The stream carried data that is not JSON. */
  | "malformed"
  /** A finished reply without any text. */
  | "empty"
  /** Anything else, e.g. an error event inside the stream. */
  | "error";

export interface Failure {
  kind: FailureKind;
  status: number | null;
  /** True once a content delta of this attempt was sent to the browser. */
  streamed: boolean;
  /** The wait a 429/503 asked for, in ms. */
  retryAfterMs: number | null;
  /** The sentence for the person, without the attempt count. */
  message: string;
  cause: unknown;
}

export const BROKE_OFF =
  "the model provider's stream broke off before the reply was complete; try again";
export const MALFORMED =
  "the model provider sent a stream Tandem could not read; try again";

/** Statuses a later attempt may not get: timeout, conflict, rate limit. */
const RETRY_STATUSES = new Set([408, 409, 429]);

/** True when another attempt may succeed and cannot duplicate text. */
export function isRetryable(failure: Failure): boolean {
  if (failure.streamed) return false;
  switch (failure.kind) {
    case "unreachable":
    case "timeout":
    case "broken":
    case "malformed":
      return true;
    case "status":
      return failure.status !== null &&
        (RETRY_STATUSES.has(failure.status) || failure.status >= 500);
    default:
      return false;
  }
}

export type RetryPlan =
  | { retry: true; waitMs: number }
  | { retry: false; reason: "final" | "attempts" | "budget" };

/**
 * Whether to retry after `attempts` failed attempts, `elapsedMs` after the
 * chat was accepted, and how long to wait first. A backoff wait is shortened
 * to end within the budget; a provider's `retry-after` is not (it asked for
 * that long), so one beyond the budget ends the reply at once.
 */
export function planRetry(
  failure: Failure,
  attempts: number,
  elapsedMs: number,
  llm: Pick<LlmSettings, "maxRetries" | "retryBudgetMs" | "retryBaseMs">,
  random: () => number = Math.random,
): RetryPlan {
  if (!isRetryable(failure)) return { retry: false, reason: "final" };
  if (attempts > llm.maxRetries) return { retry: false, reason: "attempts" };
  const left = llm.retryBudgetMs - elapsedMs;
  if (failure.retryAfterMs !== null) {
    return failure.retryAfterMs <= left
      ? { retry: true, waitMs: failure.retryAfterMs }
      : { retry: false, reason: "budget" };
  }
  if (left <= 0) return { retry: false, reason: "budget" };
  const policy = { baseMs: llm.retryBaseMs, capMs: llm.retryBudgetMs };
  const wait = backoffDelay(attempts - 1, policy, random);
  return { retry: true, waitMs: Math.min(left, wait) };
}

/** The failure's sentence, saying how often Tandem tried when it retried. */
export function failureMessage(failure: Failure, attempts: number): string {
  if (attempts <= 1) return failure.message;
  const note = ` after ${attempts} attempts`;
  const at = failure.message.indexOf("; ");
  return at < 0
    ? failure.message + note
    : failure.message.slice(0, at) + note + failure.message.slice(at);
}

/**
 * Sorts an error the openai client threw. `opened`: the response headers had
 * arrived (so a plain error is the body breaking); `streamed`: text was sent.
 */
export function classifyError(
  error: unknown,
  at: { opened: boolean; streamed: boolean; model: string },
  now: number = Date.now(),
): Failure {
  const failure = (kind: FailureKind, message: string): Failure => ({
    kind,
    status: null,
    streamed: at.streamed,
    retryAfterMs: null,
    message,
    cause: error,
  });
  if (error instanceof APIConnectionError) {
    return failure("unreachable", describeModelError(error, at.model));
  }
  if (error instanceof APIError && typeof error.status === "number") {
    const status = error.status;
    const waits = status === 429 || status === 503;
    return {
      ...failure("status", describeModelError(error, at.model)),
      status,
      retryAfterMs: waits ? retryAfterMs(error.headers, now) : null,
    };
  }
  // The openai client's words for a data line that is not JSON.
  if (error instanceof SyntaxError) return failure("malformed", MALFORMED);
  if (at.opened && !(error instanceof APIError)) {
    return failure("broken", BROKE_OFF);
  }
  return failure("error", describeModelError(error, at.model));
}

export interface ReplyOptions {
  client: ModelClient;
  request: ChatRequest;
  llm: LlmSettings;
  /** Date.now() when the chat was accepted: the budget counts from it. */
  startedAt: number;
  /** Aborted by cancel() and close(): ends the call or the wait at once. */
  signal: AbortSignal;
  /** Each piece of text, in order, as it arrives. */
  onDelta(delta: string): void;
  log: Logger;
  /** Added to every log line (e.g. the session id). */
  logContext?: Record<string, unknown>;
  random?: () => number;
}

export type ReplyOutcome =
  | {
    kind: "done";
    finishReason: string;
    model: string;
    usage: Usage | null;
  }
  | { kind: "failed"; message: string; failure: Failure; attempts: number }
  | { kind: "aborted" };

/** Streams one reply, retrying as the module comment says. */
export async function streamReply(o: ReplyOptions): Promise<ReplyOutcome> {
  for (let attempts = 1;; attempts++) {
    const result = await attempt(o);
    if (result.kind !== "failed") return result;
    const failure = result.failure;
    const elapsed = Date.now() - o.startedAt;
    const plan = planRetry(failure, attempts, elapsed, o.llm, o.random);
    if (!plan.retry) {
      return {
        kind: "failed",
        message: failureMessage(failure, attempts),
        failure,
        attempts,
      };
    }
    // The provider's message and the cause may quote the conversation.
    const fields = {
      ...o.logContext,
      attempt: attempts,
      kind: failure.kind,
      status: failure.status ?? undefined,
    };
    o.log.info("model call failed; retrying", {
      ...fields,
      waitMs: Math.round(plan.waitMs),
    });
    o.log.debug("model call failure", { ...fields, error: failure.message });
    if (!await sleep(plan.waitMs, o.signal)) return { kind: "aborted" };
  }
}

type Attempt = ReplyOutcome | { kind: "failed"; failure: Failure };

/** One model call, watched by the first-token and idle timeouts. */
async function attempt(o: ReplyOptions): Promise<Attempt> {
  const { llm, signal } = o;
  const controller = new AbortController();
  const stop = () => controller.abort();
  if (signal.aborted) return { kind: "aborted" };
  signal.addEventListener("abort", stop, { once: true });
  let timedOut: string | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number, what: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = `the model provider sent nothing for ${
        seconds(ms)
      } s ${what}; try again`;
      controller.abort();
    }, ms);
  };
  let model = o.request.model;
  let finishReason: string | null = null;
  let usage: Usage | null = null;
  let opened = false;
  let streamed = false;
  arm(llm.firstTokenTimeoutMs, "before the first token");
  try {
    const stream = await o.client.chat.completions.create(o.request, {
      signal: controller.signal,
    });
    opened = true;
    // An aborted stream ends this loop silently; timedOut tells why.
    for await (const chunk of stream) {
      if (signal.aborted) break;
      arm(llm.idleTimeoutMs, "in the middle of the reply");
      if (chunk.model) model = chunk.model;
      if (chunk.usage) {
        const { prompt_tokens, completion_tokens, total_tokens } = chunk.usage;
        usage = { prompt_tokens, completion_tokens, total_tokens };
      }
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      const delta = choice.delta?.content;
      if (delta) {
        streamed = true;
        o.onDelta(delta);
      }
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  } catch (error) {
    if (!controller.signal.aborted) {
      const failure = classifyError(error, { opened, streamed, model });
      return { kind: "failed", failure };
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
  }
  if (signal.aborted) return { kind: "aborted" };
  const failed = (kind: FailureKind, message: string): Attempt => ({
    kind: "failed",
    failure: {
      kind,
      status: null,
      streamed,
      retryAfterMs: null,
      message,
      cause: null,
    },
  });
  if (timedOut !== null) return failed("timeout", timedOut);
  if (finishReason === null) return failed("broken", BROKE_OFF);
  if (!streamed) {
    const why = finishReason === "stop"
      ? ""
      : ` (finish_reason "${finishReason}")`;
    return failed(
      "empty",
      `the model returned an empty reply${why}; try again`,
    );
  }
  return { kind: "done", finishReason, model, usage };
}

/** 300 -> "0.3", 60000 -> "60": exact enough for a person to act on. */
function seconds(ms: number): string {
  return String(Math.max(0.1, Math.round(ms / 100) / 10));
}

/** Waits `ms`; false (timer cleared) as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
