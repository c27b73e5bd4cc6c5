/**
 * The modal shown while either socket is down: "Connection closed -
 * retrying", the retry count, a countdown to the next try and "Retry now".
 * It goes away by itself once both sockets are back. When another tab took
 * over this client id, it offers to continue here or as a new client.
 */
import { signal } from "@preact/signals";
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { ChatModel } from "../lib/client/chat_model.ts";
import type { ConnectionState } from "../lib/client/connection_manager.ts";

/** The countdown's clock; ticks only while a dialog is shown. */
const now = signal(Date.now());

function useClock(): void {
  useEffect(() => {
    now.value = Date.now();
    const timer = setInterval(() => now.value = Date.now(), 250);
    return () => clearInterval(timer);
  }, []);
}

/** Focus moves into the dialog and back out when it closes. */
function useFocusInside() {
  const button = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    button.current?.focus();
    return () => before?.focus();
  }, []);
  return button;
}

function nextTry(state: ConnectionState): string {
  const sockets = [state.frontend, state.backend];
  if (sockets.some((s) => s.status === "connecting")) return "connecting…";
  const times = sockets.map((s) => s.nextRetryAt).filter((t) => t !== null);
  if (times.length === 0) return "waiting…";
  const seconds = Math.max(
    0,
    Math.ceil((Math.min(...times) - now.value) / 1000),
  );
  return `next try in ${seconds} s`;
}

function Modal(
  { labelledBy, describedBy, children }: {
    labelledBy: string;
    describedBy?: string;
    children: ComponentChildren;
  },
) {
  return (
    <div class="overlay">
      <div
        class="dialog"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby={labelledBy}
        aria-describedby={describedBy}
      >
        {children}
      </div>
    </div>
  );
}

function RetryDialog(
  { model, state }: { model: ChatModel; state: ConnectionState },
) {
  useClock();
  const button = useFocusInside();
  const retries = Math.max(state.frontend.retries, state.backend.retries);
  return (
    <Modal labelledBy="connection-title" describedBy="connection-detail">
      <h2 id="connection-title">Connection closed - retrying</h2>
      <p id="connection-detail">
        <span class="retry-count">Retry {retries}</span> · {nextTry(state)}
      </p>
      <p class="hint">Your chats are kept; they continue when we are back.</p>
      <button type="button" ref={button} onClick={() => model.retryNow()}>
        Retry now
      </button>
    </Modal>
  );
}

function ReplacedDialog({ model }: { model: ChatModel }) {
  const button = useFocusInside();
  return (
    <Modal labelledBy="replaced-title">
      <h2 id="replaced-title">Tandem is open in another tab</h2>
      <p>
        This tab's chats are live in another tab (a duplicated tab shares them).
        Continue here, or start fresh with chats of its own.
      </p>
      <div class="actions">
        <button type="button" ref={button} onClick={() => model.reclaim()}>
          Continue here
        </button>
        <button type="button" onClick={() => model.startAsNewClient()}>
          Start as a new client
        </button>
      </div>
    </Modal>
  );
}

/** The dialog for the page's connection state, or nothing while all is well. */
export function ConnectionDialog({ model }: { model: ChatModel }) {
  const state = model.connection.value?.state.value;
  if (!state) return null;
  if (state.replaced) return <ReplacedDialog model={model} />;
  if (!state.down) return null;
  return <RetryDialog model={model} state={state} />;
}
