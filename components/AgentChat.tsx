/**
 * One chat window: "Loading agent" until the session exists, then the
 * system and seed messages, the conversation (the reply streams in), the
 * context bar and the input. Enter sends, Shift+Enter makes a new line.
 */
import { useEffect, useLayoutEffect, useRef } from "preact/hooks";
import type { ChatModel } from "../lib/client/chat_model.ts";
import type { ChatWindow, EntryRole } from "../lib/client/chat_window.ts";
import type { ContextUsage } from "../lib/protocol.ts";
import { Markdown } from "./Markdown.tsx";

interface BubbleProps {
  role: EntryRole;
  who: string;
  content: string;
  /** Still streaming: the text may grow. */
  streaming?: boolean;
  note?: string;
}

function Bubble({ role, who, content, streaming = false, note }: BubbleProps) {
  return (
    <article
      class={`msg ${role}${streaming ? " streaming" : ""}`}
      data-role={role}
    >
      <h3 class="who">{who}</h3>
      {role === "assistant"
        ? <Markdown text={content} done={!streaming} />
        : <p class="plain">{content}</p>}
      {note && <p class="note">{note}</p>}
    </article>
  );
}

/** One decimal below 10 %, so a short chat does not read "0%". */
function percent(value: number): string {
  return `${value < 10 ? value.toFixed(1) : Math.round(value)}%`;
}

function ContextBar({ context }: { context: ContextUsage | null }) {
  if (context === null) return null;
  const used = context.used_tokens.toLocaleString("en");
  const max = context.max_tokens.toLocaleString("en");
  return (
    <div class="context">
      <progress
        max={context.max_tokens}
        value={Math.min(context.used_tokens, context.max_tokens)}
        aria-label="Context window used"
      />
      <span class="context-text">
        {used} / {max} tokens ({percent(context.percentage)})
      </span>
    </div>
  );
}

const FINISH_NOTES: Record<string, string> = {
  cancelled: "Stopped.",
  length: "Cut off: the reply reached its length limit.",
};

/** A chat window on one session of one agent. */
export function AgentChat({ model, w }: { model: ChatModel; w: ChatWindow }) {
  const log = useRef<HTMLDivElement>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const status = w.status.value;
  const entries = w.entries.value;
  const pending = w.pending.value;
  const busy = w.busy.value;
  const draft = w.draft.value;
  const name = w.agent.name;
  const ready = status === "ready";

  // Follow the conversation unless the person scrolled up to read; before
  // paint, so new text never shows below the fold first.
  const following = useRef(true);
  const seeds = w.seeds.value;
  useLayoutEffect(() => {
    const element = log.current;
    if (element && following.current) element.scrollTop = element.scrollHeight;
  }, [seeds, entries, pending?.content]);
  const onScroll = () => {
    const element = log.current!;
    following.current =
      element.scrollHeight - element.scrollTop - element.clientHeight < 40;
  };

  // A window someone just opened takes the focus once it can be typed in.
  useEffect(() => {
    if (ready && w.focusWhenReady) {
      w.focusWhenReady = false;
      input.current?.focus();
    }
  }, [ready]);

  const send = (event: Event) => {
    event.preventDefault();
    void model.send(w);
  };
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      send(event);
    }
  };

  return (
    <section
      class="chat"
      aria-labelledby={`${w.key}-title`}
      data-session={w.sessionId.value ?? ""}
      data-status={status}
    >
      <header class="chat-head">
        <h2 id={`${w.key}-title`}>{name}</h2>
        <span class="session-id">{w.sessionId.value}</span>
        <button
          type="button"
          class="close"
          aria-label={`Close chat with ${name}`}
          onClick={() => model.close(w)}
        >
          ×
        </button>
      </header>
      <div
        class="log"
        ref={log}
        onScroll={onScroll}
        role="log"
        aria-live="polite"
        aria-busy={busy}
        aria-label={`Conversation with ${name}`}
        tabIndex={0}
      >
        {status === "loading" && (
          <p class="loading" role="status">Loading agent…</p>
        )}
        {w.system.value !== null && (
          <article class="msg system" data-role="system">
            <h3 class="who">System</h3>
            <p class="plain">{w.system.value}</p>
          </article>
        )}
        {seeds.map((seed, i) => (
          <Bubble
            key={`seed${i}`}
            role={seed.role}
            who={seed.role === "user" ? "Example question" : name}
            content={seed.content}
          />
        ))}
        {entries.map((entry) => (
          <Bubble
            key={entry.key}
            role={entry.role}
            who={entry.role === "user"
              ? "You"
              : entry.role === "error"
              ? "Error"
              : name}
            content={entry.content}
            note={FINISH_NOTES[entry.finishReason ?? ""]}
          />
        ))}
        {pending && (
          <Bubble
            key={pending.message_id}
            role="assistant"
            who={name}
            content={pending.content}
            streaming
          />
        )}
      </div>
      {(status === "ended" || status === "failed") && (
        <div class="ended" role="alert">
          <p>{w.problem.value}</p>
          <button
            type="button"
            onClick={() =>
              model.restart(w)}
          >
            Start a new chat
          </button>
        </div>
      )}
      <ContextBar context={w.context.value} />
      <form class="compose" onSubmit={send}>
        <label class="visually-hidden" for={`${w.key}-input`}>
          Message to {name}
        </label>
        <textarea
          ref={input}
          id={`${w.key}-input`}
          rows={2}
          placeholder={ready ? `Message ${name}` : ""}
          disabled={!ready}
          value={draft}
          onInput={(e) => w.draft.value = e.currentTarget.value}
          onKeyDown={onKeyDown}
        />
        {busy
          ? (
            <button type="button" onClick={() => void model.stop(w)}>
              Stop
            </button>
          )
          : (
            <button type="submit" disabled={!ready || draft.trim() === ""}>
              Send
            </button>
          )}
      </form>
    </section>
  );
}
