/** GET /api/agents: the configured agents, without their prompts. */
import type { Context } from "hono";
import { summarizeAgent } from "../../lib/agent_config.ts";
import type { AppEnv } from "../../lib/objects_registry.ts";

export const handler = (c: Context<AppEnv>): Response =>
  c.json(c.get("objects").agentManager.agents().map(summarizeAgent));
