/**
 * BOLT #4 returned errors: onion-error-test.json (temporary_node_failure from
 * hop 4, padded to 256) and the text trace of the spec's "Test Vector /
 * Returning Errors" section (incorrect_or_unknown_payment_details with a TLV,
 * padded to 1024), copied as test/vectors/bolt04/returning-errors-trace.json.
 *
 * SKIPPED: the trace's `attribution_data` values (and "Returning success")
 * belong to option_attribution_data, which lnnode does not implement yet;
 * they stay in the vector file but no test reads them.
 */
import { describe, expect, test } from 'bun:test';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { DecodeError, EncodeError } from '../../src/bolt/errors.ts';
import { cltvExpiry, msat } from '../../src/bolt/units.ts';
import { cipherStream, generateKey, routeSecrets } from '../../src/bolt/bolt4/keys.ts';
import {
  buildFailurePacket,
  createFailurePacket,
  decryptFailurePacket,
  obfuscateFailurePacket,
} from '../../src/bolt/bolt4/failure-packet.ts';
import {
  decodeFailureMessage,
  encodeFailureMessage,
  failureMessageCode,
  failureTlvs,
  type FailureMessage,
} from '../../src/bolt/bolt4/failure-message.ts';
import { BADONION, FailureCode, NODE, PERM, UPDATE, failureFlags, failureName } from '../../src/bolt/bolt4/failure-codes.ts';
import { fuzzDecoder, randomBytes, rng } from '../support/fuzz.ts';
import errorTest from '../vectors/bolt04/onion-error-test.json';
import trace from '../vectors/bolt04/returning-errors-trace.json';

const session = fromHex(errorTest.generate.session_key);
const pubkeys = errorTest.generate.hops.map((h) => fromHex(h.pubkey));
const { sharedSecrets } = routeSecrets(session, pubkeys);

describe('onion-error-test.json', () => {
  errorTest.generate.hops.forEach((h, i) => {
    test(`vector: onion-error-test hop ${i} shared secret and ammag key`, () => {
      expect(hex(sharedSecrets[i]!)).toBe(h.hop_shared_secret);
      expect(hex(generateKey('ammag', sharedSecrets[i]!))).toBe(h.ammag_key);
    });
  });

  const erring = errorTest.generate.hops[4]!;
  const failure = fromHex(errorTest.generate.failure_message);

  test('vector: onion-error-test hop 4 um key and padded payload', () => {
    expect(hex(generateKey('um', sharedSecrets[4]!))).toBe(erring.um_key!);
    const raw = buildFailurePacket(sharedSecrets[4]!, failure);
    expect(raw.length).toBe(32 + 2 + 2 + 2 + 254);
    expect(hex(raw.subarray(32))).toBe(erring.payload!);
  });

  test('vector: onion-error-test error packet after obfuscation by hops 4..0', () => {
    let packet = createFailurePacket(sharedSecrets[4]!, failure);
    for (let i = 3; i >= 0; i--) packet = obfuscateFailurePacket(sharedSecrets[i]!, packet);
    expect(hex(packet)).toBe(errorTest.errorpacket);
  });

  test('vector: onion-error-test sender attributes the failure to hop 4 (temporary_node_failure)', () => {
    const got = decryptFailurePacket(sharedSecrets, fromHex(errorTest.errorpacket));
    expect(got.hopIndex).toBe(4);
    if (!got.ok) throw got.error;
    expect(hex(got.failureMessage)).toBe('2002');
    expect(decodeFailureMessage(got.failureMessage)).toEqual({ name: 'temporary_node_failure' });
  });
});

describe('Returning Errors trace (04-onion-routing.md test vector)', () => {
  const tracePubkeys = trace.pubkeys.map((p) => fromHex(p));
  const traceSecrets = routeSecrets(fromHex(trace.session_key), tracePubkeys).sharedSecrets;
  const message: FailureMessage = {
    name: 'incorrect_or_unknown_payment_details',
    htlcMsat: msat(100n),
    height: 800000,
    extra: fromHex('fd84d1fd012c' + '80'.repeat(300)),
  };
  const c = trace.creating;
  // The trace's `encoded_failure_message` runs on past `failuremsg` (320 bytes)
  // into pad_len (0x02c0 = 704) and the pad: everything after failure_len.
  const failuremsg = fromHex(c.encoded_failure_message).subarray(0, 320);

  test('vector: returning-errors encoded failure message (htlc_msat 100, height 800000, TLV 34001)', () => {
    const encoded = encodeFailureMessage(message);
    expect(encoded.length).toBe(320);
    expect(hex(encoded) + '02c0' + '00'.repeat(704)).toBe(c.encoded_failure_message);
    const decoded = decodeFailureMessage(failuremsg);
    expect(decoded).toEqual(message);
    expect(failureTlvs(decoded)).toEqual([{ type: 34001n, value: new Uint8Array(300).fill(128) }]);
  });

  test('vector: returning-errors erring node shared secret, um key, payload and raw packet', () => {
    expect(hex(traceSecrets[trace.failure_source]!)).toBe(c.shared_secret);
    const ss = fromHex(c.shared_secret);
    expect(hex(generateKey('um', ss))).toBe(c.um_key);
    const raw = buildFailurePacket(ss, failuremsg, { padTo: 1024 });
    expect(hex(raw.subarray(32))).toBe(c.payload);
    expect(hex(raw)).toBe(c.raw_error_packet);
  });

  let packet = fromHex(c.raw_error_packet);
  for (const f of trace.forwarding) {
    const before = packet;
    const after = fromHex(f.error_packet);
    packet = after;
    test(`vector: returning-errors node ${f.node} shared secret, ammag key, stream and obfuscated packet`, () => {
      expect(hex(traceSecrets[f.node]!)).toBe(f.shared_secret);
      const ammag = generateKey('ammag', fromHex(f.shared_secret));
      expect(hex(ammag)).toBe(f.ammag_key);
      expect(hex(cipherStream(ammag, before.length))).toBe(f.stream);
      expect(hex(obfuscateFailurePacket(fromHex(f.shared_secret), before))).toBe(f.error_packet);
    });
  }

  test('vector: returning-errors sender attributes the failure to node 4 and decodes it', () => {
    const got = decryptFailurePacket(traceSecrets, packet);
    expect(got.hopIndex).toBe(trace.failure_source);
    if (!got.ok) throw got.error;
    expect(hex(got.failureMessage)).toBe(hex(failuremsg));
    expect(decodeFailureMessage(got.failureMessage)).toEqual(message);
  });
});

describe('failure packets', () => {
  test('every hop on a 5-hop route can be the erring node', () => {
    for (let erring = 0; erring < 5; erring++) {
      const msg = encodeFailureMessage({ name: 'fee_insufficient', htlcMsat: msat(1234n), channelUpdate: fromHex('0102') });
      let p = createFailurePacket(sharedSecrets[erring]!, msg);
      for (let i = erring - 1; i >= 0; i--) p = obfuscateFailurePacket(sharedSecrets[i]!, p);
      const got = decryptFailurePacket(sharedSecrets, p);
      expect(got.hopIndex).toBe(erring);
      expect(got.ok && hex(got.failureMessage)).toBe(hex(msg));
    }
  });

  test('a garbled packet is attributed to nobody', () => {
    const p = fromHex(errorTest.errorpacket);
    p[40]! ^= 1;
    expect(() => decryptFailurePacket(sharedSecrets, p)).toThrow(DecodeError);
    expect(() => decryptFailurePacket(sharedSecrets, new Uint8Array(35))).toThrow(DecodeError);
  });

  test('an authenticated packet with impossible lengths is still blamed on its hop', () => {
    const ss = sharedSecrets[2]!;
    const raw = buildFailurePacket(ss, fromHex('2002'));
    raw.set([0xff, 0xff], 32); // failure_len beyond the packet
    raw.set(hmac(sha256, generateKey('um', ss), raw.subarray(32)), 0);
    let p = obfuscateFailurePacket(ss, raw);
    for (let i = 1; i >= 0; i--) p = obfuscateFailurePacket(sharedSecrets[i]!, p);
    const got = decryptFailurePacket(sharedSecrets, p);
    expect(got.hopIndex).toBe(2);
    expect(got.ok).toBe(false);
    expect(!got.ok && got.error.field).toBe('failure_packet.failuremsg');
  });

  test('padding: at least 256, longer messages unpadded, padTo checked', () => {
    const ss = sharedSecrets[0]!;
    expect(buildFailurePacket(ss, new Uint8Array(300)).length).toBe(32 + 2 + 300 + 2);
    expect(buildFailurePacket(ss, new Uint8Array(10)).length).toBe(32 + 2 + 256 + 2);
    expect(() => buildFailurePacket(ss, new Uint8Array(2), { padTo: 100 })).toThrow(EncodeError);
  });

  test('bad input to the sender decryption: only DecodeError', () => {
    const n = fuzzDecoder((b) => decryptFailurePacket(sharedSecrets, b), {
      seeds: [fromHex(errorTest.errorpacket)],
      iterations: 300,
      maxLen: 400,
    });
    expect(n).toBeGreaterThan(300);
  });
});

describe('failure codes and messages', () => {
  test('codes carry the spec flag bits', () => {
    expect(FailureCode.invalid_onion_version).toBe(0xc004);
    expect(FailureCode.invalid_onion_hmac).toBe(0xc005);
    expect(FailureCode.invalid_onion_key).toBe(0xc006);
    expect(FailureCode.invalid_onion_blinding).toBe(0xc018);
    expect(FailureCode.temporary_node_failure).toBe(0x2002);
    expect(FailureCode.permanent_node_failure).toBe(0x6002);
    expect(FailureCode.required_node_feature_missing).toBe(0x6003);
    expect(FailureCode.temporary_channel_failure).toBe(0x1007);
    expect(FailureCode.permanent_channel_failure).toBe(0x4008);
    expect(FailureCode.required_channel_feature_missing).toBe(0x4009);
    expect(FailureCode.unknown_next_peer).toBe(0x400a);
    expect(FailureCode.amount_below_minimum).toBe(0x100b);
    expect(FailureCode.fee_insufficient).toBe(0x100c);
    expect(FailureCode.incorrect_cltv_expiry).toBe(0x100d);
    expect(FailureCode.expiry_too_soon).toBe(0x100e);
    expect(FailureCode.incorrect_or_unknown_payment_details).toBe(0x400f);
    expect(FailureCode.final_incorrect_cltv_expiry).toBe(18);
    expect(FailureCode.final_incorrect_htlc_amount).toBe(19);
    expect(FailureCode.channel_disabled).toBe(0x1014);
    expect(FailureCode.expiry_too_far).toBe(21);
    expect(FailureCode.invalid_onion_payload).toBe(0x4016);
    expect(FailureCode.mpp_timeout).toBe(23);
    expect([BADONION, PERM, NODE, UPDATE]).toEqual([0x8000, 0x4000, 0x2000, 0x1000]);
    expect(failureFlags(0xc005)).toEqual({ badOnion: true, perm: true, node: false, update: false });
    expect(failureFlags(0x3999)).toEqual({ badOnion: false, perm: false, node: true, update: true });
    expect(failureName(0x400f)).toBe('incorrect_or_unknown_payment_details');
    expect(failureName(17)).toBeUndefined();
  });

  const examples: Array<[FailureMessage, string]> = [
    [{ name: 'temporary_node_failure' }, '2002'],
    [{ name: 'invalid_onion_hmac', sha256OfOnion: new Uint8Array(32).fill(0xaa) }, 'c005' + 'aa'.repeat(32)],
    [{ name: 'temporary_channel_failure', channelUpdate: new Uint8Array(0) }, '10070000'],
    [{ name: 'amount_below_minimum', htlcMsat: msat(1000n), channelUpdate: fromHex('beef') }, '100b00000000000003e80002beef'],
    [{ name: 'incorrect_cltv_expiry', cltvExpiry: cltvExpiry(700000), channelUpdate: new Uint8Array(0) }, '100d000aae600000'],
    [{ name: 'expiry_too_soon', channelUpdate: new Uint8Array(0) }, '100e0000'],
    [{ name: 'final_incorrect_cltv_expiry', cltvExpiry: cltvExpiry(5) }, '001200000005'],
    [{ name: 'final_incorrect_htlc_amount', incomingHtlcAmt: msat(7n) }, '00130000000000000007'],
    [{ name: 'channel_disabled', disabledFlags: 0, channelUpdate: new Uint8Array(0) }, '101400000000'],
    [{ name: 'invalid_onion_payload', tlvType: 65536n, offset: 3 }, '4016fe000100000003'],
    [{ name: 'mpp_timeout' }, '0017'],
    [{ name: 'unknown', code: 0x4011, data: fromHex('0102') }, '40110102'],
  ];
  for (const [msg, h] of examples) {
    test(`${msg.name} encodes and decodes`, () => {
      expect(hex(encodeFailureMessage(msg))).toBe(h);
      expect(decodeFailureMessage(fromHex(h))).toEqual(msg);
      expect(failureMessageCode(msg)).toBe(parseInt(h.slice(0, 4), 16));
    });
  }

  test('truncated data fields are DecodeErrors naming the field; extra bytes kept', () => {
    const err = (h: string) => {
      try {
        decodeFailureMessage(fromHex(h));
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
        return (e as DecodeError).field;
      }
      throw new Error('decoded');
    };
    expect(err('400f00000000000000')).toBe('failuremsg.htlc_msat');
    expect(err('400f0000000000000064000c35')).toBe('failuremsg.height');
    expect(err('100b00000000000003e80005beef')).toBe('failuremsg.channel_update');
    expect(err('c004')).toBe('failuremsg.sha256_of_onion');
    expect(err('20')).toBe('failuremsg.failure_code');
    const withExtra = decodeFailureMessage(fromHex('2002ff'));
    expect(withExtra).toEqual({ name: 'temporary_node_failure', extra: fromHex('ff') });
    expect(failureTlvs(withExtra)).toBeUndefined();
    expect(hex(encodeFailureMessage(withExtra))).toBe('2002ff');
  });

  test('bad input: only DecodeError', () => {
    const seeds = examples.map(([, h]) => fromHex(h));
    seeds.push(fromHex(trace.creating.encoded_failure_message).subarray(0, 320));
    const next = rng(0xfa11);
    const codes = Object.values(FailureCode);
    // Random data behind every known code.
    for (let i = 0; i < 500; i++) {
      const code = codes[next() % codes.length]!;
      const b = randomBytes(next, 2 + (next() % 60));
      b[0] = code >> 8;
      b[1] = code & 0xff;
      seeds.push(b);
    }
    const n = fuzzDecoder(decodeFailureMessage, { seeds, iterations: 3000, maxLen: 120 });
    expect(n).toBeGreaterThan(3000);
  });
});
