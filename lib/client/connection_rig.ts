/**
 * The rig for the ConnectionManager tests (not shipped to the browser): a
 * ConnectionManager per browser tab against a real protocol-speaking server,
 * and helpers shared by the FrontendAPIService, BackendAPIService and
 * ConnectionManager tests.
 */
import type { FrontendEvent, ResultFrame } from "../protocol.ts";
import {
  ConnectionManager,
  type ConnectionOptions,
  type ConnectionState,
} from "./connection_manager.ts";
import {
  type Clock,
  installClock,
  ProtocolServer,
  SocketRecorder,
  until,
} from "./testing.ts";

/** The client id every tab of the rig connects with. */
export const CLIENT_ID = "client-0123456789abcdef";

export interface Tab {
  manager: ConnectionManager;
  recorder: SocketRecorder;
  events: FrontendEvent[];
  /** How many times onResync was called. */
  resyncs: () => number;
  warnings: string[];
  /** Every combined state, in order. */
  states: ConnectionState[];
}

export interface Rig {
  clock: Clock;
  server: ProtocolServer;
  tab: Tab;
  /** Another browser tab on the same server (cleaned up with the rig). */
  openTab(options?: Partial<ConnectionOptions>): Tab;
  until(condition: () => boolean, what: string): Promise<void>;
  /** Waits until both sockets of `tab` are open. */
  bothOpen(tab?: Tab): Promise<void>;
}

/**
 * A ConnectionManager (one browser tab) against a real protocol-speaking
 * server on a real port; timers and Date are fake. `random` 0 makes every
 * backoff wait 0 ms, so reconnects happen as the test polls. The heartbeat
 * is off unless `options.heartbeat` turns it on.
 */
export async function withRig(
  body: (rig: Rig) => Promise<void>,
  options: Partial<ConnectionOptions> = {},
): Promise<void> {
  const clock = installClock();
  const server = new ProtocolServer();
  server.ws.start();
  const tabs: Tab[] = [];
  const openTab = (extra: Partial<ConnectionOptions> = {}): Tab => {
    const recorder = new SocketRecorder();
    const events: FrontendEvent[] = [];
    const warnings: string[] = [];
    let resyncs = 0;
    const manager = new ConnectionManager({
      baseUrl: server.url,
      clientId: CLIENT_ID,
      random: () => 0,
      connect: recorder.connect,
      warn: (message) => warnings.push(message),
      // Tests that jump the fake clock would race the heartbeat's real I/O.
      heartbeat: null,
      ...options,
      ...extra,
    }, {
      onEvent: (event) => events.push(event),
      onResync: () => resyncs++,
    });
    const states: ConnectionState[] = [];
    manager.state.subscribe((s) => states.push(s));
    const tab = {
      manager,
      recorder,
      events,
      resyncs: () => resyncs,
      warnings,
      states,
    };
    tabs.push(tab);
    return tab;
  };
  const wait = (condition: () => boolean, what: string) =>
    until(condition, what, clock);
  const tab = openTab();
  try {
    await body({
      clock,
      server,
      tab,
      openTab,
      until: wait,
      bothOpen: (t = tab) =>
        wait(() => {
          const s = t.manager.state.value;
          return s.frontend.status === "open" && s.backend.status === "open";
        }, "both sockets open"),
    });
  } finally {
    for (const t of tabs) t.manager.stop();
    try {
      await wait(
        () => tabs.every((t) => t.recorder.allClosed),
        "client sockets to close",
      );
    } finally {
      await server.ws.stop();
      clock.uninstall();
    }
  }
}

/** Frontend-api URLs the tab opened, parsed. */
export function frontendUrls(tab: Tab): URL[] {
  return tab.recorder.urls.map((u) => new URL(u)).filter((u) =>
    u.pathname === "/ws/frontend-api"
  );
}

/** Refuses upgrades of one kind (HTTP 503) until told otherwise. */
export function refuse(
  server: ProtocolServer,
  kind: "frontend" | "backend" | null,
): void {
  server.ws.refuse = kind === null
    ? null
    : (url) =>
      url.pathname === `/ws/${kind}-api`
        ? new Response("down", { status: 503 })
        : null;
}

/** Sends a command and waits for its result: a barrier on the backend socket. */
export async function roundTrip(rig: Rig, tab = rig.tab): Promise<ResultFrame> {
  let result: ResultFrame | null = null;
  void tab.manager.backend.request({ type: "session", action: "list" }).then(
    (r) => result = r,
  );
  await rig.until(() => result !== null, "a round trip");
  return result!;
}
