/**
 * The running sandbox's parts and the waits that make its commands
 * predictable: `lab mine` and `lab fund` return once every node has seen
 * the new blocks (and a channel whose funding is deep enough has become
 * usable), so the next command a person types sees the result.
 */
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { type Btcd } from '../btcd.ts';
import { type EsploraServer } from '../esplora-server.ts';
import { type Faucet } from '../faucet.ts';
import { type Ldk } from '../ldk.ts';
import { type Lnd } from '../lnd.ts';
import { type LnnodeProcess } from '../lnnode.ts';
import { waitFor } from '../processes.ts';

/** lnnode's minimum funding depth as fundee: a channel is usable once its funding is this deep. */
const LOCK_IN_DEPTH = 3;

export interface SandboxNode {
  /** "A", "B". */
  name: string;
  proc: LnnodeProcess;
  client: LnnodeClient;
}

export interface Sandbox {
  btcd: Btcd;
  esplora: EsploraServer;
  faucet: Faucet;
  nodes: SandboxNode[];
  lnd?: Lnd;
  ldk?: Ldk;
}

/** Waits until every node has processed `height`. */
export async function caughtUp(s: Sandbox, height: number): Promise<void> {
  for (const n of s.nodes) {
    await waitFor(`lnnode ${n.name} at height ${height}`, async () => (await n.client.getNodeInfo({})).blockHeight >= height, 30_000);
  }
  if (s.lnd) await waitFor(`lnd at height ${height}`, async () => ((i) => i.synced_to_chain && i.block_height >= height)(await s.lnd!.info()), 60_000);
  if (s.ldk) await s.ldk.api('POST', '/sync');
}

/** Waits until each lnnode channel whose funding is deep enough has finished lock-in (bounded: a peer may be away). */
export async function lockedIn(s: Sandbox): Promise<void> {
  for (const n of s.nodes) {
    for (const c of (await n.client.listChannels({})).channels) {
      if (c.state !== 'awaiting_lock_in' || !c.fundingTxidHex) continue;
      const tx = await s.btcd.rpc.call<{ confirmations?: number }>('getrawtransaction', c.fundingTxidHex, 1).catch(() => ({ confirmations: 0 }));
      if ((tx.confirmations ?? 0) < LOCK_IN_DEPTH) continue;
      await waitFor(
        `channel ${Buffer.from(c.channelId).toString('hex').slice(0, 8)} of ${n.name} usable`,
        async () => (await n.client.listChannels({})).channels.some((x) => Buffer.from(x.channelId).equals(Buffer.from(c.channelId)) && x.usable),
        15_000,
      ).catch(() => undefined);
    }
  }
}

/** Mines `n` blocks and waits for the nodes; returns the new height. */
export async function mine(s: Sandbox, n: number): Promise<number> {
  await s.btcd.generate(n);
  const height = await s.btcd.height();
  await caughtUp(s, height);
  await lockedIn(s);
  return height;
}

/** On-chain balance (confirmed) of each lnnode and lnd, by name. */
async function balances(s: Sandbox): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const n of s.nodes) out.set(`lnnode ${n.name}`, (await n.client.walletBalance({})).confirmedSat);
  if (s.lnd) out.set('lnd', BigInt((await s.lnd.rest<{ confirmed_balance: string }>('GET', '/v1/balance/blockchain')).confirmed_balance));
  return out;
}

/**
 * Sends `sat` to `address` from the faucet, mines a block to confirm it,
 * waits for the nodes, and says whose wallet it reached when that is one
 * of the sandbox's nodes (looked for a few seconds; an outside address is
 * simply confirmed).
 */
export async function fund(s: Sandbox, address: string, sat: bigint): Promise<{ txid: string; height: number; receivedBy?: string }> {
  const before = await balances(s);
  const txid = await s.faucet.send(address, sat);
  const height = await mine(s, 1);
  const receivedBy = await waitFor(
    'a sandbox wallet to count the coins',
    async () => {
      for (const [who, b] of await balances(s)) if (b - (before.get(who) ?? 0n) >= sat) return who;
      return undefined;
    },
    5_000,
  ).catch(() => undefined);
  return { txid, height, receivedBy };
}
