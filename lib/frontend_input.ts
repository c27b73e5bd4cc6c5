/**
 * Frames a browser sends on the frontend-api socket (Tandem's addition to
 * the protocol: a browser cannot see WebSocket pings, so it pings here).
 * A ping gets an unnumbered pong on the same socket; anything else gets a
 * numbered `error` event. Frames are admitted as on the backend-api socket
 * (BackendAPI.admit: 1009 past the hard limit, one command budget per
 * client for both sockets). Never throws.
 */
import type { BackendAPI } from "./backend_api.ts";
import type { Limits } from "./config.ts";
import type { FrontendAPI } from "./frontend_api.ts";
import type { Logger } from "./logger.ts";
import { parseFrontendInput } from "./frame_parser.ts";
import { PONG_FRAME } from "./protocol.ts";

export interface FrontendInputDeps {
  frontendApi: FrontendAPI;
  backendApi: BackendAPI;
  limits: Limits;
  logger: Logger;
}

/** Handles one frame from a client's frontend-api `socket`. */
export function handleFrontendInput(
  deps: FrontendInputDeps,
  clientId: string,
  socket: WebSocket,
  data: unknown,
): void {
  try {
    handle(deps, clientId, socket, data);
  } catch (error) {
    deps.logger.error("frontend frame handling failed", { clientId, error });
    try {
      deps.frontendApi.sendError(
        null,
        null,
        "internal",
        "internal error; see server log",
        clientId,
      );
    } catch {
      // Logged above; a socket handler must not throw.
    }
  }
}

function handle(
  { frontendApi, backendApi, limits }: FrontendInputDeps,
  clientId: string,
  socket: WebSocket,
  data: unknown,
): void {
  const charge = backendApi.admit(clientId, socket, data);
  if (charge === "closed") return;
  if (charge === "limited") {
    frontendApi.sendError(
      null,
      null,
      "rate_limited",
      backendApi.rateLimitMessage,
      clientId,
    );
    return;
  }
  const parsed = parseFrontendInput(
    typeof data === "string" ? data : new Uint8Array(0),
    limits,
  );
  if (!parsed.ok) {
    frontendApi.sendError(null, null, parsed.code, parsed.message, clientId);
    return;
  }
  if (socket.readyState !== WebSocket.OPEN) return;
  try {
    socket.send(PONG_FRAME);
  } catch {
    // The socket is going away; the browser's next ping finds out.
  }
}
