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
    maxRetries: settings.maxRetries,
    // Our own watchdog bounds the wait for tokens; this only caps the request.
    timeout: Math.max(settings.firstTokenTimeoutMs, settings.idleTimeoutMs) * 2,
  });
}

function retryAfterSeconds(headers: Headers | undefined): number | null {
  const ms = Number.parseFloat(headers?.get("retry-after-ms") ?? "");
  if (Number.isFinite(ms)) return Math.max(1, Math.ceil(ms / 1000));
  const raw = headers?.get("retry-after");
  if (!raw) return null;
  const seconds = Number.parseFloat(raw);
  if (Number.isFinite(seconds)) return Math.max(1, Math.ceil(seconds));
  const date = Date.parse(raw);
  return Number.isFinite(date)
    ? Math.max(1, Math.ceil((date - Date.now()) / 1000))
    : null;
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
    const cause = error.cause instanceof Error
      ? `: ${error.cause.message}`
      : "";
    return `could not reach the model provider${cause}; check OPENAI_BASE_URL and that the provider is running`;
  }
  if (error instanceof APIError) {
    const status = error.status;
    const detail = error.message ? ` (${error.message.slice(0, 200)})` : "";
    if (status === 401 || status === 403) {
      return `the model provider rejected the API key (${status}); check OPENAI_API_KEY`;
    }
    if (status === 429) {
      const wait = retryAfterSeconds(error.headers as Headers | undefined);
      return wait === null
        ? "the model provider rate-limited us (429); try again in a moment"
        : `the model provider rate-limited us (429); try again in ${wait} s`;
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
