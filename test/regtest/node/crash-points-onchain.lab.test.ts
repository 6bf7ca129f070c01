// lab-peers: btcd
/**
 * Issue 14 "crash at every persistence point", on chain: the lnnode daemon
 * A (a real process) is SIGKILLed right after each durable write it makes
 * (src/node/fault-injection.ts), restarted on its data dir while blocks
 * keep coming, and its wallet is checked to the sat against the
 * transactions:
 * - justice: B broadcasts a commitment it has revoked; A must still take
 *   every output, ending with the whole channel less the commitment's fee
 *   and anchors (A opened it, so they were its) and its own sweep fees. A
 *   crash here is the costly one: B's to_local is B's again once its CSV
 *   delay ends.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../../src/bolt/bytes.ts';
import { serializeTx } from '../../../src/bolt/bolt3/tx.ts';
import { ourCommitment } from '../../../src/bolt/bolt5/our-commitment.ts';
import { msat } from '../../../src/bolt/units.ts';
import { type ChannelRecord } from '../../../src/node/channels/manager.ts';
import { channelSecrets } from '../../../src/node/channels/secrets.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { type LnnodeClient } from '../../../src/rpc/client.ts';
import { ANCHOR_SAT, ChannelLab } from '../../lab/channel-lab.ts';
import { faultArm } from '../../lab/fault-arm.ts';
import { type LnnodeProcess } from '../../lab/lnnode.ts';
import { channelOf, everyCrashPoint, freshChannel, mineUntilClosed, ownedWallet, startCrashRig, stopCrashRig } from './crash-round.ts';
import { settledBalance } from './daemon-channel.ts';

const FUNDING_SAT = 300_000n;
let lab: ChannelLab;
let a: LnnodeProcess;
let b: LightningNode;
const fault = faultArm('lab-crash-onchain-');

beforeAll(async () => void ({ lab, a, b } = await startCrashRig('crash-points-onchain', fault)), 120_000);
afterAll(() => stopCrashRig({ lab, a }, fault));

/** A commitment of B's that two payments then revoke, on a fresh channel; and A's balance on it. */
async function revokedCommitmentOfB(api: LnnodeClient): Promise<{ channelId: Uint8Array; raw: Uint8Array; txid: string; anchors: bigint }> {
  const channelId = await freshChannel(lab, api, b, FUNDING_SAT, 100_000_000n);
  const stored = b.channels!.store.load<ChannelRecord>(channelId)!;
  const old = ourCommitment(stored.state.commitments, channelSecrets(b.identity.root, 'regtest', stored.keyIndex), () => undefined);
  // B pays A, then A pays B: B's commitment above is two states old.
  const inv = await api.createInvoice({ amountMsat: 40_000_000n, descriptionHash: sha256(new TextEncoder().encode(`revoke ${hex(channelId)}`)) });
  await b.payments.pay(inv.paymentRequest, { timeoutMs: 30_000 });
  const back = b.invoices.create({ amountMsat: msat(1_000_000n), descriptionHash: sha256(new TextEncoder().encode(`back ${hex(channelId)}`)) });
  await api.payInvoice({ paymentRequest: back.bolt11, timeoutSeconds: 30 });
  await settledBalance(api, b, channelId);
  const anchors = b.channels!.get(channelId)!.channelType === 'anchors' ? 2n * ANCHOR_SAT : 0n;
  return { channelId, raw: serializeTx(old.tx), txid: old.txid, anchors };
}

/** B cheats on a fresh channel; A answers, killed after its `killAt`-th write of it. Returns whether A was killed. */
async function justice(killAt: number | undefined): Promise<boolean> {
  let api = a.client();
  const why = killAt === undefined ? '' : ` (A killed after write ${killAt} of its answer to a revoked commitment)`;
  const cheat = await revokedCommitmentOfB(api);
  const walletBefore = await ownedWallet(api, why);
  fault.arm(killAt);
  await lab.btcd.rpc.call('sendrawtransaction', Buffer.from(cheat.raw).toString('hex'));
  const { api: after, killed } = await mineUntilClosed({ lab, a, b, fault }, api, cheat.channelId, killAt, why);
  api = after;
  if (!killed) fault.disarm();
  const c = (await channelOf(api, cheat.channelId))!;
  expect([killAt, c.closeKind, c.closingTxidHex]).toEqual([killAt, 'revoked', cheat.txid]);
  const commitFee = await lab.fee(cheat.txid);
  const sweepFees = await lab.fees(c.sweepTxidsHex);
  const want = walletBefore + FUNDING_SAT - commitFee - cheat.anchors - sweepFees;
  const got = await ownedWallet(api, why, want);
  if (got !== want) {
    const sweeps = await Promise.all(c.sweepTxidsHex.map(async (t) => `${t}: fee ${await lab.fee(t)}, outputs ${(await lab.outputs(t)).join('+')}`));
    console.log(`justice${why}: wallet ${walletBefore} before, ${got} after, want ${want}; commitment ${cheat.txid} fee ${commitFee} outputs ${(await lab.outputs(cheat.txid)).join('+')}; sweeps:\n${sweeps.join('\n')}`);
  }
  expect([killAt, got]).toEqual([killAt, want]);
  return killed;
}

describe('SIGKILL right after each durable write of an on-chain answer, then restart', () => {
  test('B broadcasts a revoked commitment', () => everyCrashPoint('justice', fault, justice), 900_000);
});
