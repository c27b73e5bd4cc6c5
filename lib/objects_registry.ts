/**
 * The objects registry: the global FrontendAPI, BackendAPI and AgentManager
 * (and the built browser files the page names).
 * `createObjects` builds an isolated, fully wired set (tests make one per
 * server); `setObjects` installs one set as the process-wide instances the
 * accessors return.
 */
import { loadAgentConfigs } from "./agent_config.ts";
import { AgentManager } from "./agent_manager.ts";
import { type Assets, BUILD_COMMAND, loadAssets } from "./assets.ts";
import { BackendAPI } from "./backend_api.ts";
import type { Config } from "./config.ts";
import { FrontendAPI } from "./frontend_api.ts";
import { createModelClient } from "./llm.ts";
import { createLogger, type Logger } from "./logger.ts";

export interface Objects {
  config: Config;
  logger: Logger;
  frontendApi: FrontendAPI;
  backendApi: BackendAPI;
  agentManager: AgentManager;
  /** The browser bundle and stylesheet; null when there is no build. */
  assets: Assets | null;
  /** True once {@link Objects.shutdown} has begun: no new sockets. */
  readonly closing: boolean;
  /**
   * Shuts the set down: tells clients, ends replies in flight with
   * `finish_reason: "cancelled"`, and closes sockets with 1001.
   */
  shutdown(reason?: string): void;
}

/** Hono's environment: every route finds the registry's objects here. */
export type AppEnv = { Variables: { objects: Objects } };

/**
 * How often idle clients, idle sessions and old events are swept: every 30 s,
 * or a quarter of SESSION_IDLE_MS when that is shorter (an idle session is
 * closed at most one interval late), but never more often than every 50 ms.
 */
export function sweepIntervalMs(sessionIdleMs: number): number {
  return Math.max(50, Math.min(30_000, Math.floor(sessionIdleMs / 4)));
}

/**
 * Loads the agents and builds a wired set of instances. Throws an
 * AgentConfigError naming the file and field when an agent file is broken.
 */
export async function createObjects(
  config: Config,
  logger: Logger = createLogger(config.logLevel),
): Promise<Objects> {
  const agents = await loadAgentConfigs(config.agentsDir);
  const model = createModelClient(config.llm);
  if (model === null) {
    logger.warn(
      "no model provider configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for other providers); chats will answer not_configured",
    );
  }
  const built = await loadAssets(config.buildDir);
  if (!built.ok) {
    logger.warn(
      `${built.problem}: the page will not be interactive; run \`${BUILD_COMMAND}\``,
    );
  }
  const agentManager = new AgentManager({
    agents,
    llm: config.llm,
    limits: config.limits,
    model,
    logger,
  });
  const frontendApi = new FrontendAPI({
    replay: config.replay,
    logger,
    ownerOf: (sessionId) => agentManager.ownerOf(sessionId),
    hasSessions: (clientId) => agentManager.hasSessions(clientId),
  });
  agentManager.useFrontend(frontendApi);
  const backendApi = new BackendAPI({
    agentManager,
    frontendApi,
    limits: config.limits,
    logger,
  });
  const sweeper = setInterval(() => {
    // A throw here would be an uncaught error that ends the process.
    try {
      agentManager.sweepIdle();
      frontendApi.sweep();
      backendApi.sweep();
    } catch (error) {
      logger.error("sweep failed", { error });
    }
  }, sweepIntervalMs(config.limits.sessionIdleMs));
  let down = false;
  return {
    config,
    logger,
    frontendApi,
    backendApi,
    agentManager,
    assets: built.ok ? built.assets : null,
    get closing() {
      return down;
    },
    shutdown(reason = "the server is shutting down") {
      if (down) return;
      down = true;
      clearInterval(sweeper);
      frontendApi.sendNotification("warning", `${reason}; reconnecting`);
      for (const agent of agentManager.allAgents()) agent.cancel();
      backendApi.closeAll(1001, "server shutting down");
      frontendApi.closeAll(1001, "server shutting down");
    },
  };
}

let current: Objects | null = null;

/** Installs the process-wide instances (main.ts does this once). */
export function setObjects(objects: Objects | null): void {
  current = objects;
}

/** The process-wide instances; throws before `setObjects`. */
export function objects(): Objects {
  if (!current) throw new Error("objects registry used before setObjects()");
  return current;
}

/** The process-wide FrontendAPI. */
export const frontendApi = (): FrontendAPI => objects().frontendApi;
/** The process-wide BackendAPI. */
export const backendApi = (): BackendAPI => objects().backendApi;
/** The process-wide AgentManager. */
export const agentManager = (): AgentManager => objects().agentManager;
