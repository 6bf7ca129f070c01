/**
 * Peer attacks against a running lnnode daemon (bun src/main.ts on the lab's
 * btcd through the Esplora adapter), issue 13 "Peer and client resource
 * holes" and issue 16.9. A well-behaved in-process node has a channel to the
 * daemon and pays its invoices. For idle and for each attack this prints the
 * daemon's RSS above idle (target < 200 MB), GetNodeInfo p99 (target
 * < 100 ms) and the well-behaved payment's p50 (target within 2x idle):
 * - pong flood: 4 peers each ask 400 pongs of 65,531 bytes and never read;
 * - custom flood: 10 peers each send 65 KB custom messages as fast as TCP lets them;
 * - SendCustomMessage (lnnode.v1) of 65 KB to a peer that never reads, until RESOURCE_EXHAUSTED;
 * - 1,000 half-open handshakes;
 * - 20 peers whose init carries 65 KB of optional feature bits.
 * Needs the lab's btcd. Run with `bun bench/run.ts attacks` or `bun bench/attacks.bench.ts`.
 */
import { readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../src/bolt/bytes.ts';
import { initCodec } from '../src/bolt/bolt1/messages.ts';
import { FeatureVector } from '../src/bolt/bolt9/features.ts';
import { type FeeratePerKw, sat } from '../src/bolt/units.ts';
import { ChannelLab } from '../test/lab/channel-lab.ts';
import { startLnnode } from '../test/lab/lnnode.ts';
import { waitFor } from '../test/lab/processes.ts';
import { halfOpen, RawPeer, REGTEST_CHAIN } from '../test/support/raw-peer.ts';
import { type Figure } from './run.ts';

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

export default async function attacks(): Promise<Figure[]> {
  const figures: Figure[] = [];
  // Also printed as measured (stderr), so a run cut short still shows what it got.
  const push = figures.push.bind(figures);
  figures.push = (...fs: Figure[]): number => {
    for (const f of fs) console.error(`[attacks] ${f.name}: ${f.value.toFixed(2)} ${f.unit}`);
    return push(...fs);
  };
  const lab = await ChannelLab.start('attacks');
  const d = await startLnnode({ args: ['--esplora-url', lab.esplora.url, '--chain-poll-ms', '200'] });
  const closers: (() => void)[] = [];
  try {
    const client = d.client();
    const daemonId = fromHex(d.nodeId);
    const good = lab.startNode('good');
    await lab.fund(good, 2_000_000n);
    await good.connect(daemonId, '127.0.0.1', d.p2pPort, false);
    const opened = await good.channels!.open(daemonId, { fundingSat: sat(1_000_000n), fundingFeerate: 1000 as FeeratePerKw });
    await lab.btcd.generate(3);
    await lab.active(good, hex(opened.channelId));
    await lab.synced(good);
    await waitFor('channels at the tip', () => good.channels!.height > 0);

    let n = 0;
    const payOnce = async (): Promise<number> => {
      const inv = await client.createInvoice({ descriptionHash: sha256(Uint8Array.of(n >> 8, n++ & 0xff)), amountMsat: 1_000_000n });
      const t0 = performance.now();
      const p = await good.payments.pay(inv.paymentRequest);
      if (p.state !== 'succeeded') throw new Error(`payment ${p.state}: ${p.failure}`);
      return performance.now() - t0;
    };
    const nodeInfoP99 = async (): Promise<number> => {
      const xs: number[] = [];
      for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        await client.getNodeInfo({});
        xs.push(performance.now() - t0);
      }
      return pct(xs, 0.99);
    };
    const paymentsP50 = async (): Promise<number> => {
      const xs: number[] = [];
      for (let i = 0; i < 10; i++) xs.push(await payOnce());
      return pct(xs, 0.5);
    };
    await payOnce();
    await Bun.sleep(500);
    const idleRss = rssMb(d.proc.pid);
    const idleP50 = await paymentsP50();
    figures.push({ name: 'idle: daemon RSS', value: idleRss, unit: 'MB' });
    figures.push({ name: 'idle: GetNodeInfo p99', value: await nodeInfoP99(), unit: 'ms' });
    figures.push({ name: 'idle: channel payment p50', value: idleP50, unit: 'ms' });

    const measure = async (name: string): Promise<void> => {
      const p99 = await nodeInfoP99();
      const p50 = await paymentsP50();
      figures.push({ name: `${name}: RSS above idle`, value: rssMb(d.proc.pid) - idleRss, unit: 'MB' });
      figures.push({ name: `${name}: GetNodeInfo p99`, value: p99, unit: 'ms' });
      figures.push({ name: `${name}: payment p50 / idle`, value: p50 / idleP50, unit: 'x' });
    };
    const connect = async (init?: Uint8Array): Promise<RawPeer> => {
      const p = await RawPeer.connect('127.0.0.1', d.p2pPort, daemonId, { init });
      closers.push(() => p.close());
      return p;
    };
    const closeAll = async (): Promise<void> => {
      for (const c of closers.splice(0)) c();
      await Bun.sleep(1000);
    };

    // Pong flood without reading.
    for (let i = 0; i < 4; i++) {
      const p = await connect();
      p.pause();
      for (let j = 0; j < 400; j++) p.ping(65_531);
    }
    await Bun.sleep(1000);
    await measure('pong flood (4 peers, not reading)');
    await closeAll();

    // Custom-message flood from 10 peers.
    const flooders: RawPeer[] = [];
    for (let i = 0; i < 10; i++) flooders.push(await connect());
    let flooding = true;
    const chunk = new Uint8Array(65_000).fill(7);
    const floodLoop = (async () => {
      while (flooding) {
        for (const p of flooders) if (!p.isClosed && p.unsentBytes < 1_000_000) p.custom(40_000, chunk);
        await Bun.sleep(1);
      }
    })();
    await Bun.sleep(1000);
    await measure('custom flood (10 peers x 65 KB)');
    flooding = false;
    await floodLoop;
    await closeAll();

    // SendCustomMessage to a peer that never reads.
    const deaf = await connect();
    deaf.pause();
    let exhausted = 0;
    let accepted = 0;
    const data = new Uint8Array(65_533);
    for (let i = 0; i < 2000; i++) {
      const ok = await client.sendCustomMessage({ peerPubkey: deaf.nodeId, msgType: 40_000, data }).then(
        () => true,
        () => false,
      );
      if (ok) accepted++;
      else exhausted++;
    }
    figures.push({ name: "SendCustomMessage to a deaf peer: OK of 2,000", value: accepted, unit: "calls" });
    figures.push({ name: "SendCustomMessage to a deaf peer: RESOURCE_EXHAUSTED", value: exhausted, unit: "calls" });
    await measure('SendCustomMessage to a deaf peer');
    await closeAll();

    // 1,000 half-open handshakes.
    for (let i = 0; i < 1000; i++) {
      const h = await halfOpen('127.0.0.1', d.p2pPort);
      closers.push(() => h.socket.end());
    }
    await measure('1,000 half-open handshakes');
    const late = await connect();
    figures.push({ name: '1,000 half-open: a real peer connects', value: late.isClosed ? 0 : 1, unit: 'yes' });
    await closeAll();

    // 20 peers with 65 KB of optional feature bits.
    const init = initCodec.encode({ globalFeatures: FeatureVector.empty(), features: FeatureVector.decode(new Uint8Array(65_000).fill(0xaa)), networks: [REGTEST_CHAIN] });
    for (let i = 0; i < 20; i++) await connect(init);
    await measure('20 peers with 65 KB features');
    await closeAll();
  } finally {
    for (const c of closers) c();
    await d.stop();
    await lab.stop();
  }
  return figures;
}

if (import.meta.main) {
  // Not `await import(this file)`: a module awaiting its own import at top level never finishes loading.
  for (const f of await attacks()) console.log(`  ${f.name.padEnd(56)} ${f.value.toFixed(2).padStart(10)} ${f.unit}`);
}
