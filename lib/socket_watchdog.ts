/**
 * Notices a peer that stopped reading. Deno's `idleTimeout` pings a socket
 * that has been quiet for half the timeout and closes it (1001) when nothing
 * came back by the full timeout; but its ping waits behind data not yet
 * sent, so a peer that stops reading while more is queued than the kernel's
 * buffers take is never pinged and never closed. The watchdog calls such a
 * socket dead when, for a whole timeout, nothing arrived from the peer and
 * its send queue never shrank (checked four times per timeout). So a reader
 * slower than the events it is sent, for a whole timeout, counts as dead
 * too: that bounds what the server queues for it, and it reconnects and
 * resumes from what it has. A browser is never judged by this alone, since
 * its pings count as arrivals.
 */

/** Checks per timeout: the verdict comes at most a quarter late. */
const CHECKS_PER_TIMEOUT = 4;

export class SocketWatchdog {
  readonly #socket: WebSocket;
  readonly #onDead: () => void;
  #timer: ReturnType<typeof setInterval> | null;
  /** Checks in a row with data queued, none of it sent, nothing heard. */
  #stalls = 0;
  #lastBuffered = 0;

  /** Starts watching `socket`; `onDead` runs at most once. */
  constructor(socket: WebSocket, timeoutMs: number, onDead: () => void) {
    this.#socket = socket;
    this.#onDead = onDead;
    this.#timer = setInterval(
      () => this.#check(),
      Math.max(1, Math.round(timeoutMs / CHECKS_PER_TIMEOUT)),
    );
  }

  /** A frame arrived: the peer is alive. */
  heard(): void {
    this.#stalls = 0;
  }

  /** Stops watching (the socket closed). */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #check(): void {
    if (this.#socket.readyState > WebSocket.OPEN) {
      this.stop();
      return;
    }
    const buffered = this.#socket.bufferedAmount;
    // Nothing queued: an idle peer is Deno's ping's to judge.
    const progress = buffered === 0 || buffered < this.#lastBuffered;
    this.#lastBuffered = buffered;
    this.#stalls = progress ? 0 : this.#stalls + 1;
    if (this.#stalls >= CHECKS_PER_TIMEOUT) {
      this.stop();
      this.#onDead();
    }
  }
}
