/**
 * An open as pure steps, funder (src/bolt/bolt2/channel/funder-step.ts)
 * and fundee (src/bolt/bolt2/channel/fundee-step.ts) talking to each other
 * with no node, socket or store. As fundee:
 * open_channel refused on a spec violation, a temporary id in use, a cap or
 * a missing anchor reserve, and accepted (replacing the peer's earlier open
 * with the same id, which does not count against the caps); funding_created
 * refused past the caps, on an outpoint we already have a channel for, or
 * with a bad signature, and otherwise answered with funding_signed on
 * commitments signed both ways. As funder: accept_channel gives the
 * funding output to pay, funding_created follows, and only a
 * funding_signed that verifies lets the funding go out.
 */
import { describe, expect, test } from 'bun:test';
import { channelIdFrom } from '../../src/bolt/bolt2/channel-id.ts';
import { acceptFor, admitOpen, fundingCreatedStep, type OpenAdmission } from '../../src/bolt/bolt2/channel/fundee-step.ts';
import { acceptedOpen, fundingCreatedFor, fundingSignedStep } from '../../src/bolt/bolt2/channel/funder-step.ts';
import { p2wsh } from '../../src/bolt/bolt3/script.ts';
import { fundingScript } from '../../src/bolt/bolt3/scripts.ts';
import { basepointsOf } from '../../src/bolt/bolt2/channel/keys.ts';
import { ANCHORS_TYPE, DEFAULT_POLICY, initialCommitments, openChannelMessage, signFirstRemote, STATIC_REMOTEKEY_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { DEFAULT_CHANNEL_LIMITS } from '../../src/node/channels/limits.ts';
import { type FeeratePerKw, msat, sat } from '../../src/bolt/units.ts';
import { REGTEST, secrets } from './channel-harness.ts';

const funder = secrets(1);
const fundee = secrets(2);
const ZERO = { pendingFromPeer: 0, pendingTotal: 0, unfundedFromPeer: 0, unfundedTotal: 0 };
const openOf = (channelType = STATIC_REMOTEKEY_TYPE) =>
  openChannelMessage(DEFAULT_POLICY, {
    temporaryChannelId: new Uint8Array(32).fill(7),
    chainHash: REGTEST,
    fundingSat: sat(500_000),
    pushMsat: msat(0n),
    feeratePerKw: 2500 as FeeratePerKw,
    channelType,
    secrets: funder,
    basepoints: basepointsOf(funder),
  });
const admission = (o: Partial<OpenAdmission> = {}): OpenAdmission => ({ policy: DEFAULT_POLICY, chainHash: REGTEST, counts: ZERO, caps: DEFAULT_CHANNEL_LIMITS, ...o });

describe('open_channel as a pure step', () => {
  test('accepted, or refused with a reason on another chain, a temporary id in use, a cap, or an anchors open the wallet cannot back', () => {
    const open = openOf();
    expect(admitOpen(admission(), open)).toMatchObject({ kind: 'accept', replaces: false });
    expect(admitOpen(admission({ chainHash: new Uint8Array(32) }), open).kind).toBe('refuse');
    expect(admitOpen(admission({ earlier: { ours: true, samePeer: true } }), open)).toEqual({ kind: 'refuse', reason: 'open_channel: temporary_channel_id already in use' });
    expect(admitOpen(admission({ earlier: { ours: false, samePeer: false } }), open).kind).toBe('refuse');
    const full = { ...ZERO, pendingFromPeer: DEFAULT_CHANNEL_LIMITS.pendingInboundOpensPerPeer, pendingTotal: DEFAULT_CHANNEL_LIMITS.pendingInboundOpensPerPeer };
    expect(admitOpen(admission({ counts: full }), open)).toMatchObject({ kind: 'refuse', reason: expect.stringContaining('too many channel opens in progress from this peer') });
    // The peer's own earlier open under this id is replaced: it does not count against the cap it would fill.
    expect(admitOpen(admission({ counts: full, earlier: { ours: false, samePeer: true } }), open)).toMatchObject({ kind: 'accept', replaces: true });
    expect(admitOpen(admission({ anchorReserveShort: () => 'no reserve' }), openOf(ANCHORS_TYPE))).toMatchObject({ kind: 'refuse', reason: 'no reserve' });
    expect(admitOpen(admission({ anchorReserveShort: () => 'no reserve' }), open).kind).toBe('accept');
  });
});

describe('funding_created as a pure step', () => {
  const open = openOf();
  const accept = acceptFor(DEFAULT_POLICY, open, fundee);
  const fundingTxid = new Uint8Array(32).fill(0xab);
  // The funder's signature on our first commitment.
  const funderSide = initialCommitments({ weAreOpener: true, open, accept, funding: { txid: 'ab'.repeat(32), vout: 1 }, secrets: funder }).state;
  const { signature } = signFirstRemote(funderSide, funder);
  const m = { temporaryChannelId: open.temporaryChannelId, fundingTxid, fundingOutputIndex: 1, signature };
  const view = { counts: ZERO, caps: DEFAULT_CHANNEL_LIMITS, open, accept, secrets: fundee, channelExists: () => false };

  test('a good signature: stored, then funding_signed on the same channel id the funder computes', () => {
    const r = fundingCreatedStep(view, m);
    if (r.kind !== 'store') throw new Error(r.reason);
    expect([r.fundingTxid, r.send.name]).toEqual(['ab'.repeat(32), 'funding_signed']);
    expect(r.send.msg.channelId).toEqual(funderSide.channelId);
    expect(r.commitments.localCommit.remoteSig).toEqual(signature);
  });

  test('refused past the unfunded cap, on an outpoint we have a channel for, and on a signature that does not verify', () => {
    const full = { ...ZERO, unfundedFromPeer: DEFAULT_CHANNEL_LIMITS.unfundedInboundPerPeer };
    expect(fundingCreatedStep({ ...view, counts: full }, m)).toMatchObject({ kind: 'refuse', reason: expect.stringContaining('too many unconfirmed channels from this peer') });
    const taken = channelIdFrom(fundingTxid, 1);
    expect(fundingCreatedStep({ ...view, channelExists: (id) => id.every((b, i) => b === taken[i]) }, m)).toEqual({
      kind: 'refuse',
      reason: 'funding_created: that funding outpoint belongs to an existing channel',
    });
    const bad = Uint8Array.from(signature);
    bad[10]! ^= 1;
    expect(fundingCreatedStep(view, { ...m, signature: bad })).toMatchObject({ kind: 'refuse', reason: expect.stringContaining('invalid commitment signature') });
  });
});

describe('an open from funder to fundee, both as pure steps', () => {
  test('accept_channel names the 2-of-2 to fund; funding_created and funding_signed verify both ways; a forged funding_signed is refused', () => {
    const open = openOf(ANCHORS_TYPE);
    const admitted = admitOpen(admission(), open);
    if (admitted.kind !== 'accept') throw new Error(admitted.reason);
    const accept = acceptFor(DEFAULT_POLICY, admitted.open, fundee);
    const fund = acceptedOpen(DEFAULT_POLICY, open, accept);
    if (fund.kind !== 'fund') throw new Error(fund.reason);
    expect([fund.script, fund.anchors]).toEqual([p2wsh(fundingScript(open.fundingPubkey, accept.fundingPubkey)), true]);
    const created = fundingCreatedFor(open, accept, { txid: 'cd'.repeat(32), vout: 0 }, funder);
    const atFundee = fundingCreatedStep({ counts: ZERO, caps: DEFAULT_CHANNEL_LIMITS, open: admitted.open, accept, secrets: fundee, channelExists: () => false }, created.send.msg);
    if (atFundee.kind !== 'store') throw new Error(atFundee.reason);
    expect(atFundee.send.msg.channelId).toEqual(created.commitments.channelId);
    const funded = fundingSignedStep(created.commitments, funder, atFundee.send.msg.signature);
    expect(funded.kind).toBe('funded');
    expect(fundingSignedStep(created.commitments, funder, created.send.msg.signature).kind).toBe('refuse');
    // An accept_channel that breaks our open's terms is refused before any coin is touched.
    expect(acceptedOpen(DEFAULT_POLICY, open, { ...accept, dustLimitSatoshis: sat(open.fundingSatoshis + 1n) }).kind).toBe('refuse');
  });
});
