/**
 * The browser entry, bundled by `deno task build`: hydrates the
 * server-rendered ChatApp with the same props, then connects.
 */
import { hydrate } from "preact";
import { ChatModel } from "../lib/client/chat_model.ts";
import type { AgentSummary } from "../lib/protocol.ts";
import { ChatApp } from "./ChatApp.tsx";

const root = document.getElementById("tandem-app")!;
const props = JSON.parse(
  document.getElementById("tandem-props")!.textContent!,
) as { agents: AgentSummary[] };
const model = new ChatModel(props.agents);
hydrate(<ChatApp model={model} />, root);
// Tests and bench/page.ts wait for this mark: the page is interactive.
root.dataset.hydrated = "true";
performance.mark("tandem:hydrated");

model.start({
  baseUrl: `${
    location.protocol === "https:" ? "wss" : "ws"
  }://${location.host}`,
  store: sessionStorage,
  warn: (message) => console.warn(`tandem: ${message}`),
  reload: () => location.reload(),
});
const retry = () => model.retryNow();
addEventListener("online", retry);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") retry();
});
