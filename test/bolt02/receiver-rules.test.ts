/**
 * The receiver-rule table at the pure level: the rows of
 * test/regtest/rules/receiver-rules.ts marked `unit`, run against
 * src/bolt/bolt2/channel directly (no process, no chain), and the table
 * itself checked against the specification: every row quotes a real
 * requirement of test/vectors/spec (a verbatim copy of BOLT 2 and 5), every
 * receiver requirement there has a row, ids are unique, pending rows say
 * their input and outcome. Results go to .test-results for the tally.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hex } from '../../src/bolt/bytes.ts';
import { DecodeError } from '../../src/bolt/errors.ts';
import { encodeMessage } from '../../src/bolt/bolt1/wire.ts';
import { checkAgainstUpfront, checkShutdownScript, type ClosingNegotiation, firstClosingSigned, receiveClosingSigned } from '../../src/bolt/bolt2/channel/closing.ts';
import {
  ChannelProtocolError,
  type Commitments,
  DataLossError,
  ourReestablish,
  receiveAdd,
  receiveCommit,
  receiveFee,
  receiveRevocation,
  receiveSettle,
  retransmissions,
  sendAdd,
  sendCommit,
  sendFulfill,
} from '../../src/bolt/bolt2/channel/commitments.ts';
import { FULFILLMENT_DEADLINE_BLOCKS, htlcDeadlineBreach, TIMEOUT_GRACE_BLOCKS } from '../../src/bolt/bolt2/channel/htlc-deadlines.ts';
import { basepointsOf, perCommitmentPoint, perCommitmentSecret } from '../../src/bolt/bolt2/channel/keys.ts';
import { unfundedExpired } from '../../src/bolt/bolt2/channel/open-admission.ts';
import { DEFAULT_SAFETY_POLICY, dustExposure, feeDustProblem, htlcsAtStake } from '../../src/bolt/bolt2/channel/safety-policy.ts';
import { channelStep, type ChannelView } from '../../src/bolt/bolt2/channel/step.ts';
import {
  type AcceptChannelMessage,
  acceptChannelMessage,
  acceptFirstLocal,
  checkAcceptChannel,
  checkOpenChannel,
  DEFAULT_POLICY,
  initialCommitments,
  openChannelMessage,
  signFirstRemote,
  STATIC_REMOTEKEY_TYPE,
  ANCHORS_TYPE,
} from '../../src/bolt/bolt2/channel/open.ts';
import { closingTransaction } from '../../src/bolt/bolt3/closing.ts';
import { pointFromSecret } from '../../src/bolt/bolt3/keys.ts';
import { p2wpkh, p2wsh } from '../../src/bolt/bolt3/script.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, msat, sat } from '../../src/bolt/units.ts';
import { CODECS } from '../../src/node/peer/session.ts';
import { type ChainSource } from '../../src/chain/types.ts';
import { ChannelResolver } from '../../src/node/channels/resolver.ts';
import { ChannelStore } from '../../src/node/channels/store.ts';
import { silentLogger } from '../../src/node/log.ts';
import { Store } from '../../src/node/store.ts';
import { type Wallet } from '../../src/node/wallet/wallet.ts';
import { corrupt, highS } from '../lab/hostile-peer-channel.ts';
import { ACCEPT_DEVIATIONS, OPEN_DEVIATIONS, OPEN_FUNDING } from '../regtest/rules/deviations.ts';
import { RULES, unitRows } from '../regtest/rules/receiver-rules.ts';
import { BOLTS_DIR, normalize, requirementKey, specRequirements } from '../support/spec-requirements.ts';
import { writeCheckerReport } from '../support/receiver-rules-tally.ts';
import { Pair, REGTEST, secrets, type Side } from './channel-harness.ts';
import { ONCHAIN_SCENARIOS, runOnce } from '../bolt05/onchain-rows.ts';
import { anchorsForceClose, feeOf } from '../node/anchor-bump-harness.ts';
import { anchorScript } from '../../src/bolt/bolt3/scripts.ts';
import { serializeTx } from '../../src/bolt/bolt3/tx.ts';
import { parseTx } from '../../src/chain/txid.ts';

// ------------------------------------------------------------------ the table against the spec

describe('the receiver-rule table against BOLT 2 and BOLT 5', () => {
  const reqs = specRequirements();
  const keys = new Set(reqs.map(requirementKey));
  const sectionText = (bolt: number, section: string): string => {
    const text = readFileSync(join(BOLTS_DIR, bolt === 2 ? '02-peer-protocol.md' : '05-onchain.md'), 'utf8');
    const i = text.split('\n').findIndex((l) => /^#+\s/.test(l) && l.replace(/^#+\s+/, '').trim() === section);
    return normalize(text.split('\n').slice(i).join(' '));
  };

  test('the spec copy yields the receiver requirements (BOLT 2 open_channel to channel_reestablish, BOLT 5)', () => {
    expect(reqs.filter((r) => r.bolt === 2).length).toBeGreaterThan(130);
    expect(reqs.filter((r) => r.bolt === 5).length).toBeGreaterThan(40);
  });

  test('every row quotes a requirement of the spec, word for word', () => {
    const bad = RULES.filter((r) => (r.sentence ? !r.quote.every((q) => sectionText(r.bolt, r.section).includes(normalize(q))) : !keys.has(requirementKey({ ...r, path: r.quote }))));
    expect(bad.map((r) => r.id)).toEqual([]);
  });

  test('every receiver requirement has a row', () => {
    const quoted = new Set(RULES.filter((r) => !r.sentence).map((r) => requirementKey({ ...r, path: r.quote })));
    expect(reqs.filter((r) => !quoted.has(requirementKey(r))).map(requirementKey)).toEqual([]);
  });

  test('row ids are unique; tested rows name a checker; pending rows say their input and outcome', () => {
    const ids = RULES.map((r) => r.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    expect(RULES.filter((r) => r.status === 'tested' && !r.lab && !r.unit).map((r) => r.id)).toEqual([]);
    expect(RULES.filter((r) => r.status.startsWith('pending: ') && (!r.input || !r.expect)).map((r) => r.id)).toEqual([]);
    expect(RULES.filter((r) => r.status === 'tested' && (!r.input || !r.expect)).map((r) => r.id)).toEqual([]);
  });
});

// ------------------------------------------------------------------ the rows, against the pure code

const results: Record<string, 'passed' | 'failed'> = {};
const scenarios = new Map<string, () => void>();
const row = (id: string, f: () => void): void => void scenarios.set(id, f);

/** The ChannelProtocolError `f` throws (its message), failing the test if it does not. */
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!(e instanceof ChannelProtocolError)) throw e;
    return e.message;
  }
  throw new Error('expected a ChannelProtocolError, nothing was thrown');
}

const onion = new Uint8Array(1366);
const preimage = (i: number): Uint8Array => sha256(Uint8Array.of(0x77, i));
const FUNDING = sat(1_000_000);

/** `from` offers an HTLC; both sides sign and revoke until it is on both commitments. */
function addCommitted(p: Pair, from: Side, amountMsat: bigint, i: number): bigint {
  const r = sendAdd(from.state, { amountMsat: amountMsat as Msat, paymentHash: sha256(preimage(i)), cltvExpiry: 500 as CltvExpiry, onion });
  from.state = r.state;
  p.send(from, r.send);
  p.sign(from);
  p.settle();
  return r.htlc.id;
}

/** The message `from` would send for an add, without its own checks: what a hostile peer sends. */
const rawAdd = (c: Commitments, o: { id?: bigint; amountMsat?: bigint; cltvExpiry?: number } = {}) => ({
  id: o.id ?? c.localNextHtlcId,
  amountMsat: (o.amountMsat ?? 1_000_000n) as Msat,
  paymentHash: sha256(preimage(1)),
  cltvExpiry: (o.cltvExpiry ?? 500) as CltvExpiry,
  onionRoutingPacket: onion,
});

// open_channel / accept_channel: the same deviations the lab sends.
const baseOpen = () =>
  openChannelMessage(DEFAULT_POLICY, {
    temporaryChannelId: new Uint8Array(32).fill(3),
    chainHash: REGTEST,
    fundingSat: OPEN_FUNDING,
    pushMsat: msat(0),
    feeratePerKw: 1000 as FeeratePerKw,
    channelType: STATIC_REMOTEKEY_TYPE,
    secrets: secrets(1),
    basepoints: basepointsOf(secrets(1)),
  });
for (const [id, d] of Object.entries(OPEN_DEVIATIONS)) {
  row(id, () => {
    const m = baseOpen();
    d.tweak(m);
    if (d.outcome === 'undecodable') {
      const bytes = encodeMessage(CODECS.get('open_channel')!, m);
      expect(() => CODECS.get('open_channel')!.decode(bytes.subarray(2))).toThrow(DecodeError);
      return;
    }
    if (d.outcome === 'accept') return void expect(checkOpenChannel(DEFAULT_POLICY, m, REGTEST).toSelfDelay).toBe(DEFAULT_POLICY.toSelfDelay);
    expect(refusal(() => checkOpenChannel(DEFAULT_POLICY, m, REGTEST))).toMatch(d.why!);
  });
}
const nodeOpen = (anchors: boolean) =>
  openChannelMessage(DEFAULT_POLICY, {
    temporaryChannelId: new Uint8Array(32).fill(4),
    chainHash: REGTEST,
    fundingSat: sat(300_000),
    pushMsat: msat(0),
    feeratePerKw: 1000 as FeeratePerKw,
    channelType: anchors ? ANCHORS_TYPE : STATIC_REMOTEKEY_TYPE,
    secrets: secrets(2),
    basepoints: basepointsOf(secrets(2)),
  });
for (const [id, d] of Object.entries(ACCEPT_DEVIATIONS)) {
  row(id, () => {
    for (const anchors of [false, true]) {
      const open = nodeOpen(anchors);
      const m = acceptChannelMessage(DEFAULT_POLICY, open, secrets(3), basepointsOf(secrets(3))) as AcceptChannelMessage;
      d.tweak(m);
      if (d.outcome === 'undecodable') {
        const bytes = encodeMessage(CODECS.get('accept_channel')!, m);
        expect(() => CODECS.get('accept_channel')!.decode(bytes.subarray(2))).toThrow(DecodeError);
        continue;
      }
      expect(refusal(() => checkAcceptChannel(DEFAULT_POLICY, open, m))).toMatch(d.why!);
    }
  });
}

// funding_created / funding_signed: a wrong or high-S signature on the first commitment.
function firstCommitments() {
  const sa = secrets(5);
  const sb = secrets(6);
  const open = openChannelMessage(DEFAULT_POLICY, {
    temporaryChannelId: new Uint8Array(32).fill(5), chainHash: REGTEST, fundingSat: FUNDING, pushMsat: msat(0), feeratePerKw: 1000 as FeeratePerKw,
    channelType: STATIC_REMOTEKEY_TYPE, secrets: sa, basepoints: basepointsOf(sa),
  });
  const accept = acceptChannelMessage(DEFAULT_POLICY, open, sb, basepointsOf(sb));
  const funding = { txid: 'cd'.repeat(32), vout: 0 };
  const a = initialCommitments({ weAreOpener: true, open, accept, funding, secrets: sa }).state;
  const b = initialCommitments({ weAreOpener: false, open, accept, funding, secrets: sb }).state;
  return { sa, sb, a, b };
}
for (const [id, bad] of [['funding_created/signature-invalid', corrupt], ['funding_created/signature-high-s', highS]] as const) {
  row(id, () => {
    const { sa, sb, a, b } = firstCommitments();
    const sig = signFirstRemote(a, sa).signature;
    expect(acceptFirstLocal(b, sb, sig).localCommit.remoteSig).toEqual(sig);
    expect(refusal(() => acceptFirstLocal(b, sb, bad(sig)))).toContain('invalid commitment signature for commitment 0');
  });
}
for (const [id, bad] of [['funding_signed/signature-invalid', corrupt], ['funding_signed/signature-high-s', highS]] as const) {
  row(id, () => {
    const { sa, sb, a, b } = firstCommitments();
    const sig = signFirstRemote(b, sb).signature;
    expect(acceptFirstLocal(a, sa, sig).localCommit.remoteSig).toEqual(sig);
    expect(refusal(() => acceptFirstLocal(a, sa, bad(sig)))).toContain('invalid commitment signature for commitment 0');
  });
}

row('channel_ready/fundee-forgets-unfunded', () => {
  expect(unfundedExpired(1000, 3015, 2016)).toBe(false);
  expect(unfundedExpired(1000, 3016, 2016)).toBe(true);
});

// HTLC deadlines: one HTLC each way on both commitments.
function withHtlcs(): Pair {
  const p = Pair.open(FUNDING, msat(400_000_000n));
  addCommitted(p, p.a, 10_000_000n, 1);
  addCommitted(p, p.b, 20_000_000n, 2);
  return p;
}
row('deadlines/offered-deadline', () => {
  const p = withHtlcs();
  expect(htlcDeadlineBreach(p.a.state, 500 + TIMEOUT_GRACE_BLOCKS - 1, () => false)).toBeUndefined();
  expect(htlcDeadlineBreach(p.a.state, 500 + TIMEOUT_GRACE_BLOCKS, () => false)?.htlc).toMatchObject({ direction: 'out', id: 0n });
});
row('deadlines/offered-deadline-after-expiry', () => {
  const p = withHtlcs();
  for (const h of [400, 499, 500]) expect(htlcDeadlineBreach(p.a.state, h, () => false)).toBeUndefined();
});
row('deadlines/fulfill-deadline', () => {
  const p = withHtlcs();
  // A received B's HTLC 0 (preimage 2) and fulfilled it; B never signed the removal.
  const f = sendFulfill(p.a.state, 0n, preimage(2));
  p.a.state = f.state;
  const incoming = (b: ReturnType<typeof htlcDeadlineBreach>) => b && b.htlc.direction === 'in';
  expect(incoming(htlcDeadlineBreach(p.a.state, 500 - FULFILLMENT_DEADLINE_BLOCKS - 1, () => false))).toBeFalsy();
  expect(htlcDeadlineBreach(p.a.state, 500 - FULFILLMENT_DEADLINE_BLOCKS, () => false)?.htlc).toMatchObject({ direction: 'in', id: 0n });
});

// update_add_htlc: B receives A's adds.
row('update_add_htlc/amount-zero', () => {
  const p = Pair.open(FUNDING);
  expect(refusal(() => receiveAdd(p.b.state, rawAdd(p.a.state, { amountMsat: 0n })))).toBe('update_add_htlc amount is zero');
  const stricter: Commitments = { ...p.b.state, local: { ...p.b.state.local, htlcMinimumMsat: msat(1000n) } };
  expect(refusal(() => receiveAdd(stricter, rawAdd(p.a.state, { amountMsat: 999n })))).toBe('HTLC of 999 msat is below our minimum of 1000 msat');
});
row('update_add_htlc/unaffordable', () => {
  const p = Pair.open(FUNDING, msat(400_000_000n));
  expect(refusal(() => receiveAdd(p.b.state, rawAdd(p.a.state, { amountMsat: 600_000_001n })))).toBe('update_add_htlc: the peer cannot afford this HTLC');
});
row('update_add_htlc/below-reserve', () => {
  for (const anchors of [false, true]) {
    const p = Pair.open(FUNDING, msat(400_000_000n), 2500 as FeeratePerKw, anchors ? ANCHORS_TYPE : STATIC_REMOTEKEY_TYPE);
    // A (the opener) has 600,000 sat; it must keep the commitment fee (and anchors) above its 10,000-sat reserve.
    expect(refusal(() => receiveAdd(p.b.state, rawAdd(p.a.state, { amountMsat: 590_000_000n })))).toBe('update_add_htlc would take the peer below its channel reserve');
  }
});
row('update_add_htlc/too-many', () => {
  const p = Pair.open(FUNDING);
  let c = p.b.state;
  for (let i = 0; i < 483; i++) c = receiveAdd(c, rawAdd(p.a.state, { id: BigInt(i), amountMsat: 1000n }));
  expect(refusal(() => receiveAdd(c, rawAdd(p.a.state, { id: 483n, amountMsat: 1000n })))).toBe('more than our limit of 483 HTLCs');
});
row('update_add_htlc/in-flight-exceeded', () => {
  const p = Pair.open(FUNDING);
  const c = receiveAdd({ ...p.b.state, local: { ...p.b.state.local, maxHtlcValueInFlightMsat: msat(10_000_000n) } }, rawAdd(p.a.state, { id: 0n, amountMsat: 6_000_000n }));
  expect(refusal(() => receiveAdd(c, rawAdd(p.a.state, { id: 1n, amountMsat: 6_000_000n })))).toBe('12000000 msat in flight exceeds our limit of 10000000 msat');
});
row('update_add_htlc/cltv-timestamp', () => {
  const p = Pair.open(FUNDING);
  expect(refusal(() => receiveAdd(p.b.state, rawAdd(p.a.state, { cltvExpiry: 500_000_000 })))).toBe('cltv_expiry is not a block height');
});
row('update_add_htlc/id-gap', () => {
  const p = Pair.open(FUNDING);
  expect(refusal(() => receiveAdd(p.b.state, rawAdd(p.a.state, { id: 5n })))).toBe('update_add_htlc id 5, expected 0');
});

// Removing HTLCs: A settles B's HTLC.
row('update_fulfill_htlc/unknown-id', () => {
  const p = Pair.open(FUNDING, msat(400_000_000n));
  addCommitted(p, p.b, 5_000_000n, 3);
  expect(refusal(() => receiveSettle(p.b.state, { kind: 'fulfill', id: 7n, preimage: preimage(3) }))).toBe('fulfill for unknown or unsettleable HTLC 7');
});
row('update_fail_htlc/not-yet-committed', () => {
  const p = Pair.open(FUNDING, msat(400_000_000n));
  const r = sendAdd(p.b.state, { amountMsat: msat(5_000_000n), paymentHash: sha256(preimage(4)), cltvExpiry: 500 as CltvExpiry, onion });
  expect(refusal(() => receiveSettle(r.state, { kind: 'fail', id: r.htlc.id, reason: new Uint8Array(292) }))).toBe('fail for unknown or unsettleable HTLC 0');
  // Signed by B but not yet revoked for by A: still not on A's side of the channel.
  const signed = sendCommit(r.state, p.b.secrets).state;
  expect(refusal(() => receiveSettle(signed, { kind: 'fail', id: r.htlc.id, reason: new Uint8Array(292) }))).toBe('fail for unknown or unsettleable HTLC 0');
});
row('update_fulfill_htlc/wrong-preimage', () => {
  const p = Pair.open(FUNDING, msat(400_000_000n));
  const id = addCommitted(p, p.b, 5_000_000n, 5);
  expect(refusal(() => receiveSettle(p.b.state, { kind: 'fulfill', id, preimage: preimage(6) }))).toBe('update_fulfill_htlc 0: the preimage does not match the payment hash');
});
row('update_fail_malformed_htlc/no-badonion', () => {
  const p = Pair.open(FUNDING, msat(400_000_000n));
  const id = addCommitted(p, p.b, 5_000_000n, 7);
  expect(refusal(() => receiveSettle(p.b.state, { kind: 'fail_malformed', id, sha256OfOnion: sha256(onion), failureCode: 0x4002 }))).toBe('update_fail_malformed_htlc without the BADONION bit');
});

// commitment_signed: A's signature over its add, broken in one field.
function pendingCommit(): { p: Pair; msg: { signature: Uint8Array; htlcSignatures: Uint8Array[] } } {
  const p = Pair.open(FUNDING);
  const a = sendAdd(p.a.state, { amountMsat: msat(50_000_000n), paymentHash: sha256(preimage(8)), cltvExpiry: 500 as CltvExpiry, onion });
  p.b.state = receiveAdd(p.b.state, { ...a.send[0]!.msg } as Parameters<typeof receiveAdd>[1]);
  const c = sendCommit(a.state, p.a.secrets);
  p.a.state = c.state;
  return { p, msg: c.send[0]!.msg as unknown as { signature: Uint8Array; htlcSignatures: Uint8Array[] } };
}
row('commitment_signed/signature-invalid', () => {
  const { p, msg } = pendingCommit();
  expect(refusal(() => receiveCommit(p.b.state, p.b.secrets, { ...msg, signature: corrupt(msg.signature) }))).toBe('invalid commitment signature for commitment 1');
});
row('commitment_signed/signature-high-s', () => {
  const { p, msg } = pendingCommit();
  expect(refusal(() => receiveCommit(p.b.state, p.b.secrets, { ...msg, signature: highS(msg.signature) }))).toBe('invalid commitment signature for commitment 1');
});
row('commitment_signed/num_htlcs', () => {
  const { p, msg } = pendingCommit();
  expect(msg.htlcSignatures).toHaveLength(1);
  expect(refusal(() => receiveCommit(p.b.state, p.b.secrets, { ...msg, htlcSignatures: [] }))).toBe('expected 1 HTLC signatures, got 0');
});
row('commitment_signed/htlc-signature-invalid', () => {
  const { p, msg } = pendingCommit();
  expect(refusal(() => receiveCommit(p.b.state, p.b.secrets, { ...msg, htlcSignatures: [corrupt(msg.htlcSignatures[0]!)] }))).toBe('invalid HTLC signature 0 for commitment 1');
});
row('commitment_signed/revoke', () => {
  const { p, msg } = pendingCommit();
  const r = receiveCommit(p.b.state, p.b.secrets, msg);
  expect(r.send.map((o) => o.name)).toEqual(['revoke_and_ack']);
  const rev = r.send[0]!.msg as { perCommitmentSecret: Uint8Array; nextPerCommitmentPoint: Uint8Array };
  expect(hex(rev.perCommitmentSecret)).toBe(hex(perCommitmentSecret(p.b.secrets, 0n)));
  expect(hex(rev.nextPerCommitmentPoint)).toBe(hex(perCommitmentPoint(p.b.secrets, 2n)));
});

// revoke_and_ack
row('revoke_and_ack/wrong-secret', () => {
  const p = Pair.open(FUNDING);
  const a = sendAdd(p.a.state, { amountMsat: msat(50_000_000n), paymentHash: sha256(preimage(9)), cltvExpiry: 500 as CltvExpiry, onion });
  p.a.state = a.state;
  p.send(p.a, a.send);
  p.sign(p.a);
  p.deliverOne(p.b); // the add
  p.deliverOne(p.b); // commitment_signed: B answers revoke_and_ack (and signs A's commitment)
  // A is waiting for... B now waits for A's revocation of commitment 0 after A gets B's commitment_signed.
  p.deliverOne(p.a);
  p.deliverOne(p.a);
  const forged = crypto.getRandomValues(new Uint8Array(32));
  expect(refusal(() => receiveRevocation(p.b.state, { perCommitmentSecret: forged, nextPerCommitmentPoint: perCommitmentPoint(p.a.secrets, 2n) }))).toBe(
    'revoke_and_ack: per_commitment_secret does not match commitment 0',
  );
});
row('revoke_and_ack/not-shachain', () => {
  // Two full rounds: B holds A's secret for commitment 0; then B waits for A to revoke commitment 1.
  const p = Pair.open(FUNDING);
  addCommitted(p, p.a, 10_000_000n, 10);
  const a = sendAdd(p.a.state, { amountMsat: msat(10_000_000n), paymentHash: sha256(preimage(11)), cltvExpiry: 500 as CltvExpiry, onion });
  p.a.state = a.state;
  p.send(p.a, a.send);
  p.sign(p.a);
  p.deliverOne(p.b);
  p.deliverOne(p.b);
  p.deliverOne(p.a);
  p.deliverOne(p.a);
  expect(p.b.state.nextRemoteCommit).toBeDefined();
  // A peer whose commitment-1 point came from a random key: the secret matches the point but is no shachain sibling of secret 0.
  const random = secp256k1.utils.randomSecretKey();
  const c: Commitments = { ...p.b.state, remoteCommit: { ...p.b.state.remoteCommit, point: pointFromSecret(random) } };
  expect(refusal(() => receiveRevocation(c, { perCommitmentSecret: random, nextPerCommitmentPoint: perCommitmentPoint(p.a.secrets, 3n) }))).toBe(
    'revoke_and_ack: per_commitment_secret does not derive the earlier ones (shachain)',
  );
});

// update_fee: B receives A's (A opened).
row('update_fee/below-floor', () => {
  const p = Pair.open(FUNDING);
  expect(refusal(() => receiveFee(p.b.state, 252 as FeeratePerKw))).toBe('update_fee of 252 sat/kw is below the minimum relay fee');
});
row('update_fee/from-non-opener', () => {
  const p = Pair.open(FUNDING);
  expect(refusal(() => receiveFee(p.a.state, 3000 as FeeratePerKw))).toBe('update_fee from the side that did not open the channel');
});
row('update_fee/unaffordable', () => {
  const p = Pair.open(FUNDING, msat(985_000_000n));
  // A (the opener) holds 15,000 sat and must keep B's 10,000-sat reserve: 5,000 sat/kw (3,620 sat) it can pay, 10,000 (7,240) only from the reserve.
  expect(receiveFee(p.b.state, 5_000 as FeeratePerKw).remoteChanges.proposed).toHaveLength(1);
  expect(refusal(() => receiveFee(p.b.state, 10_000 as FeeratePerKw))).toBe('the peer cannot afford its own update_fee of 10000 sat/kw above its channel reserve of 10000 sat');
  expect(refusal(() => receiveFee(p.b.state, 25_000 as FeeratePerKw))).toBe('the peer cannot afford its own update_fee of 25000 sat/kw');
});
row('update_fee/unreasonably-large', () => {
  const p = Pair.open(FUNDING);
  expect(receiveFee(p.b.state, 25_000 as FeeratePerKw).remoteChanges.proposed).toHaveLength(1);
  expect(refusal(() => receiveFee(p.b.state, 25_001 as FeeratePerKw))).toMatch(/update_fee of 25001 sat\/kw is unreasonably large/);
});

// update_fee bounds and dust exposure (src/bolt/bolt2/channel/safety-policy.ts; the same checks as test/bolt02/safety-policy.test.ts).
row('update_fee/too-low-for-estimate', () => {
  // The node's estimates are far above the relay floor: half the economy estimate is the least it takes on a static_remotekey channel.
  const estimates = { fast: 5_000 as FeeratePerKw, economy: 5_000 as FeeratePerKw };
  const p = Pair.open(FUNDING);
  const policy = { ...DEFAULT_SAFETY_POLICY, estimates };
  expect(refusal(() => receiveFee(p.b.state, 253 as FeeratePerKw, policy))).toBe('update_fee of 253 sat/kw is too low for timely processing (at least 2500 sat/kw)');
  expect(refusal(() => receiveFee(p.b.state, 2_499 as FeeratePerKw, policy))).toBe('update_fee of 2499 sat/kw is too low for timely processing (at least 2500 sat/kw)');
  expect(receiveFee(p.b.state, 2_500 as FeeratePerKw, policy).remoteChanges.proposed).toEqual([{ kind: 'fee', feeratePerKw: 2_500 as FeeratePerKw }]);
  // Anchors commitments are bumped through their anchor: only the relay floor applies there.
  const anchors = Pair.open(FUNDING, undefined, 2500 as FeeratePerKw, ANCHORS_TYPE);
  expect(receiveFee(anchors.b.state, 253 as FeeratePerKw, policy).remoteChanges.proposed).toHaveLength(1);
});
/** Two 6,000-sat HTLCs offered by `from`, committed on both sides; B's exposure limit 10,000 sat. */
function dustAtStake(from: 'a' | 'b', channelType = STATIC_REMOTEKEY_TYPE): { p: Pair; policy: typeof DEFAULT_SAFETY_POLICY } {
  const p = Pair.open(FUNDING, msat(400_000_000n), 2500 as FeeratePerKw, channelType);
  for (const i of [0, 1]) addCommitted(p, p[from], 6_000_000n, 40 + i);
  return { p, policy: { ...DEFAULT_SAFETY_POLICY, maxDustHtlcExposureMsat: msat(10_000_000n) } };
}
// At 8,000 sat/kw a 6,000-sat HTLC is trimmed where it needs an HTLC-success (546 + 703 * 8 = 6170 sat) but not an
// HTLC-timeout (546 + 663 * 8 = 5850 sat): HTLCs B offers are trimmed on A's commitment only, A's on B's only.
row('update_fee/dust-exposure-remote', () => {
  const { p, policy } = dustAtStake('b');
  expect(feeDustProblem(p.b.state, 8_000 as FeeratePerKw, policy.maxDustHtlcExposureMsat)).toMatch(/the peer's commitment/);
  expect(refusal(() => receiveFee(p.b.state, 8_000 as FeeratePerKw, policy))).toBe(
    "at 8000 sat/kw the dust HTLC exposure on the peer's commitment would be 12000000 msat, above the limit of 10000000 msat",
  );
  expect(dustExposure(p.b.state, htlcsAtStake(p.b.state), 8_000 as FeeratePerKw)).toEqual({ localMsat: msat(0n), remoteMsat: msat(12_000_000n) });
  // A rise that trims nothing is taken; on anchors the feerate trims nothing at all.
  expect(receiveFee(p.b.state, 7_000 as FeeratePerKw, policy).remoteChanges.proposed).toHaveLength(1);
  const anchors = dustAtStake('b', ANCHORS_TYPE);
  expect(receiveFee(anchors.p.b.state, 8_000 as FeeratePerKw, anchors.policy).remoteChanges.proposed).toHaveLength(1);
});
row('update_fee/dust-exposure-local', () => {
  const { p, policy } = dustAtStake('a');
  expect(refusal(() => receiveFee(p.b.state, 8_000 as FeeratePerKw, policy))).toBe(
    'at 8000 sat/kw the dust HTLC exposure on our commitment would be 12000000 msat, above the limit of 10000000 msat',
  );
  expect(dustExposure(p.b.state, htlcsAtStake(p.b.state), 8_000 as FeeratePerKw)).toEqual({ localMsat: msat(12_000_000n), remoteMsat: msat(0n) });
  expect(receiveFee(p.b.state, 7_000 as FeeratePerKw, policy).remoteChanges.proposed).toHaveLength(1);
  // With the default 50,000-sat limit the same rise is taken.
  expect(receiveFee(p.b.state, 8_000 as FeeratePerKw).remoteChanges.proposed).toHaveLength(1);
});

// channel_reestablish: B answers A's numbers; A's honest fields from its own state.
function afterPayments(): Pair {
  const p = Pair.open(FUNDING);
  for (let i = 0; i < 3; i++) addCommitted(p, p.a, 1_000_000n, 20 + i);
  return p;
}
/** What `from` honestly sends in channel_reestablish. */
const reestablishOf = (_p: Pair, from: Side) => ourReestablish(from.state, from.secrets);
row('reestablish/next_commitment-zero', () => {
  const p = afterPayments();
  expect(refusal(() => retransmissions(p.b.state, p.b.secrets, { ...reestablishOf(p, p.a), nextCommitmentNumber: 0n }))).toMatch(/next_commitment_number 0: the peer lost its channel state/);
});
row('reestablish/next_commitment-ahead', () => {
  const p = afterPayments();
  const h = reestablishOf(p, p.a);
  expect(retransmissions(p.b.state, p.b.secrets, h)).toEqual([]);
  expect(refusal(() => retransmissions(p.b.state, p.b.secrets, { ...h, nextCommitmentNumber: h.nextCommitmentNumber + 5n }))).toMatch(/ahead of the/);
});
row('reestablish/next_revocation-behind', () => {
  const p = afterPayments();
  const h = reestablishOf(p, p.a);
  expect(refusal(() => retransmissions(p.b.state, p.b.secrets, { ...h, nextRevocationNumber: h.nextRevocationNumber - 2n }))).toMatch(/next_revocation_number/);
});
row('reestablish/next_revocation-without-revoke', () => {
  const p = Pair.open(FUNDING);
  const h = reestablishOf(p, p.a);
  expect(refusal(() => retransmissions(p.b.state, p.b.secrets, { ...h, nextRevocationNumber: 1n }))).toMatch(/next_revocation_number 1 is ahead/);
});
row('reestablish/wrong-last-secret', () => {
  const p = afterPayments();
  const h = reestablishOf(p, p.a);
  expect(refusal(() => retransmissions(p.b.state, p.b.secrets, { ...h, yourLastPerCommitmentSecret: new Uint8Array(32).fill(9) }))).toBe(
    'channel_reestablish: your_last_per_commitment_secret is not the last secret we sent',
  );
});
row('reestablish/data-loss-no-broadcast', () => {
  const p = afterPayments();
  const h = reestablishOf(p, p.a);
  // B restored an old state: one commitment behind what A holds revoked.
  const older: Commitments = { ...p.b.state, localCommit: { ...p.b.state.localCommit, index: p.b.state.localCommit.index - 1n } };
  let e: unknown;
  try {
    retransmissions(older, p.b.secrets, h);
  } catch (x) {
    e = x;
  }
  expect(e).toBeInstanceOf(DataLossError);
});
row('reestablish/reuse-commitment-number', () => {
  const p = afterPayments();
  const a = sendAdd(p.a.state, { amountMsat: msat(1_000_000n), paymentHash: sha256(preimage(30)), cltvExpiry: 500 as CltvExpiry, onion });
  const signed = sendCommit(a.state, p.a.secrets);
  // B never received them: it still expects commitment number 4 next, the one A signed.
  const h = reestablishOf(p, p.b);
  expect(h.nextCommitmentNumber).toBe(signed.state.nextRemoteCommit!.index);
  const again = retransmissions(signed.state, p.a.secrets, h);
  expect(again.map((o) => o.name)).toEqual(['update_add_htlc', 'commitment_signed']);
  expect(hex((again[1]!.msg as { signature: Uint8Array }).signature)).toBe(hex((signed.send[0]!.msg as { signature: Uint8Array }).signature));
});
row('reestablish/resend-revoke', () => {
  const p = Pair.open(FUNDING);
  const a = sendAdd(p.a.state, { amountMsat: msat(1_000_000n), paymentHash: sha256(preimage(31)), cltvExpiry: 500 as CltvExpiry, onion });
  p.a.state = a.state;
  p.send(p.a, a.send);
  p.sign(p.a);
  p.deliverOne(p.b);
  p.deliverOne(p.b); // B revokes commitment 0 (and signs): A loses both
  const sent = p.a.inbox.find((o) => o.name === 'revoke_and_ack')!;
  p.a.inbox.length = 0;
  const h = reestablishOf(p, p.a);
  const again = retransmissions(p.b.state, p.b.secrets, h);
  const rev = again.find((o) => o.name === 'revoke_and_ack')!;
  expect(hex((rev.msg as { perCommitmentSecret: Uint8Array }).perCommitmentSecret)).toBe(hex((sent.msg as { perCommitmentSecret: Uint8Array }).perCommitmentSecret));
});
row('reestablish/revoke-commit-order', () => {
  const p = Pair.open(FUNDING);
  const a = sendAdd(p.a.state, { amountMsat: msat(1_000_000n), paymentHash: sha256(preimage(32)), cltvExpiry: 500 as CltvExpiry, onion });
  p.a.state = a.state;
  p.send(p.a, a.send);
  p.sign(p.a);
  p.deliverOne(p.b);
  p.deliverOne(p.b);
  const order = p.a.inbox.map((o) => o.name);
  expect(order).toEqual(['revoke_and_ack', 'commitment_signed']);
  p.a.inbox.length = 0;
  expect(retransmissions(p.b.state, p.b.secrets, reestablishOf(p, p.a)).map((o) => o.name)).toEqual(order);
});

// shutdown
row('shutdown/bad-script', () => {
  const p2pkh = Uint8Array.of(0x76, 0xa9, 0x14, ...new Uint8Array(20), 0x88, 0xac);
  expect(refusal(() => checkShutdownScript(p2pkh))).toBe('shutdown scriptpubkey is not a segwit output script');
  checkShutdownScript(p2wsh(new Uint8Array(10)));
});
row('shutdown/upfront-mismatch', () => {
  const s = p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(1)));
  const other = p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(2)));
  checkAgainstUpfront(s, s);
  checkAgainstUpfront(undefined, other);
  expect(refusal(() => checkAgainstUpfront(s, other))).toBe('shutdown scriptpubkey is not the upfront_shutdown_script the peer committed to');
});

// closing_signed: A funds and proposes, B answers.
const scriptA = p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(0x11)));
const scriptB = p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(0x22)));
const neg = (local: Uint8Array, remote: Uint8Array, proposed: bigint, min: bigint, max: bigint): ClosingNegotiation => ({
  localScript: local,
  remoteScript: remote,
  proposedFee: sat(proposed),
  range: { minFeeSatoshis: sat(min), maxFeeSatoshis: sat(max) },
});
const closing = () => {
  const p = Pair.open(FUNDING, msat(300_000_000n));
  return { p, na: neg(scriptA, scriptB, 500n, 200n, 1500n) };
};
row('closing_signed/signature-invalid', () => {
  const { p, na } = closing();
  const first = firstClosingSigned(p.a.state, p.a.secrets, na).send!;
  expect(refusal(() => receiveClosingSigned(p.b.state, p.b.secrets, neg(scriptB, scriptA, 300n, 100n, 5000n), { ...first, signature: corrupt(first.signature) }))).toBe(
    'invalid closing_signed signature for a fee of 500 sat',
  );
});
for (const id of ['closing_signed/fee-in-range-broadcast', 'closing_signed/fee-in-range-reply', 'closing_signed/funder-replies-same']) {
  row(id, () => {
    const { p, na } = closing();
    const first = firstClosingSigned(p.a.state, p.a.secrets, na);
    // B wants more than 500: it answers 900 with its own range (overlap 800..1500).
    const counter = receiveClosingSigned(p.b.state, p.b.secrets, neg(scriptB, scriptA, 900n, 800n, 5000n), first.send!);
    expect(counter.send!.feeSatoshis).toBe(sat(800));
    const atA = receiveClosingSigned(p.a.state, p.a.secrets, first.negotiation, counter.send!);
    expect(atA.send!.feeSatoshis).toBe(sat(800));
    expect(atA.done!.fee).toBe(sat(800));
  });
}
row('closing_signed/no-overlap-warning', () => {
  const { p } = closing();
  const first = firstClosingSigned(p.a.state, p.a.secrets, neg(scriptA, scriptB, 300n, 200n, 400n));
  const nb = neg(scriptB, scriptA, 900n, 800n, 5000n);
  const step = receiveClosingSigned(p.b.state, p.b.secrets, nb, first.send!);
  expect(step.warning).toBe('no overlap between our fee range 800..5000 sat and theirs 200..400 sat');
  expect(step.send).toBeUndefined();
  expect(step.done).toBeUndefined();
  // The negotiation is still open: a funder's later closing_signed inside the overlap closes it.
  const better = firstClosingSigned(p.a.state, p.a.secrets, neg(scriptA, scriptB, 900n, 200n, 1000n));
  expect(receiveClosingSigned(p.b.state, p.b.secrets, step.negotiation, better.send!).done!.fee).toBe(sat(900));
});
row('closing_signed/funder-fee-outside-overlap', () => {
  const { p, na } = closing();
  const first = firstClosingSigned(p.a.state, p.a.secrets, na);
  const greedy = firstClosingSigned(p.b.state, p.b.secrets, neg(scriptB, scriptA, 4000n, 100n, 5000n));
  expect(refusal(() => receiveClosingSigned(p.a.state, p.a.secrets, first.negotiation, greedy.send!))).toBe('closing fee 4000 sat is outside the overlap of our fee ranges');
});
for (const id of ['closing_signed/fundee-fee-changed', 'closing_signed/fundee-proposes-in-overlap']) {
  row(id, () => {
    const { p } = closing();
    const first = firstClosingSigned(p.a.state, p.a.secrets, neg(scriptA, scriptB, 300n, 200n, 2000n));
    const counter = receiveClosingSigned(p.b.state, p.b.secrets, neg(scriptB, scriptA, 900n, 800n, 5000n), first.send!);
    expect(counter.send!.feeSatoshis).toBe(sat(800));
    const other = firstClosingSigned(p.a.state, p.a.secrets, neg(scriptA, scriptB, 850n, 200n, 2000n));
    expect(refusal(() => receiveClosingSigned(p.b.state, p.b.secrets, counter.negotiation, other.send!))).toBe('closing fee 850 sat differs from the 800 sat we proposed in the overlap');
  });
}
const withoutRange = (m: ReturnType<typeof firstClosingSigned>['send']) => ({ ...m!, feeRange: undefined });
row('closing_signed/not-strictly-between', () => {
  const { p } = closing();
  const f1 = withoutRange(firstClosingSigned(p.a.state, p.a.secrets, neg(scriptA, scriptB, 300n, 300n, 300n)).send);
  const counter = receiveClosingSigned(p.b.state, p.b.secrets, neg(scriptB, scriptA, 900n, 800n, 5000n), f1);
  expect(counter.send!.feeSatoshis).toBe(sat(800));
  // Strictly between 300 and 800 is progress; 300 again (or 200) is not.
  expect(receiveClosingSigned(p.b.state, p.b.secrets, counter.negotiation, withoutRange(firstClosingSigned(p.a.state, p.a.secrets, neg(scriptA, scriptB, 500n, 500n, 500n)).send)).send!.feeSatoshis).toBe(sat(800));
  for (const fee of [300n, 200n]) {
    const again = withoutRange(firstClosingSigned(p.a.state, p.a.secrets, neg(scriptA, scriptB, fee, fee, fee)).send);
    expect(refusal(() => receiveClosingSigned(p.b.state, p.b.secrets, counter.negotiation, again))).toBe(`closing fee ${fee} sat is not strictly between our last 800 sat and their last 300 sat`);
  }
});
row('closing_signed/agrees-without-range', () => {
  const { p } = closing();
  const f = withoutRange(firstClosingSigned(p.a.state, p.a.secrets, neg(scriptA, scriptB, 1000n, 1000n, 1000n)).send);
  const step = receiveClosingSigned(p.b.state, p.b.secrets, neg(scriptB, scriptA, 900n, 800n, 5000n), f);
  expect(step.send!.feeSatoshis).toBe(sat(1000));
  expect(step.done!.fee).toBe(sat(1000));
});
row('closing_signed/counter-strictly-between', () => {
  const { p, na } = closing();
  const first = firstClosingSigned(p.a.state, p.a.secrets, na);
  expect(first.send!.feeSatoshis).toBe(sat(500));
  const f1 = withoutRange(firstClosingSigned(p.b.state, p.b.secrets, neg(scriptB, scriptA, 3000n, 3000n, 3000n)).send);
  const counter = receiveClosingSigned(p.a.state, p.a.secrets, first.negotiation, f1);
  const fee = counter.send!.feeSatoshis;
  expect(fee > 500n && fee < 3000n).toBe(true);
});
row('closing_signed/output-below-dust', () => {
  const { p } = closing();
  const c = p.a.state;
  const t = closingTransaction({
    fundingTxid: c.fundingTxid, fundingVout: c.fundingVout, localScript: scriptA, remoteScript: p2wsh(new Uint8Array(3)),
    localMsat: msat(999_659_000n), remoteMsat: msat(340_000n), localIsFunder: true, fee: sat(500), dustLimit: sat(354),
  });
  expect(t.tx.outputs.map((o) => o.value)).toEqual([999_659n - 500n]);
  expect(t.remoteOutput).toBeUndefined();
});

// BOLT 5: a spend of the funding output that is none of the known closes.
const asyncScenarios = new Map<string, () => Promise<void>>();
for (const id of ['remote/unknown-spend-warns', 'general/rogue-spend-warns']) {
  asyncScenarios.set(id, async () => {
    const p = afterPayments();
    const c = p.b.state;
    let spender = 'ee'.repeat(32);
    // The resolver keeps the spending transaction to send it again after a reorg; this chain does not have it.
    const chain = { outspend: async () => ({ spent: true, txid: spender }), transaction: async () => null } as unknown as ChainSource;
    const store = Store.open(':memory:');
    const resolver = new ChannelResolver(chain, {} as Wallet, new ChannelStore(store), { preimageOf: () => undefined, htlcResolved: () => {} }, silentLogger);
    const ch = { channelId: c.channelId, commitments: c, secrets: p.b.secrets };
    expect((await resolver.identify(ch))?.kind).toBe('unknown');
    // The closes it knows are never taken for a rogue spend.
    spender = c.localCommit.txid;
    expect((await resolver.identify(ch))?.kind).toBe('local');
    spender = c.remoteCommit.txid;
    expect((await resolver.identify(ch))?.kind).toBe('remote');
    store.db.close();
    // The channel's step logs a spend it cannot place at error level: the user is told funds may be lost.
    const view: ChannelView = { phase: 'normal', rec: { commitments: c, minimumDepth: 1, readySent: true, theirReady: true, localAlias: 1n }, reestablished: true, errorResent: false };
    const ctx = { secrets: p.b.secrets, safety: DEFAULT_SAFETY_POLICY, connected: false, closeFeerate: 1000 as FeeratePerKw, newScript: () => new Uint8Array(22), preimageOf: () => undefined, unfundedForgetBlocks: 2016 };
    const seen = channelStep(view, { kind: 'close_seen', close: { kind: 'unknown', txid: 'ee'.repeat(32), spends: {}, settled: [] } }, ctx);
    expect(seen.next.phase).toBe('closing');
    expect(seen.effects).toContainEqual(expect.objectContaining({ kind: 'log', level: 'error', text: expect.stringContaining('do not recognise') }));
  });
}

// BOLT 5 output handling: A's side of a close resolved by the node's ChannelResolver on an in-memory chain (test/bolt05/onchain-rows.ts).
for (const [id, f] of ONCHAIN_SCENARIOS) asyncScenarios.set(id, () => runOnce(f));
// BOLT 5 "Failing a Channel", anchors: our commitment is CPFP'd through our to_local_anchor, and the child
// replaced (RBF) as the HTLC deadline nears (also test/node/anchor-bump.test.ts and the lab's
// test/regtest/onchain/anchor-cpfp.lab.test.ts on btcd).
asyncScenarios.set('fail/anchor-cpfp', async () => {
  const s = anchorsForceClose();
  await s.wallet.sync();
  await s.source.broadcast(serializeTx(s.oc.tx));
  // The commitment pays 253 sat/kw, the estimate is 5000: a child spending our anchor brings the package to it.
  const bump = (await s.step(5000)).anchorBump!;
  const raw = s.chain.mempool.get(bump.txid)!;
  const child = parseTx(raw);
  expect([hex(child.getInput(0).txid!), child.getInput(0).index]).toEqual([s.oc.txid, s.oc.anchor!.vout]);
  expect(s.oc.tx.outputs[s.oc.anchor!.vout]!.script).toEqual(p2wsh(anchorScript(s.p.a.state.localBasepoints.funding)));
  const signedWeight = child.toBytes(true, false).length * 3 + raw.length;
  expect(feeOf(s.chain, raw)).toBe(bump.fee);
  expect(((s.oc.fee + bump.fee) * 1000n) / BigInt(s.oc.weight + signedWeight) >= 5000n).toBe(true);
});
asyncScenarios.set('fail/anchor-rbf', async () => {
  const s = anchorsForceClose();
  await s.wallet.sync();
  await s.source.broadcast(serializeTx(s.oc.tx));
  const h0 = s.chain.tip.height;
  const first = (await s.step(2500)).anchorBump!;
  // Not confirmed 10 of the 20 blocks to the HTLC deadline later: replaced, higher, the first one out of the mempool.
  const second = (await s.step(2500, h0 + 10)).anchorBump!;
  expect(second.txid).not.toBe(first.txid);
  expect(second.feerate > first.feerate).toBe(true);
  expect(second.fee > first.fee).toBe(true);
  expect(s.chain.mempool.has(second.txid)).toBe(true);
  expect(s.chain.mempool.has(first.txid)).toBe(false);
  expect(s.wallet.transaction(first.txid)!.state).toBe('conflicted');
});

// ------------------------------------------------------------------ run them

describe('the receiver-rule table, pure-level rows', () => {
  test('every row marked unit has a scenario here, and no scenario is for another row', () => {
    expect(unitRows().map((r) => r.id).filter((id) => !scenarios.has(id) && !asyncScenarios.has(id))).toEqual([]);
    const known = new Set(RULES.filter((r) => r.unit).map((r) => r.id));
    expect([...scenarios.keys(), ...asyncScenarios.keys()].filter((id) => !known.has(id))).toEqual([]);
  });
  for (const r of unitRows()) {
    const f = scenarios.get(r.id) ?? asyncScenarios.get(r.id);
    if (!f) continue;
    test(`${r.id}: ${r.quote.at(-1)!.slice(0, 90)}`, async () => {
      try {
        await f();
        results[r.id] = 'passed';
      } catch (e) {
        results[r.id] = 'failed';
        throw e;
      }
    });
  }
});

afterAll(() => {
  writeCheckerReport('unit', { implemented: [...scenarios.keys(), ...asyncScenarios.keys()], results });
});
