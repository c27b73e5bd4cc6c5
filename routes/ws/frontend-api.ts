/** GET /ws/frontend-api: server -> browser events (FrontendAPI). */
import type { Context } from "hono";
import type { AppEnv } from "../../lib/objects_registry.ts";
import { serveFrontendSocket } from "../../lib/sockets.ts";

export const handler = (c: Context<AppEnv>): Response =>
  serveFrontendSocket(c.req.raw, c.get("objects"));
