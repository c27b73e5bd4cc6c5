/**
 * The app: Hono routes wired to one set of registry objects, served by
 * Deno.serve. main.ts starts it for users; tests start one per test on a
 * free port.
 */
import { Hono } from "hono";
import type { Config } from "./lib/config.ts";
import type { Logger } from "./lib/logger.ts";
import { securityHeaders } from "./lib/security_headers.ts";
import {
  type AppEnv,
  createObjects,
  type Objects,
} from "./lib/objects_registry.ts";
import { handler as agents } from "./routes/api/agents.ts";
import { handler as built } from "./routes/build.ts";
import { handler as healthz } from "./routes/healthz.ts";
import { handler as index } from "./routes/index.tsx";
import { handler as backendSocket } from "./routes/ws/backend-api.ts";
import { handler as frontendSocket } from "./routes/ws/frontend-api.ts";

/** Builds the Hono app around `objects`. */
export function createApp(objects: Objects): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("*", async (c, next) => {
    c.set("objects", objects);
    await next();
  });
  // Upgrade answers are left alone: their headers belong to the handshake.
  const secure = securityHeaders();
  app.use(
    "*",
    (c, next) => c.req.path.startsWith("/ws/") ? next() : secure(c, next),
  );
  app.get("/", index);
  app.get("/healthz", healthz);
  app.get("/_build/:file", built);
  app.get("/api/agents", agents);
  app.get("/ws/frontend-api", frontendSocket);
  app.get("/ws/backend-api", backendSocket);
  app.onError((error, c) => {
    objects.logger.error("request failed", { path: c.req.path, error });
    return c.json({ error: "internal error" }, 500);
  });
  return app;
}

export interface RunningServer {
  /** e.g. "http://127.0.0.1:8000" */
  url: string;
  port: number;
  objects: Objects;
  /** Tells clients, cancels replies, closes sockets (1001), stops serving. */
  shutdown(): Promise<void>;
}

/**
 * Loads the agents and starts serving on `config.hostname:config.port`
 * (port 0 picks a free one). Rejects, naming file and field, when an agent
 * file is broken.
 */
export async function startServer(
  config: Config,
  logger?: Logger,
): Promise<RunningServer> {
  const objects = await createObjects(config, logger);
  const app = createApp(objects);
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: config.hostname,
      port: config.port,
      onListen: () => {},
    }, app.fetch);
  } catch (error) {
    // E.g. the port is taken: stop the objects' sweep timer with the start.
    objects.shutdown();
    throw error;
  }
  const { port } = server.addr as Deno.NetAddr;
  const host = config.hostname.includes(":")
    ? `[${config.hostname}]`
    : config.hostname;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    port,
    objects,
    shutdown() {
      closing ??= (async () => {
        objects.shutdown();
        await server.shutdown();
      })();
      return closing;
    },
  };
}
