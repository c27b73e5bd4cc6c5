/**
 * Model output as Markdown, rendered by streaming-markdown: it builds DOM
 * nodes and text nodes itself and never parses HTML, so a `<script>` or an
 * `onerror=` in a reply stays visible text. Links and images are the only
 * way in: their URLs are checked here, and images become links.
 */
import { useLayoutEffect, useRef } from "preact/hooks";
import * as smd from "streaming-markdown";

const SAFE_URL = /^(https?:|mailto:|#|\/(?!\/))/i;

/**
 * A renderer that drops URLs with unsafe schemes (javascript:, data:...) and
 * shows images as links: an image loads by itself, so a reply could send the
 * conversation to any server in an image URL. A link waits for a click.
 */
function safeRenderer(root: HTMLElement) {
  const renderer = smd.default_renderer(root);
  renderer.add_token = (data, type) => {
    if (type !== smd.IMAGE) return smd.default_add_token(data, type);
    const link = document.createElement("a");
    link.className = "image-link";
    const parent = data.nodes[data.index];
    data.nodes[++data.index] = parent.appendChild(link);
  };
  renderer.set_attr = (data, type, value) => {
    if (type !== smd.HREF && type !== smd.SRC) {
      return smd.default_set_attr(data, type, value);
    }
    if (!SAFE_URL.test(value.trim())) return;
    const node = data.nodes[data.index];
    node.setAttribute("href", value);
    node.setAttribute("rel", "noopener noreferrer nofollow");
    node.setAttribute("target", "_blank");
  };
  return renderer;
}

interface Written {
  parser: smd.Parser;
  text: string;
  ended: boolean;
}

/**
 * Renders `text` as Markdown. While `done` is false the text may grow; only
 * the new part is parsed, so a streamed reply costs no re-render of what is
 * already on screen.
 */
export function Markdown({ text, done }: { text: string; done: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const written = useRef<Written | null>(null);
  useLayoutEffect(() => {
    const root = ref.current!;
    let state = written.current;
    if (
      state === null || !text.startsWith(state.text) ||
      (state.ended && text !== state.text)
    ) {
      root.replaceChildren();
      state = {
        parser: smd.parser(safeRenderer(root)),
        text: "",
        ended: false,
      };
      written.current = state;
    }
    if (text.length > state.text.length) {
      smd.parser_write(state.parser, text.slice(state.text.length));
      state.text = text;
    }
    if (done && !state.ended) {
      smd.parser_end(state.parser);
      state.ended = true;
    }
  }, [text, done]);
  return <div class="markdown" ref={ref} />;
}
