/**
 * The Prometheus text exposition format, version 0.0.4, written by hand (no
 * dependency): one `# HELP` and `# TYPE` line per metric family, then its
 * samples, `name{label="value"} number`. Label values escape backslash,
 * double quote and newline; HELP text escapes backslash and newline, as the
 * format requires. Pure: values in, text out.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

/**
 * A sample's value: a number, a bigint (exact, e.g. sat), or a decimal
 * string already formatted (sat with an msat fraction, so no float touches
 * an amount on its way out).
 */
export type SampleValue = number | bigint | string;

export interface Sample {
  /** Appended to the family name: '_bucket', '_sum', '_count' for histograms, '' otherwise. */
  suffix?: string;
  labels?: Labels;
  value: SampleValue;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

export const escapeLabelValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatValue(v: SampleValue): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') {
    if (!DECIMAL.test(v)) throw new Error(`not a decimal sample value: "${v}"`);
    return v;
  }
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function formatLabels(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return '';
  for (const [k] of entries) if (!LABEL.test(k) || k.startsWith('__')) throw new Error(`bad label name "${k}"`);
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

/** The families as one exposition document (ends with a newline). */
export function renderExposition(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`bad metric name "${f.name}"`);
    if (seen.has(f.name)) throw new Error(`metric family ${f.name} given twice`);
    seen.add(f.name);
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ''}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return `${out.join('\n')}\n`;
}

/** An amount in msat as a decimal number of sat ("1234.567"), exact. */
export function msatAsSat(msat: bigint): string {
  const neg = msat < 0n;
  const a = neg ? -msat : msat;
  const frac = a % 1000n;
  const whole = `${neg ? '-' : ''}${a / 1000n}`;
  return frac === 0n ? whole : `${whole}.${frac.toString().padStart(3, '0').replace(/0+$/, '')}`;
}

/**
 * A histogram's observations kept as cumulative bucket counts: `le` bounds
 * ascending (in the unit of the metric, seconds for latencies), plus +Inf.
 */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) if (!(bounds[i]! > bounds[i - 1]!)) throw new Error('histogram bounds must ascend');
    this.counts = bounds.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]!) this.counts[i]!++;
  }

  /** `_bucket` (cumulative, with le="+Inf"), `_sum` and `_count` samples, each with `labels` added. */
  samples(labels: Labels = {}): Sample[] {
    return [
      ...this.bounds.map((b, i) => ({ suffix: '_bucket', labels: { ...labels, le: String(b) }, value: this.counts[i]! })),
      { suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: this.count },
      { suffix: '_sum', labels, value: this.sum },
      { suffix: '_count', labels, value: this.count },
    ];
  }
}

/** Counters keyed by a set of label values, e.g. RPC calls by method and code. */
export class LabelledCounter {
  private readonly values = new Map<string, { labels: Labels; n: number }>();

  inc(labels: Labels, by = 1): void {
    const key = JSON.stringify(Object.entries(labels));
    const cur = this.values.get(key);
    if (cur) cur.n += by;
    else this.values.set(key, { labels, n: by });
  }

  get(labels: Labels): number {
    return this.values.get(JSON.stringify(Object.entries(labels)))?.n ?? 0;
  }

  samples(): Sample[] {
    return [...this.values.values()].map((v) => ({ labels: v.labels, value: v.n }));
  }
}
