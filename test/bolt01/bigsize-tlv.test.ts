/**
 * BOLT #1 Appendices A, B and D: BigSize, TLV streams and signed integers,
 * every vector, with the n1/n2 test namespaces declared as the spec defines them.
 */
import { describe, expect, test } from 'bun:test';
import { Reader, Writer, fromHex, hex } from '../../src/bolt/bytes.ts';
import { DecodeError } from '../../src/bolt/errors.ts';
import { readBigSize, writeBigSize } from '../../src/bolt/bolt1/bigsize.ts';
import { decodeSigned, encodeSignedMinimal } from '../../src/bolt/bolt1/signed.ts';
import {
  decodeTlvStream,
  encodeTlvStream,
  field,
  fixedBytes,
  point,
  tu32,
  tu64,
  u16,
  type TlvCodec,
} from '../../src/bolt/bolt1/tlv.ts';
import { fuzzDecoder } from '../support/fuzz.ts';
import bigsize from '../vectors/bolt01/bigsize.json';
import signed from '../vectors/bolt01/signed-integers.json';
import tlv from '../vectors/bolt01/tlv.json';

describe('BigSize', () => {
  for (const v of bigsize.decoding) {
    test(`vector: decode ${v.name}`, () => {
      const r = new Reader(fromHex(v.bytes));
      if ('exp_error' in v && v.exp_error) {
        let err: unknown;
        try {
          readBigSize(r);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(DecodeError);
        expect((err as DecodeError).reason).toMatch(v.exp_error.includes('canonical') ? /not minimally encoded/ : /needs \d+ bytes/);
      } else {
        expect(readBigSize(r)).toBe(BigInt(v.value));
        expect(r.remaining).toBe(0);
      }
    });
  }
  for (const v of bigsize.encoding) {
    test(`vector: encode ${v.name}`, () => {
      expect(hex(writeBigSize(new Writer(), BigInt(v.value)).finish())).toBe(v.bytes);
    });
  }
});

describe('signed integers', () => {
  for (const v of signed.vectors) {
    test(`vector: s${v.bytes.length * 4} ${v.value}`, () => {
      expect(hex(encodeSignedMinimal(BigInt(v.value)))).toBe(v.bytes);
      expect(decodeSigned(fromHex(v.bytes))).toBe(BigInt(v.value));
    });
  }
});

// The spec's two test namespaces.
const u64Triple: TlvCodec<{ nodeId: Uint8Array; amount1: bigint; amount2: bigint }> = {
  decode(v, f) {
    if (v.length !== 49) throw new DecodeError(f, `expected 49 bytes, got ${v.length}`);
    const r = new Reader(v, f);
    return { nodeId: point.decode(r.bytes(33, 'node_id'), `${f}.node_id`), amount1: r.u64('amount_msat_1'), amount2: r.u64('amount_msat_2') };
  },
  encode: (v) => new Writer(49).bytes(v.nodeId).u64(v.amount1).u64(v.amount2).finish(),
};
const n1 = {
  tlv1: field(1, tu64),
  tlv2: field(2, fixedBytes(8)),
  tlv3: field(3, u64Triple),
  tlv4: field(254, u16),
};
const n2 = { tlv1: field(0, tu64), tlv2: field(11, tu32) };

const decodesIn = (ns: object, stream: string): boolean => {
  try {
    decodeTlvStream(ns as typeof n1, fromHex(stream), 'n');
    return true;
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    return false;
  }
};

describe('TLV streams', () => {
  for (const c of tlv.cases) {
    const label = `${c.valid ? 'valid' : 'invalid'} ${c.group} 0x${c.stream.slice(0, 40)}${c.stream.length > 40 ? '…' : ''}`;
    test(`vector: ${label}`, () => {
      const spaces = c.group === 'n1' || c.group === 'n1-valid' ? [n1] : c.group === 'n2' ? [n2] : [n1, n2];
      for (const ns of spaces) expect(decodesIn(ns, c.stream)).toBe(c.valid);
      if (c.group === 'n1-valid') {
        const s = decodeTlvStream(n1, fromHex(c.stream), 'n1');
        // Values re-encode to the identical stream (canonical encoding).
        expect(hex(encodeTlvStream(n1, s.values, s.unknown))).toBe(c.stream);
        expect(c.note ?? '').toContain(Object.keys(s.values)[0]!);
      }
    });
  }

  test('vector values: n1 amounts, scid, node id and cltv_delta', () => {
    expect(decodeTlvStream(n1, fromHex('0108' + '0100000000000000'), 'n1').values.tlv1).toBe(72057594037927936n);
    expect(hex(decodeTlvStream(n1, fromHex('02080000000000000226'), 'n1').values.tlv2!)).toBe('0000000000000226');
    const t3 = decodeTlvStream(
      n1,
      fromHex('0331023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb00000000000000010000000000000002'),
      'n1',
    ).values.tlv3!;
    expect([hex(t3.nodeId), t3.amount1, t3.amount2]).toEqual(['023da092f6980e58d2c037173180e9a465476026ee50f96695963e8efe436f54eb', 1n, 2n]);
    expect(decodeTlvStream(n1, fromHex('fd00fe020226'), 'n1').values.tlv4).toBe(550);
  });

  // "Any appending of an invalid stream to a valid stream should trigger a decoding
  // failure; any appending of a higher-numbered valid stream to a lower-numbered
  // valid stream should not."
  const validN1 = tlv.cases.filter((c) => c.group === 'n1-valid' || c.group === 'ignored').map((c) => c.stream);
  const invalidAny = tlv.cases.filter((c) => !c.valid && (c.group === 'any' || c.group === 'either')).map((c) => c.stream);
  const firstType = (s: string): bigint => readBigSize(new Reader(fromHex(s)));
  test('appending an invalid stream to any valid stream fails', () => {
    let n = 0;
    for (const v of validN1) for (const bad of invalidAny) {
      expect(decodesIn(n1, v + bad)).toBe(false);
      n++;
    }
    expect(n).toBe(validN1.length * invalidAny.length);
  });
  test('appending a higher-numbered valid stream to a lower one succeeds', () => {
    let n = 0;
    for (const a of validN1) for (const b of validN1) {
      if (!a || !b || firstType(b) <= firstType(a)) continue;
      expect(decodesIn(n1, a + b)).toBe(true);
      n++;
    }
    expect(n).toBeGreaterThan(20);
  });

  test('unknown odd records are kept and re-encoded byte-exactly', () => {
    const s = decodeTlvStream(n1, fromHex('0101012100fd020100'), 'n1');
    expect(s.unknown.map((u) => u.type)).toEqual([0x21n, 0x201n]);
    expect(hex(encodeTlvStream(n1, s.values, s.unknown))).toBe('0101012100fd020100');
  });

  test('bad input: BigSize and TLV decoders only throw DecodeError', () => {
    fuzzDecoder((b) => readBigSize(new Reader(b)), { seeds: bigsize.encoding.map((v) => fromHex(v.bytes)), maxLen: 12 });
    fuzzDecoder((b) => decodeTlvStream(n1, b, 'n1'), { seeds: validN1.map((s) => fromHex(s)), iterations: 4000 });
    fuzzDecoder((b) => decodeTlvStream(n2, b, 'n2'), { iterations: 2000 });
  });
});
