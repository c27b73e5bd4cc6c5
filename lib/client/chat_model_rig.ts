/**
 * Shared set-up of the ChatModel tests: a ChatModel against a real
 * protocol-speaking WebSocket server, with fake timers and a memory store.
 */
import type { AgentSummary, UnnumberedEvent } from "../protocol.ts";
import { ChatModel, type KeyValueStore } from "./chat_model.ts";
import {
  type Clock,
  installClock,
  ProtocolServer,
  type ReceivedCommand,
  SocketRecorder,
  until,
} from "./testing.ts";

export const AGENTS: AgentSummary[] = [
  { id: "assistant", name: "Assistant", description: "Helps." },
];
export const CLIENT_ID = "client-0123456789abcdef";

/** sessionStorage's part that the model uses, over a Map. */
export class MemoryStore implements KeyValueStore {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

export interface Rig {
  clock: Clock;
  server: ProtocolServer;
  model: ChatModel;
  recorder: SocketRecorder;
  /** Starts the model the way the page does, on this rig's server. */
  start(): void;
  until(condition: () => boolean, what: string): Promise<void>;
}

/**
 * A ChatModel against a real protocol-speaking server on a real port, with
 * fake timers; `answer` plays the server's side of each command.
 */
export async function withModel(
  store: KeyValueStore,
  answer: (
    command: ReceivedCommand,
    server: ProtocolServer,
  ) => Record<string, unknown> | null,
  body: (rig: Rig) => Promise<void>,
): Promise<void> {
  const clock = installClock();
  const server = new ProtocolServer();
  server.answer = (command) => answer(command, server);
  server.ws.start();
  const recorder = new SocketRecorder();
  const model = new ChatModel(AGENTS);
  try {
    await body({
      clock,
      server,
      model,
      recorder,
      start: () =>
        model.start({
          baseUrl: server.url,
          store,
          random: () => 0,
          connect: recorder.connect,
        }),
      until: (condition, what) => until(condition, what, clock),
    });
  } finally {
    model.connection.value?.stop();
    try {
      await until(() => recorder.allClosed, "client sockets to close", clock);
    } finally {
      await server.ws.stop();
      clock.uninstall();
    }
  }
}

/** What the server sends for a new or refreshed session. */
export function sessionEvents(
  session_id: string,
  history:
    | { message_id: string; role: "user" | "assistant"; content: string }[]
    | null,
): UnnumberedEvent[] {
  const base = { agent_id: "assistant", session_id };
  const events: UnnumberedEvent[] = [
    { type: "system_message", ...base, content: `system of ${session_id}` },
    {
      type: "seed_messages",
      ...base,
      messages: [{ role: "user", content: "seed" }],
    },
  ];
  if (history !== null) {
    events.push({ type: "history", ...base, messages: history, pending: null });
  }
  events.push({
    type: "context_update",
    ...base,
    context: { used_tokens: 10, max_tokens: 100, percentage: 10 },
  });
  return events;
}

export const commandsOf = (
  server: ProtocolServer,
  type: string,
  action?: string,
) =>
  server.commands.filter((c) =>
    c.type === type && (action === undefined || c.action === action)
  );
