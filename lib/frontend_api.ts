/**
 * FrontendAPI: the server -> browser half. Numbers every event per client,
 * holds sent events for replay, and writes them to the client's frontend-api
 * socket when it is open. An event for a client whose socket is down is held,
 * not dropped; the next connect replays it.
 */
import type { ReplaySettings } from "./config.ts";
import type { Logger } from "./logger.ts";
import type {
  ConnectedFrame,
  ContextUsage,
  ErrorCode,
  FrontendEvent,
  HistoryMessage,
  NotificationType,
  SeedMessage,
  UnnumberedEvent,
  Usage,
} from "./protocol.ts";

/** The final reply as carried by an `agent_response` event. */
export interface AgentResponse {
  message_id: string;
  content: string;
  model: string;
  finish_reason: string;
  usage: Usage | null;
}

interface HeldEvent {
  seq: number;
  at: number;
  frame: string;
}

/** One client's numbered stream of events. */
interface ClientStream {
  epoch: string;
  seq: number;
  held: HeldEvent[];
  socket: WebSocket | null;
  /** When the socket last went away (or the stream was made). */
  idleSince: number;
}

export interface FrontendApiOptions {
  replay: ReplaySettings;
  logger: Logger;
  /** Which client owns a session; undefined for unknown sessions. */
  ownerOf: (sessionId: string) => string | undefined;
  /** Whether a client still has live sessions (keeps its stream alive). */
  hasSessions?: (clientId: string) => boolean;
  now?: () => number;
}

const OPEN = 1;

export class FrontendAPI {
  readonly #streams = new Map<string, ClientStream>();
  readonly #opts: FrontendApiOptions;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(options: FrontendApiOptions) {
    this.#opts = options;
    this.#log = options.logger.child("frontend-api");
    this.#now = options.now ?? Date.now;
  }

  /**
   * Binds an open socket to a client: closes a previous socket of the client
   * with 4000 "replaced", sends `connected`, then replays held events after
   * `lastSeq` when the epoch matches and nothing in between was dropped.
   */
  attach(
    clientId: string,
    socket: WebSocket,
    lastSeq: number | null,
    epoch: string | null,
  ): ConnectedFrame {
    const stream = this.#stream(clientId);
    this.#prune(stream, this.#now());
    const previous = stream.socket;
    stream.socket = null;
    if (previous && previous !== socket) {
      this.#log.info("socket replaced", { clientId });
      closeQuietly(previous, 4000, "replaced");
    }
    // A first connect (no epoch) asks for everything held since seq 0.
    const from = epoch === null ? 0 : lastSeq ?? 0;
    const firstHeld = stream.held[0]?.seq ?? stream.seq + 1;
    const recovered = (epoch === null || epoch === stream.epoch) &&
      from <= stream.seq && firstHeld <= from + 1;
    const connected: ConnectedFrame = {
      type: "connected",
      epoch: stream.epoch,
      last_seq: stream.seq,
      recovered,
    };
    if (!sendFrame(socket, JSON.stringify(connected), this.#log, clientId)) {
      return connected;
    }
    if (recovered) {
      for (const event of stream.held) {
        if (event.seq > from) {
          sendFrame(socket, event.frame, this.#log, clientId);
        }
      }
    }
    stream.socket = socket;
    this.#log.debug("socket attached", { clientId, from, recovered });
    return connected;
  }

  /** Forgets `socket` if it is still the client's current one. */
  detach(clientId: string, socket: WebSocket): void {
    const stream = this.#streams.get(clientId);
    if (stream && stream.socket === socket) {
      stream.socket = null;
      stream.idleSince = this.#now();
    }
  }

  /** Drops held events up to `seq`: the browser has handled them. */
  ack(clientId: string, seq: number): void {
    const stream = this.#streams.get(clientId);
    if (!stream) return;
    const upTo = Math.min(seq, stream.seq);
    let drop = 0;
    while (drop < stream.held.length && stream.held[drop].seq <= upTo) drop++;
    if (drop > 0) stream.held.splice(0, drop);
  }

  /** Sends an agent's system prompt to the session's owner. */
  sendSystemMessage(agentId: string, sessionId: string, content: string): void {
    this.#toSession(sessionId, {
      type: "system_message",
      agent_id: agentId,
      session_id: sessionId,
      content,
    });
  }

  /** Sends an agent's seed (few-shot) messages to the session's owner. */
  sendSeedMessages(
    agentId: string,
    sessionId: string,
    messages: SeedMessage[],
  ): void {
    this.#toSession(sessionId, {
      type: "seed_messages",
      agent_id: agentId,
      session_id: sessionId,
      messages,
    });
  }

  /** Sends the conversation after the seeds, with a reply in progress. */
  sendHistory(
    agentId: string,
    sessionId: string,
    messages: HistoryMessage[],
    pending: { message_id: string; content: string } | null,
  ): void {
    this.#toSession(sessionId, {
      type: "history",
      agent_id: agentId,
      session_id: sessionId,
      messages,
      pending,
    });
  }

  /** Sends one streamed piece of a reply. */
  sendAgentResponseDelta(
    agentId: string,
    sessionId: string,
    messageId: string,
    delta: string,
  ): void {
    this.#toSession(sessionId, {
      type: "agent_response_delta",
      agent_id: agentId,
      session_id: sessionId,
      message_id: messageId,
      delta,
    });
  }

  /** Sends the complete reply. */
  sendAgentResponse(
    agentId: string,
    sessionId: string,
    response: AgentResponse,
  ): void {
    this.#toSession(sessionId, {
      type: "agent_response",
      agent_id: agentId,
      session_id: sessionId,
      response,
    });
  }

  /** Sends how much of the model's context window the session uses. */
  sendContextUpdate(
    agentId: string,
    sessionId: string,
    context: ContextUsage,
  ): void {
    this.#toSession(sessionId, {
      type: "context_update",
      agent_id: agentId,
      session_id: sessionId,
      context,
    });
  }

  /**
   * Sends an `error` event: to the session's owner when a session is named,
   * else to `clientId`.
   */
  sendError(
    agentId: string | null,
    sessionId: string | null,
    code: ErrorCode,
    error: string,
    clientId?: string,
  ): void {
    const event: UnnumberedEvent = {
      type: "error",
      agent_id: agentId,
      session_id: sessionId,
      error,
      code,
    };
    const target =
      (sessionId === null ? undefined : this.#opts.ownerOf(sessionId)) ??
        clientId;
    if (target === undefined) {
      this.#log.warn("error event for nobody dropped", { sessionId, code });
      return;
    }
    this.#emit(target, event);
  }

  /** Sends a notification to one client, or to every known client. */
  sendNotification(
    type: NotificationType,
    message: string,
    clientId?: string,
  ): void {
    const event: UnnumberedEvent = {
      type: "notification",
      notification_type: type,
      message,
    };
    if (clientId !== undefined) {
      this.#emit(clientId, event);
      return;
    }
    for (const id of this.#streams.keys()) this.#emit(id, event);
  }

  /**
   * Forgets clients that have had no socket and no sessions for longer than
   * the hold time, and prunes old events of the others.
   */
  sweep(): void {
    const now = this.#now();
    for (const [clientId, stream] of this.#streams) {
      this.#prune(stream, now);
      const idle = stream.socket === null &&
        now - stream.idleSince > this.#opts.replay.holdMs;
      if (idle && !(this.#opts.hasSessions?.(clientId) ?? false)) {
        this.#streams.delete(clientId);
      }
    }
  }

  /** Closes every socket (1001 "going away" on shutdown, so browsers retry). */
  closeAll(code = 1001, reason = "server shutting down"): void {
    for (const stream of this.#streams.values()) {
      if (stream.socket) closeQuietly(stream.socket, code, reason);
      stream.socket = null;
    }
  }

  /** Counts for health checks and benchmarks. */
  stats(): { clients: number; connected: number; heldEvents: number } {
    let connected = 0;
    let heldEvents = 0;
    for (const stream of this.#streams.values()) {
      if (stream.socket) connected++;
      heldEvents += stream.held.length;
    }
    return { clients: this.#streams.size, connected, heldEvents };
  }

  #stream(clientId: string): ClientStream {
    let stream = this.#streams.get(clientId);
    if (!stream) {
      // A per-client epoch: if this stream is ever forgotten and made anew,
      // its seq restarts under a new epoch, so old seqs never alias new ones.
      stream = {
        epoch: crypto.randomUUID(),
        seq: 0,
        held: [],
        socket: null,
        idleSince: this.#now(),
      };
      this.#streams.set(clientId, stream);
    }
    return stream;
  }

  #toSession(sessionId: string, event: UnnumberedEvent): void {
    const owner = this.#opts.ownerOf(sessionId);
    if (owner === undefined) {
      this.#log.debug("event for a closed session dropped", {
        sessionId,
        type: event.type,
      });
      return;
    }
    this.#emit(owner, event);
  }

  #emit(clientId: string, event: UnnumberedEvent): void {
    const stream = this.#stream(clientId);
    const seq = ++stream.seq;
    const frame = JSON.stringify({ ...event, seq } as FrontendEvent);
    const now = this.#now();
    stream.held.push({ seq, at: now, frame });
    this.#prune(stream, now);
    const socket = stream.socket;
    if (socket && socket.readyState === OPEN) {
      sendFrame(socket, frame, this.#log, clientId);
    }
  }

  #prune(stream: ClientStream, now: number): void {
    const { holdMs, holdCount, maxHeld } = this.#opts.replay;
    let drop = 0;
    const held = stream.held;
    while (
      held.length - drop > maxHeld ||
      (held.length - drop > holdCount && now - held[drop].at >= holdMs)
    ) drop++;
    if (drop > 0) held.splice(0, drop);
  }
}

function sendFrame(
  socket: WebSocket,
  frame: string,
  log: Logger,
  clientId: string,
): boolean {
  if (socket.readyState !== OPEN) return false;
  try {
    socket.send(frame);
    return true;
  } catch (error) {
    // The event stays held; the next connect replays it.
    log.warn("send failed", { clientId, error });
    return false;
  }
}

/** Closes a socket, ignoring a socket that is already closing. */
export function closeQuietly(
  socket: WebSocket,
  code: number,
  reason: string,
): void {
  try {
    if (socket.readyState <= OPEN) socket.close(code, reason);
  } catch {
    // Already closed; nothing to do.
  }
}
