/**
 * End-to-end tests of the sync error path on the backend-api socket: every
 * bad command is answered by one `result` frame with `ok: false`, the right
 * code and a message naming what was wrong, and the socket keeps working.
 * Also: no provider configured, upgrade checks (Origin, client, last_seq)
 * and socket replacement.
 */
import assert from "node:assert/strict";
import { Client, Socket, upgradeStatus, withTandem } from "./harness.ts";

type Result = Record<string, unknown> & {
  request_id: string | null;
  ok: boolean;
  error?: { code: string; message: string };
};

/** Generous limits so long case tables are never rate-limited. */
const NO_RATE_LIMIT = { COMMANDS_PER_SECOND: "1000", COMMAND_BURST: "1000" };

/** Sends a raw frame and takes the next `result` frame. */
async function sendRaw(
  client: Client,
  frame: string | Uint8Array,
): Promise<Result> {
  if (typeof frame === "string") client.backend.send(frame);
  else client.backend.ws.send(frame);
  return await client.backend.next<Result>((f) => f.type === "result");
}

/** Asserts a failed result: its code, request id, and what it names. */
function assertFailure(
  result: Result,
  code: string,
  requestId: string | null,
  names: RegExp,
  what = "",
): void {
  const shown = `${what} -> ${JSON.stringify(result)}`;
  assert.equal(result.type, "result", shown);
  assert.equal(result.ok, false, shown);
  assert.equal(result.error?.code, code, shown);
  assert.equal(result.request_id, requestId, shown);
  assert.match(result.error?.message ?? "", names, shown);
}

/** Proves the same backend socket is open and answers commands. */
async function assertStillWorks(client: Client): Promise<void> {
  assert.ok(client.backend.isOpen, "backend socket was closed");
  const list = await client.command({ type: "session", action: "list" });
  assert.equal(list.ok, true, JSON.stringify(list));
  assert.ok(Array.isArray(list.sessions));
}

/** Sends a command and checks its failure, then that the socket still works. */
async function expectRefused(
  client: Client,
  command: Record<string, unknown>,
  code: string,
  names: RegExp,
): Promise<Result> {
  const request_id = client.newRequestId();
  const result = await client.command({ ...command, request_id }) as Result;
  assertFailure(result, code, request_id, names, JSON.stringify(command));
  await assertStillWorks(client);
  return result;
}

const UNKNOWN_SESSION = "assistant_987654";
const list = { type: "session", action: "list" };
const idle = (sid: string) => [
  { session_id: sid, agent_id: "assistant", busy: false },
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The four commands that name a session, for `sessionId`. */
function sessionCommands(sessionId: string): Record<string, unknown>[] {
  const session_id = sessionId;
  return [
    { type: "chat", agent_id: "assistant", session_id, message: "hi" },
    { type: "refresh", agent_id: "assistant", session_id },
    { type: "cancel", session_id },
    { type: "session", action: "close", session_id },
  ];
}

Deno.test("BackendAPI - unknown agent and unknown session are refused with their codes", async () => {
  await withTandem({ env: NO_RATE_LIMIT }, async (_tandem, connect) => {
    const client = await connect();
    const create = { type: "session", action: "create", agent_id: "nope-bot" };
    await expectRefused(client, create, "unknown_agent", /"nope-bot"/);
    for (const command of sessionCommands(UNKNOWN_SESSION)) {
      await expectRefused(client, command, "session_not_found", /987654/);
    }
  });
});

Deno.test("BackendAPI - another client's session is session_not_found, worded like an unknown one", async () => {
  await withTandem({ env: NO_RATE_LIMIT }, async (tandem, connect) => {
    const owner = await connect();
    const other = await connect();
    const sid = await owner.createSession();
    await owner.event("context_update", sid);
    const unknown = sessionCommands(UNKNOWN_SESSION);
    const owned = sessionCommands(sid);
    for (let i = 0; i < owned.length; i++) {
      const code = "session_not_found";
      const a = await expectRefused(other, unknown[i], code, /987654/);
      const b = await expectRefused(other, owned[i], code, new RegExp(sid));
      const form = a.error?.message.replaceAll(UNKNOWN_SESSION, sid);
      assert.equal(b.error?.message, form);
    }
    // Nothing happened to the owner's session, and nothing leaked.
    assert.deepEqual((await owner.command(list)).sessions, idle(sid));
    assert.equal(tandem.fake!.requests.length, 0);
    assert.deepEqual(other.events(), []);
    assert.equal(owner.events().length, 3);
  });
});

Deno.test("BackendAPI - malformed frames get bad_request naming the problem", async () => {
  await withTandem({ env: NO_RATE_LIMIT }, async (_tandem, connect) => {
    const client = await connect();
    const sid = await client.createSession();
    const chat = { type: "chat", agent_id: "assistant", session_id: sid };
    const other = { agent_id: "code-reviewer", session_id: sid };
    // [what, frame (raw text or an object to send as JSON), message pattern]
    const cases: [string, string | Record<string, unknown>, RegExp][] = [
      ["not JSON", "{not json", /JSON/],
      ["an array", "[1,2]", /object/],
      ["a number", "42", /object/],
      ["a string", '"session"', /object/],
      ["null", "null", /object/],
      ["no type", { request_id: "m1" }, /"type"/],
      [
        "an unknown type",
        { type: "frobnicate", request_id: "m2" },
        /frobnicate/,
      ],
      ["no request_id", { type: "session", action: "list" }, /request_id/],
      [
        "chat without message",
        { ...chat, request_id: "m3" },
        /"message".*missing/,
      ],
      ["message: 42", { ...chat, request_id: "m4", message: 42 }, /"message"/],
      ['message: ""', { ...chat, request_id: "m5", message: "" }, /"message"/],
      [
        "an unknown session action",
        { type: "session", action: "explode", request_id: "m6" },
        /"action"/,
      ],
      [
        "a chat with another agent's id",
        { ...chat, ...other, request_id: "m7", message: "hi" },
        new RegExp(`agent_id.*${sid}.*code-reviewer`),
      ],
      [
        "a refresh with another agent's id",
        { type: "refresh", ...other, request_id: "m8" },
        /agent_id/,
      ],
    ];
    for (const [what, frame, pattern] of cases) {
      const text = typeof frame === "string" ? frame : JSON.stringify(frame);
      const id = typeof frame === "string" ? null : frame.request_id ?? null;
      const result = await sendRaw(client, text);
      assertFailure(result, "bad_request", id as string | null, pattern, what);
      await assertStillWorks(client);
    }
    // The refused chats started nothing: the session is idle.
    const list = await client.command({ type: "session", action: "list" });
    assert.deepEqual(list.sessions, [
      { session_id: sid, agent_id: "assistant", busy: false },
    ]);
  });
});

Deno.test("BackendAPI - frames over MAX_FRAME_BYTES and messages over MAX_MESSAGE_CHARS are too_large", async () => {
  const env = { MAX_FRAME_BYTES: "1024", MAX_MESSAGE_CHARS: "100" };
  await withTandem({ env }, async (_tandem, connect) => {
    const client = await connect();
    const sid = await client.createSession();
    const pad = "x".repeat(2048);
    const big = JSON.stringify({ ...list, request_id: "big-1", pad });
    const result = await sendRaw(client, big);
    // An oversized frame is not parsed, but its request_id is still echoed.
    assert.equal(result.request_id, "big-1");
    assertFailure(result, "too_large", result.request_id, /\b1024\b/);
    await assertStillWorks(client);

    const chat = { type: "chat", agent_id: "assistant", session_id: sid };
    const long = { ...chat, message: "y".repeat(101) };
    await expectRefused(client, long, "too_large", /message.*\b100\b/);
    // Exactly at the limit is accepted.
    const ok = await client.command({ ...chat, message: "z".repeat(100) });
    assert.equal(ok.ok, true, JSON.stringify(ok));
    await client.event("agent_response", sid);
  });
});

Deno.test("BackendAPI - a frame over HARD_FRAME_BYTES closes the socket with 1009; a new one works", async () => {
  const env = { MAX_FRAME_BYTES: "1024", HARD_FRAME_BYTES: "4096" };
  await withTandem({ env }, async (_tandem, connect) => {
    const client = await connect();
    const pad = "x".repeat(8 * 1024);
    client.backend.send({ ...list, request_id: "huge", pad });
    const closed = await client.backend.closed;
    assert.equal(closed.code, 1009);
    assert.ok(client.frontend.isOpen, "frontend socket should stay open");
    await client.connectBackend();
    await assertStillWorks(client);
    const sid = await client.createSession();
    await client.event("context_update", sid);
  });
});

Deno.test("BackendAPI - a binary frame is bad_request and the socket stays open", async () => {
  await withTandem({}, async (_tandem, connect) => {
    const client = await connect();
    const json = JSON.stringify({ ...list, request_id: "bin" });
    const result = await sendRaw(client, new TextEncoder().encode(json));
    assertFailure(result, "bad_request", null, /binary/);
    await assertStillWorks(client);
  });
});

Deno.test("BackendAPI - ack: a bad seq is bad_request with request_id null, a valid ack gets no reply", async () => {
  await withTandem({ env: NO_RATE_LIMIT }, async (_tandem, connect) => {
    const client = await connect();
    const sid = await client.createSession();
    await client.event("context_update", sid);
    for (const seq of ['"abc"', "-1", "1.5", "null"]) {
      const result = await sendRaw(client, `{"type":"ack","seq":${seq}}`);
      assertFailure(result, "bad_request", null, /"seq"/, `seq ${seq}`);
      await assertStillWorks(client);
    }
    const missing = await sendRaw(client, '{"type":"ack"}');
    assertFailure(missing, "bad_request", null, /"seq".*missing/);
    await assertStillWorks(client);

    const before = client.backend.frames.length;
    client.backend.send({ type: "ack", seq: 3 });
    client.backend.send({ ...list, request_id: "after-ack" });
    const next = await client.backend.next();
    assert.equal(next.request_id, "after-ack", JSON.stringify(next));
    assert.equal(next.ok, true);
    await sleep(100);
    assert.equal(client.backend.frames.length, before + 1);
  });
});

Deno.test("BackendAPI - over COMMANDS_PER_SECOND commands are rate_limited, then work again", async () => {
  const env = { COMMANDS_PER_SECOND: "5", COMMAND_BURST: "5" };
  await withTandem({ env }, async (_tandem, connect) => {
    const client = await connect();
    const ids = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
    for (const request_id of ids) client.backend.send({ ...list, request_id });
    const results: Result[] = [];
    for (const id of ids) {
      results.push(
        await client.backend.next<Result>((f) => f.request_id === id),
      );
    }
    const ok = results.filter((r) => r.ok).length;
    assert.ok(ok >= 5 && ok < 20, `${ok} of 20 ok`);
    for (const r of results.filter((r) => !r.ok)) {
      assertFailure(r, "rate_limited", r.request_id, /\b5 commands per second/);
    }
    assert.equal(client.backend.frames.length, 20, "one result per command");
    await sleep(1200);
    await assertStillWorks(client);
  });
});

Deno.test("BackendAPI - __proto__ and constructor keys are answered normally", async () => {
  await withTandem({ env: NO_RATE_LIMIT }, async (_tandem, connect) => {
    const client = await connect();
    const polluted = { polluted: "yes" };
    const listed = await sendRaw(
      client,
      `{"type":"session","action":"list","request_id":"p1","__proto__":${
        JSON.stringify(polluted)
      }}`,
    );
    assert.equal(listed.ok, true, JSON.stringify(listed));
    assert.equal(listed.request_id, "p1");
    const create = { type: "session", action: "create", agent_id: "assistant" };
    const constructor = { prototype: polluted };
    const created = await sendRaw(
      client,
      JSON.stringify({ ...create, request_id: "p2", constructor }),
    );
    assert.equal(created.ok, true, JSON.stringify(created));
    for (const type of ["__proto__", "constructor", "toString"]) {
      const r = await sendRaw(client, `{"type":"${type}","request_id":"t"}`);
      assertFailure(r, "bad_request", "t", new RegExp(`"${type}"`));
      await assertStillWorks(client);
    }
    for (const name of ["__proto__", "constructor", "hasOwnProperty"]) {
      const named = new RegExp(`"${name}"`);
      const agent = { ...create, agent_id: name };
      await expectRefused(client, agent, "unknown_agent", named);
      const cancel = { type: "cancel", session_id: name };
      await expectRefused(client, cancel, "session_not_found", named);
    }
    const again = JSON.stringify({ ...list, request_id: "__proto__" });
    const first = await sendRaw(client, again);
    assert.equal(first.ok, true, JSON.stringify(first));
    assert.deepEqual(await sendRaw(client, again), first);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    await assertStillWorks(client);
  });
});

Deno.test("Not configured - sessions work, chat is not_configured naming OPENAI_API_KEY, one warning logged", async () => {
  await withTandem({ provider: false }, async (tandem, connect) => {
    const client = await connect();
    const sid = await client.createSession();
    const system = await client.event("system_message", sid);
    const seeds = await client.event("seed_messages", sid);
    await client.event("context_update", sid);
    assert.ok((system as { content: string }).content.length > 0);
    assert.ok((seeds as { messages: unknown[] }).messages.length > 0);
    const chat = { type: "chat", agent_id: "assistant", session_id: sid };
    const hi = { ...chat, message: "hi" };
    await expectRefused(client, hi, "not_configured", /OPENAI_API_KEY/);
    assert.deepEqual((await client.command(list)).sessions, idle(sid));
    const lines = tandem.logs.filter((l) => /no model provider/i.test(l));
    assert.equal(lines.length, 1, tandem.logs.join("\n"));
    assert.match(lines[0], /\bWARN\b/);
  });
});

Deno.test("Sockets - Origin, client and last_seq are checked before the upgrade", async () => {
  const allowed = ["http://a.example", "https://b.example:8443"];
  const env = { ALLOWED_ORIGINS: allowed.join(", ") };
  await withTandem({ env }, async (tandem) => {
    const port = tandem.server.port;
    let n = 0;
    const id = () => `origin-check-${++n}-${"q".repeat(8)}`;
    for (const path of ["/ws/frontend-api", "/ws/backend-api"]) {
      const expect = async (
        status: number,
        query: string,
        headers: Record<string, string> = {},
      ) => {
        const got = await upgradeStatus(port, `${path}?${query}`, headers);
        const what = `${path}?${query} ${JSON.stringify(headers)}`;
        assert.equal(got.status, status, what);
      };
      const origin = (o: string) => ({ Origin: o });
      await expect(403, `client=${id()}`, origin("http://evil.example"));
      await expect(
        403,
        `client=${id()}`,
        origin(`http://127.0.0.1:${port + 1}`),
      );
      await expect(101, `client=${id()}`, origin(`http://127.0.0.1:${port}`));
      await expect(101, `client=${id()}`);
      for (const o of allowed) await expect(101, `client=${id()}`, origin(o));
      await expect(400, "");
      await expect(400, "client=");
      await expect(400, `client=${"a".repeat(15)}`);
      await expect(101, `client=${"b".repeat(16)}`);
      await expect(101, `client=${"c".repeat(128)}`);
      await expect(400, `client=${"d".repeat(129)}`);
      await expect(400, `client=abc!${"e".repeat(16)}`);
      if (path === "/ws/frontend-api") {
        await expect(400, `client=${id()}&last_seq=abc`);
        await expect(101, `client=${id()}&last_seq=5`);
      }
    }
  });
});

Deno.test("Sockets - a real WebSocket with a foreign Origin does not open", async () => {
  await withTandem({}, async (tandem) => {
    for (const path of ["/ws/frontend-api", "/ws/backend-api"]) {
      const url = `${tandem.wsBase}${path}?client=real-origin-test-client`;
      const bad = new Socket(url, { Origin: "http://evil.example" });
      await assert.rejects(bad.opened);
      await bad.closed;
      const good = new Socket(url, { Origin: tandem.server.url });
      await good.opened;
      await good.close();
    }
  });
});

Deno.test("Sockets - a second socket for the same client replaces the first with 4000 replaced", async () => {
  await withTandem({}, async (tandem, connect) => {
    const client = await connect();
    const query = `?client=${client.id}`;
    const backend = new Socket(`${tandem.wsBase}/ws/backend-api${query}`);
    const frontend = new Socket(`${tandem.wsBase}/ws/frontend-api${query}`);
    try {
      await backend.opened;
      const oldBackend = await client.backend.closed;
      assert.equal(oldBackend.code, 4000);
      assert.equal(oldBackend.reason, "replaced");
      await frontend.opened;
      await frontend.next((f) => f.type === "connected");
      const oldFrontend = await client.frontend.closed;
      assert.equal(oldFrontend.code, 4000);
      assert.equal(oldFrontend.reason, "replaced");
      // The new pair carries the client's traffic.
      const create = {
        type: "session",
        action: "create",
        agent_id: "assistant",
      };
      backend.send({ ...create, request_id: "new-1" });
      const created = await backend.next((f) => f.request_id === "new-1");
      assert.equal(created.ok, true, JSON.stringify(created));
      const event = await frontend.next((f) => f.type === "system_message");
      assert.equal(event.session_id, created.session_id);
    } finally {
      await backend.close();
      await frontend.close();
    }
  });
});
