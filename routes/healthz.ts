/** GET /healthz: 200 once the server is ready (agents loaded, listening). */
import type { Context } from "hono";
import type { AppEnv } from "../lib/objects_registry.ts";

export const handler = (c: Context<AppEnv>): Response => c.json({ ok: true });
