/**
 * The one small logger. Lines go to stderr as `time LEVEL [scope] message
 * {context}`. LOG_LEVEL (debug, info, warn, error, silent) filters them.
 */

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  silent: 100,
};

export interface Logger {
  debug(message: string, context?: Record<string, unknown>): void;
  info(message: string, context?: Record<string, unknown>): void;
  warn(message: string, context?: Record<string, unknown>): void;
  error(message: string, context?: Record<string, unknown>): void;
  /** A logger whose lines carry `scope` (e.g. "backend-api"). */
  child(scope: string): Logger;
}

/** Where log lines go; tests swap it to capture lines. */
export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => {
  // The one sanctioned place that writes log lines.
  console.error(line);
};

function formatContext(context?: Record<string, unknown>): string {
  if (!context || Object.keys(context).length === 0) return "";
  try {
    return " " + JSON.stringify(context, (_key, value) => {
      if (value instanceof Error) {
        return { name: value.name, message: value.message };
      }
      return value;
    });
  } catch {
    return " {unserializable context}";
  }
}

/** Reads a log level name, falling back to `info` for unknown names. */
export function parseLogLevel(value: string | undefined): LogLevel {
  const level = (value ?? "info").toLowerCase();
  return level in ORDER ? level as LogLevel : "info";
}

/** Creates a logger that writes lines at `level` and above to `sink`. */
export function createLogger(
  level: LogLevel = "info",
  sink: LogSink = stderrSink,
  scope = "tandem",
): Logger {
  const write = (at: Exclude<LogLevel, "silent">) =>
  (
    message: string,
    context?: Record<string, unknown>,
  ) => {
    if (ORDER[at] < ORDER[level]) return;
    sink(
      `${new Date().toISOString()} ${at.toUpperCase()} [${scope}] ${message}${
        formatContext(context)
      }`,
    );
  };
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (child) => createLogger(level, sink, `${scope}:${child}`),
  };
}
