/** Typed errors that carry a protocol error code. */
import type { ErrorCode } from "./protocol.ts";

/** An error whose message is meant for the person using Tandem. */
export class TandemError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = "TandemError";
  }
}

/** No such session, or it belongs to another client: the two look the same. */
export class SessionNotFoundError extends TandemError {
  constructor(sessionId: string) {
    super("session_not_found", `session "${sessionId}" was not found`);
    this.name = "SessionNotFoundError";
  }
}

/** No agent with that id is configured. */
export class UnknownAgentError extends TandemError {
  constructor(agentId: string) {
    super("unknown_agent", `no agent with id "${agentId}"`);
    this.name = "UnknownAgentError";
  }
}

/** The session is still answering the previous message. */
export class BusyError extends TandemError {
  constructor(sessionId: string) {
    super(
      "busy",
      `session "${sessionId}" is still answering the previous message; wait for it or cancel it`,
    );
    this.name = "BusyError";
  }
}
