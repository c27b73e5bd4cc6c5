/**
 * AgentManager: holds the agent configs loaded at start-up and maps session
 * ids to Agent instances, each owned by the client that created it.
 */
import { Agent } from "./agent.ts";
import type { AgentConfig } from "./agent_config.ts";
import type { Limits, LlmSettings } from "./config.ts";
import {
  SessionNotFoundError,
  TandemError,
  UnknownAgentError,
} from "./errors.ts";
import type { FrontendAPI } from "./frontend_api.ts";
import type { ModelClient } from "./llm.ts";
import type { Logger } from "./logger.ts";
import type { SessionInfo } from "./protocol.ts";
import { newSessionId, slugify } from "./session_id.ts";

export interface AgentManagerOptions {
  agents: Map<string, AgentConfig>;
  llm: LlmSettings;
  limits: Limits;
  model: ModelClient | null;
  logger: Logger;
}

export class AgentManager {
  readonly #agents: Map<string, AgentConfig>;
  readonly #sessions = new Map<string, Agent>();
  readonly #byClient = new Map<string, Set<string>>();
  readonly #perSlug = new Map<string, number>();
  readonly #opts: AgentManagerOptions;
  readonly #log: Logger;
  #frontend: FrontendAPI | null = null;

  constructor(options: AgentManagerOptions) {
    this.#opts = options;
    this.#agents = options.agents;
    this.#log = options.logger.child("agent-manager");
  }

  /** Wires the FrontendAPI the agents send through (set once, at start). */
  useFrontend(frontend: FrontendAPI): void {
    this.#frontend = frontend;
  }

  /** Whether a provider is configured. */
  get configured(): boolean {
    return this.#opts.model !== null;
  }

  /** The loaded agent configs, in file-name order. */
  agents(): AgentConfig[] {
    return [...this.#agents.values()];
  }

  /** One agent's config; throws `unknown_agent`. */
  agent(agentId: string): AgentConfig {
    const config = this.#agents.get(agentId);
    if (!config) throw new UnknownAgentError(agentId);
    return config;
  }

  /**
   * Creates a session (a fresh Agent) for `clientId` and returns it; the
   * caller starts it once the client has its id. Throws `unknown_agent`, or
   * `rate_limited` when the client holds its limit of sessions.
   */
  createAgentSession(agentId: string, clientId: string): Agent {
    const config = this.agent(agentId);
    const frontend = this.#frontend;
    if (!frontend) throw new Error("AgentManager used before useFrontend()");
    const mine = this.#byClient.get(clientId) ?? new Set<string>();
    const limit = this.#opts.limits.maxSessionsPerClient;
    if (mine.size >= limit) {
      throw new TandemError(
        "rate_limited",
        `this client already has ${mine.size} open sessions, the limit; close one first`,
      );
    }
    const slug = slugify(config.name);
    const sessionId = newSessionId(
      slug,
      (id) => this.#sessions.has(id),
      this.#perSlug.get(slug) ?? 0,
    );
    const agent = new Agent({
      config,
      sessionId,
      clientId,
      frontend,
      model: this.#opts.model,
      llm: this.#opts.llm,
      logger: this.#opts.logger,
    });
    this.#sessions.set(sessionId, agent);
    mine.add(sessionId);
    this.#byClient.set(clientId, mine);
    this.#perSlug.set(slug, (this.#perSlug.get(slug) ?? 0) + 1);
    this.#log.info("session created", { sessionId, agentId, clientId });
    return agent;
  }

  /**
   * The session's Agent, if `clientId` owns it. Unknown sessions and other
   * clients' sessions both throw the same `session_not_found`, so ids leak
   * nothing.
   */
  getAgentBySession(sessionId: string, clientId: string): Agent {
    const agent = this.#sessions.get(sessionId);
    if (!agent || agent.clientId !== clientId) {
      throw new SessionNotFoundError(sessionId);
    }
    return agent;
  }

  /** The client that owns a session, for routing events. */
  ownerOf(sessionId: string): string | undefined {
    return this.#sessions.get(sessionId)?.clientId;
  }

  /** Whether the client has any live session. */
  hasSessions(clientId: string): boolean {
    return (this.#byClient.get(clientId)?.size ?? 0) > 0;
  }

  /** Closes a session the client owns; a reply in progress is stopped. */
  closeSession(sessionId: string, clientId: string): void {
    const agent = this.getAgentBySession(sessionId, clientId);
    agent.close();
    this.#sessions.delete(sessionId);
    const mine = this.#byClient.get(clientId);
    mine?.delete(sessionId);
    if (mine?.size === 0) this.#byClient.delete(clientId);
    const slug = slugify(this.agent(agent.agentId).name);
    const left = (this.#perSlug.get(slug) ?? 1) - 1;
    if (left > 0) this.#perSlug.set(slug, left);
    else this.#perSlug.delete(slug);
    this.#log.info("session closed", { sessionId, clientId });
  }

  /** The client's live sessions. */
  listSessions(clientId: string): SessionInfo[] {
    const ids = this.#byClient.get(clientId) ?? new Set<string>();
    return [...ids].map((id) => {
      const agent = this.#sessions.get(id)!;
      return { session_id: id, agent_id: agent.agentId, busy: agent.busy };
    });
  }

  /** Every live session's Agent (for shutdown). */
  allAgents(): Agent[] {
    return [...this.#sessions.values()];
  }

  /** Counts for health checks and benchmarks. */
  stats(): { sessions: number; busy: number } {
    let busy = 0;
    for (const agent of this.#sessions.values()) if (agent.busy) busy++;
    return { sessions: this.#sessions.size, busy };
  }
}
