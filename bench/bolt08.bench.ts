/** BOLT 8: full Noise handshakes per second, and encrypt+decrypt throughput. */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { initiatorActOne, initiatorActThree, responderActTwo, responderFinish } from '../src/bolt/bolt8/handshake.ts';
import { HEADER_LENGTH, type NoiseTransport } from '../src/bolt/bolt8/transport.ts';
import { type Figure } from './run.ts';
import { opsPerSecond } from './measure.ts';

function handshake(): [NoiseTransport, NoiseTransport] {
  const i = secp256k1.utils.randomSecretKey();
  const r = secp256k1.utils.randomSecretKey();
  const one = initiatorActOne(i, secp256k1.getPublicKey(r, true), secp256k1.utils.randomSecretKey());
  const two = responderActTwo(r, secp256k1.utils.randomSecretKey(), one.act);
  const three = initiatorActThree(one.state, two.act);
  return [three.result.transport, responderFinish(two.state, three.act).transport];
}

export default async function (): Promise<Figure[]> {
  const figures: Figure[] = [{ name: 'Noise handshakes (both sides, 3 acts)', value: opsPerSecond(handshake), unit: 'handshakes/s' }];
  const [a, b] = handshake();
  for (const size of [100, 65_000]) {
    const msg = new Uint8Array(size);
    const rate = opsPerSecond(() => {
      const wire = a.encrypt(msg);
      b.decryptHeader(wire.subarray(0, HEADER_LENGTH));
      b.decryptBody(wire.subarray(HEADER_LENGTH));
    });
    figures.push({ name: `encrypt+decrypt ${size}-byte messages`, value: rate, unit: 'msg/s' });
    figures.push({ name: `encrypt+decrypt ${size}-byte messages`, value: (rate * size) / 1e6, unit: 'MB/s' });
  }
  return figures;
}
