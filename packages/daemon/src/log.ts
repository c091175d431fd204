/** Structured logs: one JSON object per line on stderr ({ time, level, msg, ...fields }). */
export type LogLevel = "debug" | "info" | "warn" | "error";
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const errorFields = (v: unknown): unknown =>
  v instanceof Error
    ? {
        name: v.name,
        message: v.message,
        stack: v.stack,
        ...(v.cause !== undefined ? { cause: errorFields(v.cause) } : {}),
      }
    : v;

export function createLogger(
  level: LogLevel = "info",
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const emit = (lvl: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
    if (order[lvl] < order[level]) return;
    const out: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg };
    for (const [k, v] of Object.entries(fields)) out[k] = errorFields(v);
    write(`${JSON.stringify(out)}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

export const isLogLevel = (s: string): s is LogLevel => s in order;
