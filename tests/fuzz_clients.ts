/**
 * The clients of tests/fuzz_test.ts: hostile ones that send generated frames
 * and check every answer, flooders, a session hog, all on raw WebSockets.
 */
import type { BackendAnswer, FrontendAnswer, Hostile } from "./fuzz_frames.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A WebSocket whose text frames and close queue up until taken. */
export class RawSocket {
  readonly #queue: (string | CloseEvent)[] = [];
  #wake: (() => void) | null = null;
  readonly closed: Promise<CloseEvent>;

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = "arraybuffer";
    this.closed = new Promise((resolve) => {
      ws.addEventListener("close", (event) => {
        this.#push(event);
        resolve(event);
      });
    });
    ws.addEventListener("message", (event) => {
      this.#push(
        typeof event.data === "string" ? event.data : "<binary frame>",
      );
    });
  }

  #push(item: string | CloseEvent) {
    this.#queue.push(item);
    this.#wake?.();
    this.#wake = null;
  }

  static async open(url: string): Promise<RawSocket> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener(
        "error",
        () => reject(new Error(`cannot open ${url}`)),
        { once: true },
      );
    });
    return new RawSocket(ws);
  }

  send(data: string | Uint8Array): void {
    this.ws.send(data);
  }

  /** The next text frame, or the close if the socket closed first. */
  async next(timeoutMs = 5000, what = "a frame"): Promise<string | CloseEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    const item = this.#queue[0];
    // A close stays at the head: every later call sees it too.
    if (typeof item === "string") this.#queue.shift();
    return item;
  }

  async close(): Promise<void> {
    if (this.ws.readyState < WebSocket.CLOSING) this.ws.close(1000);
    await this.closed;
  }
}

/** Fails with what was sent and what came back, and the seed to replay it. */
export class FuzzFailure extends Error {}

function show(data: string | Uint8Array): string {
  if (typeof data !== "string") return `<${data.length} binary bytes>`;
  const text = JSON.stringify(data);
  return text.length > 300
    ? `${text.slice(0, 150)}...${text.slice(-150)} (${data.length} chars)`
    : text;
}

function fail(
  who: string,
  frame: Hostile<unknown>,
  got: string | CloseEvent,
  problem: string,
): never {
  const answer = typeof got === "string"
    ? got.slice(0, 500)
    : `close ${got.code} ${got.reason}`;
  throw new FuzzFailure(
    `${who}: ${problem}\n  category: ${frame.category}\n  sent: ${
      show(frame.data)
    }\n  expected: ${
      JSON.stringify(frame.answer, (_, v) => v instanceof RegExp ? `${v}` : v)
    }\n  got: ${answer}`,
  );
}

type Json = Record<string, unknown>;

/** The next frame or close; no answer within 5 s fails with the frame. */
function answerTo(
  socket: RawSocket,
  who: string,
  frame: Hostile<unknown>,
): Promise<string | CloseEvent> {
  return socket.next(5000).catch(() =>
    fail(who, frame, "(nothing)", "no answer within 5 s")
  );
}

function tally(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Sends at most one frame per `intervalMs` on average, from `start`. */
async function paced(start: number, i: number, intervalMs: number) {
  const wait = start + i * intervalMs - Date.now();
  if (wait > 0) await sleep(wait);
}

/** A client that sends hostile frames on its backend-api socket. */
export class BackendHostile {
  /** Answers of commands that ran, by request id: re-sends must match. */
  readonly remembered = new Map<string, string>();
  /** Frames sent, by category. */
  readonly categories = new Map<string, number>();

  constructor(readonly base: string, readonly clientId: string) {}

  get url(): string {
    return `${this.base}/ws/backend-api?client=${this.clientId}`;
  }

  /** Sends `frames` one at a time, each checked against its answer. */
  async run(
    frames: () => Hostile<BackendAnswer>,
    count: number,
    intervalMs: number,
  ): Promise<void> {
    let socket = await RawSocket.open(this.url);
    const start = Date.now();
    for (let i = 0; i < count; i++) {
      await paced(start, i, intervalMs);
      const frame = frames();
      socket.send(frame.data);
      tally(this.categories, frame.category);
      if (!await this.#check(socket, frame)) {
        socket = await RawSocket.open(this.url);
      }
    }
    // Ends with a frame whose answer is known: nothing is left unanswered,
    // and an `ack` never got a reply.
    const end = `{"type":"end of round","request_id":"end"}`;
    socket.send(end);
    const got = await socket.next();
    const last: Hostile<BackendAnswer> = {
      category: "end probe",
      data: end,
      answer: {
        kind: "result",
        code: "bad_request",
        requestId: "end",
        runs: false,
      },
    };
    await this.#check(socket, last, got);
    await socket.close();
  }

  /** Checks one answer; false when the socket was (rightly) closed. */
  async #check(
    socket: RawSocket,
    frame: Hostile<BackendAnswer>,
    taken?: string | CloseEvent,
  ): Promise<boolean> {
    const who = `backend client ${this.clientId}`;
    const expected = frame.answer;
    if (expected.kind === "none") return true;
    const got = taken ?? await answerTo(socket, who, frame);
    if (expected.kind === "close") {
      if (typeof got === "string" || got.code !== expected.code) {
        fail(who, frame, got, `expected a close with ${expected.code}`);
      }
      return false;
    }
    if (typeof got !== "string") fail(who, frame, got, "socket closed");
    const result = JSON.parse(got) as Json;
    if (result.type !== "result" || result.request_id !== expected.requestId) {
      fail(who, frame, got, "not the result of this frame");
    }
    if (expected.runs) {
      const before = this.remembered.get(expected.requestId!);
      if (before !== undefined) {
        if (got !== before) {
          fail(
            who,
            frame,
            got,
            `a re-sent request id was not answered with ${before}`,
          );
        }
        return true;
      }
      this.remembered.set(expected.requestId!, got);
    }
    if (expected.code === "ok") {
      if (result.ok !== true) fail(who, frame, got, "expected ok");
      if (
        "sessions" in result &&
        JSON.stringify(result.sessions) !== "[]"
      ) fail(who, frame, got, "a hostile client sees sessions");
      return true;
    }
    const error = result.error as { code: string; message: string } | undefined;
    if (result.ok !== false || error?.code !== expected.code) {
      fail(who, frame, got, `expected ${expected.code}`);
    }
    if (typeof error.message !== "string" || error.message.length === 0) {
      fail(who, frame, got, "no error message");
    }
    if (expected.names && !expected.names.test(error.message)) {
      fail(who, frame, got, `the message does not match ${expected.names}`);
    }
    return true;
  }
}

/** A client that sends hostile frames on its frontend-api socket. */
export class FrontendHostile {
  epoch = "";
  lastSeq = 0;
  /** Frames sent, by category. */
  readonly categories = new Map<string, number>();

  constructor(readonly base: string, readonly clientId: string) {}

  async #connect(): Promise<RawSocket> {
    const resume = this.epoch
      ? `&epoch=${this.epoch}&last_seq=${this.lastSeq}`
      : "";
    const socket = await RawSocket.open(
      `${this.base}/ws/frontend-api?client=${this.clientId}${resume}`,
    );
    const first = await socket.next(5000, "connected");
    const connected = typeof first === "string" ? JSON.parse(first) : null;
    const expected = this.epoch
      ? { recovered: true, last_seq: this.lastSeq, epoch: this.epoch }
      : null;
    if (
      connected?.type !== "connected" ||
      (expected && (connected.recovered !== true ||
        connected.last_seq !== expected.last_seq ||
        connected.epoch !== expected.epoch))
    ) {
      throw new FuzzFailure(
        `frontend client ${this.clientId}: bad connect ${String(first)}`,
      );
    }
    this.epoch = connected.epoch;
    this.lastSeq = connected.last_seq;
    if (!expected) {
      // A first connect replays what is held; skip it.
      this.lastSeq = 0;
      while (this.lastSeq < connected.last_seq) {
        const held = await socket.next(5000, "replayed events");
        this.lastSeq = JSON.parse(held as string).seq;
      }
    }
    return socket;
  }

  async run(
    frames: () => Hostile<FrontendAnswer>,
    count: number,
    intervalMs: number,
  ): Promise<void> {
    let socket = await this.#connect();
    const start = Date.now();
    for (let i = 0; i < count; i++) {
      await paced(start, i, intervalMs);
      const frame = frames();
      socket.send(frame.data);
      tally(this.categories, frame.category);
      if (!await this.#check(socket, frame)) socket = await this.#connect();
    }
    const ping: Hostile<FrontendAnswer> = {
      category: "end probe",
      data: '{"type":"ping"}',
      answer: { kind: "pong" },
    };
    socket.send(ping.data);
    await this.#check(socket, ping);
    await socket.close();
  }

  async #check(
    socket: RawSocket,
    frame: Hostile<FrontendAnswer>,
  ): Promise<boolean> {
    const who = `frontend client ${this.clientId}`;
    const expected = frame.answer;
    const got = await answerTo(socket, who, frame);
    if (expected.kind === "close") {
      if (typeof got === "string" || got.code !== expected.code) {
        fail(who, frame, got, `expected a close with ${expected.code}`);
      }
      return false;
    }
    if (typeof got !== "string") fail(who, frame, got, "socket closed");
    const event = JSON.parse(got) as Json;
    if (expected.kind === "pong") {
      if (got !== '{"type":"pong"}') fail(who, frame, got, "expected a pong");
      return true;
    }
    if (
      event.type !== "error" || event.seq !== this.lastSeq + 1 ||
      event.agent_id !== null || event.session_id !== null
    ) fail(who, frame, got, `expected error event seq ${this.lastSeq + 1}`);
    this.lastSeq++;
    const message = event.error;
    if (
      event.code !== expected.code || typeof message !== "string" || !message
    ) {
      fail(who, frame, got, `expected ${expected.code}`);
    }
    if (expected.names && !expected.names.test(message)) {
      fail(who, frame, got, `the message does not match ${expected.names}`);
    }
    return true;
  }
}
