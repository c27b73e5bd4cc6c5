/**
 * The chat island: the agent list, the open chat windows side by side, the
 * notices and the connection dialog. Rendered on the server with an
 * unconnected model and hydrated in the browser with the same props, so the
 * first paint is the final markup.
 */
import { AgentChat } from "../components/AgentChat.tsx";
import { ConnectionDialog } from "../components/ConnectionDialog.tsx";
import type { ChatModel } from "../lib/client/chat_model.ts";

function Notices({ model }: { model: ChatModel }) {
  const notices = model.notices.value;
  return (
    <div class="notices" role="status" aria-live="polite">
      {notices.map((notice) => (
        <p key={notice.key} class={`notice ${notice.kind}`}>
          <span>{notice.message}</span>
          <button
            type="button"
            aria-label="Dismiss"
            onClick={() =>
              model.dismiss(notice.key)}
          >
            ×
          </button>
        </p>
      ))}
    </div>
  );
}

/** The whole chat UI. */
export function ChatApp({ model }: { model: ChatModel }) {
  const state = model.connection.value?.state.value;
  const blocked = state !== undefined && (state.down || state.replaced);
  const windows = model.windows.value;
  return (
    <>
      <div class="app" inert={blocked}>
        <header class="top">
          <h1>Tandem</h1>
        </header>
        <Notices model={model} />
        <section class="agents" aria-labelledby="agents-title">
          <h2 id="agents-title">Agents</h2>
          {model.agents.length === 0 && (
            <p>No agents are configured. Add a file to the agents folder.</p>
          )}
          <ul>
            {model.agents.map((agent) => (
              <li key={agent.id}>
                <div>
                  <strong>{agent.name}</strong>
                  {agent.description && <p>{agent.description}</p>}
                </div>
                <button
                  type="button"
                  aria-label={`Open chat with ${agent.name}`}
                  onClick={() => model.openChat(agent.id)}
                >
                  Open chat
                </button>
              </li>
            ))}
          </ul>
        </section>
        {windows.length === 0
          ? <p class="hint">Open a chat with an agent to begin.</p>
          : (
            <div class="windows">
              {windows.map((w) => (
                <AgentChat
                  key={w.key}
                  model={model}
                  w={w}
                />
              ))}
            </div>
          )}
      </div>
      <ConnectionDialog model={model} />
    </>
  );
}
