/** GET /: the agents this server offers. The chat island comes later. */
import type { Context } from "hono";
import { renderToString } from "preact-render-to-string";
import { summarizeAgent } from "../lib/agent_config.ts";
import type { AppEnv } from "../lib/objects_registry.ts";

interface AgentSummary {
  id: string;
  name: string;
  description: string;
}

function Page({ agents }: { agents: AgentSummary[] }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Tandem</title>
      </head>
      <body>
        <main>
          <h1>Tandem</h1>
          <p>
            Agents on this server. Connect with any WebSocket client as
            described in docs/protocol.md.
          </p>
          <ul>
            {agents.map((agent) => (
              <li key={agent.id}>
                <strong>{agent.name}</strong> (<code>{agent.id}</code>):{" "}
                {agent.description}
              </li>
            ))}
          </ul>
        </main>
      </body>
    </html>
  );
}

export const handler = (c: Context<AppEnv>): Response => {
  const agents = c.get("objects").agentManager.agents().map(summarizeAgent);
  return c.html("<!doctype html>" + renderToString(<Page agents={agents} />));
};
