/** GET /_build/:file: the built browser files the manifest names, only. */
import type { Context } from "hono";
import { assetResponse } from "../lib/assets.ts";
import type { AppEnv } from "../lib/objects_registry.ts";

export const handler = (
  c: Context<AppEnv>,
): Response | Promise<Response> =>
  assetResponse(
    c.get("objects").assets,
    c.req.param("file") ?? "",
    {
      ifNoneMatch: c.req.header("if-none-match"),
      acceptEncoding: c.req.header("accept-encoding"),
    },
  ) ?? c.notFound();
