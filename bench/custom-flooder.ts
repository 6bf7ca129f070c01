/**
 * The custom-flood attacker of attacks.bench.ts as a process of its own, so
 * the CPU it spends encrypting its flood is not taken from the bench's
 * client, whose latency figures are the daemon's: `n` peers connect to the
 * daemon and each sends 65 KB custom messages as fast as TCP lets it until
 * the process is killed. Prints "flooding" once every peer is connected.
 * Usage: bun bench/custom-flooder.ts <port> <node id hex> <n>
 */
import { fromHex } from '../src/bolt/bytes.ts';
import { RawPeer } from '../test/support/raw-peer.ts';

const [port, nodeId, n] = [Number(process.argv[2]), fromHex(process.argv[3] ?? ''), Number(process.argv[4] ?? 10)];
const flooders: RawPeer[] = [];
for (let i = 0; i < n; i++) flooders.push(await RawPeer.connect('127.0.0.1', port, nodeId));
console.log('flooding');
const chunk = new Uint8Array(65_000).fill(7);
while (flooders.some((p) => !p.isClosed)) {
  for (const p of flooders) if (!p.isClosed && p.unsentBytes < 1_000_000) p.custom(40_000, chunk);
  await Bun.sleep(1);
}
