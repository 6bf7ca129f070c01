/**
 * The BOLT 5 rows of the receiver-rule table at the pure level: a channel
 * between two in-memory parties (test/bolt02/channel-harness.ts) closes on
 * an in-memory chain (test/support/sim-chain.ts, which enforces inputs,
 * conflicts, CSV and CLTV but not scripts) and the node's own
 * ChannelResolver resolves A's side of it block by block
 * (test/support/resolver-sim.ts). Each scenario checks what A broadcast,
 * at which height, what reached its wallet to the sat and which of its
 * payments were reported settled or failed, and when. Scripts and
 * signatures against a real node: test/regtest/onchain/*.lab.test.ts and
 * the lab group test/regtest/rules/groups/onchain.ts.
 *
 * Used by test/bolt02/receiver-rules.test.ts (not a test file itself).
 */
import { expect } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '../../src/bolt/bytes.ts';
import { buildLocal, type Commitments, sendAdd, sendFulfill } from '../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE, STATIC_REMOTEKEY_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { derivePrivkey } from '../../src/bolt/bolt3/keys.ts';
import { signInput, witnessSig } from '../../src/bolt/bolt3/sign.ts';
import { closingTransaction } from '../../src/bolt/bolt3/closing.ts';
import { serializeTx, SIGHASH_ALL, type Tx, txid as txidOf } from '../../src/bolt/bolt3/tx.ts';
import { ourCommitment } from '../../src/bolt/bolt5/our-commitment.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { CLOSE_DEPTH } from '../../src/node/channels/depths.ts';
import { Pair, type Side } from '../bolt02/channel-harness.ts';
import { ResolverSim, SWEEP_SCRIPT } from '../support/resolver-sim.ts';
import { type SimChain } from '../support/sim-chain.ts';

const onion = new Uint8Array(1366);
const preimage = (i: number): Uint8Array => sha256(Uint8Array.of(0x5f, i));
const hashOf = (i: number): Uint8Array => sha256(preimage(i));

function add(p: Pair, from: Side, amountMsat: bigint, i: number, cltv = 500): bigint {
  const r = sendAdd(from.state, { amountMsat: amountMsat as Msat, paymentHash: hashOf(i), cltvExpiry: cltv as CltvExpiry, onion });
  from.state = r.state;
  p.send(from, r.send);
  return r.htlc.id;
}

/** Both sides sign and revoke until nothing is pending. */
function commitBoth(p: Pair): void {
  p.sign(p.a);
  p.settle();
  p.sign(p.b);
  p.settle();
}

/**
 * B adds an HTLC paying preimage `i` and signs it; A revokes and signs B's
 * next commitment, which B receives; B never revokes. A holds B's
 * commitment with the HTLC (nextRemoteCommit) and its own, but B is not
 * irrevocably committed to it (BOLT 2: its previous commitment is not
 * revoked).
 */
function pendingFromB(p: Pair, amountMsat: bigint, i: number): bigint {
  const id = add(p, p.b, amountMsat, i);
  p.sign(p.b);
  p.deliverOne(p.a); // update_add_htlc
  p.deliverOne(p.a); // commitment_signed: A revokes and signs B's next commitment
  while (p.b.inbox.length) p.deliverOne(p.b);
  p.a.inbox.length = 0; // B's revoke_and_ack never reaches A
  return id;
}

/** The output of `h`'s HTLC on a commitment with outputs `outputs`, by payment hash. */
function htlcVout(outputs: readonly { htlc?: number }[], htlcs: readonly { paymentHash: Uint8Array }[], i: number): number {
  const v = outputs.findIndex((o) => o.htlc !== undefined && equalBytes(htlcs[o.htlc]!.paymentHash, hashOf(i)));
  if (v < 0) throw new Error(`no output for HTLC ${i}`);
  return v;
}

const fee = (chain: SimChain, txid: string): bigint => {
  const tx = chain.tx(txid);
  return tx.inputs.reduce((s, i) => s + chain.tx(i.txid).outputs[i.vout]!.value, 0n) - tx.outputs.reduce((s, o) => s + o.value, 0n);
};
const witnessHas = (tx: Tx, item: Uint8Array): boolean => tx.inputs.some((i) => i.witness.some((w) => equalBytes(w, item)));
const noPrematureSpend = (chain: SimChain): void => expect(chain.refused.filter((r) => r.reason.startsWith('non-'))).toEqual([]);

/** A 1,000,000-sat channel A opened, 400,000 sat pushed to B, at 2500 sat/kw. */
const open = (): Pair => Pair.open(sat(1_000_000), 400_000_000n as Msat, 2500 as FeeratePerKw, STATIC_REMOTEKEY_TYPE);

// ------------------------------------------------------------------ A's own commitment

/**
 * A fails the channel with, on its commitment: an HTLC it offered that
 * times out (1), one it offered that B takes with the preimage (6), a dust
 * one it offered (2, trimmed), one B offered whose preimage A knows (3), and
 * one B offered that B never irrevocably committed to (5, A knows that
 * preimage too).
 */
async function localClose(): Promise<void> {
  const p = open();
  const timesOut = add(p, p.a, 70_000_000n, 1);
  const takenByB = add(p, p.a, 65_000_000n, 6);
  const dust = add(p, p.a, 400_000n, 2);
  const claimed = add(p, p.b, 60_000_000n, 3);
  commitBoth(p);
  const notCommitted = pendingFromB(p, 55_000_000n, 5);
  const c: Commitments = p.a.state;
  expect(c.localCommit.spec.htlcs.map((h) => `${h.direction}:${h.id}`).sort()).toEqual([`in:${claimed}`, `in:${notCommitted}`, `out:${dust}`, `out:${takenByB}`, `out:${timesOut}`].sort());

  const sim = new ResolverSim(p.a);
  sim.preimages.push(preimage(3), preimage(5));
  const built = buildLocal(c, p.a.secrets, c.localCommit.spec, c.localCommit.index);
  const outs = built.commitment.outputs;
  const v = (i: number) => htlcVout(outs, built.params.htlcs, i);
  const toLocal = outs.findIndex((o) => o.kind === 'to_local');
  expect(outs).toHaveLength(6); // to_local, to_remote and four HTLCs: the dust one has no output

  const commit = sim.forceClose();
  expect(sim.chain.inMempool(commit)).toBe(true);
  await sim.mine(1); // 301: the commitment confirms
  // local-received/htlc-success: the HTLC-success transaction for HTLC 3 at once, with the preimage.
  const success = sim.ours(commit, v(3))!;
  expect(sim.chain.inMempool(success)).toBe(true);
  expect(witnessHas(sim.chain.tx(success), preimage(3))).toBe(true);
  // local-received/not-committed-no-spend: nothing of A's spends HTLC 5, now or later.
  expect(sim.ours(commit, v(5))).toBeUndefined();

  // B takes HTLC 6 with its preimage (offered HTLC, success branch: <remotehtlcsig> <preimage>).
  const o6 = outs[v(6)]!;
  const take: Tx = { version: 2, locktime: 0, inputs: [{ txid: commit, vout: v(6), sequence: 0xffffffff, witness: [] }], outputs: [{ value: o6.value - 1_000n, script: new Uint8Array(22) }] };
  const bSig = witnessSig(signInput(take, 0, o6.witnessScript!, o6.value, derivePrivkey(p.b.secrets.htlc, built.point), SIGHASH_ALL).der, SIGHASH_ALL);
  take.inputs[0]!.witness = [bSig, preimage(6), o6.witnessScript!];
  expect(sim.chain.submit(serializeTx(take)).refused).toBeUndefined();
  await sim.mine(1); // 302
  // local-offers/extract-preimage: the payment of HTLC 6 succeeded, with the preimage read from B's witness.
  expect(sim.resolved.filter((r) => r.htlc.id === takenByB).map((r) => r.preimage)).toContainEqual(preimage(6));
  await sim.mineTo(305);
  // local-offers/no-output-fail-when-deep: the dust HTLC fails once the commitment is 6 deep, not before.
  expect(sim.resolved.some((r) => r.htlc.id === dust)).toBe(false);
  await sim.mine(1); // 306: 6 confirmations
  expect(sim.resolved.find((r) => r.htlc.id === dust)).toMatchObject({ height: 301 + CLOSE_DEPTH - 1 });
  expect(sim.resolved.find((r) => r.htlc.id === dust)!.preimage).toBeUndefined();

  // local/to_local-csv, local-received/success-output-csv: nothing before to_self_delay (144) blocks.
  const delay = c.remote.toSelfDelay;
  expect(delay).toBe(144);
  await sim.mineTo(301 + delay - 2); // 443: the commitment has 143 confirmations
  expect(sim.ours(commit, toLocal)).toBeUndefined();
  await sim.mine(1); // 444: 144 confirmations, the sweep is valid in the next block
  // local/sweep-to_local
  const toLocalSweep = sim.ours(commit, toLocal)!;
  expect(sim.chain.tx(toLocalSweep).outputs.map((o) => o.script)).toEqual([SWEEP_SCRIPT]);
  expect(sim.chain.tx(toLocalSweep).inputs.map((i) => [i.txid, i.vout, i.sequence])).toEqual([[commit, toLocal, delay]]);
  expect(sim.ours(success, 0)).toBeUndefined(); // the HTLC-success confirmed one block later
  await sim.mine(1); // 445
  // local-received/resolve-success-output, sweep-success-output: its output to the wallet, after the delay.
  const successSweep = sim.ours(success, 0)!;
  expect(sim.chain.tx(successSweep).inputs.map((i) => [i.txid, i.vout, i.sequence])).toEqual([[success, 0, delay]]);

  // local-offers/htlc-timeout: the HTLC-timeout of HTLC 1 only once its cltv_expiry (500) allows it.
  await sim.mineTo(499);
  expect(sim.ours(commit, v(1))).toBeUndefined();
  await sim.mine(1); // 500
  const timeout = sim.ours(commit, v(1))!;
  expect(sim.chain.tx(timeout).locktime).toBe(500);
  expect(sim.chain.inMempool(timeout)).toBe(true);
  await sim.mine(1); // 501: the HTLC-timeout confirms
  // Its payment fails once the HTLC-timeout is deep, not at one confirmation.
  await sim.mineTo(501 + CLOSE_DEPTH - 2);
  expect(sim.resolved.some((r) => r.htlc.id === timesOut)).toBe(false);
  await sim.mine(1);
  expect(sim.resolved.find((r) => r.htlc.id === timesOut)).toMatchObject({ height: 501 + CLOSE_DEPTH - 1 });
  // local-offers/timeout-output-csv, resolve-timeout-output, sweep-timeout-output.
  await sim.mineTo(501 + delay - 2);
  expect(sim.ours(timeout, 0)).toBeUndefined();
  await sim.mine(1);
  const timeoutSweep = sim.ours(timeout, 0)!;
  expect(sim.chain.tx(timeoutSweep).inputs.map((i) => [i.txid, i.vout, i.sequence])).toEqual([[timeout, 0, delay]]);

  // onchain/resolve-all: everything resolved and deep; the channel is done. HTLC 5 stays B's to time out.
  await sim.mine(CLOSE_DEPTH);
  expect(sim.close!.doneAt).toBeDefined();
  expect(sim.chain.spender(commit, v(5))).toBeUndefined();
  expect(new Set(sim.resolved.map((r) => r.htlc.id))).toEqual(new Set([timesOut, takenByB, dust]));
  noPrematureSpend(sim.chain);
  // The wallet: to_local and both HTLC transactions' outputs, less the sweeps' fees, to the sat.
  const sweeps = [toLocalSweep, successSweep, timeoutSweep];
  const expected = outs[toLocal]!.value + sim.chain.tx(success).outputs[0]!.value + sim.chain.tx(timeout).outputs[0]!.value - sweeps.reduce((s, t) => s + fee(sim.chain, t), 0n);
  expect(sim.walletSat()).toBe(expected);
  for (const t of sweeps) expect(fee(sim.chain, t)).toBeGreaterThan(0n);
  sim.closeDb();
}

// ------------------------------------------------------------------ B's commitment

/**
 * B broadcasts its latest commitment, one A signed but B never revoked the
 * one before (nextRemoteCommit): it holds an HTLC A offered that times out
 * (1), one A offered that B takes with its HTLC-success transaction (6), a
 * dust one A offered (2), one B offered whose preimage A knows (3), and one
 * B offered without being irrevocably committed to it (5; A knows the
 * preimage).
 */
async function remoteClose(): Promise<void> {
  const p = open();
  const timesOut = add(p, p.a, 70_000_000n, 1);
  const takenByB = add(p, p.a, 65_000_000n, 6);
  const dust = add(p, p.a, 400_000n, 2);
  const claimed = add(p, p.b, 60_000_000n, 3);
  commitBoth(p);
  const notCommitted = pendingFromB(p, 55_000_000n, 5);
  expect(p.a.state.nextRemoteCommit?.txid).toBe(p.b.state.localCommit.txid);

  const sim = new ResolverSim(p.a);
  sim.preimages.push(preimage(3), preimage(5));
  const theirs = ourCommitment(p.b.state, p.b.secrets, (h) => (equalBytes(h, hashOf(6)) ? preimage(6) : undefined));
  const built = buildLocal(p.b.state, p.b.secrets, p.b.state.localCommit.spec, p.b.state.localCommit.index);
  const outs = built.commitment.outputs;
  const v = (i: number) => htlcVout(outs, built.params.htlcs, i);
  const toRemote = outs.findIndex((o) => o.kind === 'to_remote');
  expect(sim.chain.submit(serializeTx(theirs.tx)).refused).toBeUndefined();
  await sim.mine(1); // 301
  // reestablish/commitment-broadcast-any-time, remote/handle-outputs: A knows it for B's commitment A signed last.
  expect(sim.close).toMatchObject({ kind: 'remote', txid: theirs.txid, commitmentIndex: p.a.state.nextRemoteCommit!.index });
  const toRemoteSweep = sim.ours(theirs.txid, toRemote)!;
  expect(sim.chain.tx(toRemoteSweep).outputs.map((o) => o.script)).toEqual([SWEEP_SCRIPT]);
  // remote-received/preimage-claim: HTLC 3 taken with its preimage, to the wallet, at once.
  const claim3 = sim.ours(theirs.txid, v(3))!;
  expect(witnessHas(sim.chain.tx(claim3), preimage(3))).toBe(true);
  expect(sim.chain.tx(claim3).outputs.map((o) => o.script)).toEqual([SWEEP_SCRIPT]);
  // remote-received/not-committed-no-spend: B is not irrevocably committed to HTLC 5; A does not spend it.
  expect(sim.ours(theirs.txid, v(5))).toBeUndefined();
  // B's HTLC-success for HTLC 6 (its own commitment).
  const stage6 = theirs.secondStage.find((s) => s.kind === 'success')!;
  expect(sim.chain.submit(serializeTx(stage6.tx)).refused).toBeUndefined();
  await sim.mine(1); // 302
  // remote-offers/extract-preimage: the payment succeeded, preimage from B's HTLC-success witness.
  expect(sim.resolved.filter((r) => r.htlc.id === takenByB).map((r) => r.preimage)).toContainEqual(preimage(6));
  // remote-offers/no-output-fail-when-deep: the dust HTLC fails when the commitment is 6 deep.
  await sim.mineTo(305);
  expect(sim.resolved.some((r) => r.htlc.id === dust)).toBe(false);
  await sim.mine(1);
  expect(sim.resolved.find((r) => r.htlc.id === dust)).toMatchObject({ height: 306 });
  // remote-offers/timeout-claim: HTLC 1 taken to the wallet once its cltv_expiry allows, not before.
  await sim.mineTo(499);
  expect(sim.ours(theirs.txid, v(1))).toBeUndefined();
  await sim.mine(1);
  const claim1 = sim.ours(theirs.txid, v(1))!;
  expect(sim.chain.tx(claim1).locktime).toBe(500);
  expect(sim.chain.tx(claim1).outputs.map((o) => o.script)).toEqual([SWEEP_SCRIPT]);
  await sim.mine(CLOSE_DEPTH - 1); // 505: 5 confirmations
  expect(sim.resolved.some((r) => r.htlc.id === timesOut)).toBe(false);
  await sim.mine(1);
  expect(sim.resolved.find((r) => r.htlc.id === timesOut)).toMatchObject({ height: 506 });
  expect(sim.resolved.find((r) => r.htlc.id === timesOut)!.preimage).toBeUndefined();
  await sim.mine(1);
  expect(sim.close!.doneAt).toBeDefined();
  expect(sim.chain.spender(theirs.txid, v(5))).toBeUndefined();
  expect(new Set(sim.resolved.map((r) => r.htlc.id))).toEqual(new Set([timesOut, takenByB, dust]));
  void claimed;
  void notCommitted;
  noPrematureSpend(sim.chain);
  const sweeps = [toRemoteSweep, claim3, claim1];
  expect(sim.walletSat()).toBe(outs[toRemote]!.value + outs[v(3)]!.value + outs[v(1)]!.value - sweeps.reduce((s, t) => s + fee(sim.chain, t), 0n));
  sim.closeDb();
}

// ------------------------------------------------------------------ B's revoked commitment

/**
 * B broadcasts a commitment it revoked, with an HTLC each way (A's 2, whose
 * preimage B learnt; B's 1 with cltv_expiry 320), and while A's justice
 * transaction is still unconfirmed (the mempool is lost) gets its own
 * HTLC-success (for 2) and HTLC-timeout (for 1) transactions mined first.
 */
async function revokedClose(): Promise<void> {
  const p = open();
  add(p, p.b, 50_000_000n, 1, 320);
  const toB = add(p, p.a, 60_000_000n, 2);
  commitBoth(p);
  const old = structuredClone(p.b.state);
  const f = sendFulfill(p.b.state, toB, preimage(2));
  p.b.state = f.state;
  p.send(p.b, f.send);
  commitBoth(p);
  const sim = new ResolverSim(p.a);
  const cheat = ourCommitment(old, p.b.secrets, (h) => (equalBytes(h, hashOf(2)) ? preimage(2) : undefined));
  const success = cheat.secondStage.find((s) => s.kind === 'success')!;
  const timeout = cheat.secondStage.find((s) => s.kind === 'timeout')!;
  const built = buildLocal(old, p.b.secrets, old.localCommit.spec, old.localCommit.index);
  const outs = built.commitment.outputs;
  const toLocal = outs.findIndex((o) => o.kind === 'to_local');
  const toRemote = outs.findIndex((o) => o.kind === 'to_remote');

  expect(sim.chain.submit(serializeTx(cheat.tx)).refused).toBeUndefined();
  await sim.mine(1); // 301
  expect(sim.close).toMatchObject({ kind: 'revoked', txid: cheat.txid });
  // revoked/justice-to_local, justice-offered-htlc, justice-received-htlc: one justice transaction takes all three at once.
  const firstJustice = sim.ours(cheat.txid, toLocal)!;
  const j1 = sim.chain.tx(firstJustice);
  expect(j1.inputs.map((i) => `${i.txid}:${i.vout}`).sort()).toEqual([toLocal, htlcVout(outs, built.params.htlcs, 1), htlcVout(outs, built.params.htlcs, 2)].map((x) => `${cheat.txid}:${x}`).sort());
  expect(j1.inputs.every((i) => i.sequence === 0xfffffffd)).toBe(true); // before to_self_delay: no relative lock
  expect(j1.outputs.map((o) => o.script)).toEqual([SWEEP_SCRIPT]);

  // A goes offline; the mempool is lost; B's second stages get in first.
  sim.chain.dropMempool();
  expect(sim.chain.submit(serializeTx(success.tx)).refused).toBeUndefined();
  sim.chain.mine(1); // 302
  sim.chain.mine(320 - 302);
  expect(sim.chain.submit(serializeTx(timeout.tx)).refused).toBeUndefined();
  sim.chain.mine(1); // 321
  await sim.tick();
  // revoked/second-stage-success, second-stage-timeout, invalidated-by-htlc-tx: the justice is rebuilt
  // with to_local and both second-stage outputs, all with the revocation key, before their CSV ends.
  const justice = sim.ours(cheat.txid, toLocal)!;
  expect(justice).not.toBe(firstJustice);
  expect(sim.ours(success.txid, 0)).toBe(justice);
  expect(sim.ours(timeout.txid, 0)).toBe(justice);
  const j2 = sim.chain.tx(justice);
  expect(j2.inputs.map((i) => `${i.txid}:${i.vout}`).sort()).toEqual([`${cheat.txid}:${toLocal}`, `${success.txid}:0`, `${timeout.txid}:0`].sort());
  expect(j2.inputs.every((i) => i.sequence === 0xfffffffd)).toBe(true);
  expect(sim.chain.inMempool(justice)).toBe(true);
  // revoked/extract-preimage: B's HTLC-success revealed the preimage of A's payment 2.
  expect(sim.resolved.filter((r) => r.htlc.id === toB).map((r) => r.preimage)).toContainEqual(preimage(2));
  await sim.mine(CLOSE_DEPTH + 1);
  expect(sim.close!.doneAt).toBeDefined();
  noPrematureSpend(sim.chain);
  // Everything of the channel but the fees on chain: to_remote, to_local, and both second-stage outputs.
  const toRemoteSweep = sim.ours(cheat.txid, toRemote)!;
  const want = outs[toRemote]!.value + outs[toLocal]!.value + success.tx.outputs[0]!.value + timeout.tx.outputs[0]!.value - fee(sim.chain, justice) - fee(sim.chain, toRemoteSweep);
  expect(sim.walletSat()).toBe(want);
  sim.closeDb();
}

/**
 * revoked/anchors-separate-near-expiry: on an anchors channel B broadcasts a
 * revoked commitment holding an HTLC A offered (cltv_expiry 330), and A's
 * batched justice (to_local and the HTLC) is pinned: it never confirms.
 * At security_delay (18) blocks before the expiry, and not before, A claims
 * the HTLC output in a transaction of its own that replaces the batch (it
 * pays more than the batch did); to_local follows in another one. On a
 * static_remotekey channel the same close keeps one batch.
 */
async function anchorsNearExpiry(): Promise<void> {
  for (const type of [ANCHORS_TYPE, STATIC_REMOTEKEY_TYPE]) {
    const p = Pair.open(sat(1_000_000), 400_000_000n as Msat, 2500 as FeeratePerKw, type);
    const toB = add(p, p.a, 60_000_000n, 2, 330);
    commitBoth(p);
    const old = structuredClone(p.b.state);
    const f = sendFulfill(p.b.state, toB, preimage(2));
    p.b.state = f.state;
    p.send(p.b, f.send);
    commitBoth(p);
    const sim = new ResolverSim(p.a);
    const cheat = ourCommitment(old, p.b.secrets, () => undefined);
    const built = buildLocal(old, p.b.secrets, old.localCommit.spec, old.localCommit.index);
    const outs = built.commitment.outputs;
    const toLocal = outs.findIndex((o) => o.kind === 'to_local');
    const htlc = htlcVout(outs, built.params.htlcs, 2);
    sim.chain.submit(serializeTx(cheat.tx));
    await sim.mine(1); // 301
    const batch = sim.ours(cheat.txid, toLocal)!;
    expect(sim.ours(cheat.txid, htlc)).toBe(batch);
    sim.chain.held.add(batch); // pinned: no block takes it
    await sim.mineTo(311);
    expect(sim.ours(cheat.txid, htlc)).toBe(batch);
    await sim.mine(1); // 312: 330 - 312 = security_delay
    if (type === STATIC_REMOTEKEY_TYPE) {
      // Without anchors the batch stands (the cheater cannot aggregate HTLC transactions into it).
      expect(sim.ours(cheat.txid, htlc)).toBe(batch);
      sim.closeDb();
      continue;
    }
    const single = sim.ours(cheat.txid, htlc)!;
    expect(single).not.toBe(batch);
    expect(sim.chain.tx(single).inputs.map((i) => `${i.txid}:${i.vout}`)).toEqual([`${cheat.txid}:${htlc}`]);
    expect(sim.chain.inMempool(single)).toBe(true);
    expect(sim.chain.inMempool(batch)).toBe(false); // replaced
    await sim.mine(1); // 313: the single confirms; to_local is claimed again on its own
    expect(sim.chain.confirmations(single)).toBe(1);
    const rest = sim.ours(cheat.txid, toLocal)!;
    expect(sim.chain.tx(rest).inputs.map((i) => `${i.txid}:${i.vout}`)).toEqual([`${cheat.txid}:${toLocal}`]);
    await sim.mine(CLOSE_DEPTH + 1);
    expect(sim.close!.doneAt).toBeDefined();
    const toRemoteSweep = sim.ours(cheat.txid, outs.findIndex((o) => o.kind === 'to_remote'))!;
    const sweeps = [single, rest, toRemoteSweep];
    const value = [toLocal, htlc, outs.findIndex((o) => o.kind === 'to_remote')].reduce((s, v) => s + outs[v]!.value, 0n);
    expect(sim.walletSat()).toBe(value - sweeps.reduce((s, t) => s + fee(sim.chain, t), 0n));
    sim.closeDb();
  }
}

// ------------------------------------------------------------------ reorgs

/**
 * onchain/reorg: each kind of close (mutual, A's commitment, B's, B's
 * revoked one) is reorged out with the mempool emptied; A sends the close
 * again (its own, or the peer's that it kept), then its sweeps, and
 * resolves the outputs again; an HTLC's failure is reported only when its
 * resolution is deep on the chain that stays.
 */
async function reorgs(): Promise<void> {
  const closes: [string, (p: Pair, sim: ResolverSim) => string][] = [
    ['mutual', (p, sim) => {
      const c = p.a.state;
      const t = closingTransaction({
        fundingTxid: c.fundingTxid, fundingVout: c.fundingVout, localScript: SWEEP_SCRIPT, remoteScript: new Uint8Array(22),
        localMsat: c.localCommit.spec.toLocalMsat, remoteMsat: c.localCommit.spec.toRemoteMsat, localIsFunder: true, fee: sat(500), dustLimit: sat(354),
      });
      const raw = serializeTx(t.tx);
      sim.close = { kind: 'mutual', txid: txidOf(t.tx), raw, spends: {}, settled: [] };
      sim.chain.submit(raw);
      return txidOf(t.tx);
    }],
    ['local', (_p, sim) => sim.forceClose()],
    ['remote', (p, sim) => {
      const theirs = ourCommitment(p.b.state, p.b.secrets, () => undefined);
      sim.chain.submit(serializeTx(theirs.tx));
      return theirs.txid;
    }],
  ];
  for (const [kind, close] of closes) {
    const p = open();
    const timesOut = add(p, p.a, 70_000_000n, 1, 310);
    commitBoth(p);
    const sim = new ResolverSim(p.a);
    const txid = close(p, sim);
    await sim.mine(3); // 303: the close has 3 confirmations
    expect(sim.close).toMatchObject({ kind, txid });
    const sweeps = Object.values(sim.close!.spends).map((x) => x.txid);
    if (kind === 'remote') expect(sweeps).toHaveLength(1); // to_remote
    sim.chain.reorg(3);
    expect(await sim.chain.txStatus(txid)).toBeNull();
    await sim.tick();
    expect(sim.chain.inMempool(txid)).toBe(true);
    await sim.mine(1); // 304: confirmed again
    await sim.tick();
    for (const t of sweeps) expect(sim.chain.inMempool(t) || sim.chain.confirmations(t) !== undefined).toBe(true);
    if (kind === 'mutual') {
      await sim.mine(CLOSE_DEPTH);
      expect(sim.close!.doneAt).toBeDefined();
      sim.closeDb();
      continue;
    }
    // The HTLC's resolution (A's HTLC-timeout, or its timeout claim on B's commitment) confirms at 311.
    await sim.mineTo(310);
    const resolving = Object.values(sim.close!.spends).map((x) => x.txid).find((t) => sim.chain.tx(t).locktime === 310)!;
    expect(resolving).toBeDefined();
    await sim.mineTo(315); // 5 confirmations
    expect(sim.resolved.some((r) => r.htlc.id === timesOut)).toBe(false);
    sim.chain.reorg(5); // 311..315 replaced: the resolution is gone, the close (304) stays
    await sim.tick();
    expect(sim.chain.inMempool(resolving)).toBe(true);
    await sim.mine(CLOSE_DEPTH - 1); // 320: the resolution, back in 316, has 5 confirmations
    expect(sim.resolved.some((r) => r.htlc.id === timesOut)).toBe(false);
    await sim.mine(1);
    expect(sim.resolved.find((r) => r.htlc.id === timesOut)).toMatchObject({ height: 321 });
    noPrematureSpend(sim.chain);
    sim.closeDb();
  }
  // A revoked commitment reorged out: A sends the cheater's commitment again, and its justice.
  const p = open();
  add(p, p.a, 60_000_000n, 2);
  commitBoth(p);
  const old = structuredClone(p.b.state);
  const f = sendFulfill(p.b.state, 0n, preimage(2));
  p.b.state = f.state;
  p.send(p.b, f.send);
  commitBoth(p);
  const sim = new ResolverSim(p.a);
  const cheat = ourCommitment(old, p.b.secrets, () => undefined);
  sim.chain.submit(serializeTx(cheat.tx));
  await sim.mine(2);
  const justice = new Set(Object.values(sim.close!.spends).map((x) => x.txid));
  expect(sim.close!.kind).toBe('revoked');
  expect(justice.size).toBe(2); // the justice transaction and the to_remote sweep
  sim.chain.reorg(2);
  await sim.tick();
  // The cheater's commitment and, in the same step, the justice on it (the resolver sends what a reorg took, parents first).
  expect(sim.chain.inMempool(cheat.txid)).toBe(true);
  for (const t of justice) expect(sim.chain.inMempool(t)).toBe(true);
  await sim.mine(1);
  await sim.tick();
  for (const t of justice) expect(sim.chain.confirmations(t)).toBe(1);
  await sim.mine(CLOSE_DEPTH);
  expect(sim.close!.doneAt).toBeDefined();
  sim.closeDb();
}

const local = (): Promise<void> => localClose();
const remote = (): Promise<void> => remoteClose();
const revoked = (): Promise<void> => revokedClose();

/** Row id -> its scenario (several rows share one). */
export const ONCHAIN_SCENARIOS = new Map<string, () => Promise<void>>([
  ...[
    'onchain/resolve-all',
    'local/sweep-to_local',
    'local/to_local-csv',
    'local/handle-offered',
    'local/handle-received',
    'local-offers/extract-preimage',
    'local-offers/htlc-timeout',
    'local-offers/resolve-timeout-output',
    'local-offers/sweep-timeout-output',
    'local-offers/timeout-output-csv',
    'local-offers/no-output-fail-when-deep',
    'local-received/htlc-success',
    'local-received/resolve-success-output',
    'local-received/not-committed-no-spend',
    'local-received/sweep-success-output',
    'local-received/success-output-csv',
  ].map((id): [string, () => Promise<void>] => [id, local]),
  ...[
    'reestablish/commitment-broadcast-any-time',
    'remote/handle-outputs',
    'remote/handle-offered',
    'remote/handle-received',
    'remote-offers/extract-preimage',
    'remote-offers/timeout-claim',
    'remote-offers/no-output-fail-when-deep',
    'remote-received/preimage-claim',
    'remote-received/not-committed-no-spend',
  ].map((id): [string, () => Promise<void>] => [id, remote]),
  ['onchain/reorg', () => reorgs()],
  ['revoked/anchors-separate-near-expiry', () => anchorsNearExpiry()],
  ...[
    'revoked/justice-to_local',
    'revoked/justice-offered-htlc',
    'revoked/justice-received-htlc',
    'revoked/second-stage-timeout',
    'revoked/second-stage-success',
    'revoked/extract-preimage',
    'revoked/invalidated-by-htlc-tx',
  ].map((id): [string, () => Promise<void>] => [id, revoked]),
]);

/** Runs each distinct scenario once for all its rows. */
const memo = new Map<() => Promise<void>, Promise<void>>();
export const runOnce = (f: () => Promise<void>): Promise<void> => {
  let r = memo.get(f);
  if (!r) memo.set(f, (r = f()));
  return r;
};
