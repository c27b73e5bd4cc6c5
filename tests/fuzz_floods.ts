/**
 * Abusive clients of tests/fuzz_test.ts: command floods on either socket and
 * a client that holds as many sessions as it may.
 */
import { FuzzFailure, RawSocket } from "./fuzz_clients.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One socket's flood: how to make frame n and what its answer must be. */
export interface FloodTarget {
  url: string;
  frame: (n: number) => string;
  /** "limited" or "normal" for a right answer to frame `n`; throws otherwise. */
  classify: (answer: string, n: number) => "limited" | "normal";
  /** Frames that are not answered before the socket is closed. */
  skipFirst?: (socket: RawSocket) => Promise<void>;
}

export interface FloodOutcome {
  sent: number;
  limited: number;
  closeCode: number;
}

/**
 * Floods in bursts until the server closes the socket for sustained abuse:
 * `strikes` rate-limited frames in a row. Each burst is sized so that its
 * last frame is the one that crosses the line; a token that comes back in
 * between breaks the run, and the next burst tries again. Ending every burst
 * exactly there matters: Deno drops its own close frame when another frame
 * arrives before the close handshake ends (see the report in the test).
 */
export async function floodInBursts(
  target: FloodTarget,
  opts: { strikes: number; burst: number },
): Promise<FloodOutcome> {
  const socket = await RawSocket.open(target.url);
  await target.skipFirst?.(socket);
  let n = 0;
  let run = 0;
  let limited = 0;
  for (let attempt = 0; attempt < 40; attempt++) {
    const size = attempt === 0 ? opts.burst + opts.strikes : opts.strikes - run;
    const first = n;
    for (let i = 0; i < size; i++) socket.send(target.frame(n++));
    for (let i = first; i < n; i++) {
      const got = await socket.next(5000, `answer to flood frame ${i}`);
      if (typeof got !== "string") {
        if (got.code !== 1008 || i !== n - 1 || run !== opts.strikes - 1) {
          throw new FuzzFailure(
            `flood: closed with ${got.code} at frame ${i} of ${n} after ${run} rate-limited in a row (expected 1008 after ${
              opts.strikes - 1
            })`,
          );
        }
        return { sent: n, limited, closeCode: got.code };
      }
      if (target.classify(got, i) === "limited") {
        run++;
        limited++;
      } else run = 0;
    }
  }
  await socket.close();
  throw new FuzzFailure(`flood: never closed after ${n} frames`);
}

/**
 * Floods without waiting for answers, as a real abuser would, until the
 * server closes the socket. The answers that arrive must all be right.
 */
export async function floodBlindly(
  target: FloodTarget,
  maxFrames: number,
): Promise<FloodOutcome> {
  const socket = await RawSocket.open(target.url);
  await target.skipFirst?.(socket);
  let closed = false;
  socket.closed.then(() => closed = true);
  let n = 0;
  while (!closed && n < maxFrames) {
    for (let i = 0; i < 50 && socket.ws.readyState === WebSocket.OPEN; i++) {
      socket.send(target.frame(n++));
    }
    await sleep(1);
  }
  let limited = 0;
  for (let i = 0;; i++) {
    const got = await socket.next(5000, "flood answers");
    if (typeof got !== "string") {
      return { sent: n, limited, closeCode: got.code };
    }
    if (target.classify(got, i) === "limited") limited++;
  }
}

/** Session create beyond the limit: rate_limited naming it, then all closed. */
export async function hogSessions(
  url: string,
  round: number,
  maxSessions: number,
  intervalMs: number,
): Promise<void> {
  const socket = await RawSocket.open(url);
  let i = 0;
  const command = async (frame: Record<string, unknown>) => {
    await sleep(intervalMs);
    const request_id = `hog-${round}-${++i}`;
    socket.send(JSON.stringify({ ...frame, request_id }));
    const got = await socket.next(5000, `result of ${request_id}`);
    const result = typeof got === "string" ? JSON.parse(got) : null;
    if (result?.request_id !== request_id) {
      throw new FuzzFailure(`hog: ${request_id} answered by ${String(got)}`);
    }
    return { result, text: got as string };
  };
  const create = { type: "session", action: "create", agent_id: "assistant" };
  const sessions: string[] = [];
  for (let k = 0; k < maxSessions; k++) {
    const { result, text } = await command(create);
    if (result.ok !== true) throw new FuzzFailure(`hog: create failed ${text}`);
    sessions.push(result.session_id);
  }
  const over = await command(create);
  const pattern = new RegExp(`\\b${maxSessions} open sessions, the limit`);
  if (
    over.result.error?.code !== "rate_limited" ||
    !pattern.test(over.result.error.message)
  ) {
    throw new FuzzFailure(`hog: session ${maxSessions + 1} got ${over.text}`);
  }
  for (const session_id of sessions) {
    const { result, text } = await command({
      type: "session",
      action: "close",
      session_id,
    });
    if (result.ok !== true) throw new FuzzFailure(`hog: close failed ${text}`);
  }
  const { result, text } = await command({ type: "session", action: "list" });
  if (JSON.stringify(result.sessions) !== "[]") {
    throw new FuzzFailure(`hog: sessions left after closing all: ${text}`);
  }
  await socket.close();
}
