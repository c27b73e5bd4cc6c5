/**
 * GET /healthz: 200 once the server is ready (agents loaded, listening);
 * 503 while it shuts down, so a load balancer stops sending people here.
 */
import type { Context } from "hono";
import type { AppEnv } from "../lib/objects_registry.ts";

export const handler = (c: Context<AppEnv>): Response =>
  c.get("objects").closing
    ? c.json({ ok: false, error: "shutting down" }, 503)
    : c.json({ ok: true });
