/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests:
 * every sample must belong to a family announced by # HELP and # TYPE
 * before it (histogram samples by their _bucket/_sum/_count suffix), label
 * values are unescaped, values must parse, a histogram's buckets must be
 * cumulative and end with le="+Inf" equal to its _count. Throws on anything
 * a scraper would reject or misread.
 */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** The value as written (exact, for amounts). */
  raw: string;
}

export interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  samples: ParsedSample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;

function parseLabels(s: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(s.slice(i));
    if (!m) throw new Error(`bad label at "${s.slice(i)}" in: ${line}`);
    i += m[0].length;
    let v = '';
    for (;;) {
      const c = s[i++];
      if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i++];
        if (e === 'n') v += '\n';
        else if (e === '\\' || e === '"') v += e;
        else throw new Error(`bad escape \\${e} in: ${line}`);
      } else v += c;
    }
    if (m[1]! in out) throw new Error(`label ${m[1]} twice in: ${line}`);
    out[m[1]!] = v;
    if (s[i] === ',') i++;
    else if (i < s.length) throw new Error(`expected , after a label in: ${line}`);
  }
  return out;
}

function parseValue(raw: string, line: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  if (raw === 'NaN') return NaN;
  if (!/^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(raw)) throw new Error(`bad value "${raw}" in: ${line}`);
  return Number(raw);
}

export function parseExposition(text: string): Map<string, ParsedFamily> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, ParsedFamily>();
  let help: { name: string; text: string } | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) {
      const m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (!m) throw new Error(`bad HELP: ${line}`);
      help = { name: m[1]!, text: m[2]!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\') };
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (!m) throw new Error(`bad TYPE: ${line}`);
      if (!help || help.name !== m[1]) throw new Error(`TYPE without its HELP: ${line}`);
      if (families.has(m[1]!)) throw new Error(`family ${m[1]} twice`);
      families.set(m[1]!, { name: m[1]!, help: help.text, type: m[2]!, samples: [] });
      continue;
    }
    if (line.startsWith('#') || line === '') throw new Error(`unexpected line: "${line}"`);
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const name = m[1]!;
    const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    const fam = families.get(base);
    if (!fam || (base !== name && fam.type !== 'histogram')) throw new Error(`sample of no announced family: ${line}`);
    fam.samples.push({ name, labels: parseLabels(m[3] ?? '', line), value: parseValue(m[4]!, line), raw: m[4]! });
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: ParsedFamily): void {
  const series = new Map<string, ParsedSample[]>();
  for (const s of f.samples) {
    const { le: _le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    series.set(key, [...(series.get(key) ?? []), s]);
  }
  for (const [key, samples] of series) {
    const buckets = samples.filter((s) => s.name.endsWith('_bucket'));
    const count = samples.find((s) => s.name.endsWith('_count'));
    if (!count || !samples.some((s) => s.name.endsWith('_sum'))) throw new Error(`${f.name} ${key}: no _sum or _count`);
    const last = buckets.at(-1);
    if (last?.labels.le !== '+Inf' || last.value !== count.value) throw new Error(`${f.name} ${key}: last bucket is not +Inf = count`);
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]!.value >= buckets[i - 1]!.value)) throw new Error(`${f.name} ${key}: buckets not cumulative`);
      if (!(Number(buckets[i]!.labels.le === '+Inf' ? Infinity : buckets[i]!.labels.le) > Number(buckets[i - 1]!.labels.le))) throw new Error(`${f.name} ${key}: le not ascending`);
    }
  }
}

/** The value of the one sample of `family` (with that exact suffix) whose labels include `labels`. */
export function sampleOf(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): ParsedSample {
  const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
  const f = families.get(base);
  if (!f) throw new Error(`no family ${base}`);
  const hits = f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
  return hits[0]!;
}
