#!/usr/bin/env bun
/**
 * `npm run lab <command>`: the regtest sandbox for people (test/lab/sandbox/).
 *   up [--with lnd,ldk]   start it in the foreground (Ctrl-C stops it and removes .lab/)
 *   down                  stop one started in another shell
 *   status                what runs, heights, balances, channels
 *   fund <address> <btc>  send from the faucet and mine a block
 *   mine <n>              mine blocks; returns once the nodes have them
 * Exit codes: 0 ok, 1 the sandbox failed or is not running, 2 a bad command line.
 */
import { controlCall } from './sandbox/control.ts';
import { LAB_DIR, readState, signalVerified, STATE_FILE, stillRunning } from './sandbox/state.ts';
import { cleanStale, type Extra, up } from './sandbox/up.ts';

const USAGE = `usage: npm run lab -- <command>
  up [--with lnd,ldk]    btcd, the Esplora adapter and two funded, connected lnnodes (A, B);
                         --with adds lnd and/or the LDK peer; Ctrl-C stops it and removes .lab/
  down                   stop a sandbox started in another shell (PIDs checked before signalling)
  status                 what runs, with heights, balances and channels
  fund <address> <btc>   send from the faucet (e.g. 0.5) and mine a block to confirm it
  mine <n>               mine n blocks; returns once every node has them`;

class Usage extends Error {}

/** "0.5" BTC -> 50,000,000 sat; at most 8 decimals. */
export function btcToSat(s: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,8}))?$/.exec(s);
  if (!m) throw new Usage(`<btc>: expected an amount in BTC such as 0.5 (at most 8 decimals), got "${s}"`);
  return BigInt(m[1]!) * 100_000_000n + BigInt((m[2] ?? '').padEnd(8, '0'));
}

function running() {
  const s = readState();
  if (!s) throw new Error(`no sandbox is running (no ${STATE_FILE}); start one with \`npm run lab up\``);
  if (!stillRunning(s.up)) throw new Error(`the sandbox's \`lab up\` (pid ${s.up.pid}) is gone; \`npm run lab down\` cleans up after it`);
  return s;
}

async function down(): Promise<void> {
  const s = readState();
  if (s && signalVerified(s.up, 'SIGTERM')) {
    console.log(`asked lab up (pid ${s.up.pid}) to stop`);
    for (let i = 0; i < 300 && stillRunning(s.up); i++) await Bun.sleep(100);
    if (stillRunning(s.up)) throw new Error(`lab up (pid ${s.up.pid}) did not stop within 30 s`);
  }
  const left = await cleanStale();
  for (const line of left) console.log(line);
  console.log(s || left.length ? `sandbox stopped; ${LAB_DIR} is gone` : 'no sandbox was running');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  try {
    switch (cmd) {
      case 'up': {
        const extras = new Set<Extra>();
        for (let i = 0; i < args.length; i++) {
          const a = args[i]!;
          const list = a.startsWith('--with=') ? a.slice(7) : a === '--with' ? args[++i] : undefined;
          if (list === undefined) throw new Usage(`up: unexpected argument "${a}"`);
          for (const x of list.split(',')) {
            if (x !== 'lnd' && x !== 'ldk') throw new Usage(`--with: expected lnd and/or ldk, got "${x}"`);
            extras.add(x);
          }
        }
        await up(extras);
        return 0;
      }
      case 'down':
        if (args.length) throw new Usage(`down takes no arguments`);
        await down();
        return 0;
      case 'status': {
        if (args.length) throw new Usage(`status takes no arguments`);
        const s = running();
        const st = await controlCall<{ height: number; nodes: { name: string; height: number; peers: number; confirmedSat: string; unconfirmedSat: string; channels: { state: string; usable: boolean; capacitySat: string }[] }[] }>(s, 'GET', '/status');
        console.log(s.summary.replace(/height \d+/, `height ${st.height}`));
        console.log('');
        for (const n of st.nodes) {
          const ch = n.channels.map((c) => `${c.capacitySat} sat ${c.state}${c.usable ? ' (usable)' : ''}`).join(', ') || 'none';
          console.log(`lnnode ${n.name}  height ${n.height}, ${n.peers} peer(s), wallet ${n.confirmedSat} sat confirmed + ${n.unconfirmedSat} unconfirmed, channels: ${ch}`);
        }
        return 0;
      }
      case 'fund': {
        if (args.length !== 2) throw new Usage('usage: npm run lab -- fund <address> <btc>');
        const sat = btcToSat(args[1]!);
        if (sat === 0n) throw new Usage('<btc>: must be more than 0');
        const r = await controlCall<{ txid: string; height: number; receivedBy?: string }>(running(), 'POST', '/fund', { address: args[0], sat: sat.toString() });
        console.log(`sent ${args[1]} BTC to ${args[0]} in ${r.txid}, confirmed at height ${r.height}${r.receivedBy ? `; ${r.receivedBy}'s wallet has it` : ''}`);
        return 0;
      }
      case 'mine': {
        if (args.length !== 1 || !/^\d+$/.test(args[0]!) || Number(args[0]) < 1) throw new Usage('usage: npm run lab -- mine <n> (n at least 1)');
        const r = await controlCall<{ height: number }>(running(), 'POST', '/mine', { blocks: Number(args[0]) });
        console.log(`mined ${args[0]} block(s): height ${r.height}, every node has it`);
        return 0;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new Usage(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof Usage) {
      console.error(`lab: ${e.message}\n${USAGE}`);
      return 2;
    }
    console.error(`lab: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
