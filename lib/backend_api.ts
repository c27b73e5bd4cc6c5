/**
 * BackendAPI: the browser -> server half. Every frame goes through one parse
 * function, then to one handler; every command but `ack` is answered by
 * exactly one `result` frame. Handlers never throw out of here.
 */
import type { Agent } from "./agent.ts";
import type { AgentManager } from "./agent_manager.ts";
import type { Limits } from "./config.ts";
import { TandemError } from "./errors.ts";
import { closeQuietly, type FrontendAPI } from "./frontend_api.ts";
import type { Logger } from "./logger.ts";
import {
  type CancelCommand,
  type ChatCommand,
  type ErrorCode,
  type PingCommand,
  type RefreshCommand,
  type RequestCommand,
  type ResultFrame,
  type SessionCommand,
} from "./protocol.ts";
import { frameOverLimit, parseCommand } from "./frame_parser.ts";

export interface BackendApiOptions {
  agentManager: AgentManager;
  frontendApi: FrontendAPI;
  limits: Limits;
  logger: Logger;
  now?: () => number;
}

/** A handler's outcome: result data, and work to run after it is sent. */
export interface Outcome {
  data: Record<string, unknown>;
  after?: () => void;
}

interface ClientState {
  socket: WebSocket | null;
  /** Answers already given, by request id, oldest first (bounded). */
  answered: Map<string, string>;
  tokens: number;
  refilledAt: number;
  /** Rate-limited frames in a row; sustained abuse closes the socket. */
  strikes: number;
}

/** Commands that do work (a ping only proves the socket is alive). */
type WorkCommand = Exclude<RequestCommand, PingCommand>;

/** How many answers per client are kept for idempotent re-sends. */
const ANSWERS_KEPT = 1000;
/** Rate-limited frames in a row after which the socket is closed (1008). */
const STRIKES_BEFORE_CLOSE = 500;

export class BackendAPI {
  readonly #clients = new Map<string, ClientState>();
  readonly #opts: BackendApiOptions;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(options: BackendApiOptions) {
    this.#opts = options;
    this.#log = options.logger.child("backend-api");
    this.#now = options.now ?? Date.now;
  }

  /** Binds an open socket to a client, replacing (4000) an older one. */
  attach(clientId: string, socket: WebSocket): void {
    const state = this.#state(clientId);
    const previous = state.socket;
    state.socket = socket;
    if (previous && previous !== socket) {
      closeQuietly(previous, 4000, "replaced");
    }
  }

  /** Forgets `socket` if it is still the client's current one. */
  detach(clientId: string, socket: WebSocket): void {
    const state = this.#clients.get(clientId);
    if (state?.socket === socket) state.socket = null;
  }

  /**
   * Handles one raw frame from `socket`. Never throws: every failure becomes
   * a `result` error frame (or, past the hard size limit, a 1009 close).
   */
  handleFrame(clientId: string, socket: WebSocket, data: unknown): void {
    try {
      this.#handleFrame(clientId, socket, data);
    } catch (error) {
      this.#log.error("frame handling failed", { clientId, error });
      send(socket, failure(null, "internal", "internal error; see server log"));
    }
  }

  #handleFrame(clientId: string, socket: WebSocket, data: unknown): void {
    const { limits } = this.#opts;
    const charge = this.admit(clientId, socket, data);
    if (charge === "closed") return;
    const state = this.#state(clientId);
    const parsed = parseCommand(
      typeof data === "string" ? data : new Uint8Array(0),
      limits,
    );
    if (charge === "limited") {
      const isAck = parsed.ok && parsed.command.type === "ack";
      if (!isAck) {
        const id = parsed.ok
          ? (parsed.command as RequestCommand).request_id
          : parsed.request_id;
        send(socket, failure(id, "rate_limited", this.rateLimitMessage));
      }
      return;
    }
    if (!parsed.ok) {
      send(socket, failure(parsed.request_id, parsed.code, parsed.message));
      return;
    }
    const command = parsed.command;
    if (command.type === "ack") {
      this.#opts.frontendApi.ack(clientId, command.seq);
      return;
    }
    if (command.type === "ping") {
      // Not remembered: heartbeats must not push real answers out of memory.
      send(
        socket,
        JSON.stringify(
          {
            type: "result",
            request_id: command.request_id,
            ok: true,
          } satisfies ResultFrame,
        ),
      );
      return;
    }
    const earlier = state.answered.get(command.request_id);
    if (earlier !== undefined) {
      send(socket, earlier);
      return;
    }
    const { frame, after } = this.#execute(clientId, command);
    remember(state.answered, command.request_id, frame);
    send(socket, frame);
    if (after) {
      try {
        after();
      } catch (error) {
        this.#log.error("follow-up failed", {
          clientId,
          requestId: command.request_id,
          error,
        });
      }
    }
  }

  /** Runs one command and renders its `result` frame. */
  #execute(
    clientId: string,
    command: WorkCommand,
  ): { frame: string; after?: () => void } {
    try {
      const outcome = this.#dispatch(clientId, command);
      return {
        frame: JSON.stringify({
          type: "result",
          request_id: command.request_id,
          ok: true,
          ...outcome.data,
        }),
        after: outcome.after,
      };
    } catch (error) {
      if (error instanceof TandemError) {
        return {
          frame: failure(command.request_id, error.code, error.message),
        };
      }
      this.#log.error("command failed", {
        clientId,
        requestId: command.request_id,
        type: command.type,
        error,
      });
      return {
        frame: failure(
          command.request_id,
          "internal",
          `internal error (request ${command.request_id}); see server log`,
        ),
      };
    }
  }

  #dispatch(clientId: string, command: WorkCommand): Outcome {
    switch (command.type) {
      case "session":
        return this.handleSessionManagement(clientId, command);
      case "chat":
        return this.handleChatMessage(clientId, command);
      case "refresh":
        return this.handleAgentRefresh(clientId, command);
      case "cancel":
        return this.handleCancel(clientId, command);
    }
  }

  /** Session create / close / list: sync, the result carries the outcome. */
  handleSessionManagement(clientId: string, command: SessionCommand): Outcome {
    const manager = this.#opts.agentManager;
    switch (command.action) {
      case "create": {
        const agent = manager.createAgentSession(command.agent_id, clientId);
        return {
          data: { session_id: agent.sessionId, agent_id: agent.agentId },
          after: () => agent.start(),
        };
      }
      case "close":
        manager.closeSession(command.session_id, clientId);
        return { data: {} };
      case "list":
        return { data: { sessions: manager.listSessions(clientId) } };
    }
  }

  /**
   * Chat: async. Answers once accepted; the reply and its errors arrive as
   * FrontendAPI events. Unknown session, `busy` and `not_configured` are
   * refused before acceptance and so come back in the result.
   */
  handleChatMessage(clientId: string, command: ChatCommand): Outcome {
    const agent = this.#ownedAgent(clientId, command);
    agent.chat(command.message);
    return { data: {} };
  }

  /** Refresh: async; the session's state arrives as FrontendAPI events. */
  handleAgentRefresh(clientId: string, command: RefreshCommand): Outcome {
    const agent = this.#ownedAgent(clientId, command);
    return { data: {}, after: () => agent.refresh() };
  }

  /** Cancel: ends the reply in progress with `finish_reason: "cancelled"`. */
  handleCancel(clientId: string, command: CancelCommand): Outcome {
    const agent = this.#opts.agentManager.getAgentBySession(
      command.session_id,
      clientId,
    );
    return { data: { cancelled: agent.cancel() } };
  }

  /**
   * Admits one raw frame of `clientId`, from either of its sockets: past
   * HARD_FRAME_BYTES `socket` is closed (1009) unread; otherwise the frame is
   * charged to the client's one command budget. "ok"; "limited" (answer
   * `rate_limited`); or "closed", after either close (1008 for sustained
   * abuse).
   */
  admit(
    clientId: string,
    socket: WebSocket,
    data: unknown,
  ): "ok" | "limited" | "closed" {
    const { hardFrameBytes } = this.#opts.limits;
    const size = frameOverLimit(data, hardFrameBytes);
    if (size !== null) {
      this.#log.warn("frame over the hard limit; closing", { clientId, size });
      closeQuietly(socket, 1009, `frame over ${hardFrameBytes} bytes`);
      return "closed";
    }
    const state = this.#state(clientId);
    if (this.#takeToken(state)) {
      state.strikes = 0;
      return "ok";
    }
    state.strikes++;
    if (state.strikes < STRIKES_BEFORE_CLOSE) return "limited";
    this.#log.warn("command flood; closing", { clientId });
    closeQuietly(socket, 1008, "too many commands");
    return "closed";
  }

  /** What a `rate_limited` answer says. */
  get rateLimitMessage(): string {
    const { commandsPerSecond, commandBurst } = this.#opts.limits;
    return `more than ${commandsPerSecond} commands per second (burst ${commandBurst}); slow down`;
  }

  /** Closes every socket (1001, so browsers reconnect elsewhere). */
  closeAll(code = 1001, reason = "server shutting down"): void {
    for (const state of this.#clients.values()) {
      if (state.socket) closeQuietly(state.socket, code, reason);
      state.socket = null;
    }
  }

  /** Forgets clients with no socket and no sessions (bounded memory). */
  sweep(): void {
    for (const [clientId, state] of this.#clients) {
      if (
        state.socket === null &&
        !this.#opts.agentManager.hasSessions(clientId)
      ) this.#clients.delete(clientId);
    }
  }

  #ownedAgent(
    clientId: string,
    command: { agent_id: string; session_id: string },
  ): Agent {
    const agent = this.#opts.agentManager.getAgentBySession(
      command.session_id,
      clientId,
    );
    if (agent.agentId !== command.agent_id) {
      throw new TandemError(
        "bad_request",
        `field "agent_id": session "${command.session_id}" belongs to agent "${agent.agentId}", not "${command.agent_id}"`,
      );
    }
    return agent;
  }

  #state(clientId: string): ClientState {
    let state = this.#clients.get(clientId);
    if (!state) {
      state = {
        socket: null,
        answered: new Map(),
        tokens: this.#opts.limits.commandBurst,
        refilledAt: this.#now(),
        strikes: 0,
      };
      this.#clients.set(clientId, state);
    }
    return state;
  }

  #takeToken(state: ClientState): boolean {
    const { commandsPerSecond, commandBurst } = this.#opts.limits;
    const now = this.#now();
    state.tokens = Math.min(
      commandBurst,
      state.tokens + ((now - state.refilledAt) / 1000) * commandsPerSecond,
    );
    state.refilledAt = now;
    if (state.tokens < 1) return false;
    state.tokens -= 1;
    return true;
  }
}

function failure(
  requestId: string | null,
  code: ErrorCode,
  message: string,
): string {
  const frame: ResultFrame = {
    type: "result",
    request_id: requestId,
    ok: false,
    error: { code, message },
  };
  return JSON.stringify(frame);
}

function remember(answers: Map<string, string>, id: string, frame: string) {
  answers.set(id, frame);
  if (answers.size > ANSWERS_KEPT) {
    answers.delete(answers.keys().next().value!);
  }
}

function send(socket: WebSocket, frame: string): void {
  if (socket.readyState !== 1) return;
  try {
    socket.send(frame);
  } catch {
    // The socket is going away; the browser re-sends with the same id.
  }
}
