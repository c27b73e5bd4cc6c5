/**
 * GET /: the chat page. The island is rendered here with the same props the
 * browser bundle hydrates it with (from the JSON script below it), so the
 * first paint is the real page and hydration changes nothing.
 */
import type { Context } from "hono";
import { renderToString } from "preact-render-to-string";
import { ChatApp } from "../islands/ChatApp.tsx";
import { summarizeAgent } from "../lib/agent_config.ts";
import { type Assets, BUILD_COMMAND } from "../lib/assets.ts";
import { ChatModel } from "../lib/client/chat_model.ts";
import { jsonForScript } from "../lib/html.ts";
import type { AppEnv } from "../lib/objects_registry.ts";
import type { AgentSummary } from "../lib/protocol.ts";

function Page(
  { agents, assets }: { agents: AgentSummary[]; assets: Assets | null },
) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>Tandem</title>
        {assets && <link rel="stylesheet" href={assets.stylesUrl} />}
        {assets && <script type="module" src={assets.islandUrl} />}
      </head>
      <body>
        {!assets && (
          <p role="alert" id="tandem-build-missing">
            The browser bundle is missing, so this page cannot chat. Run{" "}
            <code>{BUILD_COMMAND}</code> and restart the server.
          </p>
        )}
        <div id="tandem-app">
          <ChatApp model={new ChatModel(agents)} />
        </div>
        <script
          type="application/json"
          id="tandem-props"
          dangerouslySetInnerHTML={{ __html: jsonForScript({ agents }) }}
        />
      </body>
    </html>
  );
}

export const handler = (c: Context<AppEnv>): Response => {
  const objects = c.get("objects");
  const agents = objects.agentManager.agents().map(summarizeAgent);
  return c.html(
    "<!doctype html>" +
      renderToString(<Page agents={agents} assets={objects.assets} />),
  );
};
