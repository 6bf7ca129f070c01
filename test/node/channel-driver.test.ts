/**
 * The channel driver (src/node/channels/manager.ts) between two nodes in
 * one process, with a fake peer link, in-memory stores and no btcd
 * (test/support/channel-driver-rig.ts): an open through lock-in, payments
 * both ways, a restart, a force close reaching the chain, and a crash
 * right after a durable write of a scenario (payments both ways at once, a
 * fee update, a mutual close started by either side; a seeded sample of
 * the writes, every one with LNNODE_CRASH_ALL=1). After each crash the
 * node restarts on its database as the crash left it and reconnects; then
 * no payment is both failed and settled or paid twice (a fulfill sent
 * again after the reconnection may report the same outcome twice), no
 * msat is lost on either side, nobody force closed, and the channel
 * carries a new payment (or is closed as both agreed). The lab runs the
 * same against real processes and lnd (test/regtest/node/crash-points*,
 * every point); this one needs neither and answers in seconds.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import { type FeeratePerKw, type Msat, msat, sat } from '../../src/bolt/units.ts';
import { channelPair, connect, disconnect, type DriverNode, mine, nodePair, quiet } from '../support/channel-driver-rig.ts';
import { sampledPoints } from '../support/sampled-points.ts';

const preimageOf = (n: number): Uint8Array => sha256(Uint8Array.of(0x50, n));

function rig(): ReturnType<typeof channelPair> {
  const r = channelPair(sat(1_000_000), msat(300_000_000n));
  // The funding output the channel spends, so its commitment can reach the chain.
  r.chain.fund('cd'.repeat(32), [{ value: 1_000_000n, script: new Uint8Array(34) }]);
  r.a.start();
  r.b.start();
  for (const n of [1, 2, 3, 4]) {
    r.b.preimages.set(hex(sha256(preimageOf(n))), preimageOf(n));
    r.a.preimages.set(hex(sha256(preimageOf(100 + n))), preimageOf(100 + n));
  }
  return r;
}

async function connected(a: DriverNode, b: DriverNode): Promise<void> {
  connect(a.peers, b.peers);
  await quiet();
}

const local = (n: DriverNode, id: Uint8Array): bigint => n.manager.get(id)!.localBalanceMsat;

/** After a crash round's scenario: the victim's writes, and if it crashed, the link drops and it restarts on the database the crash left, then reconnects. */
async function recovered(victim: DriverNode, a: DriverNode, b: DriverNode): Promise<number> {
  const writes = victim.writes;
  if (victim.crashed) {
    disconnect(a.peers, b.peers);
    victim.start();
    await connected(a, b);
  }
  return writes;
}

describe('the channel driver between two nodes in one process', () => {
  test('payments both ways settle: each payee stored the settle, each payer its outcome, balances moved by the amounts', async () => {
    const { a, b, channelId } = rig();
    await connected(a, b);
    const [a0, b0] = [local(a, channelId), local(b, channelId)];
    expect(a.pay(channelId, preimageOf(1), msat(10_000_000n))).toBe(true);
    expect(b.pay(channelId, preimageOf(101), msat(4_000_000n))).toBe(true);
    await quiet();
    expect(a.outcomes()).toEqual([{ hash: hex(sha256(preimageOf(1))), kind: 'fulfilled' }]);
    expect(b.outcomes()).toEqual([{ hash: hex(sha256(preimageOf(101))), kind: 'fulfilled' }]);
    expect([...b.settled().values()]).toEqual([10_000_000n]);
    expect([a0 - local(a, channelId), b0 - local(b, channelId)]).toEqual([6_000_000n, -6_000_000n]);
    expect(a.manager.get(channelId)!.phase).toBe('normal');
  });

  test('a restart of one side with a payment in flight: it reconnects, the payment completes once', async () => {
    const { a, b, channelId } = rig();
    await connected(a, b);
    a.pay(channelId, preimageOf(1), msat(10_000_000n));
    disconnect(a.peers, b.peers);
    b.start();
    await connected(a, b);
    await quiet();
    const outcomes = a.outcomes();
    // The add was not signed before the link dropped: forgotten and failed, or retransmitted and fulfilled; never both.
    expect(outcomes.length).toBe(1);
    if (outcomes[0]!.kind === 'failed') expect(b.settled().size).toBe(0);
    else expect(b.settled().size).toBe(1);
    expect(a.pay(channelId, preimageOf(2), msat(1_000_000n))).toBe(true);
    await quiet();
    expect(a.outcomes().at(-1)!.kind).toBe('fulfilled');
  });

  test('an open as funder: the funding reaches the chain only after funding_signed, both sides lock in at depth and carry a payment', async () => {
    const { a, b, chain } = nodePair();
    a.start();
    b.start();
    b.preimages.set(hex(sha256(preimageOf(1))), preimageOf(1));
    await connected(a, b);
    await mine(chain, [a, b]);
    const opened = await a.manager.open(b.peers.nodeId, { fundingSat: sat(500_000), pushMsat: msat(50_000_000n), channelType: 'static_remotekey' });
    expect(chain.inMempool(opened.fundingTxid)).toBe(true);
    expect(a.wallet.heldFundings()).toEqual([]);
    await quiet();
    expect([a.manager.get(opened.channelId)!.phase, b.manager.get(opened.channelId)!.phase]).toEqual(['awaiting_lock_in', 'awaiting_lock_in']);
    await mine(chain, [a, b], 3);
    const [sa, sb] = [a.manager.get(opened.channelId)!, b.manager.get(opened.channelId)!];
    expect([sa.phase, sb.phase, sa.active, sb.active]).toEqual(['normal', 'normal', true, true]);
    expect(sa.shortChannelId).toBe(sb.shortChannelId);
    expect(sb.localBalanceMsat).toBe(msat(50_000_000n));
    expect(a.pay(opened.channelId, preimageOf(1), msat(5_000_000n))).toBe(true);
    await quiet();
    expect(b.manager.get(opened.channelId)!.localBalanceMsat).toBe(msat(55_000_000n));
  });

  test('a force close stores our commitment as the close and hands it to the chain', async () => {
    const { a, b, chain, channelId } = rig();
    await connected(a, b);
    const { closingTxid } = await a.manager.close(channelId, { force: true });
    expect(closingTxid).toBe(a.manager.get(channelId)!.commitments.localTxid);
    expect(chain.inMempool(closingTxid)).toBe(true);
    // Stored: a restart finds the channel closing on that transaction.
    a.start();
    expect(a.manager.get(channelId)).toMatchObject({ phase: 'closing', closingTxid, closeReason: 'closed by us (force)' });
  });
});

/**
 * Two payments each way at once; `victim` is armed to crash after its
 * `point`th durable write (none when undefined: a dry run that counts).
 * Returns the writes the victim made in the scenario.
 */
async function crashRound(victimName: 'a' | 'b', point: number | undefined): Promise<number> {
  const r = rig();
  const { a, b, channelId } = r;
  await connected(a, b);
  const start = [local(a, channelId), local(b, channelId)];
  const victim = victimName === 'a' ? a : b;
  victim.arm(point);
  a.pay(channelId, preimageOf(1), msat(10_000_000n));
  b.pay(channelId, preimageOf(101), msat(3_000_000n));
  a.pay(channelId, preimageOf(2), msat(7_000_000n));
  b.pay(channelId, preimageOf(102), msat(2_000_000n));
  await quiet();
  const writes = await recovered(victim, a, b);
  const where = `${victimName} crashed after write ${point}`;
  // Each payer's attempt ends one way, fulfilled exactly when its payee settled it. A fulfill the
  // peer sent again after a reconnection reports the same outcome again (the payments layer keeps the first).
  let moved = 0n;
  for (const [payer, payee, sign] of [[a, b, 1n], [b, a, -1n]] as const) {
    const ends = new Map<string, Set<string>>();
    for (const o of payer.outcomes()) ends.set(o.hash, (ends.get(o.hash) ?? new Set()).add(o.kind));
    const attempts = payer.attempts();
    const settled = payee.settled();
    expect([...ends.keys()].sort(), where).toEqual([...attempts.keys()].sort());
    for (const [hash, kinds] of ends) {
      expect([...kinds], `${where}: ${hash}`).toEqual([settled.has(hash) ? 'fulfilled' : 'failed']);
      if (settled.has(hash)) moved += sign * attempts.get(hash)!;
    }
    expect([...settled.keys()].every((h) => attempts.has(h)), where).toBe(true);
  }
  // No msat lost: both sides agree, and the balances moved by exactly what was settled.
  const [sa, sb] = [a.manager.get(channelId)!, b.manager.get(channelId)!];
  expect([sa.phase, sb.phase], where).toEqual(['normal', 'normal']);
  expect(sa.localBalanceMsat, where).toBe(sb.remoteBalanceMsat);
  expect([start[0]! - sa.localBalanceMsat, sb.localBalanceMsat - start[1]!], where).toEqual([moved, moved]);
  expect(sa.pendingHtlcs, where).toBe(0);
  // Usable: a new payment goes through.
  expect(a.pay(channelId, preimageOf(3), msat(1_000_000n) as Msat), where).toBe(true);
  await quiet();
  expect(a.outcomes().at(-1), where).toEqual({ hash: hex(sha256(preimageOf(3))), kind: 'fulfilled' });
  return writes;
}

/**
 * Every point runs with LNNODE_CRASH_ALL=1 (about 40 rounds of a fraction
 * of a second each); by default a seeded sample, so the unit set stays
 * fast: LNNODE_CRASH_SEED draws the same points again. The lab runs every
 * point against real processes.
 */
const SEED = Number(process.env.LNNODE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const pick = process.env.LNNODE_CRASH_ALL ? (writes: number) => Array.from({ length: writes }, (_, i) => i + 1) : sampledPoints(SEED, 3);

/**
 * A mutual close `starter` starts, `victim` armed to crash after its `point`th
 * write. A close the crash lost before it was stored is asked for again;
 * then both sides hold the same closing transaction, it reached the chain,
 * and it pays each side its balance (the opener, A, pays the fee).
 */
async function closeRound(starter: 'a' | 'b', victimName: 'a' | 'b', point: number | undefined): Promise<number> {
  const { a, b, chain, channelId } = rig();
  const closer = starter === 'a' ? a : b;
  await connected(a, b);
  a.pay(channelId, preimageOf(1), msat(10_000_000n));
  await quiet();
  const victim = victimName === 'a' ? a : b;
  victim.arm(point);
  // The caller of a crashed node's close() never hears back; its timer runs on a clock nobody moves.
  void closer.manager.close(channelId).catch(() => undefined);
  await quiet();
  const writes = await recovered(victim, a, b);
  if (closer.manager.get(channelId)!.phase === 'normal') {
    void closer.manager.close(channelId).catch(() => undefined);
    await quiet();
  }
  const where = `${victimName} crashed after write ${point}`;
  const [sa, sb] = [a.manager.get(channelId)!, b.manager.get(channelId)!];
  expect([sa.phase, sb.phase, sa.closeKind, sb.closeKind], where).toEqual(['closing', 'closing', 'mutual', 'mutual']);
  expect(sa.closingTxid, where).toBe(sb.closingTxid);
  expect(chain.inMempool(sa.closingTxid!), where).toBe(true);
  const outputs = chain.tx(sa.closingTxid!).outputs.map((o) => o.value).sort((x, y) => Number(x - y));
  const fee = 1_000_000n - outputs.reduce((x, y) => x + y, 0n);
  expect(outputs, where).toEqual([sb.localBalanceMsat / 1000n, sa.localBalanceMsat / 1000n - fee].sort((x, y) => Number(x - y)));
  return writes;
}

/**
 * The chain's estimate moves and A, the opener, updates the commitment's
 * feerate on the next tip; `victim` is armed to crash after its `point`th
 * write. After the restart and one more tip both commitments are at the
 * new feerate, the balances agree and the channel carries a payment.
 */
async function feeRound(victimName: 'a' | 'b', point: number | undefined): Promise<number> {
  const { a, b, chain, channelId } = rig();
  await connected(a, b);
  const victim = victimName === 'a' ? a : b;
  victim.arm(point);
  chain.feerate = 5000 as FeeratePerKw;
  await mine(chain, [a, b]);
  const writes = await recovered(victim, a, b);
  // A restarted driver learns the estimate from its first tip.
  await mine(chain, [a, b]);
  const where = `${victimName} crashed after write ${point}`;
  const [sa, sb] = [a.manager.get(channelId)!, b.manager.get(channelId)!];
  expect([sa.phase, sb.phase, sa.feeratePerKw, sb.feeratePerKw], where).toEqual(['normal', 'normal', 5000 as FeeratePerKw, 5000 as FeeratePerKw]);
  expect(sa.localBalanceMsat, where).toBe(sb.remoteBalanceMsat);
  expect(a.pay(channelId, preimageOf(3), msat(1_000_000n)), where).toBe(true);
  await quiet();
  expect(a.outcomes().at(-1), where).toEqual({ hash: hex(sha256(preimageOf(3))), kind: 'fulfilled' });
  return writes;
}

describe('a crash right after a durable write, in process', () => {
  const scenarios = [
    ['payments both ways at once', crashRound],
    ['a fee update', feeRound],
    ['a mutual close started by A', (victim: 'a' | 'b', point: number | undefined) => closeRound('a', victim, point)],
    ['a mutual close started by B', (victim: 'a' | 'b', point: number | undefined) => closeRound('b', victim, point)],
  ] as const;
  for (const [name, round] of scenarios) {
    for (const victim of ['a', 'b'] as const) {
      test(`${name}, ${victim} crashing (seed ${SEED})`, async () => {
        const writes = await round(victim, undefined);
        expect(writes).toBeGreaterThan(1);
        const points = pick(writes);
        for (const point of points) await round(victim, point);
        console.log(`crash points in process, ${name}, ${victim} crashing: ${points.length} of ${writes} (points ${points.join(', ')}; LNNODE_CRASH_SEED=${SEED})`);
      }, 120_000);
    }
  }
});
