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
  const { socket, response } = upgrade(req, objects);
  socket.binaryType = "arraybuffer";
  const api = objects.frontendApi;
  const log = objects.logger.child("frontend-socket");
  const detach = () => api.detach(clientId, socket);
  let watchdog: SocketWatchdog | null = null;
  socket.onopen = () => {
    watchdog = watch(socket, objects, log, clientId, detach);
    try {
      api.attach(clientId, socket, lastSeq, epoch);
    } catch (error) {
      log.error("attach failed", { clientId, error });
      socket.close(1011, "internal error");
    }
  };
  socket.onclose = (event) => {
    watchdog?.stop();
    detach();
    log.debug("socket closed", { clientId, code: event.code });
  };
  socket.onerror = () => log.debug("socket error", { clientId });
  // Only pings are expected here; anything else is answered with an error.
  const input = {
    frontendApi: api,
    backendApi: objects.backendApi,
    limits: objects.config.limits,
    logger: log,
  };
  socket.onmessage = (event) => {
    watchdog?.heard();
    handleFrontendInput(input, clientId, socket, event.data);
  };
  return response;
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
  const { socket, response } = upgrade(req, objects);
  socket.binaryType = "arraybuffer";
  const api = objects.backendApi;
  const log = objects.logger.child("backend-socket");
  const detach = () => api.detach(clientId, socket);
  let watchdog: SocketWatchdog | null = null;
  socket.onopen = () => {
    watchdog = watch(socket, objects, log, clientId, detach);
    api.attach(clientId, socket);
  };
  socket.onclose = (event) => {
    watchdog?.stop();
    detach();
    log.debug("socket closed", { clientId, code: event.code });
  };
  socket.onerror = () => log.debug("socket error", { clientId });
  socket.onmessage = (event) => {
    watchdog?.heard();
    api.handleFrame(clientId, socket, event.data);
  };
  return response;
}

/**
 * Upgrades with the heartbeat: Deno pings a socket from which nothing
 * arrived for half of HEARTBEAT_TIMEOUT_MS, and closes it (1001, firing
 * `close`, hence a detach) when nothing came back by the full timeout.
 */
function upgrade(
  req: Request,
  objects: Objects,
): { socket: WebSocket; response: Response } {
  return Deno.upgradeWebSocket(req, {
    idleTimeout: objects.config.heartbeatTimeoutMs / 1000,
  });
}

/**
 * Watches an open socket for a peer that stopped reading: such a socket is
 * detached at once (a frontend client's events stay held for replay) and
 * closed as far as it still can be.
 */
function watch(
  socket: WebSocket,
  objects: Objects,
  log: Logger,
  clientId: string,
  detach: () => void,
): SocketWatchdog {
  return new SocketWatchdog(socket, objects.config.heartbeatTimeoutMs, () => {
    log.info("peer stopped reading; socket dropped", { clientId });
    detach();
    closeQuietly(socket, 1001, "no heartbeat");
  });
}
