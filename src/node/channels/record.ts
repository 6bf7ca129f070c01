/**
 * Channel state as stored in SQLite: the pure Commitments value written as
 * JSON with bigint and byte fields tagged, plus a format version, so the
 * exact state a transition produced is what a restart reads back.
 *
 * JSON rather than a hand-written binary layout: the state is a few KB at
 * most, is written once per commitment round trip, and stays inspectable
 * with the sqlite3 shell when something goes wrong with someone's funds.
 */
import { FeatureVector } from '../../bolt/bolt9/features.ts';
import { type Commitments } from '../../bolt/bolt2/channel/commitments.ts';

export const RECORD_VERSION = 1;

function replacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return { $big: v.toString() };
  if (v instanceof Uint8Array) return { $hex: Buffer.from(v).toString('hex') };
  if (v instanceof FeatureVector) return { $features: v.list() };
  return v;
}

function reviver(_key: string, v: unknown): unknown {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (typeof o.$big === 'string') return BigInt(o.$big);
    if (typeof o.$hex === 'string') return new Uint8Array(Buffer.from(o.$hex, 'hex'));
    if (Array.isArray(o.$features)) return FeatureVector.of(...(o.$features as number[]));
  }
  return v;
}

export class RecordError extends Error {
  override readonly name = 'RecordError';
}

/** Any JSON-shaped value with bigints, bytes and feature vectors. */
export function encodeRecord(value: unknown): string {
  return JSON.stringify({ v: RECORD_VERSION, d: value }, replacer);
}

export function decodeRecord<T>(text: string): T {
  const o = JSON.parse(text, reviver) as { v?: number; d?: T };
  if (o.v !== RECORD_VERSION) throw new RecordError(`stored record has format version ${o.v}, this lnnode reads ${RECORD_VERSION}`);
  return o.d as T;
}

export const encodeCommitments = (c: Commitments): string => encodeRecord(c);
export const decodeCommitments = (s: string): Commitments => decodeRecord<Commitments>(s);
