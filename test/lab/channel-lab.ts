/**
 * btcd + the Esplora adapter + a faucet, and in-process lnnodes on them:
 * what every channel lab test starts from. Nodes poll the tip every 100 ms
 * so on-chain steps follow mined blocks quickly, and ask their channel peers
 * for a to_self_delay of LAB_TO_SELF_DELAY blocks instead of 144 (a test
 * about the delay itself sets `channelPolicy`). Blocks are mined in batches
 * (`mine`), each followed by one wait until every node has handled the new
 * tip. Nodes keep no on-chain reserve for anchors channels unless a test
 * sets `channelLimits.anchorReservePerChannelSat`. `stop()` stops every
 * node, the adapter and btcd (by PID), and removes the data directories.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import { type FeeratePerKw, type Msat, type Sat, sat } from '../../src/bolt/units.ts';
import { type DaemonConfig } from '../../src/node/config.ts';
import { createLogger } from '../../src/node/log.ts';
import { LightningNode, type StartOptions } from '../../src/node/node.ts';
import { type OpenOptions } from '../../src/node/channels/manager.ts';
import { mainChainBlock, reorg, submitBlockOn } from './blocks.ts';
import { startBtcd, type Btcd } from './btcd.ts';
import { startEsploraServer, type EsploraServer } from './esplora-server.ts';
import { Faucet } from './faucet.ts';
import { waitFor } from './processes.ts';

const quiet = createLogger({ level: process.env.LNNODE_TEST_LOG ? 'debug' : 'error' });

/** Each anchor output of an anchors_zero_fee_htlc_tx commitment (BOLT 3); both come out of the opener's balance. */
export const ANCHOR_SAT = 330n;

/**
 * The to_self_delay lab nodes ask of their peers: a force close resolves in
 * tens of blocks rather than 150. Still more than the few blocks a
 * node takes to react, so every "before the delay" step is still observed.
 */
export const LAB_TO_SELF_DELAY = 10;

export class ChannelLab {
  readonly nodes: LightningNode[] = [];

  private constructor(
    readonly btcd: Btcd,
    readonly esplora: EsploraServer,
    readonly faucet: Faucet,
    readonly root: string,
  ) {}

  static async start(name: string): Promise<ChannelLab> {
    const btcd = await startBtcd();
    const esplora = startEsploraServer(btcd.rpc);
    const faucet = new Faucet(btcd);
    await faucet.ensureFunds();
    return new ChannelLab(btcd, esplora, faucet, mkdtempSync(join(tmpdir(), `lnnode-${name}-`)));
  }

  async stop(): Promise<void> {
    for (const n of [...this.nodes]) n.stop();
    this.esplora.stop();
    await this.btcd.stop();
    rmSync(this.root, { recursive: true, force: true });
  }

  /** `extra` overrides the config (another Esplora URL, a fee ceiling, a channel policy field); `opts`: a seed to restore, a backup. */
  startNode(name: string, extra: Partial<DaemonConfig> = {}, opts: StartOptions = {}): LightningNode {
    const n = LightningNode.start(
      {
        network: 'regtest',
        dataDir: join(this.root, name),
        p2pListen: { host: '127.0.0.1', port: 0 },
        chain: { kind: 'esplora', url: this.esplora.url },
        connect: [],
        logLevel: 'error',
        tipPollMs: 100,
        ...extra,
        channelPolicy: { toSelfDelay: LAB_TO_SELF_DELAY, ...extra.channelPolicy },
        // No anchors reserve unless a test asks: most lab fundees have empty wallets (wallet/anchor-reserve.ts).
        channelLimits: { anchorReservePerChannelSat: sat(0), ...extra.channelLimits },
      },
      quiet.child(name),
      opts,
    );
    this.nodes.push(n);
    return n;
  }

  stopNode(n: LightningNode): void {
    n.stop();
    this.nodes.splice(this.nodes.indexOf(n), 1);
  }

  async fund(n: LightningNode, amount: bigint): Promise<void> {
    await this.faucet.send(n.wallet!.newAddress(), amount);
    await this.mine(1);
    await waitFor('wallet funded', async () => {
      await n.wallet!.sync();
      return n.wallet!.balance().confirmedSat >= amount;
    });
  }

  /** Confirmed wallet balance after a sync, asserting nothing is left unconfirmed. */
  async walletBalance(n: LightningNode): Promise<bigint> {
    await n.wallet!.sync();
    const b = n.wallet!.balance();
    if (b.unconfirmedSat !== 0n) throw new Error(`${b.unconfirmedSat} sat still unconfirmed`);
    return b.confirmedSat;
  }

  /** Opens funder -> fundee and waits until both see the channel active (3 blocks: lnnode's minimum depth as fundee). */
  async openChannel(funder: LightningNode, fundee: LightningNode, fundingSat: Sat, channelType?: OpenOptions['channelType']): Promise<{ id: string; fundingTxid: string }> {
    const opened = await funder.channels!.open(fundee.nodeId, { fundingSat, fundingFeerate: 1000 as FeeratePerKw, channelType });
    if (!(await this.btcd.rpc.call<string[]>('getrawmempool')).includes(opened.fundingTxid)) throw new Error('funding transaction not in the mempool');
    await this.mine(3);
    const id = hex(opened.channelId);
    for (const n of [funder, fundee]) await this.active(n, id);
    return { id, fundingTxid: opened.fundingTxid };
  }

  /**
   * Waits until the node has handled btcd's tip: seen it (a payment's CLTV is
   * counted from it) and acted on it (sweeps broadcast, confirmations counted).
   */
  async synced(n: LightningNode, height?: number): Promise<void> {
    const h = height ?? (await this.btcd.height());
    await waitFor(`${hex(n.nodeId).slice(0, 8)} to handle height ${h}`, () => (n.handledTip?.height ?? 0) >= h);
  }

  /** Mines `blocks` in one RPC, then waits once until every running node has handled the new tip. */
  async mine(blocks: number): Promise<string[]> {
    const hashes = await this.btcd.generate(blocks);
    const height = await this.btcd.height();
    for (const n of this.nodes) if (!n.isStopped) await this.synced(n, height);
    return hashes;
  }

  /** Waits until the node's channels have processed btcd's tip (closes stepped, outcomes reported). */
  async processed(n: LightningNode): Promise<void> {
    await this.synced(n);
    await n.channels!.processed(await this.btcd.height());
  }

  async active(n: LightningNode, id: string): Promise<void> {
    await waitFor(`channel ${id.slice(0, 8)} active on ${hex(n.nodeId).slice(0, 8)}`, () => n.channels!.get(Buffer.from(id, 'hex'))?.active);
  }

  /** Pays an invoice of `to` from `from`; checks the preimage and that `to` settled exactly the amount. */
  async pay(from: LightningNode, to: LightningNode, amountMsat: Msat): Promise<void> {
    const inv = to.invoices.create({ amountMsat, descriptionHash: sha256(new TextEncoder().encode(`job ${amountMsat}`)) });
    const p = await from.payments.pay(inv.bolt11);
    if (p.state !== 'succeeded' || hex(sha256(p.preimage!)) !== hex(inv.paymentHash)) throw new Error(`payment ${p.state}: ${p.failure ?? 'wrong preimage'}`);
    await waitFor('invoice settled', () => to.invoices.get(inv.paymentHash)?.state === 'settled');
    const received = to.invoices.get(inv.paymentHash)!.receivedMsat;
    if (received !== amountMsat) throw new Error(`invoice settled with ${received} msat, paid ${amountMsat}`);
  }

  /** Waits until both commitments hold no HTLC and agree on the balances. */
  async settled(x: LightningNode, y: LightningNode, id: string): Promise<void> {
    const key = Buffer.from(id, 'hex');
    await waitFor('commitments without HTLCs', () => {
      const cx = x.channels!.get(key)!;
      const cy = y.channels!.get(key)!;
      return cx.pendingHtlcs === 0 && cy.pendingHtlcs === 0 && cx.localBalanceMsat === cy.remoteBalanceMsat;
    });
  }

  /**
   * Mines one block at a time (`perStep`) until `done` holds. After each step every
   * lnnode has handled it (so no block is mined while one is still reacting
   * to the last); then `done` gets up to `pauseMs` more, returning as soon as
   * it holds, for what follows a block by messages (channel_ready, update_fee)
   * or happens in a peer the lab cannot watch (lnd, LDK, an lnnode process).
   * A condition that only blocks bring about (a sweep, a close confirmed)
   * needs no pause: pass 0. `perStep` blocks at a time where no step of
   * the scenario needs a height of its own (a long wait for an expiry or a
   * delay, each reaction confirmed by the next step): up to `maxBlocks` in
   * all.
   */
  async mineUntil(what: string, done: () => boolean | Promise<boolean>, maxBlocks = 60, pauseMs = 400, perStep = 1): Promise<void> {
    for (let mined = 0; mined < maxBlocks; mined += perStep) {
      if (await done()) return;
      await this.mine(Math.min(perStep, maxBlocks - mined));
      if (pauseMs && (await holdsWithin(done, pauseMs))) return;
    }
    if (!(await done())) throw new Error(`${what}: not reached after mining ${maxBlocks} blocks`);
  }

  /**
   * A reorg: the top `depth` blocks are replaced by `depth + 1` blocks
   * holding only a coinbase, then btcd restarts so that its mempool is
   * emptied (as after an eviction or a backend restart): the transactions
   * of the blocks undone are nowhere until someone sends them again.
   * Both happen while the nodes are cut off from btcd, so the first they see
   * of the new branch is with the mempool already empty: what they send on
   * its blocks reaches the btcd that keeps it. (Were the reorg seen first,
   * they would find their transactions back in the old mempool and have
   * nothing to send until the next block.)
   * Waits until every running node has followed the new tip.
   */
  async reorg(depth: number): Promise<void> {
    await this.btcd.restart({ whileCut: async (direct) => void (await reorg(direct, depth, this.btcd.miner.script)) });
    for (const n of this.nodes) if (!n.isStopped) await this.synced(n);
  }

  /** Mines `n` blocks holding only a coinbase on the tip: the mempool stays as it is and out of them. */
  async mineEmpty(n: number): Promise<void> {
    let parent = await mainChainBlock(this.btcd.rpc, await this.btcd.height());
    for (let i = 0; i < n; i++) parent = await submitBlockOn(this.btcd.rpc, parent, this.btcd.miner.script);
  }

  /** Confirmations of a transaction on btcd's best chain (0 in the mempool; undefined when btcd does not know it). */
  async confirmations(txid: string): Promise<number | undefined> {
    const tx = await this.btcd.rpc.call<{ confirmations?: number }>('getrawtransaction', txid, 1).catch(() => undefined);
    return tx && (tx.confirmations ?? 0);
  }

  /** Fee of a transaction, from its inputs' previous outputs (sat). */
  async fee(txid: string): Promise<bigint> {
    const tx = await this.btcd.rpc.call<{ vin: { txid: string; vout: number }[]; vout: { value: number }[] }>('getrawtransaction', txid, 1);
    let inputs = 0n;
    for (const i of tx.vin) {
      const prev = await this.btcd.rpc.call<{ vout: { value: number }[] }>('getrawtransaction', i.txid, 1);
      inputs += sats(prev.vout[i.vout]!.value);
    }
    return inputs - tx.vout.reduce((s, o) => s + sats(o.value), 0n);
  }

  /** Total fee of several transactions (sat). */
  async fees(txids: string[]): Promise<bigint> {
    let s = 0n;
    for (const t of txids) s += await this.fee(t);
    return s;
  }

  /** The mempool transaction spending an output of `txid`, if any (a peer may broadcast others beside it, e.g. anchor spends). */
  async mempoolSpendOf(txid: string): Promise<string | undefined> {
    for (const t of await this.btcd.rpc.call<string[]>('getrawmempool')) {
      const tx = await this.btcd.rpc.call<{ vin: { txid: string }[] }>('getrawtransaction', t, 1);
      if (tx.vin.some((i) => i.txid === txid)) return t;
    }
    return undefined;
  }

  /** Output values of a transaction (sat). */
  async outputs(txid: string): Promise<bigint[]> {
    const tx = await this.btcd.rpc.call<{ vout: { value: number }[] }>('getrawtransaction', txid, 1);
    return tx.vout.map((o) => sats(o.value));
  }
}

const sats = (btc: number): bigint => BigInt(Math.round(btc * 1e8));

/** Whether `done` holds within `ms`, asked every 25 ms. */
async function holdsWithin(done: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await done()) return true;
    if (Date.now() >= deadline) return false;
    await Bun.sleep(25);
  }
}
