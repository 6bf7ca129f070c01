// lab-peers: btcd
/**
 * Fee and dust attacks against a running lnnode (issue 13 hole 6 and
 * "update_fee spam"), on the lab: A enforces a 1,500 sat dust exposure limit
 * and a cap of 20 unsigned peer updates; its peer B is an lnnode whose
 * channel messages are sent by hand where a hostile peer would misbehave.
 *
 * - BOLT 2 max_dust_htlc_exposure_msat: a dust HTLC A would offer past the
 *   limit is refused locally (the payment fails, nothing reaches B); one B
 *   offers past it is failed back with temporary_channel_failure once
 *   committed, its invoice never settled; an update_fee from B that trims
 *   A's HTLCs past it fails the channel.
 * - update_fee receiver: unreasonably large, and from the side that did not
 *   open the channel, fail it.
 * - 10,000 unsigned update_fee leave one stored pending change; unsigned
 *   updates past the cap fail the channel.
 *
 * The channels are static_remotekey: on anchors channels (zero-fee HTLC
 * transactions) only HTLCs below the 546 sat dust limit are trimmed, and a
 * feerate trims nothing. At the lab's 500 sat/kw an HTLC is dust on a
 * commitment below about 2,550 sat (LDK's buffered rate, 3,030 sat/kw, is
 * what HTLCs are checked at).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex } from '../../../src/bolt/bytes.ts';
import { type CltvExpiry, type FeeratePerKw, msat, sat } from '../../../src/bolt/units.ts';
import { type ChannelRecord } from '../../../src/node/channels/manager.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { startNodeWith } from '../channels/lab-node.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
/** A -> B, with 100,000 sat on B's side. */
let ch1: string;
const LIMIT_MSAT = msat(1_500_000);
const MAX_UNSIGNED = 20;

beforeAll(async () => {
  lab = await ChannelLab.start('dust');
  a = startNodeWith(lab, 'a', { channelLimits: { maxDustHtlcExposureMsat: LIMIT_MSAT, maxUnsignedPeerUpdates: MAX_UNSIGNED } });
  b = lab.startNode('b');
  await lab.fund(a, 1_000_000n);
  await lab.fund(b, 2_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
  ch1 = (await lab.openChannel(a, b, sat(300_000), 'static_remotekey')).id;
  await lab.pay(a, b, msat(100_000_000));
  await lab.settled(a, b, ch1);
}, 90_000);

afterAll(async () => {
  await lab?.stop();
});

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;
/**
 * A failed the channel and broadcast its commitment; B, told by A's error,
 * broadcasts its own: whichever reaches the mempool first is the close A
 * follows (seen on CI: B's).
 */
const expectOnChain = (id: string): void => expect(['local', 'remote']).toContain(summary(a, id).closeKind ?? 'none');
const stateOf = (n: LightningNode, id: string) => n.channels!.store.load<ChannelRecord>(fromHex(id))!.state;
const invoice = (n: LightningNode, tag: string, amountMsat: bigint) =>
  n.invoices.create({ amountMsat: msat(amountMsat), descriptionHash: sha256(new TextEncoder().encode(tag)) });

/** Records what `n` sends; from `hold` on (the first message it matches) nothing more leaves. */
function wire(n: LightningNode) {
  const original = n.peers.send.bind(n.peers);
  const sent: string[] = [];
  let hold: ((name: string) => boolean) | undefined;
  let held = false;
  n.peers.send = (peer, name, msg) => {
    sent.push(name);
    if (!held && hold?.(name)) held = true;
    if (!held) original(peer, name, msg);
  };
  return {
    sent,
    holdFrom(f: (name: string) => boolean) {
      hold = f;
    },
    get held(): boolean {
      return held;
    },
    restore() {
      n.peers.send = original;
    },
  };
}

/** A channel B opens to A (B holds everything): A is the side that receives update_fee. */
async function fromB(): Promise<string> {
  // After the 10,000-message flood the shared Esplora adapter may still be catching up: retry a timed-out sync.
  await waitFor('B synced its wallet', async () => {
    await b.wallet!.sync();
    return true;
  }, 60_000);
  return (await lab.openChannel(b, a, sat(200_000), 'static_remotekey')).id;
}

const updateFee = (id: string, feerate: number) => b.peers.send(a.nodeId, 'update_fee', { channelId: fromHex(id), feeratePerKw: feerate as FeeratePerKw });

describe('dust exposure (BOLT 2 max_dust_htlc_exposure_msat)', () => {
  test('A pays a dust HTLC under its limit; one that would take it past the limit is refused locally and nothing reaches B', async () => {
    await lab.pay(a, b, msat(1_000_000));
    await lab.settled(a, b, ch1);
    const before = summary(a, ch1);
    const inv = invoice(b, 'over the dust limit', 2_000_000n);
    const w = wire(a);
    try {
      const err = await a.payments.pay(inv.bolt11).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toContain('cannot send: dust HTLC exposure on our commitment would be 2000000 msat with this 2000000 msat HTLC, above the limit of 1500000 msat');
      expect(a.payments.get(inv.paymentHash)!.state).toBe('failed');
      expect(w.sent).not.toContain('update_add_htlc');
    } finally {
      w.restore();
    }
    expect(b.invoices.get(inv.paymentHash)!.state).toBe('open');
    expect(summary(a, ch1)).toMatchObject({ phase: 'normal', active: true, localBalanceMsat: before.localBalanceMsat, pendingHtlcs: 0 });
  }, 60_000);

  test('B pays A a dust HTLC past A\'s limit: A takes it into the commitments, fails it back with temporary_channel_failure, never settles it', async () => {
    const inv = invoice(a, 'dust to A', 2_000_000n);
    const before = summary(a, ch1);
    const paying = await b.payments.pay(inv.bolt11).catch((e: Error) => e);
    expect(paying).toBeDefined();
    expect(b.payments.get(inv.paymentHash)).toMatchObject({ state: 'failed', failure: 'temporary_channel_failure' });
    expect(a.invoices.get(inv.paymentHash)!.state).toBe('open');
    await lab.settled(a, b, ch1);
    expect(summary(a, ch1)).toMatchObject({ phase: 'normal', active: true, remoteBalanceMsat: before.remoteBalanceMsat });
    // Under the limit, the same channel still carries B's dust payments.
    await lab.pay(b, a, msat(1_000_000));
  }, 60_000);

  test('an update_fee from the funder that trims A\'s HTLCs past the limit fails the channel', async () => {
    const id = await fromB();
    // A 5,000 sat HTLC has outputs at 500 sat/kw, and is dust at 10,000 sat/kw (546 + 7,030 sat on A's commitment).
    const inv = invoice(a, 'to be trimmed', 5_000_000n);
    const w = wire(a);
    try {
      // A's fulfill never leaves: the HTLC stays on both commitments.
      w.holdFrom((name) => name === 'update_fulfill_htlc');
      void b.payments.pay(inv.bolt11, { outgoingChannels: [id] }).catch(() => undefined);
      await waitFor('A fulfilled the HTLC (held on the wire)', () => w.held);
      updateFee(id, 10_000);
      await waitFor('A fails the channel', () => summary(a, id).closeReason !== undefined);
      expect(summary(a, id).closeReason).toBe('at 10000 sat/kw the dust HTLC exposure on our commitment would be 5000000 msat, above the limit of 1500000 msat');
      expectOnChain(id);
    } finally {
      w.restore();
    }
  }, 90_000);
});

describe('update_fee spam and bounds', () => {
  let ch3: string;

  test('10,000 update_fee without a commitment_signed leave one stored pending change, the latest', async () => {
    ch3 = await fromB();
    const N = 10_000;
    const started = Date.now();
    for (let i = 0; i < N; i++) updateFee(ch3, 600 + (i % 400));
    const last = 600 + ((N - 1) % 400);
    await waitFor('A processed them all', () => stateOf(a, ch3).commitments.remoteChanges.proposed.some((u) => u.kind === 'fee' && u.feeratePerKw === last), 120_000);
    console.log(`${N} update_fee processed in ${Date.now() - started} ms`);
    expect(stateOf(a, ch3).commitments.remoteChanges.proposed).toEqual([{ kind: 'fee', feeratePerKw: last as FeeratePerKw }]);
    expect(summary(a, ch3).phase).toBe('normal');
  }, 180_000);

  test('an unreasonably large update_fee fails the channel', async () => {
    updateFee(ch3, 1_000_000);
    await waitFor('A fails the channel', () => summary(a, ch3).closeReason !== undefined);
    // The lab quotes 2 sat/vB (500 sat/kw) for every target: 10x is under the 25,000 sat/kw floor of the ceiling.
    expect(summary(a, ch3).closeReason).toBe('update_fee of 1000000 sat/kw is unreasonably large (at most 25000 sat/kw)');
    expectOnChain(ch3);
  }, 60_000);

  test('unsigned updates past the cap fail the channel', async () => {
    const id = await fromB();
    const next = stateOf(b, id).commitments.localNextHtlcId;
    for (let i = 0; i <= MAX_UNSIGNED; i++) {
      b.peers.send(a.nodeId, 'update_add_htlc', {
        channelId: fromHex(id),
        id: next + BigInt(i),
        amountMsat: msat(3_000_000n),
        paymentHash: sha256(Uint8Array.of(i)),
        cltvExpiry: 10_000 as CltvExpiry,
        onionRoutingPacket: new Uint8Array(1366),
      });
    }
    await waitFor('A fails the channel', () => summary(a, id).closeReason !== undefined);
    expect(summary(a, id).closeReason).toBe(`${MAX_UNSIGNED + 1} updates from the peer wait for our signature, more than the limit of ${MAX_UNSIGNED}`);
    expectOnChain(id);
  }, 60_000);

  test('an update_fee from the side that did not open the channel fails it', async () => {
    // ch1 was opened by A: B does not pay its fee.
    updateFee(ch1, 1_000);
    await waitFor('A fails the channel', () => summary(a, ch1).closeReason !== undefined);
    expect(summary(a, ch1).closeReason).toBe('update_fee from the side that did not open the channel');
    expectOnChain(ch1);
  }, 60_000);
});
