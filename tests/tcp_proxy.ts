/**
 * A TCP proxy for tests, on 127.0.0.1: it forwards every connection to a
 * target port until told to freeze, and then forwards nothing more either
 * way while closing nothing. Both ends keep an open connection that carries
 * nothing: a half-open connection, as a dead network leaves one.
 */

interface Link {
  client: Deno.Conn;
  server: Deno.Conn;
  frozen: boolean;
}

export class TcpProxy {
  readonly #listener: Deno.Listener<Deno.TcpConn>;
  readonly #target: number;
  readonly #links = new Set<Link>();
  readonly #pumps: Promise<void>[] = [];
  readonly #accepting: Promise<void>;
  /** Resolves when the proxy closes: frozen pumps wait for it to end. */
  readonly #closed = Promise.withResolvers<void>();

  private constructor(targetPort: number) {
    this.#target = targetPort;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  /** Starts a proxy to 127.0.0.1:`targetPort` on a free port. */
  static start(targetPort: number): TcpProxy {
    return new TcpProxy(targetPort);
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Connections made so far and still open. */
  get links(): number {
    return this.#links.size;
  }

  /** Every open connection stops carrying bytes, both ways, for good. */
  freeze(): void {
    for (const link of this.#links) link.frozen = true;
  }

  /** Closes every connection (both ends see it end) and the listener. */
  async close(): Promise<void> {
    this.#closed.resolve();
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    for (const link of this.#links) closeLink(link);
    await this.#accepting;
    await Promise.all(this.#pumps);
  }

  async #accept(): Promise<void> {
    while (true) {
      let client: Deno.Conn;
      try {
        client = await this.#listener.accept();
      } catch {
        return; // The listener was closed.
      }
      let server: Deno.Conn;
      try {
        server = await Deno.connect({
          hostname: "127.0.0.1",
          port: this.#target,
        });
      } catch {
        client.close();
        continue;
      }
      const link = { client, server, frozen: false };
      this.#links.add(link);
      const done = Promise.all([
        this.#pump(link, client, server),
        this.#pump(link, server, client),
      ]).then(() => {
        this.#links.delete(link);
      });
      this.#pumps.push(done);
    }
  }

  async #pump(link: Link, from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) return;
        if (link.frozen) {
          // Read no more, so the sender's buffers fill up as on a dead
          // path; what was just read is lost on the way.
          await this.#closed.promise;
          return;
        }
        let sent = 0;
        while (sent < n) sent += await to.write(buffer.subarray(sent, n));
      }
    } catch {
      // A side went away, or the other pump closed the link.
    } finally {
      // One side ended: so does the other, as through a real path.
      closeLink(link);
    }
  }
}

function closeLink(link: Link): void {
  for (const conn of [link.client, link.server]) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}
