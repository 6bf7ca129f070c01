// lab-peers: btcd
/**
 * Issue 14 "crash at every persistence point", a force close: the lnnode
 * daemon A (a real process) is SIGKILLed right after each durable write of
 * its force close of a fresh channel, restarted on its data dir while
 * blocks keep coming, and asked to force close again (an operator whose
 * call was cut off would). A broadcasts its commitment and, after the
 * delay, sweeps its to_local; or B's commitment confirms first (A's failed
 * channel sends B an error) and A sweeps its output there. Either way A
 * ends with its balance less the commitment's fee, the anchors (A opened
 * the channel, so they were its) and the sweep's fee, to the sat; a CPFP
 * child of A's that confirmed gives its anchor back less its fee.
 *
 * With an HTLC: A's payment to B is in flight (B holds it, never settling)
 * when A force closes. The HTLC times out on chain (A's HTLC-timeout, or
 * its timeout claim on B's commitment): A's payment ends failed, B's
 * invoice unpaid, and A's wallet has its whole balance back less every fee
 * it paid, to the sat. Each round takes the HTLC's whole expiry in blocks,
 * so a seeded sample of the points runs (LNNODE_CRASH_SEED draws it again).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../../src/bolt/bytes.ts';
import { msat } from '../../../src/bolt/units.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { Payment_Status } from '../../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { waitFor } from '../../lab/processes.ts';
import { holdIncoming } from '../onchain/onchain-helpers.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { faultArm } from '../../lab/fault-arm.ts';
import { type LnnodeProcess } from '../../lab/lnnode.ts';
import { channelOf, confirmedAnchorChildren, everyCrashPoint, freshChannel, mineUntilClosed, ownedWallet, sampledPoints, startCrashRig, stopCrashRig } from './crash-round.ts';

const FUNDING_SAT = 300_000n;
let lab: ChannelLab;
let a: LnnodeProcess;
let b: LightningNode;
const fault = faultArm('lab-crash-force-close-');

// Every round leaves B the 100,000 sat pushed to it: about 50 rounds need more than the usual 5,000,000 sat.
beforeAll(async () => void ({ lab, a, b } = await startCrashRig('crash-points-force-close', fault, 15_000_000n)), 120_000);
afterAll(() => stopCrashRig({ lab, a }, fault));

const HTLC_MSAT = 20_000_000n;
/** Points of the HTLC scenario per run: each round mines past the HTLC's expiry and A's delay. */
const HTLC_SAMPLE = 10;
const SEED = Number(process.env.LNNODE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
let htlcRound = 0;

/**
 * One round: A force closes a fresh channel, killed after its `killAt`-th
 * write of the close, with its payment to B in flight when `withHtlc` (B
 * holds it). Checks the payment failed and B was not paid, and A's wallet
 * to the sat. Returns whether A was killed.
 */
async function forceCloseRound(killAt: number | undefined, withHtlc: boolean): Promise<boolean> {
  let api = a.client();
  const why = killAt === undefined ? '' : ` (A killed after write ${killAt} of its force close${withHtlc ? ` with an HTLC, seed ${SEED}` : ''})`;
  // Whole satoshis on both sides, so no sub-satoshi remainder blurs the sums.
  const channelId = await freshChannel(lab, api, b, FUNDING_SAT, 100_000_000n);
  const aSat = b.channels!.get(channelId)!.remoteBalanceMsat / 1000n;
  const anchors = b.channels!.get(channelId)!.channelType === 'anchors' ? 2n * ANCHOR_SAT : 0n;
  const inv = withHtlc ? b.invoices.create({ amountMsat: msat(HTLC_MSAT), descriptionHash: sha256(new TextEncoder().encode(`force close htlc ${++htlcRound}`)) }) : undefined;
  const release = inv ? holdIncoming(b, inv.paymentHash) : () => {};
  try {
    if (inv) {
      void api.payInvoice({ paymentRequest: inv.bolt11, timeoutSeconds: 900 }).catch(() => undefined);
      await waitFor(`the HTLC on both commitments${why}`, async () => (await channelOf(api, channelId))?.pendingHtlcs === 1 && b.channels!.get(channelId)!.pendingHtlcs === 1);
    }
    const walletBefore = await ownedWallet(api, why);
    fault.arm(killAt);
    void api.closeChannel({ channelId, force: true }).catch(() => undefined);
    const again = async (restarted: LnnodeClient): Promise<void> => void (await restarted.closeChannel({ channelId, force: true }).catch(() => undefined));
    const r = await mineUntilClosed({ lab, a, b, fault }, api, channelId, killAt, why, again);
    api = r.api;
    if (!r.killed) fault.disarm();
    const c = (await channelOf(api, channelId))!;
    // A failed channel sends B an error, on which B may broadcast its own commitment first: either confirms, and the
    // sums are the same (A opened the channel, so it pays the fee and the anchors on both).
    expect([killAt, ['local', 'remote'].includes(c.closeKind)]).toEqual([killAt, true]);
    if (inv) {
      // The HTLC timed out: A's payment failed, B was never paid.
      const p = await waitFor(`A's payment resolved${why}`, async () => {
        const x = (await api.listPayments({})).payments.find((y) => hex(y.paymentHash) === hex(inv.paymentHash));
        return x && x.status !== Payment_Status.IN_FLIGHT ? x : undefined;
      });
      expect([killAt, p.status, b.invoices.get(inv.paymentHash)!.state]).toEqual([killAt, Payment_Status.FAILED, 'open']);
    }
    const commitFee = await lab.fee(c.closingTxidHex);
    const sweepFees = await lab.fees(c.sweepTxidsHex);
    const children = await confirmedAnchorChildren(api, lab, c.closingTxidHex);
    const want = walletBefore + aSat - commitFee - anchors - sweepFees + children;
    const got = await ownedWallet(api, why, want);
    if (got !== want) {
      const txs = (await api.listWalletTransactions({})).transactions.slice(0, 8).map((t) => `${t.txidHex} ${t.purpose} ${t.state} fee ${t.feeSat} in ${t.inputs.join(',')}`);
      console.log(
        `force close${why}: wallet ${walletBefore} before, ${got} after, want ${want}; ${c.closeKind} commitment ${c.closingTxidHex} fee ${commitFee} ` +
          `outputs ${(await lab.outputs(c.closingTxidHex)).join('+')}; sweeps ${c.sweepTxidsHex.join(',')} fees ${sweepFees}; children ${children}; wallet txs:\n${txs.join('\n')}`,
      );
    }
    expect([killAt, got]).toEqual([killAt, want]);
    // Without an HTLC, B's own output came to it at once, exactly its balance.
    if (!inv) expect([killAt, (await lab.outputs(c.closingTxidHex)).includes(FUNDING_SAT - aSat)]).toEqual([killAt, true]);
    return r.killed;
  } finally {
    release();
  }
}

describe('SIGKILL right after each durable write of a force close, then restart', () => {
  test('A force closes', () => everyCrashPoint('force close by A', fault, (k) => forceCloseRound(k, false)), 900_000);
  test('A force closes with its payment to B in flight', () => everyCrashPoint(`force close by A with an HTLC (seed ${SEED})`, fault, (k) => forceCloseRound(k, true), undefined, sampledPoints(SEED, HTLC_SAMPLE)), 1_200_000);
});
