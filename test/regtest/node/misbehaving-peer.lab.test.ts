// lab-peers: btcd
/**
 * Done-when 6 of the channels issue, end to end on the lab: a peer that
 * sends an invalid commitment signature, an HTLC it cannot afford, or a
 * wrong revocation secret gets its channel failed (error, our commitment
 * broadcast) and no money moves: the commitment that confirms pays each side
 * what it had before the bad message, the payment never settles, and an HTLC
 * already on the commitment goes back to the peer that offered it.
 *
 * The misbehaving peer is an lnnode whose outgoing message is rewritten on
 * its way to the wire, once.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex } from '../../../src/bolt/bytes.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { untypedSend } from '../../support/untyped-send.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
const FUNDING = sat(500_000);
/** What A pays B first, so B has something to misbehave with. */
const TO_B = 200_000_000n;
/** A whole number of sats, so no sub-satoshi remainder blurs the accounting. */
const HTLC = 30_000_000n;

beforeAll(async () => {
  lab = await ChannelLab.start('misbehaving');
  a = lab.startNode('a');
  b = lab.startNode('b');
  await lab.fund(a, 3_000_000n);
  // Anchor channels: B brings the fee of its zero-fee HTLC-timeout transaction from its wallet.
  await lab.fund(b, 1_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

/** Rewrites B's next `name` message; returns a function that undoes the patch. */
function tamperOnce(name: string, rewrite: (m: Record<string, unknown>) => Record<string, unknown>): () => void {
  const peers = untypedSend(b.peers);
  const original = peers.send.bind(peers);
  let done = false;
  peers.send = (peer, n, msg) => {
    if (n !== name || done) return original(peer, n, msg);
    done = true;
    return original(peer, n, rewrite(msg as Record<string, unknown>));
  };
  return () => (peers.send = original);
}

const sorted = (xs: bigint[]): bigint[] => [...xs].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;
const ledgerOf = (n: LightningNode): string =>
  n.wallet!.transactions().map((t) => `${t.txid} ${t.purpose} ${t.state} fee ${t.feeSat}${t.conflictTxid ? ` conflict ${t.conflictTxid}` : ''}${t.lastError ? ` (${t.lastError})` : ''}`).join('\n');

/**
 * What `n` paid for CPFP children of the confirmed commitment `closingTxid`
 * (confirmed wallet transactions spending one of its 330-sat anchors, not
 * counted among the channel's sweeps): each one's fee less the anchor.
 */
async function anchorBumpCost(n: LightningNode, closingTxid: string, sweeps: string[]): Promise<bigint> {
  const outs = await lab.outputs(closingTxid);
  const anchors = new Set(outs.flatMap((v, i) => (v === ANCHOR_SAT ? [`${closingTxid}:${i}`] : [])));
  let cost = 0n;
  for (const t of n.wallet!.transactions()) {
    if (t.state !== 'confirmed' || sweeps.includes(t.txid) || !t.inputs.some((o) => anchors.has(o))) continue;
    cost += BigInt(t.feeSat) - ANCHOR_SAT;
  }
  return cost;
}

/** B pays A an invoice with one of its messages rewritten; returns what confirmed and the balances before. */
async function misbehave(name: string, rewrite: (m: Record<string, unknown>) => Record<string, unknown>) {
  // The last test's close may still hold A's coins: a CPFP child of A's commitment when B's confirmed instead is
  // released once A's resolver has seen that on a block (once seen on CI: 298,451 sat spendable of about 2 M).
  const spendable = (): bigint => a.wallet!.spendable().reduce((s, c) => s + c.value, 0n);
  await lab.mineUntil('A can fund the next channel', () => spendable() >= 2n * FUNDING, 6, 200);
  const { id, fundingTxid } = await lab.openChannel(a, b, FUNDING);
  await lab.pay(a, b, msat(TO_B));
  await lab.settled(a, b, id);
  const inv = a.invoices.create({ amountMsat: msat(HTLC), descriptionHash: sha256(new TextEncoder().encode(`bad ${name}`)) });
  const undo = tamperOnce(name, rewrite);
  const paying = b.payments.pay(inv.bolt11, { timeoutMs: 60_000 }).catch((e: Error) => e);
  try {
    await waitFor('A fails the channel and broadcasts', () => summary(a, id).closingTxid);
  } finally {
    undo();
  }
  expect(summary(a, id).closeReason).toBeDefined();
  // Both sides fail the channel and broadcast their commitment; whichever confirms, A must report it.
  await lab.mineUntil('the close confirmed', async () => {
    const k = summary(a, id).closeKind;
    if (k !== 'local' && k !== 'remote') return false;
    const tx = await lab.btcd.rpc.call<{ confirmations?: number }>('getrawtransaction', summary(a, id).closingTxid!, 1).catch(() => undefined);
    return (tx?.confirmations ?? 0) > 0;
  }, 5, 100);
  return { id, fundingTxid, inv, paying, closingTxid: summary(a, id).closingTxid! };
}

describe('a peer that breaks the protocol is failed and no money moves', () => {
  // First, so no earlier close's outputs are still maturing into the wallets it accounts for.
  test('wrong revocation secret: the HTLC already committed goes back to the peer on chain; every sat accounted for', async () => {
    const startA = await lab.walletBalance(a);
    const startB = await lab.walletBalance(b);
    const r = await misbehave('revoke_and_ack', (m) => ({ ...m, perCommitmentSecret: crypto.getRandomValues(new Uint8Array(32)) }));
    expect(summary(a, r.id).closeReason).toMatch(/per_commitment_secret/);
    const fee = await lab.fee(r.closingTxid);
    expect(sorted(await lab.outputs(r.closingTxid))).toEqual(sorted([(TO_B - HTLC) / 1000n, HTLC / 1000n, FUNDING - TO_B / 1000n - fee - 2n * ANCHOR_SAT, ANCHOR_SAT, ANCHOR_SAT]));
    // A never settles the invoice (the HTLC never became irrevocable), so B takes the HTLC back after its expiry:
    // B's HTLC-timeout goes out once B sees the expiry, its output is swept after to_self_delay (LAB_TO_SELF_DELAY).
    await lab.mineUntil('resolved on both sides', () => summary(a, r.id).phase === 'closed' && summary(b, r.id).phase === 'closed', 200, 0);
    expect(a.invoices.get(r.inv.paymentHash)!.state).toBe('open');
    const p = await r.paying;
    expect(p instanceof Error || p.state !== 'succeeded').toBe(true);
    const fundingFee = await lab.fee(r.fundingTxid);
    const feesA = await lab.fees(summary(a, r.id).sweepTxids);
    const feesB = await lab.fees(summary(b, r.id).sweepTxids);
    // Both anchors came out of A's side (it opened). A side whose own commitment confirmed may have bumped it
    // through its anchor (HTLCs at stake): that child's fee is its cost, less the 330-sat anchor it took back.
    // (Once seen on CI as B 688 sat short: B's child paid 1,018 and took its anchor, 1,018 - 330.)
    const bumpA = await anchorBumpCost(a, r.closingTxid, summary(a, r.id).sweepTxids);
    const bumpB = await anchorBumpCost(b, r.closingTxid, summary(b, r.id).sweepTxids);
    expect(await lab.walletBalance(a)).toBe(startA - fundingFee - TO_B / 1000n - fee - 2n * ANCHOR_SAT - feesA - bumpA);
    const endB = await lab.walletBalance(b);
    if (endB !== startB + TO_B / 1000n - feesB - bumpB) console.error('B wallet transactions', ledgerOf(b), 'sweeps', summary(b, r.id).sweepTxids);
    expect(endB).toBe(startB + TO_B / 1000n - feesB - bumpB);
  }, 400_000);

  test('invalid commitment signature: the channel closes at the balances before it', async () => {
    const r = await misbehave('commitment_signed', (m) => {
      const sig = new Uint8Array(m.signature as Uint8Array);
      sig[10]! ^= 1;
      return { ...m, signature: sig };
    });
    expect(summary(a, r.id).closeReason).toMatch(/invalid commitment signature|signature/);
    const fee = await lab.fee(r.closingTxid);
    expect(sorted(await lab.outputs(r.closingTxid))).toEqual(sorted([TO_B / 1000n, FUNDING - TO_B / 1000n - fee - 2n * ANCHOR_SAT, ANCHOR_SAT, ANCHOR_SAT]));
    expect(a.invoices.get(r.inv.paymentHash)!.state).toBe('open');
  }, 120_000);

  test('an HTLC the peer cannot afford: failed at update_add_htlc, the channel closes at the balances before it', async () => {
    const r = await misbehave('update_add_htlc', (m) => ({ ...m, amountMsat: TO_B + 1_000_000n }));
    expect(summary(a, r.id).closeReason).toMatch(/cannot afford/);
    const fee = await lab.fee(r.closingTxid);
    expect(sorted(await lab.outputs(r.closingTxid))).toEqual(sorted([TO_B / 1000n, FUNDING - TO_B / 1000n - fee - 2n * ANCHOR_SAT, ANCHOR_SAT, ANCHOR_SAT]));
    expect(a.invoices.get(r.inv.paymentHash)!.state).toBe('open');
  }, 120_000);

});
