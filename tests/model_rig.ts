/**
 * Shared steps of the model fault and retry suites: a session to chat in,
 * the checks that a conversation stayed consistent and that the next message
 * works, and a provider that cannot be reached.
 */
import assert from "node:assert/strict";
import type { FrontendEvent } from "../lib/protocol.ts";
import { Client, type Tandem } from "./harness.ts";

export type Ev<T extends FrontendEvent["type"]> = Extract<
  FrontendEvent,
  { type: T }
>;
type Turn = { role: "user" | "assistant"; content: string };

/** The key the harness gives Tandem; it must never reach a client or a log. */
export const API_KEY = "sk-test-secret";
export const FIRST = "What is the capital of France?";
export const SECOND = "And of Italy?";
/** Retries with waits of a few ms, so the suites run in seconds. */
export const FAST_RETRIES = {
  LLM_MAX_RETRIES: "2",
  LLM_RETRY_BUDGET_MS: "5000",
  LLM_RETRY_BASE_MS: "20",
};
export const RETRYING = /INFO .*model call failed; retrying/;

export interface Chat {
  tandem: Tandem;
  client: Client;
  sid: string;
  /** The system prompt and seeds, as the model receives them. */
  preamble: { role: string; content: string }[];
  /** Seq of the session's last event before any chat. */
  createdSeq: number;
  send(message: string): Promise<Record<string, unknown>>;
  /** Events of the session after `seq`. */
  since(seq: number): FrontendEvent[];
}

/** Connects a client and opens a session of the "assistant" agent. */
export async function openChat(tandem: Tandem): Promise<Chat> {
  const client = await Client.connect(tandem);
  const sid = await client.createSession();
  const system = await client.event<Ev<"system_message">>(
    "system_message",
    sid,
  );
  const seeds = await client.event<Ev<"seed_messages">>("seed_messages", sid);
  const created = await client.event("context_update", sid);
  return {
    tandem,
    client,
    sid,
    preamble: [{ role: "system", content: system.content }, ...seeds.messages],
    createdSeq: created.seq,
    send: (message) =>
      client.command({
        type: "chat",
        agent_id: "assistant",
        session_id: sid,
        message,
      }),
    since: (seq) =>
      client.events().filter((e) =>
        e.seq > seq && "session_id" in e && e.session_id === sid
      ),
  };
}

/** A refresh shows exactly `turns`, and no reply still being generated. */
export async function expectHistory(chat: Chat, turns: Turn[]): Promise<void> {
  const { client, sid } = chat;
  const refreshed = await client.command({
    type: "refresh",
    agent_id: "assistant",
    session_id: sid,
  });
  assert.equal(refreshed.ok, true, JSON.stringify(refreshed));
  const history = await client.event<Ev<"history">>("history", sid);
  assert.deepEqual(
    history.messages.map(({ role, content }) => ({ role, content })),
    turns,
  );
  assert.equal(history.pending, null, "no reply pending");
  await contextAfter(client, sid, history.seq);
}

/** The first context_update of the session after `seq`. */
function contextAfter(
  client: Client,
  sid: string,
  seq: number,
): Promise<Ev<"context_update">> {
  return client.frontend.next<Ev<"context_update">>(
    (f) =>
      f.type === "context_update" && f.session_id === sid &&
      (f.seq as number) > seq,
    5000,
    "context_update",
  );
}

/**
 * The next message is answered in full, and the model saw `turns` before it:
 * the conversation Tandem kept is the one the person saw.
 */
export async function expectNextWorks(
  chat: Chat,
  turns: Turn[],
): Promise<void> {
  const { client, sid, tandem } = chat;
  const accepted = await chat.send(SECOND);
  assert.equal(accepted.ok, true, JSON.stringify(accepted));
  const reply = await client.event<Ev<"agent_response">>(
    "agent_response",
    sid,
    10_000,
  );
  assert.equal(reply.response.content, `Echo: ${SECOND}`);
  assert.equal(reply.response.finish_reason, "stop");
  const after = await contextAfter(client, sid, reply.seq);
  assert.equal(after.seq, reply.seq + 1, "context_update right after");
  assert.deepEqual(tandem.fake!.requests.at(-1)!.body.messages, [
    ...chat.preamble,
    ...turns,
    { role: "user", content: SECOND },
  ]);
}

/**
 * Lines above debug name what failed (kind, status, attempt) but carry no
 * key, no conversation and nothing the provider wrote (`secrets`).
 */
export function expectQuietLogs(tandem: Tandem, secrets: string[]): void {
  const logs = tandem.logs.filter((l) => !/ DEBUG /.test(l)).join("\n");
  for (const secret of [API_KEY, FIRST, SECOND, ...secrets]) {
    assert.ok(!logs.includes(secret), `"${secret}" in the logs:\n${logs}`);
  }
}

/** Polls until `count` log lines match `re`. */
export async function waitForLogs(
  tandem: Tandem,
  re: RegExp,
  count = 1,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (tandem.logs.filter((l) => re.test(l)).length < count) {
    if (Date.now() > deadline) {
      throw new Error(
        `no ${count} log lines ${re}:\n${tandem.logs.join("\n")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A port nothing listens on (it was free a moment ago). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Forwards chat-completion requests on `port` to FakeOpenAI at `target`. */
export function proxy(port: number, target: string): Deno.HttpServer {
  return Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    async (req) =>
      await fetch(target.replace(/\/v1$/, "") + new URL(req.url).pathname, {
        method: req.method,
        headers: {
          "content-type": "application/json",
          authorization: req.headers.get("authorization") ?? "",
        },
        body: await req.text(),
      }),
  );
}
