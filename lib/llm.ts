/**
 * The model provider: an `openai` client for any OpenAI-compatible server,
 * and the translation of its failures into sentences a person can act on.
 */
import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
} from "openai";
import type { LlmSettings } from "./config.ts";

export type ModelClient = OpenAI;

/** What to set when no provider is configured. */
export const NOT_CONFIGURED_MESSAGE =
  "no model provider is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for a server other than OpenAI, such as Ollama or vLLM) and restart Tandem";

/**
 * Creates the client, or null when neither an API key nor a base URL is set.
 * Servers such as Ollama need no key; the client still sends a placeholder
 * bearer token, which they ignore.
 */
export function createModelClient(settings: LlmSettings): ModelClient | null {
  if (settings.apiKey === null && settings.baseUrl === null) return null;
  return new OpenAI({
    apiKey: settings.apiKey ?? "no-key",
    baseURL: settings.baseUrl ?? undefined,
    // Tandem retries itself (lib/model_call.ts): only before the first token
    // reached the browser, within LLM_RETRY_BUDGET_MS.
    maxRetries: 0,
    // Our own watchdog bounds the wait for tokens; this only caps the request.
    timeout: Math.max(settings.firstTokenTimeoutMs, settings.idleTimeoutMs) * 2,
    // The client would print to the console; Tandem logs failures itself.
    logLevel: "off",
  });
}

/**
 * The wait a provider asked for, in ms: `retry-after-ms`, else `retry-after`
 * in seconds or as an HTTP date (counted from `now`). Null when absent or
 * unreadable; never negative.
 */
export function retryAfterMs(
  headers: Headers | undefined,
  now: number = Date.now(),
): number | null {
  const ms = Number.parseFloat(headers?.get("retry-after-ms") ?? "");
  if (Number.isFinite(ms)) return Math.max(0, ms);
  const raw = headers?.get("retry-after")?.trim();
  if (!raw) return null;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number.parseFloat(raw) * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - now) : null;
}

/** A wait in words a person can act on: "20 s", "3 min". */
export function waitInWords(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  return s < 120 ? `${s} s` : `${Math.ceil(s / 60)} min`;
}

/**
 * Turns a failure of the openai client into a sentence for the person
 * chatting. Never includes the API key or the conversation.
 */
export function describeModelError(error: unknown, model: string): string {
  if (error instanceof APIConnectionTimeoutError) {
    return "the model provider did not answer in time; try again";
  }
  if (error instanceof APIConnectionError) {
    // The innermost cause says why ("Connection refused (os error 111)");
    // the layers above it only say that fetch failed.
    let inner: unknown = error.cause;
    while (inner instanceof Error && inner.cause instanceof Error) {
      inner = inner.cause;
    }
    const why = inner instanceof Error ? inner.message.split(": ").at(-1) : "";
    const cause = why ? `: ${why.slice(0, 200)}` : "";
    return `could not reach the model provider${cause}; check OPENAI_BASE_URL and that the provider is running`;
  }
  if (error instanceof APIError) {
    const status = error.status;
    const detail = error.message ? ` (${error.message.slice(0, 200)})` : "";
    if (status === 401 || status === 403) {
      return `the model provider rejected the API key (${status}); check OPENAI_API_KEY`;
    }
    if (status === 429) {
      const wait = retryAfterMs(error.headers as Headers | undefined);
      return wait === null
        ? "the model provider rate-limited us (429); try again in a moment"
        : `the model provider rate-limited us (429); try again in ${
          waitInWords(wait)
        }`;
    }
    if (status === 404) {
      return `the model provider does not know the model "${model}" (404); check the agent's model or OPENAI_MODEL`;
    }
    if (status !== undefined && status >= 500) {
      return `the model provider failed with a server error (${status}); try again`;
    }
    if (status !== undefined) {
      return `the model provider refused the request (${status})${detail}`;
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return `the model provider's reply could not be read: ${
    message.slice(0, 200)
  }`;
}
