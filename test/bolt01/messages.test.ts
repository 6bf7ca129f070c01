/**
 * BOLT #1 messages (init with its extension vectors from Appendix C, error,
 * warning, ping/pong), custom messages and the wire dispatcher's
 * unknown even/odd policy.
 */
import { describe, expect, test } from 'bun:test';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { DecodeError, EncodeError } from '../../src/bolt/errors.ts';
import { decodeAddress, encodeAddress, type NetAddress } from '../../src/bolt/bolt1/address.ts';
import {
  errorCodec,
  errorText,
  initCodec,
  initFeatures,
  pingCodec,
  pongCodec,
  pongFor,
  warningCodec,
} from '../../src/bolt/bolt1/messages.ts';
import {
  CUSTOM_TYPE_MIN,
  MAX_CUSTOM_PAYLOAD,
  MessageRegistry,
  encodeCustomMessage,
  encodeMessage,
} from '../../src/bolt/bolt1/wire.ts';
import { FeatureVector, LNNODE_INIT_FEATURES } from '../../src/bolt/bolt9/features.ts';
import { fuzzDecoder } from '../support/fuzz.ts';
import ext from '../vectors/bolt01/init-extension.json';

const registry = new MessageRegistry([initCodec, errorCodec, warningCodec, pingCodec, pongCodec] as never[]);

describe('init message extension (Appendix C)', () => {
  for (const v of ext.valid) {
    test(`vector: valid init 0x${v.hex}`, () => {
      const d = registry.dispatch(fromHex(v.hex));
      expect(d.kind).toBe('known');
      // Re-encoding keeps the unknown odd records byte-exactly.
      expect(hex(encodeMessage(initCodec, d.kind === 'known' ? (d.msg as never) : (undefined as never)))).toBe(v.hex);
    });
  }
  for (const v of ext.invalid) {
    test(`vector: invalid init 0x${v.hex}`, () => {
      expect(() => registry.dispatch(fromHex(v.hex))).toThrow(DecodeError);
    });
  }
});

describe('init', () => {
  test('round trip with networks and remote_addr, features OR-ed', () => {
    const regtest = fromHex('06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f');
    const m = {
      globalFeatures: FeatureVector.of(13),
      features: LNNODE_INIT_FEATURES,
      networks: [regtest],
      remoteAddr: { type: 'ipv4', host: '127.0.0.1', port: 9735 } as NetAddress,
    };
    const bytes = encodeMessage(initCodec, m);
    const back = initCodec.decode(bytes.subarray(2));
    expect(hex(back.networks![0]!)).toBe(hex(regtest));
    expect(back.remoteAddr).toEqual(m.remoteAddr);
    expect(initFeatures(back).has(13)).toBe(true);
    expect(initFeatures(back).equals(LNNODE_INIT_FEATURES.with(13))).toBe(true);
    expect(hex(encodeMessage(initCodec, back))).toBe(hex(bytes));
  });

  test('hand-checked layout: no global features, features 0x0100 (bit 8), regtest network', () => {
    const m = { globalFeatures: FeatureVector.empty(), features: FeatureVector.of(8), networks: [new Uint8Array(32).fill(0xab)] };
    expect(hex(encodeMessage(initCodec, m))).toBe(
      '0010' + '0000' + '0002' + '0100' + '01' + '20' + 'ab'.repeat(32),
    );
  });

  test('a remote_addr we cannot parse (unknown type 6, Tor v2 type 3, a short IPv4) is ignored and kept for re-encoding', () => {
    const regtestTlv = '0120' + '06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f';
    for (const addr of ['06' + 'ab'.repeat(12) + '2607', '03' + 'cd'.repeat(10) + '2607', '017f0000']) {
      const payload = fromHex('0000' + '0002' + '0100' + regtestTlv + '03' + (addr.length / 2).toString(16).padStart(2, '0') + addr);
      const m = initCodec.decode(payload);
      expect(m.remoteAddr).toBeUndefined();
      expect(hex(m.remoteAddrUnparsed!)).toBe(addr);
      expect(m.networks!.length).toBe(1);
      expect(hex(initCodec.encode(m))).toBe(hex(payload));
    }
  });

  test('a networks record that is not a multiple of 32 bytes is refused', () => {
    expect(() => initCodec.decode(fromHex('00000000' + '0101ff'))).toThrow('init.tlvs.networks');
  });
});

describe('address descriptors', () => {
  const cases: NetAddress[] = [
    { type: 'ipv4', host: '192.168.1.1', port: 9735 },
    { type: 'ipv6', host: '2001:db8:0:0:0:0:0:1', port: 9736 },
    { type: 'torv3', pubkey: new Uint8Array(32).fill(7), checksum: 0x1234, version: 3, port: 9735 },
    { type: 'dns', host: 'node.example.com', port: 9735 },
  ];
  for (const a of cases) {
    test(`${a.type} round trip`, () => {
      expect(decodeAddress(encodeAddress(a))).toEqual(a);
    });
  }
  test('ipv6 with :: compression', () => {
    expect(hex(encodeAddress({ type: 'ipv6', host: '::1', port: 1 }))).toBe('02' + '00'.repeat(15) + '01' + '0001');
  });
  test('unknown type is refused', () => {
    expect(() => decodeAddress(fromHex('0601020304'))).toThrow('unknown address type 6');
  });
});

describe('error, warning, ping, pong', () => {
  test('error and warning round trip and readable text', () => {
    for (const codec of [errorCodec, warningCodec]) {
      const m = { channelId: new Uint8Array(32).fill(1), data: new TextEncoder().encode('bad thing') };
      const back = codec.decode(encodeMessage(codec, m).subarray(2));
      expect(errorText(back)).toBe('bad thing');
      expect(hex(back.channelId)).toBe('01'.repeat(32));
    }
    expect(errorText({ channelId: new Uint8Array(32), data: Uint8Array.of(0, 255) })).toBe('00ff');
  });

  test('hand-checked ping layout and the pong it asks for', () => {
    const ping = { numPongBytes: 4, ignored: new Uint8Array(2) };
    expect(hex(encodeMessage(pingCodec, ping))).toBe('0012' + '0004' + '0002' + '0000');
    expect(hex(encodeMessage(pongCodec, pongFor(ping)!))).toBe('0013' + '0004' + '00000000');
  });

  test('num_pong_bytes of 65532 or more gets no pong', () => {
    expect(pongFor({ numPongBytes: 65531, ignored: new Uint8Array() })?.ignored.length).toBe(65531);
    expect(pongFor({ numPongBytes: 65532, ignored: new Uint8Array() })).toBeNull();
    expect(pongFor({ numPongBytes: 65535, ignored: new Uint8Array() })).toBeNull();
  });
});

describe('custom messages and dispatch', () => {
  test('custom messages of every size from 0 to the maximum are framed and delivered', () => {
    for (const size of [0, 1, 100, 65000, MAX_CUSTOM_PAYLOAD]) {
      const payload = new Uint8Array(size).fill(size & 0xff);
      const d = registry.dispatch(encodeCustomMessage(40000, payload));
      expect(d.kind).toBe('custom');
      if (d.kind === 'custom') expect([d.type, d.payload.length]).toEqual([40000, size]);
    }
    // Even custom types are the application's to judge, not a protocol violation.
    expect(registry.dispatch(encodeCustomMessage(32768, new Uint8Array(1))).kind).toBe('custom');
  });

  test('custom messages outside the rules are refused with a clear error', () => {
    expect(() => encodeCustomMessage(CUSTOM_TYPE_MIN - 1, new Uint8Array())).toThrow('custom message types are 32768..65535');
    expect(() => encodeCustomMessage(40000, new Uint8Array(MAX_CUSTOM_PAYLOAD + 1))).toThrow(EncodeError);
    expect(() => registry.dispatch(new Uint8Array(65536))).toThrow('exceeds 65535');
  });

  test('unknown odd types are ignored, unknown even types fail', () => {
    expect(registry.dispatch(fromHex('0023aabb'))).toEqual({ kind: 'ignored', type: 35 });
    expect(() => registry.dispatch(fromHex('0024aabb'))).toThrow('unknown even message type 36');
    expect(() => registry.dispatch(fromHex('00'))).toThrow(DecodeError);
  });

  test('bad input: every BOLT 1 decoder only throws DecodeError', () => {
    const seeds = [
      encodeMessage(initCodec, { globalFeatures: FeatureVector.empty(), features: LNNODE_INIT_FEATURES, networks: [new Uint8Array(32)] }),
      encodeMessage(errorCodec, { channelId: new Uint8Array(32), data: new Uint8Array(5) }),
      encodeMessage(pingCodec, { numPongBytes: 10, ignored: new Uint8Array(3) }),
      encodeMessage(pongCodec, { ignored: new Uint8Array(3) }),
      ...ext.valid.map((v) => fromHex(v.hex)),
    ];
    expect(fuzzDecoder((b) => registry.dispatch(b), { seeds, iterations: 3000 })).toBeGreaterThan(3000);
    for (const codec of [initCodec, errorCodec, warningCodec, pingCodec, pongCodec]) {
      fuzzDecoder((b) => codec.decode(b), { seeds: seeds.map((s) => s.subarray(2)), iterations: 1000 });
    }
    fuzzDecoder((b) => decodeAddress(b), { seeds: [encodeAddress({ type: 'dns', host: 'a.b', port: 1 })], maxLen: 40 });
  });
});
