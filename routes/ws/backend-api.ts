/** GET /ws/backend-api: browser -> server commands (BackendAPI). */
import type { Context } from "hono";
import type { AppEnv } from "../../lib/objects_registry.ts";
import { serveBackendSocket } from "../../lib/sockets.ts";

export const handler = (c: Context<AppEnv>): Response =>
  serveBackendSocket(c.req.raw, c.get("objects"));
