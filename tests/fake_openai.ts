/**
 * A fake OpenAI chat-completions server for tests. It speaks the real HTTP +
 * server-sent-events streaming protocol, so the real `openai` npm client can
 * talk to it, and it can be scripted to reply, fail, hang, stall, cut or
 * send a line that is not JSON.
 */

/** Token counts, as in OpenAI's `usage` object. */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What the fake server does with one chat-completions request. */
export type Scenario =
  /**
   * A normal streamed reply. `text` defaults to `Echo: <last user message>`;
   * `chunks`, when given, are the exact content deltas. `usage: null` sends no
   * usage chunk; otherwise it is computed unless given.
   */
  | {
    kind: "reply";
    text?: string;
    chunks?: string[];
    chunkDelayMs?: number;
    usage?: Usage | null;
    finishReason?: string;
  }
  /** An HTTP error with an OpenAI-style JSON error body. */
  | {
    kind: "status";
    status: number;
    message?: string;
    headers?: Record<string, string>;
  }
  /** Never answer (no headers) until the client aborts or the server closes. */
  | { kind: "hang" }
  /** Send headers and these chunks, then break the connection abruptly. */
  | { kind: "cut"; chunks: string[]; chunkDelayMs?: number }
  /** Send headers, then nothing until the client aborts or the server closes. */
  | { kind: "stall" }
  /**
   * Send headers and these chunks, then a `data:` line that is not JSON
   * (`data`, or a truncated chunk), then end the stream.
   */
  | { kind: "malformed"; chunks?: string[]; data?: string };

/** One recorded `POST /v1/chat/completions`. */
export interface RecordedRequest {
  /** URL path, e.g. `/v1/chat/completions`. */
  path: string;
  /** Request headers, with lower-cased names. */
  headers: Record<string, string>;
  /** The parsed JSON body (`null` if it was not valid JSON). */
  // deno-lint-ignore no-explicit-any
  body: any;
  /** When it arrived (Date.now()), to check how long a client waited. */
  at: number;
}

const encoder = new TextEncoder();

/** A test server speaking the OpenAI chat-completions streaming protocol. */
export class FakeOpenAI {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:43123/v1`. */
  readonly url: string;
  /** Every `POST /v1/chat/completions`, in arrival order. */
  readonly requests: RecordedRequest[] = [];

  #server: Deno.HttpServer<Deno.NetAddr>;
  #queue: Scenario[] = [];
  // deno-lint-ignore no-explicit-any
  #default: (body: any) => Scenario = () => ({ kind: "reply" });
  #active = new Set<AbortController>();
  #closing: Promise<void> | undefined;
  #nextId = 1;

  private constructor() {
    this.#server = Deno.serve(
      {
        hostname: "127.0.0.1",
        port: 0,
        onListen: () => {},
        onError: (e) => jsonError(500, `FakeOpenAI handler failed: ${e}`),
      },
      (req) => this.#handle(req),
    );
    this.url = `http://127.0.0.1:${this.#server.addr.port}/v1`;
  }

  /** Starts a server on 127.0.0.1 on a free port. */
  static start(): Promise<FakeOpenAI> {
    return Promise.resolve(new FakeOpenAI());
  }

  /** Queues scenarios, consumed first-in first-out, one per request. */
  enqueue(...scenarios: Scenario[]): void {
    this.#queue.push(...scenarios);
  }

  /** Sets the scenario factory used when the queue is empty. */
  // deno-lint-ignore no-explicit-any
  setDefault(fn: (body: any) => Scenario): void {
    this.#default = fn;
  }

  /** Resolves once at least `count` requests were recorded; rejects after `timeoutMs`. */
  async waitForRequests(count: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      if (Date.now() >= deadline) {
        throw new Error(
          `FakeOpenAI.waitForRequests: timed out after ${timeoutMs}ms waiting for ${count} request(s); got ${this.requests.length}`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Ends every pending response and shuts the server down. Idempotent. */
  close(): Promise<void> {
    if (!this.#closing) {
      for (const ac of this.#active) ac.abort("closed");
      this.#closing = this.#server.shutdown();
    }
    return this.#closing;
  }

  async #handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      return jsonError(404, `Unknown path ${req.method} ${path}`);
    }
    const at = Date.now();
    // deno-lint-ignore no-explicit-any
    const body: any = await req.json().catch(() => null);
    this.requests.push({
      path,
      headers: Object.fromEntries(req.headers),
      body,
      at,
    });
    if (body === null || typeof body !== "object") {
      return jsonError(400, "Request body is not valid JSON");
    }
    const scenario = this.#queue.shift() ?? this.#default(body);
    if (scenario.kind === "status") {
      return jsonError(scenario.status, scenario.message, scenario.headers);
    }

    // Everything below may wait: make it abortable by close() and, for
    // streamed bodies, by the client going away (Deno cancels the body stream).
    // request.signal is deliberately not used: in Deno 2.9 touching it makes
    // Deno.serve print a "legacy abort" warning on the next successful response.
    const ac = new AbortController();
    if (this.#closing) ac.abort("closed");
    this.#active.add(ac);
    const done = () => this.#active.delete(ac);

    if (scenario.kind === "hang") {
      await untilAborted(ac.signal);
      done();
      return jsonError(503, "FakeOpenAI closed while the request was hanging");
    }
    const id = `chatcmpl-fake-${this.#nextId++}`;
    if (scenario.kind === "reply" && body.stream !== true) {
      done();
      return Response.json(completion(id, body, scenario));
    }
    return streamResponse(sseFrames(id, body, scenario), ac, done);
  }
}

type Frames = {
  frames: string[];
  delayMs: number;
  end: "close" | "cut" | "wait";
};

// deno-lint-ignore no-explicit-any
function planReply(body: any, scenario: Scenario & { kind: "reply" }) {
  const chunks = scenario.chunks ??
    splitText(scenario.text ?? `Echo: ${lastUserContent(body.messages)}`);
  const usage = scenario.usage === undefined
    ? computeUsage(body.messages, chunks.length)
    : scenario.usage;
  return { chunks, usage, finishReason: scenario.finishReason ?? "stop" };
}

/** The SSE frames for a streamed scenario, in OpenAI's exact wire format. */
function sseFrames(
  id: string,
  // deno-lint-ignore no-explicit-any
  body: any,
  scenario: Scenario & { kind: "reply" | "cut" | "stall" | "malformed" },
): Frames {
  const created = Math.floor(Date.now() / 1000);
  const includeUsage = body.stream_options?.include_usage === true;
  const frame = (extra: Record<string, unknown>) =>
    `data: ${
      JSON.stringify({
        id,
        object: "chat.completion.chunk",
        created,
        model: body.model,
        ...extra,
        ...(includeUsage ? { usage: extra.usage ?? null } : {}),
      })
    }\n\n`;
  const deltas = (chunks: string[]) =>
    chunks.map((content, i) =>
      frame({
        choices: [{
          index: 0,
          delta: i === 0 ? { role: "assistant", content } : { content },
          finish_reason: null,
        }],
      })
    );
  if (scenario.kind === "stall") return { frames: [], delayMs: 0, end: "wait" };
  if (scenario.kind === "cut") {
    const delayMs = scenario.chunkDelayMs ?? 2;
    return { frames: deltas(scenario.chunks), delayMs, end: "cut" };
  }
  if (scenario.kind === "malformed") {
    // Default: a chunk cut short, as a proxy that mangles the stream sends.
    const bad = scenario.data ?? frame({ choices: [] }).slice(6, 40);
    const frames = [...deltas(scenario.chunks ?? []), `data: ${bad}\n\n`];
    return { frames, delayMs: 2, end: "close" };
  }
  const { chunks, usage, finishReason } = planReply(body, scenario);
  const frames = deltas(chunks.length ? chunks : [""]);
  frames.push(frame({
    choices: [{ index: 0, delta: {}, finish_reason: finishReason }],
  }));
  if (includeUsage && usage) frames.push(frame({ choices: [], usage }));
  frames.push("data: [DONE]\n\n");
  return { frames, delayMs: scenario.chunkDelayMs ?? 2, end: "close" };
}

/**
 * A text/event-stream response writing `frames` with a delay before each.
 * Aborting `ac` (close()) or the client going away (Deno cancels the body)
 * stops the timers; an aborted or "cut" stream is errored, which breaks the
 * connection without a terminating chunk.
 */
function streamResponse(
  { frames, delayMs, end }: Frames,
  ac: AbortController,
  done: () => void,
): Response {
  const signal = ac.signal;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // Runs in the background: start() must return for headers to go out.
      (async () => {
        for (const f of frames) {
          if (!await sleep(delayMs, signal)) break;
          controller.enqueue(encoder.encode(f));
        }
        if (end === "wait") await untilAborted(signal);
        if (signal.aborted || end === "cut") {
          controller.error(new Error("FakeOpenAI: connection cut"));
        } else {
          controller.close();
        }
      })().catch(() => {/* enqueue after cancel */}).finally(done);
    },
    cancel() {
      ac.abort("client");
    },
  });
  const headers = { "content-type": "text/event-stream" };
  return new Response(body, { headers });
}

// deno-lint-ignore no-explicit-any
function completion(id: string, body: any, s: Scenario & { kind: "reply" }) {
  const { chunks, usage, finishReason } = planReply(body, s);
  return {
    id,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: chunks.join("") },
      finish_reason: finishReason,
      logprobs: null,
    }],
    ...(usage ? { usage } : {}),
  };
}

/** Waits `ms`; resolves false (and clears the timer) if `signal` aborts first. */
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

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

function splitText(text: string): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += 4) pieces.push(text.slice(i, i + 4));
  return pieces;
}

function contentText(c: unknown): string {
  if (!Array.isArray(c)) return typeof c === "string" ? c : "";
  return c.map((p) => typeof p?.text === "string" ? p.text : "").join("");
}

function lastUserContent(messages: unknown): string {
  if (!Array.isArray(messages)) return "";
  const last = messages.findLast((m) => m?.role === "user");
  return contentText(last?.content);
}

function computeUsage(messages: unknown, chunkCount: number): Usage {
  const chars = Array.isArray(messages)
    ? messages.reduce((n, m) => n + contentText(m?.content).length, 0)
    : 0;
  const prompt_tokens = Math.ceil(chars / 4);
  return {
    prompt_tokens,
    completion_tokens: chunkCount,
    total_tokens: prompt_tokens + chunkCount,
  };
}

const ERROR_CODES: Record<number, string> = {
  401: "invalid_api_key",
  404: "not_found",
  429: "rate_limit_exceeded",
};

/** A response with an OpenAI-style JSON error body. */
function jsonError(
  status: number,
  message = `FakeOpenAI: HTTP ${status}`,
  headers?: Record<string, string>,
): Response {
  const type = status >= 500 ? "server_error" : "invalid_request_error";
  const error = {
    message,
    type,
    param: null,
    code: ERROR_CODES[status] ?? null,
  };
  return Response.json({ error }, { status, headers });
}
