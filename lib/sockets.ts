/**
 * The two WebSocket endpoints: request checks before the upgrade, then
 * wiring of Deno's native socket to the FrontendAPI / BackendAPI.
 */
import type { Objects } from "./objects_registry.ts";
import { CLIENT_ID_PATTERN } from "./protocol.ts";

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
 * origin or allowed), `client` (400), and that it is an upgrade at all (426).
 * Headers must be read here: after `Deno.upgradeWebSocket` they are gone.
 */
export function checkUpgrade(req: Request, allowedOrigins: string[]): Gate {
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
  const gate = checkUpgrade(req, objects.config.allowedOrigins);
  if (!gate.ok) return gate.response;
  const { clientId, url } = gate;
  const lastSeq = readSeq(url.searchParams.get("last_seq"));
  if (lastSeq === undefined) {
    return plain(400, "query parameter last_seq must be a whole number");
  }
  const epoch = url.searchParams.get("epoch");
  const { socket, response } = Deno.upgradeWebSocket(req);
  const api = objects.frontendApi;
  const log = objects.logger.child("frontend-socket");
  socket.onopen = () => {
    try {
      api.attach(clientId, socket, lastSeq, epoch);
    } catch (error) {
      log.error("attach failed", { clientId, error });
      socket.close(1011, "internal error");
    }
  };
  socket.onclose = () => api.detach(clientId, socket);
  socket.onerror = () => log.debug("socket error", { clientId });
  // This socket is server -> browser only; frames from the browser are ignored.
  socket.onmessage = () => {};
  return response;
}

/** Upgrades `/ws/backend-api`: commands from the browser, one result each. */
export function serveBackendSocket(req: Request, objects: Objects): Response {
  const gate = checkUpgrade(req, objects.config.allowedOrigins);
  if (!gate.ok) return gate.response;
  const { clientId } = gate;
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.binaryType = "arraybuffer";
  const api = objects.backendApi;
  const log = objects.logger.child("backend-socket");
  socket.onopen = () => api.attach(clientId, socket);
  socket.onclose = () => api.detach(clientId, socket);
  socket.onerror = () => log.debug("socket error", { clientId });
  socket.onmessage = (event) => api.handleFrame(clientId, socket, event.data);
  return response;
}
