/**
 * Peer attacks against a running lnnode daemon (bun src/main.ts on the lab's
 * btcd through the Esplora adapter), issue 13 "Peer and client resource
 * holes" and issue 16.9. A well-behaved in-process node has a channel to the
 * daemon and pays its invoices. For idle and for each attack this prints the
 * daemon's RSS above idle (target < 200 MB), GetNodeInfo p99 (target
 * < 100 ms) and the well-behaved payment's p50 (target within 2x idle):
 * - pong flood: 4 peers each ask 400 pongs of 65,531 bytes and never read;
 * - custom flood: 10 peers each send 65 KB custom messages as fast as TCP lets them
 *   (from another process, bench/custom-flooder.ts);
 * - SendCustomMessage (lnnode.v1) of 65 KB to a peer that never reads, until RESOURCE_EXHAUSTED;
 * - 1,000 half-open handshakes;
 * - 20 peers whose init carries 65 KB of optional feature bits.
 * Each attack gets a fresh daemon (and a new channel from the good node), so
 * its RSS figure is its own: the peak during the attack above that daemon's
 * idle RSS (freed memory is not given back to the OS, so a shared daemon
 * showed every earlier attack's peak too).
 * Needs the lab's btcd. Run with `bun bench/run.ts attacks` or
 * `bun bench/attacks.bench.ts [part of an attack's name]`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

const FLOODER = join(import.meta.dir, 'custom-flooder.ts');
const cpuMs = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

interface Ctx {
  client: ReturnType<Awaited<ReturnType<typeof startLnnode>>['client']>;
  connect(init?: Uint8Array): Promise<RawPeer>;
  port: number;
  nodeId: string;
  /** Runs when the attack's daemon is stopped (the attack's own processes). */
  onEnd(f: () => void): void;
  figures: Figure[];
}

/** Each attack runs on a daemon of its own, so its RSS is measured above that daemon's idle figure, not the last attack's. */
const ATTACKS: { name: string; run(c: Ctx): Promise<void> }[] = [
  {
    name: 'pong flood (4 peers, not reading)',
    async run(c) {
      for (let i = 0; i < 4; i++) {
        const p = await c.connect();
        p.pause();
        for (let j = 0; j < 400; j++) p.ping(65_531);
      }
      await Bun.sleep(1000);
    },
  },
  {
    name: 'custom flood (10 peers x 65 KB)',
    async run(c) {
      // From a process of its own (bench/custom-flooder.ts): a stranger's CPU is not the bench client's.
      const p = Bun.spawn([process.execPath, FLOODER, String(c.port), c.nodeId, '10'], { stdout: 'pipe', stderr: 'inherit' });
      c.onEnd(() => p.kill('SIGKILL'));
      const reader = p.stdout.getReader();
      let said = '';
      while (!said.includes('flooding')) {
        const r = await reader.read();
        if (r.done) throw new Error(`the flooder exited before flooding: ${said}`);
        said += new TextDecoder().decode(r.value);
      }
      reader.releaseLock();
      // Keeps flooding through the measurement; killed when the attack ends.
      await Bun.sleep(1000);
    },
  },
  {
    name: 'SendCustomMessage to a deaf peer',
    async run(c) {
      const deaf = await c.connect();
      deaf.pause();
      let exhausted = 0;
      let accepted = 0;
      const data = new Uint8Array(65_533);
      for (let i = 0; i < 2000; i++) {
        const ok = await c.client.sendCustomMessage({ peerPubkey: deaf.nodeId, msgType: 40_000, data }).then(
          () => true,
          () => false,
        );
        if (ok) accepted++;
        else exhausted++;
      }
      c.figures.push({ name: 'SendCustomMessage to a deaf peer: OK of 2,000', value: accepted, unit: 'calls' });
      c.figures.push({ name: 'SendCustomMessage to a deaf peer: RESOURCE_EXHAUSTED', value: exhausted, unit: 'calls' });
    },
  },
  {
    name: '1,000 half-open handshakes',
    async run(c) {
      for (let i = 0; i < 1000; i++) await halfOpen('127.0.0.1', c.port);
      const late = await c.connect();
      c.figures.push({ name: '1,000 half-open: a real peer connects', value: late.isClosed ? 0 : 1, unit: 'yes' });
    },
  },
  {
    name: '20 peers with 65 KB features',
    async run(c) {
      const init = initCodec.encode({ globalFeatures: FeatureVector.empty(), features: FeatureVector.decode(new Uint8Array(65_000).fill(0xaa)), networks: [REGTEST_CHAIN] });
      for (let i = 0; i < 20; i++) await c.connect(init);
    },
  },
];

export default async function attacks(only?: string): Promise<Figure[]> {
  const figures: Figure[] = [];
  // Also printed as measured (stderr), so a run cut short still shows what it got.
  const push = figures.push.bind(figures);
  figures.push = (...fs: Figure[]): number => {
    for (const f of fs) console.error(`[attacks] ${f.name}: ${f.value.toFixed(2)} ${f.unit}`);
    return push(...fs);
  };
  const lab = await ChannelLab.start('attacks');
  try {
    const good = lab.startNode('good');
    await lab.fund(good, 8_000_000n);
    let n = 0;
    for (const attack of ATTACKS.filter((a) => !only || a.name.includes(only))) {
      const d = await startLnnode({ args: ['--esplora-url', lab.esplora.url, '--chain-poll-ms', '200'], bunFlags: process.env.ATTACK_BUN_FLAGS?.split(' ').filter(Boolean) });
      const closers: (() => void)[] = [];
      try {
        const client = d.client();
        const daemonId = fromHex(d.nodeId);
        await good.connect(daemonId, '127.0.0.1', d.p2pPort, false);
        const opened = await good.channels!.open(daemonId, { fundingSat: sat(1_000_000n), fundingFeerate: 1000 as FeeratePerKw });
        await lab.btcd.generate(3);
        await lab.active(good, hex(opened.channelId));
        await lab.synced(good);
        await waitFor('channels at the tip', () => good.channels!.height > 0);

        const payOnce = async (): Promise<number> => {
          const inv = await client.createInvoice({ descriptionHash: sha256(Uint8Array.of(n >> 8, n++ & 0xff)), amountMsat: 1_000_000n });
          const t0 = performance.now();
          const p = await good.payments.pay(inv.paymentRequest);
          if (p.state !== 'succeeded') throw new Error(`payment ${p.state}: ${p.failure}`);
          return performance.now() - t0;
        };
        const nodeInfoP99 = async (): Promise<number> => {
          const xs: number[] = [];
          // 500 calls: of 100, the "p99" was the single slowest call.
          for (let i = 0; i < 500; i++) {
            const t0 = performance.now();
            await client.getNodeInfo({});
            xs.push(performance.now() - t0);
          }
          if (process.env.ATTACK_DEBUG) console.error(`getNodeInfo p50 ${pct(xs, 0.5).toFixed(1)} p90 ${pct(xs, 0.9).toFixed(1)} max ${Math.max(...xs).toFixed(1)} cpu ${cpuMs(d.proc.pid)}`);
          return pct(xs, 0.99);
        };
        const paymentsP50 = async (): Promise<number> => {
          const xs: number[] = [];
          for (let i = 0; i < 10; i++) xs.push(await payOnce());
          return pct(xs, 0.5);
        };
        // Idle: the same calls as under attack first, so what they allocate is in the idle figure.
        await payOnce();
        await paymentsP50();
        await nodeInfoP99();
        await Bun.sleep(500);
        const idleRss = rssMb(d.proc.pid);
        const idleP50 = await paymentsP50();
        figures.push({ name: `${attack.name}: idle RSS`, value: idleRss, unit: 'MB' });
        figures.push({ name: `${attack.name}: idle GetNodeInfo p99`, value: await nodeInfoP99(), unit: 'ms' });
        figures.push({ name: `${attack.name}: idle payment p50`, value: idleP50, unit: 'ms' });

        let peakRss = 0;
        const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(d.proc.pid))), 50);
        await attack.run({
          client,
          port: d.p2pPort,
          nodeId: d.nodeId,
          onEnd: (f) => closers.push(f),
          figures,
          connect: async (init) => {
            const p = await RawPeer.connect('127.0.0.1', d.p2pPort, daemonId, { init });
            closers.push(() => p.close());
            return p;
          },
        });
        const p99 = await nodeInfoP99();
        const p50 = await paymentsP50();
        clearInterval(sampler);
        peakRss = Math.max(peakRss, rssMb(d.proc.pid));
        figures.push({ name: `${attack.name}: peak RSS above idle`, value: peakRss - idleRss, unit: 'MB' });
        figures.push({ name: `${attack.name}: GetNodeInfo p99`, value: p99, unit: 'ms' });
        figures.push({ name: `${attack.name}: payment p50 / idle`, value: p50 / idleP50, unit: 'x' });
        figures.push({ name: `${attack.name}: the good peer's channel works`, value: 1, unit: 'yes' });
      } finally {
        for (const c of closers) c();
        good.disconnect(fromHex(d.nodeId));
        await d.stop();
      }
    }
  } finally {
    await lab.stop();
  }
  return figures;
}

if (import.meta.main) {
  // Not `await import(this file)`: a module awaiting its own import at top level never finishes loading.
  for (const f of await attacks(process.argv[2])) console.log(`  ${f.name.padEnd(56)} ${f.value.toFixed(2).padStart(10)} ${f.unit}`);
}
