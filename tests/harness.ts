/**
 * End-to-end harness: a real Tandem server on a free port, real WebSocket
 * clients speaking docs/protocol.md, and a FakeOpenAI model server.
 */
import { loadConfig } from "../lib/config.ts";
import { createLogger, type LogLevel } from "../lib/logger.ts";
import type { FrontendEvent } from "../lib/protocol.ts";
import { type RunningServer, startServer } from "../server.ts";
import { FakeOpenAI } from "./fake_openai.ts";

export const AGENTS_DIR = new URL("../agents", import.meta.url).pathname;
/** The project's build, which `deno task test` brings up to date first. */
export const BUILD_DIR = new URL("../_build", import.meta.url).pathname;

export interface Tandem {
  server: RunningServer;
  fake: FakeOpenAI | null;
  /** ws://host:port */
  wsBase: string;
  /** Log lines at warn and above, for assertions on what was logged. */
  logs: string[];
  close(): Promise<void>;
}

/**
 * Starts a Tandem server (and, unless `provider: false`, a FakeOpenAI it
 * talks to). `env` overrides settings as environment variables would.
 */
export async function startTandem(
  options: {
    env?: Record<string, string>;
    provider?: boolean;
    logLevel?: LogLevel;
  } = {},
): Promise<Tandem> {
  const fake = options.provider === false ? null : await FakeOpenAI.start();
  const env: Record<string, string> = {
    PORT: "0",
    HOSTNAME: "127.0.0.1",
    AGENTS_DIR,
    LLM_MAX_RETRIES: "0",
    ...(fake
      ? { OPENAI_API_KEY: "sk-test-secret", OPENAI_BASE_URL: fake.url }
      : {}),
    ...options.env,
  };
  const config = loadConfig(env, AGENTS_DIR, BUILD_DIR);
  const logs: string[] = [];
  const logger = createLogger(
    options.logLevel ?? "warn",
    (line) => logs.push(line),
  );
  const server = await startServer(config, logger);
  return {
    server,
    fake,
    wsBase: server.url.replace(/^http/, "ws"),
    logs,
    async close() {
      await server.shutdown();
      await fake?.close();
    },
  };
}

/**
 * Runs `fn` with a fresh server and a `connect` that makes clients; closes
 * every client and the server afterwards, whatever happens.
 */
export async function withTandem(
  options: Parameters<typeof startTandem>[0],
  fn: (tandem: Tandem, connect: () => Promise<Client>) => Promise<void>,
): Promise<void> {
  const tandem = await startTandem(options);
  const clients: Client[] = [];
  const connect = async () => {
    const client = await Client.connect(tandem);
    clients.push(client);
    return client;
  };
  try {
    await fn(tandem, connect);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await tandem.close();
  }
}

/** A WebSocket whose frames queue up until a test takes them. */
export class Socket {
  readonly ws: WebSocket;
  readonly frames: unknown[] = [];
  #consumed = new Set<number>();
  #waiters: (() => void)[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<CloseEvent>;

  constructor(url: string, headers?: Record<string, string>) {
    // Deno's WebSocket takes headers (Origin) as an extension.
    this.ws = new WebSocket(url, headers ? { headers } as never : undefined);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener(
        "error",
        () => reject(new Error(`cannot open ${url}`)),
        {
          once: true,
        },
      );
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (event) => {
        resolve(event);
        this.#wake();
      }, { once: true });
    });
    this.ws.addEventListener("message", (event) => {
      this.frames.push(JSON.parse(event.data as string));
      this.#wake();
    });
  }

  #wake() {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /**
   * Takes the oldest frame not taken yet that matches, waiting for one;
   * frames that do not match stay for later calls.
   */
  async next<T = Record<string, unknown>>(
    match: (frame: Record<string, unknown>) => boolean = () => true,
    timeoutMs = 5000,
    what = "a matching frame",
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      for (let i = 0; i < this.frames.length; i++) {
        if (this.#consumed.has(i)) continue;
        const frame = this.frames[i] as Record<string, unknown>;
        if (match(frame)) {
          this.#consumed.add(i);
          return frame as T;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(
          `timed out waiting for ${what}; frames so far: ${
            JSON.stringify(this.frames).slice(0, 2000)
          }`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** All frames received so far. */
  all<T = Record<string, unknown>>(): T[] {
    return this.frames as T[];
  }

  async close(code = 1000): Promise<CloseEvent> {
    if (this.ws.readyState < WebSocket.CLOSING) this.ws.close(code);
    return await this.closed;
  }
}

let clientCounter = 0;

/** A browser-like client: one client id, both sockets. */
export class Client {
  readonly id: string;
  frontend!: Socket;
  backend!: Socket;
  #requests = 0;

  constructor(readonly tandem: Tandem, id?: string) {
    this.id = id ?? `test-client-${++clientCounter}-${crypto.randomUUID()}`;
  }

  static async connect(tandem: Tandem, id?: string): Promise<Client> {
    const client = new Client(tandem, id);
    await client.connectBackend();
    await client.connectFrontend();
    return client;
  }

  async connectFrontend(query = ""): Promise<Record<string, unknown>> {
    this.frontend = new Socket(
      `${this.tandem.wsBase}/ws/frontend-api?client=${this.id}${query}`,
    );
    await this.frontend.opened;
    return await this.frontend.next((f) => f.type === "connected");
  }

  async connectBackend(): Promise<void> {
    this.backend = new Socket(
      `${this.tandem.wsBase}/ws/backend-api?client=${this.id}`,
    );
    await this.backend.opened;
  }

  newRequestId(): string {
    return `r${++this.#requests}`;
  }

  /** Sends a command and waits for its `result`. */
  async command(
    command: Record<string, unknown>,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>> {
    const request_id = (command.request_id as string | undefined) ??
      this.newRequestId();
    this.backend.send({ ...command, request_id });
    return await this.backend.next(
      (f) => f.type === "result" && f.request_id === request_id,
      timeoutMs,
      `result of ${request_id}`,
    );
  }

  /** Creates a session and returns its id. */
  async createSession(agentId = "assistant"): Promise<string> {
    const result = await this.command({
      type: "session",
      action: "create",
      agent_id: agentId,
    });
    if (result.ok !== true) {
      throw new Error(`create failed: ${JSON.stringify(result)}`);
    }
    return result.session_id as string;
  }

  /** Waits for the next frontend event of `type` (for `sessionId`). */
  event<T = FrontendEvent>(
    type: string,
    sessionId?: string,
    timeoutMs = 5000,
  ): Promise<T> {
    return this.frontend.next<T>(
      (f) =>
        f.type === type &&
        (sessionId === undefined || f.session_id === sessionId),
      timeoutMs,
      `${type} event`,
    );
  }

  /** Frontend events (numbered frames) received so far. */
  events(): FrontendEvent[] {
    return this.frontend.all<FrontendEvent>().filter((f) => "seq" in f);
  }

  async close(): Promise<void> {
    await Promise.all([this.frontend?.close(), this.backend?.close()]);
  }
}

/**
 * Sends a raw HTTP/1.1 WebSocket upgrade request and returns the status
 * code, so tests can see a refusal that a WebSocket object would hide.
 */
export async function upgradeStatus(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n")));
    const buffer = new Uint8Array(4096);
    let text = "";
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const status = Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
    return { status, body: text.split("\r\n\r\n")[1] ?? "" };
  } finally {
    conn.close();
  }
}

/** Joins the deltas of one reply, in order. */
export function joinDeltas(events: FrontendEvent[], messageId: string): string {
  return events
    .filter((e) =>
      e.type === "agent_response_delta" && e.message_id === messageId
    )
    .map((e) => (e as { delta: string }).delta)
    .join("");
}
