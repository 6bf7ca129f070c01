/**
 * How lnnode-cli prints an answer. `--json`: field names as in the proto,
 * bytes as hex, 64-bit integers as strings (no precision lost), enums by
 * their short name. Readable (the default): the same names and the same
 * enum names, one `key: value` a line, with what a person needs beside the
 * raw value: amounts also in sat or BTC, unix times as UTC dates with how
 * long ago, durations in hours and minutes, feature bits by BOLT 9 name.
 */
import { type DescEnum, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { hex } from '../bolt/bytes.ts';
import { featureName } from '../bolt/bolt9/features.ts';

/** An enum value's name without the enum's shared prefix: `OPEN` for INVOICE_STATE_OPEN, in both outputs. */
export function enumName(e: DescEnum, n: number): string {
  return e.values.find((v) => v.number === n)?.localName ?? String(n);
}

/** A proto message as a JSON-ready object. */
export function toJson(schema: DescMessage, msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const scalar = (v: unknown): unknown => (v instanceof Uint8Array ? hex(v) : typeof v === 'bigint' ? v.toString() : v);
  for (const f of schema.fields) {
    const v = msg[f.localName];
    if (f.fieldKind === 'message') out[f.name] = v === undefined ? null : toJson(f.message, v as Record<string, unknown>);
    else if (f.fieldKind === 'enum') out[f.name] = enumName(f.enum, v as number);
    else if (f.fieldKind === 'list') {
      const list = v as unknown[];
      if (f.listKind === 'message') out[f.name] = list.map((x) => toJson(f.message, x as Record<string, unknown>));
      else if (f.listKind === 'enum') out[f.name] = list.map((x) => enumName(f.enum, x as number));
      else out[f.name] = list.map(scalar);
    } else if (f.fieldKind === 'scalar') out[f.name] = scalar(v);
  }
  return out;
}

/** Thousands separated: 1500000 -> 1,500,000. */
export function grouped(n: bigint): string {
  const s = (n < 0n ? -n : n).toString();
  return `${n < 0n ? '-' : ''}${s.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`;
}

/** msat as sat with up to three decimals: 150000500 -> "150,000.5 sat". */
export function msatAsSat(msat: bigint): string {
  const frac = (msat % 1000n).toString().padStart(3, '0').replace(/0+$/, '');
  return `${grouped(msat / 1000n)}${frac ? `.${frac}` : ''} sat`;
}

/** sat as BTC, trailing zeros dropped: 150000 -> "0.0015 BTC". */
export function satAsBtc(sat: bigint): string {
  const frac = (sat % 100_000_000n).toString().padStart(8, '0').replace(/0+$/, '');
  return `${grouped(sat / 100_000_000n)}${frac ? `.${frac}` : ''} BTC`;
}

/** Seconds as "1h 5m 3s" (the largest units that are not zero). */
export function duration(seconds: number): string {
  if (seconds <= 0) return '0s';
  const parts: string[] = [];
  for (const [unit, len] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const k = Math.floor(seconds / len);
    if (k) parts.push(`${k}${unit}`);
    seconds -= k * len;
  }
  return parts.slice(0, 2).join(' ');
}

/** A unix time as "2026-11-26 12:00:00 UTC (5m ago)" against `nowSec`. */
export function humanTime(unix: number, nowSec: number): string {
  const date = new Date(unix * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const d = nowSec - unix;
  const rel = Math.abs(d) < 1 ? 'now' : d > 0 ? `${duration(d)} ago` : `in ${duration(-d)}`;
  return `${date} (${rel})`;
}

const isTimeField = (name: string): boolean => name.endsWith('_unix') || name === 'created_at';
const isDurationField = (name: string): boolean => name.endsWith('_seconds');

/** One scalar the way a person reads it; `nowSec` anchors relative times. */
function readableScalar(f: DescField, v: unknown, nowSec: number): string {
  if (v instanceof Uint8Array) return v.length ? hex(v) : '-';
  if (v === '' || v === undefined || v === null) return '-';
  const n = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : undefined;
  if (n !== undefined) {
    if (isTimeField(f.name)) return n === 0n ? '-' : humanTime(Number(n), nowSec);
    if (f.name.endsWith('_msat')) return n === 0n ? '0' : `${n} (${msatAsSat(n)})`;
    if (f.name.endsWith('_sat')) return n === 0n ? '0' : `${n} (${satAsBtc(n)})`;
    if (isDurationField(f.name) && n > 0n) return `${n} (${duration(Number(n))})`;
  }
  return String(v);
}

/** A proto message as indented `key: value` lines. */
export function readable(schema: DescMessage, msg: Record<string, unknown>, nowSec: number, indent = ''): string {
  const lines: string[] = [];
  for (const f of schema.fields) {
    const v = msg[f.localName];
    const key = `${indent}${f.name}`;
    if (f.fieldKind === 'message') {
      if (v === undefined) lines.push(`${key}: -`);
      else lines.push(`${key}:`, readable(f.message, v as Record<string, unknown>, nowSec, `${indent}  `));
    } else if (f.fieldKind === 'enum') lines.push(`${key}: ${enumName(f.enum, v as number)}`);
    else if (f.fieldKind === 'list') {
      const list = v as unknown[];
      if (!list.length) lines.push(`${key}: (none)`);
      else if (f.listKind === 'message') {
        for (const [i, x] of list.entries()) lines.push(`${key}[${i}]:`, readable(f.message, x as Record<string, unknown>, nowSec, `${indent}  `));
      } else if (f.name === 'features') lines.push(`${key}: ${list.map((b) => featureName(b as number)).join(', ')}`);
      else if (f.listKind === 'enum') lines.push(`${key}: ${list.map((x) => enumName(f.enum, x as number)).join(', ')}`);
      else lines.push(`${key}: ${list.map((x) => readableScalar(f, x, nowSec)).join(', ')}`);
    } else if (f.fieldKind === 'scalar') lines.push(`${key}: ${readableScalar(f, v, nowSec)}`);
  }
  return lines.join('\n');
}
