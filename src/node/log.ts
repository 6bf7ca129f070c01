/**
 * Structured logs: one JSON object a line on stderr, with a level, a
 * component and fields; or, with format 'text', one readable line
 * (`12:00:01.234 INFO  lnnode.rpc  rpc listening host=127.0.0.1 port=10019`,
 * the level coloured when `color`) for a person at a terminal. Never pass
 * secrets (seeds, keys, preimages, tokens) or custom-message payloads as
 * fields: log their sizes (DESIGN.md rule 3).
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text'];
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
  /** Whether a line at `level` is written: a caller skips building fields nobody reads (debug lines on hot paths). */
  enabled(level: Level): boolean;
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

const COLOR: Record<Level, string> = { debug: '\x1b[2m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' };

/** A field's value in a text line: bare when it has no spaces or quotes, else as a JSON string. */
function textValue(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

export function textLine(t: Date, level: Level, component: string, msg: string, fields: Record<string, unknown>, color = false): string {
  const lvl = level.toUpperCase().padEnd(5);
  const kv = Object.entries(fields).map(([k, v]) => `${k}=${textValue(v)}`);
  return [t.toISOString().slice(11, 23), color ? `${COLOR[level]}${lvl}\x1b[0m` : lvl, component, msg, ...kv].join(' ');
}

export function createLogger(opts: { level?: Level; component?: string; sink?: LogSink; format?: LogFormat; color?: boolean } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const sink = opts.sink ?? stderrSink;
  const component = opts.component ?? 'lnnode';
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return;
    const t = new Date();
    const rendered: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields ?? {})) rendered[k] = render(v);
    if (opts.format === 'text') {
      sink.write(`${textLine(t, level, component, msg, rendered, opts.color)}\n`);
      return;
    }
    sink.write(`${JSON.stringify({ t: t.toISOString(), level, c: component, msg, ...rendered })}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => createLogger({ ...opts, component: `${component}.${c}`, sink }),
    enabled: (level) => ORDER[level] >= min,
  };
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ sink: { write: () => {} } });
