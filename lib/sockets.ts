/**
 * The two WebSocket endpoints: request checks before the upgrade, then
 * wiring of Deno's native socket to the FrontendAPI / BackendAPI.
 */
import { closeQuietly } from "./frontend_api.ts";
import { handleFrontendInput } from "./frontend_input.ts";
import type { Logger } from "./logger.ts";
import type { Objects } from "./objects_registry.ts";
import { CLIENT_ID_PATTERN } from "./protocol.ts";
import { SocketWatchdog } from "./socket_watchdog.ts";

type Gate = { ok: true; clientId: string; url: URL } | {
  ok: false;
  response: Response;
};

function plain(status: number, message: string): Response {
  return new Response(message + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * Checks a WebSocket request before any upgrade: Origin (403 unless same
 * origin or allowed), `client` (400), and that it is an upgrade at all (426);
 * while the server shuts down, 503.
 * Headers must be read here: after `Deno.upgradeWebSocket` they are gone.
 */
export function checkUpgrade(
  req: Request,
  allowedOrigins: string[],
  closing = false,
): Gate {
  if (closing) {
    // A socket opened now would be closed at once; 503 sends the browser's
    // backoff to the next instance instead.
    return { ok: false, response: plain(503, "the server is shutting down") };
  }
  const url = new URL(req.url);
  const origin = req.headers.get("origin");
  if (origin !== null && !originAllowed(origin, req, allowedOrigins)) {
    return {
      ok: false,
      response: plain(403, `origin ${origin} is not allowed`),
    };
  }
  const clientId = url.searchParams.get("client");
  if (clientId === null || !CLIENT_ID_PATTERN.test(clientId)) {
    return {
      ok: false,
      response: plain(
        400,
        "query parameter client must be 16-128 characters of A-Z a-z 0-9 _ -",
      ),
    };
  }
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return { ok: false, response: plain(426, "expected a WebSocket upgrade") };
  }
  return { ok: true, clientId, url };
}

function originAllowed(
  origin: string,
  req: Request,
  allowedOrigins: string[],
): boolean {
  if (allowedOrigins.includes(origin)) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  // Same origin: the browser's Origin names the host it asked us under.
  return host === (req.headers.get("host") ?? new URL(req.url).host);
}

function readSeq(value: string | null): number | null | undefined {
  if (value === null) return null;
  const n = Number(value);
  return /^\d{1,15}$/.test(value) && Number.isSafeInteger(n) ? n : undefined;
}

/** Upgrades `/ws/frontend-api`: events flow to the browser, with replay. */
export function serveFrontendSocket(req: Request, objects: Objects): Response {
  const gate = checkUpgrade(
    req,
    objects.config.allowedOrigins,
    objects.closing,
  );
  if (!gate.ok) return gate.response;
  const { clientId, url } = gate;
  const lastSeq = readSeq(url.searchParams.get("last_seq"));
  if (lastSeq === undefined) {
    return plain(400, "query parameter last_seq must be a whole number");
  }
  const epoch = url.searchParams.get("epoch");
  const api = objects.frontendApi;
  const log = objects.logger.child("frontend-socket");
  // Only pings are expected here; anything else is answered with an error.
  const input = {
    frontendApi: api,
    backendApi: objects.backendApi,
    limits: objects.config.limits,
    logger: log,
  };
  return serve(req, objects, log, clientId, {
    attach(socket) {
      try {
        api.attach(clientId, socket, lastSeq, epoch);
      } catch (error) {
        log.error("attach failed", { clientId, error });
        socket.close(1011, "internal error");
      }
    },
    detach: (socket) => api.detach(clientId, socket),
    receive: (socket, data) =>
      handleFrontendInput(input, clientId, socket, data),
  });
}

/** Upgrades `/ws/backend-api`: commands from the browser, one result each. */
export function serveBackendSocket(req: Request, objects: Objects): Response {
  const gate = checkUpgrade(
    req,
    objects.config.allowedOrigins,
    objects.closing,
  );
  if (!gate.ok) return gate.response;
  const { clientId } = gate;
  const api = objects.backendApi;
  const log = objects.logger.child("backend-socket");
  return serve(req, objects, log, clientId, {
    attach: (socket) => api.attach(clientId, socket),
    detach: (socket) => api.detach(clientId, socket),
    receive: (socket, data) => api.handleFrame(clientId, socket, data),
  });
}

/** What one kind of socket does when it opens, closes and receives. */
interface SocketRole {
  attach(socket: WebSocket): void;
  detach(socket: WebSocket): void;
  receive(socket: WebSocket, data: unknown): void;
}

/**
 * Upgrades with the heartbeat and wires the socket to its role. Deno pings a
 * socket from which nothing arrived for half of HEARTBEAT_TIMEOUT_MS, and
 * closes it (1001, firing `close`, hence a detach) when nothing came back by
 * the full timeout. A watchdog also drops a peer that stopped reading (see
 * socket_watchdog.ts): it is detached at once (a frontend client's events
 * stay held for replay) and closed as far as it still can be. Every frame
 * that arrives counts as life.
 */
function serve(
  req: Request,
  objects: Objects,
  log: Logger,
  clientId: string,
  role: SocketRole,
): Response {
  const timeoutMs = objects.config.heartbeatTimeoutMs;
  const { socket, response } = Deno.upgradeWebSocket(req, {
    idleTimeout: timeoutMs / 1000,
  });
  socket.binaryType = "arraybuffer";
  let watchdog: SocketWatchdog | null = null;
  socket.onopen = () => {
    watchdog = new SocketWatchdog(socket, timeoutMs, () => {
      log.info("peer stopped reading; socket dropped", { clientId });
      role.detach(socket);
      closeQuietly(socket, 1001, "no heartbeat");
    });
    role.attach(socket);
  };
  socket.onclose = (event) => {
    watchdog?.stop();
    role.detach(socket);
    log.debug("socket closed", { clientId, code: event.code });
  };
  socket.onerror = () => log.debug("socket error", { clientId });
  socket.onmessage = (event) => {
    watchdog?.heard();
    role.receive(socket, event.data);
  };
  return response;
}
