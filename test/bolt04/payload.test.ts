/**
 * BOLT #4 hop payload TLV: the payloads inside onion-test.json, the reader
 * requirements (forward / final / blinded), round trips and bad input.
 */
import { describe, expect, test } from 'bun:test';
import { Reader, fromHex, hex } from '../../src/bolt/bytes.ts';
import { DecodeError } from '../../src/bolt/errors.ts';
import { readBigSize } from '../../src/bolt/bolt1/bigsize.ts';
import { cltvExpiry, msat } from '../../src/bolt/units.ts';
import {
  checkHopPayload,
  decodeHopPayload,
  encodeHopPayload,
  type HopPayload,
} from '../../src/bolt/bolt4/payload.ts';
import { fuzzDecoder } from '../support/fuzz.ts';
import onionTest from '../vectors/bolt04/onion-test.json';

function bare(h: string): Uint8Array {
  const r = new Reader(fromHex(h));
  const n = readBigSize(r);
  return r.bytes(Number(n), 'payload');
}

const scid = (n: number) => fromHex(n.toString(16).padStart(16, '0'));
const payloads = onionTest.generate.hops.map((h) => bare(h.payload));

describe('onion-test.json payloads', () => {
  const expected: Array<[bigint, number]> = [
    [15000n, 1500],
    [14000n, 1400],
    [12500n, 1250],
    [10000n, 1000],
  ];
  expected.forEach(([amt, cltv], i) => {
    test(`vector: onion-test hop ${i} payload decodes as a forward hop and re-encodes identically`, () => {
      const p = decodeHopPayload(payloads[i]!);
      expect(p.amt_to_forward).toBe(msat(amt));
      expect(p.outgoing_cltv_value).toBe(cltvExpiry(cltv));
      expect(hex(p.short_channel_id!)).toBe(hex(scid(i + 1)));
      expect(hex(encodeHopPayload(p))).toBe(hex(payloads[i]!));
      const c = checkHopPayload(p, { isFinal: false });
      expect(c).toEqual({
        ok: true,
        hop: { kind: 'forward', amtToForward: msat(amt), outgoingCltvValue: cltvExpiry(cltv), shortChannelId: scid(i + 1) },
      });
    });
  });

  test('vector: onion-test hop 1 payload keeps its unknown odd type 513', () => {
    const p = decodeHopPayload(payloads[1]!);
    expect(p.unknownTlvs?.map((r) => r.type)).toEqual([513n]);
    expect(hex(p.unknownTlvs![0]!.value)).toBe('0102030405060708090a0b0c0d0e0f'.repeat(4));
  });

  test('vector: onion-test hop 4 payload decodes as a final hop with payment_data', () => {
    const p = decodeHopPayload(payloads[4]!);
    expect(p.amt_to_forward).toBe(msat(10000n));
    expect(p.outgoing_cltv_value).toBe(cltvExpiry(1000));
    expect(hex(p.payment_data!.paymentSecret)).toBe('24a33562c54507a9334e79f0dc4f17d407e6d7c61f0e2f3d0d38599502f61704');
    expect(p.payment_data!.totalMsat).toBe(msat(10000n));
    expect(p.unknownTlvs?.map((r) => [r.type, r.value.length])).toEqual([[301n, 224]]);
    expect(hex(encodeHopPayload(p))).toBe(hex(payloads[4]!));
    const c = checkHopPayload(p, { isFinal: true });
    expect(c.ok && c.hop.kind === 'final' && c.hop.totalMsat).toBe(msat(10000n));
    expect(c.ok && c.hop.kind === 'final' && hex(c.hop.paymentSecret!)).toBe(hex(p.payment_data!.paymentSecret));
  });
});

describe('reader requirements', () => {
  const base: HopPayload = { amt_to_forward: msat(5000n), outgoing_cltv_value: cltvExpiry(800_100) };
  const pathKey = fromHex('024d4b6cd1361032ca9bd2aeb9d900aa4d45d9ead80ac9423374c451a7254d0766');

  test('final hop: total_msat defaults to amt_to_forward; metadata passed through', () => {
    const c = checkHopPayload({ ...base, payment_metadata: fromHex('c0ffee') }, { isFinal: true });
    expect(c).toEqual({
      ok: true,
      hop: {
        kind: 'final',
        amtToForward: msat(5000n),
        outgoingCltvValue: cltvExpiry(800_100),
        totalMsat: msat(5000n),
        paymentMetadata: fromHex('c0ffee'),
      },
    });
    const mpp = checkHopPayload({ ...base, total_amount_msat: msat(9000n) }, { isFinal: true });
    expect(mpp.ok && mpp.hop.kind === 'final' && mpp.hop.totalMsat).toBe(msat(9000n));
  });

  test('missing amount, cltv or (forwarding) short_channel_id names the type', () => {
    expect(checkHopPayload({ outgoing_cltv_value: cltvExpiry(1) }, { isFinal: true })).toEqual({
      ok: false,
      problem: { reason: 'missing_required_field', tlvType: 2n },
    });
    expect(checkHopPayload({ amt_to_forward: msat(1n) }, { isFinal: false })).toEqual({
      ok: false,
      problem: { reason: 'missing_required_field', tlvType: 4n },
    });
    expect(checkHopPayload(base, { isFinal: false })).toEqual({
      ok: false,
      problem: { reason: 'missing_required_field', tlvType: 6n },
    });
  });

  test('path keys outside blinded routes are refused', () => {
    expect(checkHopPayload({ ...base, current_path_key: pathKey }, { isFinal: true })).toEqual({
      ok: false,
      problem: { reason: 'forbidden_field', tlvType: 12n },
    });
    expect(checkHopPayload(base, { isFinal: true, pathKeyInUpdateAdd: true })).toEqual({
      ok: false,
      problem: { reason: 'path_key_conflict', tlvType: 0n },
    });
  });

  test('blinded hops: only encrypted data and path key in the middle; amounts required at the end', () => {
    const enc = fromHex('abcdef');
    expect(checkHopPayload({ encrypted_recipient_data: enc, current_path_key: pathKey }, { isFinal: false })).toEqual({
      ok: true,
      hop: { kind: 'blinded', isFinal: false, encryptedRecipientData: enc, currentPathKey: pathKey },
    });
    expect(checkHopPayload({ encrypted_recipient_data: enc }, { isFinal: false, pathKeyInUpdateAdd: true }).ok).toBe(true);
    expect(checkHopPayload({ encrypted_recipient_data: enc }, { isFinal: false })).toEqual({
      ok: false,
      problem: { reason: 'missing_path_key', tlvType: 12n },
    });
    expect(
      checkHopPayload({ encrypted_recipient_data: enc, current_path_key: pathKey }, { isFinal: false, pathKeyInUpdateAdd: true }),
    ).toEqual({ ok: false, problem: { reason: 'path_key_conflict', tlvType: 12n } });
    expect(checkHopPayload({ ...base, encrypted_recipient_data: enc }, { isFinal: false, pathKeyInUpdateAdd: true })).toEqual({
      ok: false,
      problem: { reason: 'forbidden_field', tlvType: 2n },
    });
    const fin = { ...base, encrypted_recipient_data: enc };
    expect(checkHopPayload(fin, { isFinal: true, pathKeyInUpdateAdd: true })).toEqual({
      ok: false,
      problem: { reason: 'missing_required_field', tlvType: 18n },
    });
    expect(checkHopPayload({ ...fin, total_amount_msat: msat(5000n) }, { isFinal: true, pathKeyInUpdateAdd: true })).toEqual({
      ok: true,
      hop: {
        kind: 'blinded',
        isFinal: true,
        encryptedRecipientData: enc,
        amtToForward: msat(5000n),
        outgoingCltvValue: cltvExpiry(800_100),
        totalAmountMsat: msat(5000n),
      },
    });
    expect(
      checkHopPayload({ ...fin, total_amount_msat: msat(1n), payment_data: { paymentSecret: new Uint8Array(32), totalMsat: msat(1n) } }, {
        isFinal: true,
        pathKeyInUpdateAdd: true,
      }),
    ).toEqual({ ok: false, problem: { reason: 'forbidden_field', tlvType: 8n } });
  });
});

describe('codec', () => {
  test('round trip of every field, truncated integers minimal', () => {
    const p: HopPayload = {
      amt_to_forward: msat(0x0102n),
      outgoing_cltv_value: cltvExpiry(0),
      short_channel_id: scid(0x0a0b0c),
      payment_data: { paymentSecret: new Uint8Array(32).fill(7), totalMsat: msat(0n) },
      encrypted_recipient_data: fromHex('00'),
      current_path_key: fromHex('024d4b6cd1361032ca9bd2aeb9d900aa4d45d9ead80ac9423374c451a7254d0766'),
      payment_metadata: new Uint8Array(0),
      total_amount_msat: msat(0xffffffffffffffffn),
      unknownTlvs: [{ type: 65537n, value: fromHex('ff') }],
    };
    const bytes = encodeHopPayload(p);
    expect(hex(bytes.subarray(0, 6))).toBe('020201020400');
    expect(decodeHopPayload(bytes)).toEqual(p);
    expect(hex(encodeHopPayload(decodeHopPayload(bytes)))).toBe(hex(bytes));
  });

  test('strict decoding: non-minimal tu64, unknown even type, bad point, bad payment_data', () => {
    const err = (h: string) => {
      try {
        decodeHopPayload(fromHex(h));
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
        return (e as DecodeError).field;
      }
      throw new Error('decoded');
    };
    expect(err('02020001')).toBe('payload.amt_to_forward');
    expect(err('0405ffffffffff')).toBe('payload.outgoing_cltv_value');
    expect(err('1400')).toBe('payload.tlv[20]');
    expect(err('0c21' + '04'.padEnd(66, '0'))).toBe('payload.current_path_key');
    expect(err('081f' + '00'.repeat(31))).toContain('payload.payment_data');
    expect(err('0607' + '00'.repeat(7))).toBe('payload.short_channel_id');
    expect(err('0401010201')).toBe('payload.tlv');
  });

  test('bad input: only DecodeError', () => {
    const n = fuzzDecoder(decodeHopPayload, { seeds: payloads, iterations: 3000, maxLen: 400 });
    expect(n).toBeGreaterThan(3000);
    // Well-ordered streams of known types with random lengths and values reach the value codecs.
    let reached = 0;
    fuzzDecoder(
      (b) => {
        const out: number[] = [];
        let i = 0;
        for (const t of [2, 4, 6, 8, 10, 12, 16, 18]) {
          if (i + 1 >= b.length) break;
          if ((b[i]! & 1) === 0) continue;
          const len = b[i + 1]! % 45;
          out.push(t, len, ...b.subarray(i, i + len));
          i += 2;
        }
        const p = decodeHopPayload(Uint8Array.from(out));
        reached++;
        return p;
      },
      { iterations: 3000, maxLen: 40, seed: 77 },
    );
    expect(reached).toBeGreaterThan(0);
  });
});
