/**
 * Memory of a child process started with `--inspect=127.0.0.1:0`, read over
 * the V8 inspector protocol: the live heap right after a full collection is
 * far steadier than the resident set, so a small leak shows.
 */

/** Heap after a forced full GC, in bytes. */
export interface HeapUsage {
  /** Live JavaScript objects. */
  used: number;
  /** ArrayBuffer backing stores (binary frames, encoded text). */
  backing: number;
}

/** A connection to a child's inspector. */
export class Inspector {
  readonly #ws: WebSocket;
  readonly #pending = new Map<
    number,
    (reply: Record<string, unknown>) => void
  >();
  #id = 0;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (event) => {
      const reply = JSON.parse(event.data as string);
      if (typeof reply.id === "number") {
        this.#pending.get(reply.id)?.(reply);
        this.#pending.delete(reply.id);
      }
    };
  }

  /** Connects to the inspector whose address the child printed in `output`. */
  static async connect(output: string): Promise<Inspector> {
    const url = output.match(/Debugger listening on (ws:\/\/\S+)/)?.[1];
    if (!url) throw new Error(`no inspector address in: ${output}`);
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot open ${url}`));
    });
    return new Inspector(ws);
  }

  #call(method: string): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`inspector: no answer to ${method}`)),
        10_000,
      );
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error) reject(new Error(JSON.stringify(reply.error)));
        else resolve(reply.result as Record<string, unknown>);
      });
      this.#ws.send(JSON.stringify({ id, method, params: {} }));
    });
  }

  /** Collects garbage (twice, so finalizers' leftovers go too), then reads the heap. */
  async heapAfterGc(): Promise<HeapUsage> {
    await this.#call("HeapProfiler.collectGarbage");
    await this.#call("HeapProfiler.collectGarbage");
    const usage = await this.#call("Runtime.getHeapUsage");
    return {
      used: usage.usedSize as number,
      backing: (usage.backingStorageSize as number | undefined) ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((resolve) => this.#ws.onclose = resolve);
    this.#ws.close();
    await closed;
  }
}

/** The resident set of process `pid` in KiB (Linux), NaN elsewhere. */
export function rssKiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}
