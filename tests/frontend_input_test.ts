/**
 * What the browser may send on the frontend-api socket (Tandem's addition:
 * heartbeats): a ping gets an unnumbered pong; anything else a numbered
 * `error` event with the protocol's codes; floods and oversized frames are
 * handled as on the backend-api socket. Also the backend-api `ping` command.
 */
import assert from "node:assert/strict";
import { type Client, withTandem } from "./harness.ts";

type ErrorEvent = {
  type: "error";
  seq: number;
  agent_id: string | null;
  session_id: string | null;
  code: string;
  error: string;
};

/** Sends a raw frame on the frontend socket and takes the next frame. */
async function answerTo(
  client: Client,
  frame: string | Uint8Array,
): Promise<Record<string, unknown>> {
  if (typeof frame === "string") client.frontend.send(frame);
  else client.frontend.ws.send(frame);
  return await client.frontend.next((f) => f.type !== "connected");
}

Deno.test("Frontend socket - a ping gets an unnumbered pong; events keep their seqs", async () => {
  await withTandem({}, async (_tandem, connect) => {
    const client = await connect();
    assert.deepEqual(await answerTo(client, '{"type":"ping"}'), {
      type: "pong",
    });
    // Fields besides type are ignored, as in commands.
    assert.deepEqual(await answerTo(client, '{"type":"ping","n":1}'), {
      type: "pong",
    });
    const sessionId = await client.createSession();
    await client.event("context_update", sessionId);
    client.frontend.send('{"type":"ping"}');
    await client.frontend.next((f) => f.type === "pong");
    assert.deepEqual(client.events().map((e) => e.seq), [1, 2, 3]);
    const pongs = client.frontend.all().filter((f) => f.type === "pong");
    assert.equal(pongs.length, 3, "one pong per ping, none unasked");
  });
});

Deno.test("Frontend socket - any other frame gets a numbered error event with its code; the socket stays open", async () => {
  await withTandem(
    { env: { MAX_FRAME_BYTES: "1024" } },
    async (_tandem, connect) => {
      const client = await connect();
      const cases: [string | Uint8Array, string, RegExp][] = [
        ["not json", "bad_request", /not valid JSON/],
        ["[1]", "bad_request", /must be a JSON object/],
        ['"ping"', "bad_request", /must be a JSON object/],
        ["{}", "bad_request", /field "type" is missing/],
        ['{"type":null}', "bad_request", /field "type" is invalid/],
        [
          '{"type":"chat","request_id":"r1","agent_id":"assistant"}',
          "bad_request",
          /unknown type "chat"/,
        ],
        ['{"type":"ack","seq":1}', "bad_request", /unknown type "ack"/],
        [new Uint8Array([123, 125]), "bad_request", /binary frames/],
        [
          JSON.stringify({ type: "ping", pad: "x".repeat(2000) }),
          "too_large",
          /frame is 2024 bytes; the limit is 1024 bytes/,
        ],
      ];
      let seq = 0;
      for (const [frame, code, says] of cases) {
        const shown = typeof frame === "string" ? frame.slice(0, 60) : "binary";
        const event = await answerTo(client, frame) as ErrorEvent;
        assert.equal(event.type, "error", shown);
        assert.equal(event.seq, ++seq, shown);
        assert.equal(event.code, code, shown);
        assert.equal(event.agent_id, null, shown);
        assert.equal(event.session_id, null, shown);
        assert.match(event.error, says, shown);
        if (code === "bad_request") {
          assert.match(event.error, /takes only \{"type":"ping"\}/, shown);
          assert.match(event.error, /\/ws\/backend-api/, shown);
        }
      }
      assert.ok(client.frontend.isOpen);
      assert.deepEqual(await answerTo(client, '{"type":"ping"}'), {
        type: "pong",
      });
    },
  );
});

Deno.test("Frontend socket - a frame over HARD_FRAME_BYTES closes it with 1009; a new one works", async () => {
  await withTandem(
    { env: { MAX_FRAME_BYTES: "1024", HARD_FRAME_BYTES: "4096" } },
    async (tandem, connect) => {
      const client = await connect();
      for (const frame of ["x".repeat(5000), new Uint8Array(5000)]) {
        if (typeof frame === "string") client.frontend.send(frame);
        else client.frontend.ws.send(frame);
        const closed = await client.frontend.closed;
        assert.equal(closed.code, 1009);
        assert.equal(closed.reason, "frame over 4096 bytes");
        await client.connectFrontend();
        assert.deepEqual(await answerTo(client, '{"type":"ping"}'), {
          type: "pong",
        });
      }
      assert.ok(tandem.logs.some((l) => l.includes("over the hard limit")));
    },
  );
});

Deno.test("Frontend socket - frames share the client's command budget: rate_limited, then 1008 for a flood", async () => {
  await withTandem(
    { env: { COMMANDS_PER_SECOND: "1", COMMAND_BURST: "3" } },
    async (_tandem, connect) => {
      const client = await connect();
      for (let i = 0; i < 3; i++) {
        const list = await client.command({ type: "session", action: "list" });
        assert.equal(list.ok, true);
      }
      // The backend socket spent the budget: a ping now is one too many.
      const limited = await answerTo(client, '{"type":"ping"}') as ErrorEvent;
      assert.equal(limited.code, "rate_limited", JSON.stringify(limited));
      assert.equal(limited.seq, 1);
      assert.match(limited.error, /more than 1 commands per second/);

      // Sustained abuse (500 limited in a row) closes the flooding socket
      // only. Bursts end exactly on the 500th: Deno drops its close frame
      // when more frames arrive during the close handshake.
      let run = 1;
      let closeCode: number | null = null;
      for (let burst = 0; burst < 20 && closeCode === null; burst++) {
        const size = 500 - run;
        for (let i = 0; i < size; i++) client.frontend.send('{"type":"ping"}');
        for (let i = 0; i < size; i++) {
          const answer = await client.frontend.next(
            (f) => f.type !== "connected",
          ).catch(() => null);
          if (answer === null) {
            closeCode = (await client.frontend.closed).code;
            assert.equal(i, size - 1, "closed at the 500th in a row");
            break;
          }
          // A token that came back in between starts the count again.
          run = answer.type === "pong" ? 0 : run + 1;
          if (answer.type !== "pong") {
            assert.equal((answer as ErrorEvent).code, "rate_limited");
          }
        }
      }
      assert.equal(closeCode, 1008);
      assert.ok(client.backend.isOpen, "the backend socket stays");
    },
  );
});

Deno.test("BackendAPI - ping is answered ok, counts against the rate limit, and is not remembered", async () => {
  await withTandem(
    { env: { COMMANDS_PER_SECOND: "100000", COMMAND_BURST: "100000" } },
    async (tandem, connect) => {
      const client = await connect();
      const create = {
        type: "session",
        request_id: "create-1",
        action: "create",
        agent_id: "assistant",
      };
      const created = await client.command(create);
      assert.equal(created.ok, true);
      const exact = await client.command({ type: "ping", request_id: "p-0" });
      assert.deepEqual(exact, { type: "result", request_id: "p-0", ok: true });

      // More pings than answers are kept: the create's answer stays.
      for (let i = 1; i <= 1001; i++) {
        client.backend.send({ type: "ping", request_id: `p-${i}` });
      }
      await client.backend.next((f) => f.request_id === "p-1001", 10_000);
      const again = await client.command(create);
      assert.deepEqual(again, created, "answered from memory, not run again");
      const list = await client.command({ type: "session", action: "list" });
      assert.equal((list.sessions as unknown[]).length, 1);

      // Not remembered either: the same id is answered afresh, and ok.
      const twice = await client.command({ type: "ping", request_id: "p-0" });
      assert.deepEqual(twice, exact);
      client.backend.send({ type: "ping", request_id: "" });
      const bad = await client.backend.next((f) => f.request_id === null);
      assert.equal(bad.ok, false);
      assert.equal(bad.request_id, null);
      assert.match(
        (bad.error as { message: string }).message,
        /field "request_id" is invalid/,
      );
      assert.deepEqual(tandem.logs, []);
    },
  );
  await withTandem(
    { env: { COMMANDS_PER_SECOND: "1", COMMAND_BURST: "2" } },
    async (_tandem, connect) => {
      const client = await connect();
      const codes = [];
      for (let i = 0; i < 3; i++) {
        const result = await client.command({ type: "ping" });
        codes.push(result.ok ? "ok" : (result.error as { code: string }).code);
      }
      assert.deepEqual(codes, ["ok", "ok", "rate_limited"]);
    },
  );
});
