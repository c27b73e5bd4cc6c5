/**
 * Tandem's entry point: `deno task start`. Reads settings from the
 * environment, loads the agents, serves, and shuts down cleanly on
 * SIGINT/SIGTERM.
 */
import { join } from "node:path";
import { loadConfig } from "./lib/config.ts";
import { createLogger } from "./lib/logger.ts";
import { setObjects } from "./lib/objects_registry.ts";
import { startServer } from "./server.ts";

async function main(): Promise<number> {
  const bootLog = createLogger("info");
  let config;
  try {
    const here = import.meta.dirname ?? ".";
    config = loadConfig(
      Deno.env.toObject(),
      join(here, "agents"),
      join(here, "_build"),
    );
  } catch (error) {
    bootLog.error((error as Error).message);
    return 1;
  }
  const logger = createLogger(config.logLevel);
  let server;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    logger.error(`cannot start: ${(error as Error).message}`);
    return 1;
  }
  setObjects(server.objects);
  const agentCount = server.objects.agentManager.agents().length;
  logger.info(`Tandem listening on ${server.url} with ${agentCount} agents`);
  const stop = async (signal: string) => {
    logger.info(`${signal}: shutting down`);
    await server.shutdown();
    Deno.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(signal, () => void stop(signal));
    } catch {
      // SIGTERM cannot be listened to on Windows; SIGINT still works there.
    }
  }
  return 0;
}

const code = await main();
if (code !== 0) Deno.exit(code);
