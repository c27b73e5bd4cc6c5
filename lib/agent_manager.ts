/**
 * AgentManager: holds the agent configs loaded at start-up and maps session
 * ids to Agent instances, each owned by the client that created it. It also
 * bounds them: a client holds at most `maxSessionsPerClient`, and a session
 * left idle for `sessionIdleMs` is closed by {@link AgentManager.sweepIdle}.
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
  /** The clock idle times are measured with (tests pass a fake one). */
  now?: () => number;
}

export class AgentManager {
  readonly #agents: Map<string, AgentConfig>;
  readonly #sessions = new Map<string, Agent>();
  readonly #byClient = new Map<string, Set<string>>();
  readonly #perSlug = new Map<string, number>();
  /** When a command last named each session, or a reply of it last ran. */
  readonly #lastActive = new Map<string, number>();
  /** Replies whose end is awaited to mark their session active then. */
  readonly #watched = new WeakSet<Promise<void>>();
  readonly #opts: AgentManagerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  #frontend: FrontendAPI | null = null;

  constructor(options: AgentManagerOptions) {
    this.#opts = options;
    this.#agents = options.agents;
    this.#log = options.logger.child("agent-manager");
    this.#now = options.now ?? Date.now;
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
    this.#lastActive.set(sessionId, this.#now());
    mine.add(sessionId);
    this.#byClient.set(clientId, mine);
    this.#perSlug.set(slug, (this.#perSlug.get(slug) ?? 0) + 1);
    this.#log.info("session created", { sessionId, agentId, clientId });
    return agent;
  }

  /**
   * The session's Agent, if `clientId` owns it. Unknown sessions and other
   * clients' sessions both throw the same `session_not_found`, so ids leak
   * nothing. Every command that names a session (chat, refresh, cancel,
   * close) looks it up here, so this also marks the session active.
   */
  getAgentBySession(sessionId: string, clientId: string): Agent {
    const agent = this.#sessions.get(sessionId);
    if (!agent || agent.clientId !== clientId) {
      throw new SessionNotFoundError(sessionId);
    }
    this.#lastActive.set(sessionId, this.#now());
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
    this.#remove(this.getAgentBySession(sessionId, clientId));
    this.#log.info("session closed", { sessionId, clientId });
  }

  /**
   * Closes every session that has been idle for `limits.sessionIdleMs`: no
   * command named it and no reply of it ran for that long. A session with a
   * reply in progress is never closed; the reply's end counts as activity
   * (to within one sweep when the reply was shorter than the sweep interval).
   * The owner gets a `warning` notification per closed session. Returns the
   * closed session ids.
   */
  sweepIdle(): string[] {
    const now = this.#now();
    const limit = this.#opts.limits.sessionIdleMs;
    const closed: string[] = [];
    for (const [sessionId, agent] of this.#sessions) {
      if (agent.busy) {
        this.#lastActive.set(sessionId, now);
        this.#watchReply(sessionId, agent);
        continue;
      }
      const idleMs = now - (this.#lastActive.get(sessionId) ?? now);
      if (idleMs < limit) continue;
      this.#remove(agent);
      closed.push(sessionId);
      const { clientId } = agent;
      this.#log.info("idle session closed", { sessionId, clientId, idleMs });
      this.#frontend?.sendNotification(
        "warning",
        `Your chat with ${
          this.agent(agent.agentId).name
        } (session ${sessionId}) was closed after ${
          duration(idleMs)
        } without activity; start a new chat to continue.`,
        clientId,
      );
    }
    return closed;
  }

  /** Marks the session active again when its reply in progress ends. */
  #watchReply(sessionId: string, agent: Agent): void {
    const settled = agent.settled;
    if (this.#watched.has(settled)) return;
    this.#watched.add(settled);
    const mark = () => {
      if (this.#sessions.get(sessionId) === agent) {
        this.#lastActive.set(sessionId, this.#now());
      }
    };
    void settled.then(mark, mark);
  }

  /** Stops the agent and forgets its session everywhere. */
  #remove(agent: Agent): void {
    const { sessionId, clientId } = agent;
    agent.close();
    this.#sessions.delete(sessionId);
    this.#lastActive.delete(sessionId);
    const mine = this.#byClient.get(clientId);
    mine?.delete(sessionId);
    if (mine?.size === 0) this.#byClient.delete(clientId);
    const slug = slugify(this.agent(agent.agentId).name);
    const left = (this.#perSlug.get(slug) ?? 1) - 1;
    if (left > 0) this.#perSlug.set(slug, left);
    else this.#perSlug.delete(slug);
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

/** 400 -> "0.4 s", 3_600_000 -> "60 minutes": idle times in a person's words. */
function duration(ms: number): string {
  if (ms < 60_000) return `${Math.max(0.1, Math.round(ms / 100) / 10)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return "1 minute";
  if (minutes < 120) return `${minutes} minutes`;
  return `${Math.floor(minutes / 60)} hours`;
}
