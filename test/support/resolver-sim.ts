/**
 * One side of an in-memory channel pair (test/bolt02/channel-harness.ts)
 * resolved on an in-memory chain (sim-chain.ts) by the node's real
 * ChannelResolver, driven tip by tip as ChannelManager.resolve drives it:
 * identify what spent the funding output, then step. The wallet is one
 * sweep script (what reaches it is counted to the sat); revoked
 * commitments are stored as the channel driver stores them. For the BOLT 5
 * rows of the receiver-rule table.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, hex } from '../../src/bolt/bytes.ts';
import { type HtlcEntry } from '../../src/bolt/bolt2/channel/spec.ts';
import { p2wpkh } from '../../src/bolt/bolt3/script.ts';
import { serializeTx } from '../../src/bolt/bolt3/tx.ts';
import { ourCommitment } from '../../src/bolt/bolt5/our-commitment.ts';
import { type CloseRecord, ChannelResolver } from '../../src/node/channels/resolver.ts';
import { ChannelStore } from '../../src/node/channels/store.ts';
import { silentLogger } from '../../src/node/log.ts';
import { Store } from '../../src/node/store.ts';
import { type Wallet } from '../../src/node/wallet/wallet.ts';
import { type Side } from '../bolt02/channel-harness.ts';
import { SimChain } from './sim-chain.ts';

export const SWEEP_SCRIPT = p2wpkh(secp256k1.getPublicKey(sha256(Uint8Array.of(0x5e)), true));

export interface Resolution {
  htlc: HtlcEntry;
  preimage?: Uint8Array;
  /** The tip when it was reported. */
  height: number;
}

export class ResolverSim {
  readonly chain = new SimChain();
  readonly resolved: Resolution[] = [];
  /** Preimages the node knows (its settled invoices). */
  readonly preimages: Uint8Array[] = [];
  close?: CloseRecord;
  private readonly db = Store.open(':memory:');
  private readonly store = new ChannelStore(this.db);
  private readonly resolver: ChannelResolver;

  constructor(readonly side: Side) {
    const c = side.state;
    this.chain.fund(c.fundingTxid, [
      ...Array.from({ length: c.fundingVout }, () => ({ value: 1_000n, script: new Uint8Array(22) })),
      { value: c.fundingSat, script: new Uint8Array(34) },
    ]);
    this.store.insert({ channelId: c.channelId, peer: new Uint8Array(33).fill(2), keyIndex: 0, phase: 'normal', state: {} });
    const wallet = { newChangeScript: () => SWEEP_SCRIPT } as unknown as Wallet;
    this.resolver = new ChannelResolver(this.chain, wallet, this.store, {
      preimageOf: (h) => this.preimages.find((p) => equalBytes(sha256(p), h)),
      htlcResolved: (_id, htlc, preimage) => void this.resolved.push({ htlc, height: this.chain.height, ...(preimage ? { preimage } : {}) }),
    }, silentLogger);
  }

  /** Stores the peer's commitments this side has seen revoked so far (the driver does it with each revoke_and_ack). */
  private saveRevoked(): void {
    for (const e of this.side.events) {
      if (e.kind !== 'revoked') continue;
      this.store.saveWithRevoked({ channelId: this.side.state.channelId, peer: new Uint8Array(33).fill(2), keyIndex: 0, phase: 'normal', state: {} }, e.commit);
    }
  }

  /** This side fails the channel: its latest commitment goes out (ChannelManager.forceClose). */
  forceClose(): string {
    const oc = ourCommitment(this.side.state, this.side.secrets, (h) => this.preimages.find((p) => equalBytes(sha256(p), h)));
    const raw = serializeTx(oc.tx);
    this.close = { kind: 'local', txid: oc.txid, raw, spends: {}, settled: [] };
    this.chain.submit(raw);
    return oc.txid;
  }

  /** One tip processed, as ChannelManager.resolve does it. */
  async tick(): Promise<void> {
    this.saveRevoked();
    const ch = { channelId: this.side.state.channelId, commitments: this.side.state, secrets: this.side.secrets, close: this.close };
    const found = await this.resolver.identify(ch);
    if (!found) return;
    this.close = found;
    this.close = await this.resolver.step({ ...ch, close: found }, this.chain.height, this.chain.feerate, (r) => void (this.close = r));
  }

  /** Mines `n` blocks, processing each tip. */
  async mine(n = 1): Promise<void> {
    for (let i = 0; i < n; i++) {
      this.chain.mine(1);
      await this.tick();
    }
  }

  /** Mines until the tip is `height`. */
  async mineTo(height: number): Promise<void> {
    await this.mine(height - this.chain.height);
  }

  /** Our transaction spending `txid:vout`, as the resolver stored it. */
  ours(txid: string, vout: number): string | undefined {
    return this.close?.spends[`${txid}:${vout}`]?.txid;
  }

  /** Sat in confirmed outputs paying the wallet's sweep script. */
  walletSat(): bigint {
    let s = 0n;
    for (const id of new Set(this.chain.accepted)) {
      if (!this.chain.confirmations(id)) continue;
      for (const o of this.chain.tx(id).outputs) if (equalBytes(o.script, SWEEP_SCRIPT)) s += o.value;
    }
    return s;
  }

  resolvedIds(): string[] {
    return this.resolved.map((r) => `${r.htlc.direction}:${r.htlc.id}${r.preimage ? `:${hex(r.preimage).slice(0, 8)}` : ''}`);
  }

  closeDb(): void {
    this.db.db.close();
  }
}
