/**
 * Structured logs: one JSON object a line on stderr, with a level, a
 * component and fields. Never pass secrets (seeds, keys, preimages, tokens)
 * or custom-message payloads as fields: log their sizes (DESIGN.md rule 3).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LogSink {
  write(line: string): void;
}

const stderrSink: LogSink = { write: (line) => process.stderr.write(line) };

function render(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) return `${v.name}: ${v.message}`;
  return v;
}

export function createLogger(opts: { level?: Level; component?: string; sink?: LogSink } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const sink = opts.sink ?? stderrSink;
  const component = opts.component ?? 'lnnode';
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    const rec: Record<string, unknown> = { t: new Date().toISOString(), level, c: component, msg };
    for (const [k, v] of Object.entries(fields ?? {})) rec[k] = render(v);
    sink.write(`${JSON.stringify(rec)}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => createLogger({ level: opts.level, component: `${component}.${c}`, sink }),
  };
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ sink: { write: () => {} } });
