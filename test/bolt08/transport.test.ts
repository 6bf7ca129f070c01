/**
 * BOLT #8 against every vector of 08-transport.md Appendix A: the initiator
 * and responder handshakes with their intermediate hashes, every failure
 * case, and the message encryption outputs across two key rotations.
 */
import { describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { DecodeError } from '../../src/bolt/errors.ts';
import {
  ACT_ONE_LENGTH,
  ACT_THREE_LENGTH,
  initiatorActOne,
  initiatorActThree,
  responderActTwo,
  responderFinish,
} from '../../src/bolt/bolt8/handshake.ts';
import { NoiseTransport, HEADER_LENGTH } from '../../src/bolt/bolt8/transport.ts';
import { fuzzDecoder, randomBytes, rng } from '../support/fuzz.ts';
import handshakes from '../vectors/bolt08/handshake.json';
import messages from '../vectors/bolt08/messages.json';

/** Spec error names -> the field our DecodeError names. */
const ERROR_FIELD: Record<string, string> = {
  ACT1_READ_FAILED: 'act1.length',
  ACT1_BAD_VERSION: 'act1.version',
  ACT1_BAD_PUBKEY: 'act1.ephemeral',
  ACT1_BAD_TAG: 'act1.tag',
  ACT2_READ_FAILED: 'act2.length',
  ACT2_BAD_VERSION: 'act2.version',
  ACT2_BAD_PUBKEY: 'act2.ephemeral',
  ACT2_BAD_TAG: 'act2.tag',
  ACT3_READ_FAILED: 'act3.length',
  ACT3_BAD_VERSION: 'act3.version',
  ACT3_BAD_CIPHERTEXT: 'act3.ciphertext',
  ACT3_BAD_PUBKEY: 'act3.static_key',
  ACT3_BAD_TAG: 'act3.tag',
};

function expectDecodeError(f: () => unknown, field: string): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DecodeError);
  expect((err as DecodeError).field).toBe(field);
}

interface Case {
  name: string;
  role: string;
  rs_pub?: string;
  ls_priv: string;
  ls_pub: string;
  e_priv: string;
  inputs: string[];
  outputs: string[];
  error?: string;
  sk?: string;
  rk?: string;
  trace: { h?: string[] };
}

describe('BOLT 8 handshake', () => {
  for (const c of handshakes.handshakes as Case[]) {
    test(`vector: ${c.name}`, () => {
      const ls = fromHex(c.ls_priv);
      const e = fromHex(c.e_priv);
      expect(hex(secp256k1.getPublicKey(ls, true))).toBe(c.ls_pub);
      if (c.role === 'initiator') {
        const one = initiatorActOne(ls, fromHex(c.rs_pub!), e);
        expect(hex(one.act)).toBe(c.outputs[0]!);
        if (c.trace.h) expect(hex(one.state.h)).toBe(c.trace.h[1]!);
        const actTwo = fromHex(c.inputs[0]!);
        if (c.error) {
          expectDecodeError(() => initiatorActThree(one.state, actTwo), ERROR_FIELD[c.error]!);
          return;
        }
        const three = initiatorActThree(one.state, actTwo);
        expect(hex(three.act)).toBe(c.outputs[1]!);
        expect(three.act.length).toBe(ACT_THREE_LENGTH);
        expect(hex(three.result.remoteStatic)).toBe(c.rs_pub!);
        // The transport keys: what we encrypt, the responder (keys swapped) decrypts.
        const peer = new NoiseTransport(fromHex(messages.ck), fromHex(c.rk!), fromHex(c.sk!));
        const wire = three.result.transport.encrypt(Uint8Array.of(1, 2, 3));
        expect(peer.decryptHeader(wire.subarray(0, HEADER_LENGTH))).toBe(3 + 16);
        expect(hex(peer.decryptBody(wire.subarray(HEADER_LENGTH)))).toBe('010203');
      } else {
        const actOne = fromHex(c.inputs[0]!);
        if (c.error?.startsWith('ACT1')) {
          expectDecodeError(() => responderActTwo(ls, e, actOne), ERROR_FIELD[c.error]!);
          return;
        }
        const two = responderActTwo(ls, e, actOne);
        expect(hex(two.act)).toBe(c.outputs[0]!);
        const actThree = fromHex(c.inputs[1]!);
        if (c.error) {
          expectDecodeError(() => responderFinish(two.state, actThree), ERROR_FIELD[c.error]!);
          return;
        }
        const done = responderFinish(two.state, actThree);
        expect(hex(done.remoteStatic)).toBe('034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa');
        const initiatorSide = new NoiseTransport(fromHex(messages.ck), fromHex(c.rk!), fromHex(c.sk!));
        const wire = initiatorSide.encrypt(new TextEncoder().encode('hi'));
        expect(done.transport.decryptHeader(wire.subarray(0, HEADER_LENGTH))).toBe(2 + 16);
        expect(new TextDecoder().decode(done.transport.decryptBody(wire.subarray(HEADER_LENGTH)))).toBe('hi');
      }
    });
  }
});

describe('BOLT 8 message encryption', () => {
  // One run of 1002 messages, checked at the spec's six sample points.
  const sender = new NoiseTransport(fromHex(messages.ck), fromHex(messages.sk), fromHex(messages.rk));
  const receiver = new NoiseTransport(fromHex(messages.ck), fromHex(messages.rk), fromHex(messages.sk));
  const produced = new Map<string, string>();
  const received: string[] = [];
  for (let i = 0; i <= 1001; i++) {
    const wire = sender.encrypt(fromHex(messages.message));
    if (String(i) in messages.outputs) produced.set(String(i), hex(wire));
    const bodyLen = receiver.decryptHeader(wire.subarray(0, HEADER_LENGTH));
    received.push(hex(receiver.decryptBody(wire.subarray(HEADER_LENGTH, HEADER_LENGTH + bodyLen))));
  }
  for (const [i, expected] of Object.entries(messages.outputs)) {
    test(`vector: message ${i} (key rotation every 1000 nonces)`, () => {
      expect(produced.get(i)).toBe(expected);
    });
  }
  test('the receiver rotates in step and reads all 1002 messages', () => {
    expect(received.every((m) => m === messages.message)).toBe(true);
    expect(received).toHaveLength(1002);
  });
});

describe('our initiator and responder together', () => {
  test('handshake with random keys, then messages both ways across rotations', () => {
    const next = rng(8);
    const key = (): Uint8Array => secp256k1.utils.randomSecretKey(randomBytes(next, 48));
    const [iStatic, rStatic] = [key(), key()];
    const one = initiatorActOne(iStatic, secp256k1.getPublicKey(rStatic, true), key());
    expect(one.act.length).toBe(ACT_ONE_LENGTH);
    const two = responderActTwo(rStatic, key(), one.act);
    const three = initiatorActThree(one.state, two.act);
    const done = responderFinish(two.state, three.act);
    expect(hex(done.remoteStatic)).toBe(hex(secp256k1.getPublicKey(iStatic, true)));
    const a = three.result.transport;
    const b = done.transport;
    for (let i = 0; i < 1200; i++) {
      const [from, to] = i % 3 === 0 ? [b, a] : [a, b];
      const msg = randomBytes(next, next() % 300);
      const wire = from.encrypt(msg);
      const n = to.decryptHeader(wire.subarray(0, HEADER_LENGTH));
      expect(n).toBe(msg.length + 16);
      expect(hex(to.decryptBody(wire.subarray(HEADER_LENGTH)))).toBe(hex(msg));
    }
    const max = new Uint8Array(65535);
    expect(to65535(a, b, max)).toBe(65535);
    expect(() => a.encrypt(new Uint8Array(65536))).toThrow('exceeds 65535');
  });
});

function to65535(a: NoiseTransport, b: NoiseTransport, msg: Uint8Array): number {
  const wire = a.encrypt(msg);
  b.decryptHeader(wire.subarray(0, HEADER_LENGTH));
  return b.decryptBody(wire.subarray(HEADER_LENGTH)).length;
}

describe('BOLT 8 bad input', () => {
  const ls = fromHex('2121212121212121212121212121212121212121212121212121212121212121');
  const e = fromHex('2222222222222222222222222222222222222222222222222222222222222222');
  const good = handshakes.handshakes.find((c) => c.name === 'transport-responder successful handshake')!;

  test('act one processing takes only DecodeError on garbage', () => {
    const n = fuzzDecoder((b) => responderActTwo(ls, e, b), { seeds: [fromHex(good.inputs[0]!)], maxLen: 60 });
    expect(n).toBeGreaterThan(2000);
  });

  test('act two and act three processing take only DecodeError on garbage', () => {
    const one = initiatorActOne(ls, fromHex(good.ls_pub), e);
    fuzzDecoder((b) => initiatorActThree(one.state, b), { seeds: [responderActTwo(ls, e, one.act).act], maxLen: 60 });
    const two = responderActTwo(ls, e, fromHex(good.inputs[0]!));
    fuzzDecoder((b) => responderFinish(two.state, b), { seeds: [fromHex(good.inputs[1]!)], maxLen: 80 });
  });

  test('transport header and body decryption take only DecodeError on garbage', () => {
    const sender = new NoiseTransport(fromHex(messages.ck), fromHex(messages.sk), fromHex(messages.rk));
    const wire = sender.encrypt(new Uint8Array(40));
    fuzzDecoder((b) => new NoiseTransport(fromHex(messages.ck), fromHex(messages.rk), fromHex(messages.sk)).decryptHeader(b), {
      seeds: [wire.subarray(0, HEADER_LENGTH)],
      maxLen: 40,
    });
    fuzzDecoder(
      (b) => {
        const r = new NoiseTransport(fromHex(messages.ck), fromHex(messages.rk), fromHex(messages.sk));
        r.decryptHeader(wire.subarray(0, HEADER_LENGTH));
        return r.decryptBody(b);
      },
      { seeds: [wire.subarray(HEADER_LENGTH)], maxLen: 100 },
    );
  });
});
