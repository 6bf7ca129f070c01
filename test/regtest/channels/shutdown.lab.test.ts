// lab-peers: btcd
/**
 * BOLT 2 "Closing Initiation: shutdown" and closing_signed receiver rules on
 * the lab, lnnode against lnnode with messages held, dropped or rewritten on
 * their way to the wire:
 *
 * - an HTLC the peer adds after our shutdown but before its own is a race:
 *   failed back (never settled) and the channel still closes mutually;
 * - an add after the peer's own shutdown fails the channel;
 * - close() keeps the channel in normal (adds welcome) until our shutdown is
 *   actually sent;
 * - the peer's upfront_shutdown_script binds its shutdown;
 * - a closing negotiation the peer never answers fails the channel.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, hex } from '../../../src/bolt/bytes.ts';
import { msat, sat } from '../../../src/bolt/units.ts';
import { untypedSend } from '../../support/untyped-send.ts';
import { type ChannelRecord } from '../../../src/node/channels/manager.ts';
import { type LightningNode } from '../../../src/node/node.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { waitFor } from '../../lab/processes.ts';
import { startNodeWith } from './lab-node.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
const FUNDING = sat(400_000);
const TO_B = 100_000_000n;
const HTLC = 5_000_000n;
const NEGOTIATION_TIMEOUT_MS = 3_000;

beforeAll(async () => {
  lab = await ChannelLab.start('shutdown');
  a = startNodeWith(lab, 'a', { channelLimits: { closingNegotiationTimeoutMs: NEGOTIATION_TIMEOUT_MS } });
  b = lab.startNode('b');
  await lab.fund(a, 3_000_000n);
  await lab.fund(b, 1_500_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 60_000);

afterAll(async () => {
  await lab?.stop();
});

const summary = (n: LightningNode, id: string) => n.channels!.get(fromHex(id))!;
const sorted = (xs: bigint[]): bigint[] => [...xs].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
const invoice = (n: LightningNode, tag: string, amount = HTLC) => n.invoices.create({ amountMsat: msat(amount), descriptionHash: sha256(new TextEncoder().encode(tag)) });
const stateOf = (n: LightningNode, id: string) => n.channels!.store.load<ChannelRecord>(fromHex(id))!.state;

/** Intercepts `n`'s outgoing messages; `hold` starts queueing them (in order) from the first message it matches, `release` sends the queue. */
function wire(n: LightningNode) {
  const peers = untypedSend(n.peers);
  const original = peers.send.bind(peers);
  const queue: [Uint8Array, string, unknown][] = [];
  const seen: string[] = [];
  let holding: ((name: string, msg: Record<string, unknown>) => boolean) | undefined;
  let held = false;
  let drop: ((name: string) => boolean) | undefined;
  let rewrite: ((name: string, msg: Record<string, unknown>) => Record<string, unknown>) | undefined;
  peers.send = (peer, name, msg) => {
    seen.push(name);
    if (drop?.(name)) return;
    const m = rewrite ? rewrite(name, msg as Record<string, unknown>) : msg;
    if (!held && holding?.(name, m as Record<string, unknown>)) held = true;
    if (held) return void queue.push([peer, name, m]);
    original(peer, name, m);
  };
  return {
    seen,
    get holding(): boolean {
      return held;
    },
    hold(from: (name: string, msg: Record<string, unknown>) => boolean) {
      holding = from;
    },
    release() {
      held = false;
      holding = undefined;
      for (const [peer, name, m] of queue.splice(0)) original(peer, name, m);
    },
    drop(f: (name: string) => boolean) {
      drop = f;
    },
    rewrite(f: (name: string, msg: Record<string, unknown>) => Record<string, unknown>) {
      rewrite = f;
    },
    restore() {
      this.release();
      peers.send = original;
    },
  };
}

async function channelWithBalance(): Promise<string> {
  await a.wallet!.sync(); // the change of the last funding transaction is spendable once the wallet saw it confirm
  const { id } = await lab.openChannel(a, b, FUNDING);
  await lab.pay(a, b, msat(TO_B));
  await lab.settled(a, b, id);
  return id;
}

describe('shutdown rules', () => {
  test('an HTLC the peer adds after our shutdown (before its own) is failed back, never settled; the channel closes mutually', async () => {
    const id = await channelWithBalance();
    const inv = invoice(a, 'race');
    const wa = wire(a);
    const wb = wire(b);
    try {
      // A's shutdown (and what follows it) waits on the wire until B's add is out: the two cross.
      wa.hold((name) => name === 'shutdown');
      const closing = a.channels!.close(fromHex(id));
      await waitFor('A sent its shutdown', () => wa.holding);
      expect(summary(a, id).phase).toBe('shutdown');
      const paying = b.payments.pay(inv.bolt11).catch((e: Error) => e);
      await waitFor('B sent its add', () => wb.seen.includes('update_add_htlc'));
      wa.release();
      const { closingTxid } = await closing;
      await paying;
      expect(b.payments.get(inv.paymentHash)).toMatchObject({ state: 'failed', failure: 'permanent_channel_failure' });
      expect(a.invoices.get(inv.paymentHash)!.state).toBe('open');
      expect(summary(a, id).closeKind).toBe('mutual');
      const fee = await lab.fee(closingTxid);
      // The HTLC went back to B: the close pays the balances from before it.
      expect(sorted(await lab.outputs(closingTxid))).toEqual(sorted([TO_B / 1000n, FUNDING - TO_B / 1000n - fee]));
    } finally {
      wa.restore();
      wb.restore();
    }
  }, 120_000);

  test('an update_add_htlc after the peer\'s own shutdown fails the channel', async () => {
    const id = await channelWithBalance();
    // Right behind its shutdown, B sends an add (the next id A expects), breaking "MUST NOT send an update_add_htlc after a shutdown".
    const next = stateOf(b, id).commitments.localNextHtlcId;
    const peers = untypedSend(b.peers);
    const original = peers.send.bind(peers);
    peers.send = (peer, name, msg) => {
      original(peer, name, msg);
      if (name === 'shutdown') {
        original(peer, 'update_add_htlc', {
          channelId: fromHex(id), id: next, amountMsat: 1_000_000n, paymentHash: new Uint8Array(32).fill(7), cltvExpiry: 10_000, onionRoutingPacket: new Uint8Array(1366),
        });
      }
    };
    try {
      await b.channels!.close(fromHex(id)).catch(() => undefined);
      await waitFor('A fails the channel', () => summary(a, id).closeReason === 'update_add_htlc after the peer sent shutdown');
      expect(summary(a, id).closeKind).toBe('local');
      // On A's error B fails too: it broadcasts its commitment, or completes the closing_signed A sent before the add
      // came (A signed that transaction). Whichever confirms, A names it, never "a transaction we do not recognise".
      await lab.btcd.generate(1);
      const seen = await waitFor('A sees what spent the funding output confirm', () => {
        const x = summary(a, id);
        return x.numbers.closeHeight !== undefined && x.closingTxid ? x : undefined;
      });
      expect(['local', 'remote', 'mutual']).toContain(seen.closeKind!);
      expect((await lab.outputs(seen.closingTxid!)).length).toBeGreaterThan(0);
    } finally {
      peers.send = original;
    }
  }, 120_000);

  test('close() stays in normal until our shutdown can be sent: the peer\'s add meanwhile is taken and settled, then the channel closes mutually', async () => {
    const id = await channelWithBalance();
    const wb = wire(b);
    const toA = invoice(a, 'meanwhile');
    const toB = invoice(b, 'pending 1');
    const toB2 = invoice(b, 'pending 2');
    try {
      // B is slow: everything it sends waits on the wire. It pays A first (its add and signature are out, unheard)...
      wb.hold(() => true);
      const third = b.payments.pay(toA.bolt11);
      await waitFor('B signed its add', () => stateOf(b, id).commitments.nextRemoteCommit !== undefined);
      // ...then A pays B twice: the second update cannot be signed before B revokes, so A's shutdown cannot go out.
      const first = a.payments.pay(toB.bolt11);
      await waitFor('B got A\'s signature (its revocation waits)', () => stateOf(b, id).commitments.localCommit.spec.htlcs.length === 1 && stateOf(a, id).commitments.nextRemoteCommit !== undefined);
      const second = a.payments.pay(toB2.bolt11);
      await waitFor('A has an unsigned update', () => stateOf(a, id).commitments.localChanges.proposed.length === 1);
      const closing = a.channels!.close(fromHex(id));
      await Bun.sleep(200);
      expect(summary(a, id).phase).toBe('normal');
      expect(stateOf(a, id).shutdown?.sent).toBe(false);
      // B's add reaches A before any shutdown of A's: A takes it and settles it.
      wb.release();
      wb.restore();
      for (const p of await Promise.all([first, second, third])) expect(p.state).toBe('succeeded');
      expect(a.invoices.get(toA.paymentHash)!.state).toBe('settled');
      const { closingTxid } = await closing;
      expect(summary(a, id).closeKind).toBe('mutual');
      const toBSat = (TO_B + HTLC) / 1000n;
      const fee = await lab.fee(closingTxid);
      expect(sorted(await lab.outputs(closingTxid))).toEqual(sorted([toBSat, FUNDING - toBSat - fee]));
    } finally {
      wb.restore();
    }
  }, 120_000);

  test('the peer\'s upfront_shutdown_script binds its shutdown: another script fails the channel, the committed one closes it', async () => {
    const committed = b.wallet!.newChangeScript();
    const open = async (): Promise<string> => {
      await b.wallet!.sync();
      const wb = wire(b);
      wb.rewrite((name, m) => (name === 'open_channel' ? { ...m, upfrontShutdownScript: committed } : m));
      try {
        const { id } = await lab.openChannel(b, a, FUNDING);
        return id;
      } finally {
        wb.restore();
      }
    };
    const id = await open();
    expect(hex(stateOf(a, id).remoteUpfrontScript!)).toBe(hex(committed));
    let offline = 0;
    a.peers.onPeerEvent((e) => void (e.kind === 'offline' && hex(e.peer) === hex(b.nodeId) && offline++));
    // B's shutdown names a fresh wallet script, not the one it committed to.
    await b.channels!.close(fromHex(id)).catch(() => undefined);
    await waitFor('A fails the channel', () => summary(a, id).closeReason !== undefined);
    expect(summary(a, id).closeReason).toBe('shutdown scriptpubkey is not the upfront_shutdown_script the peer committed to');
    expect(summary(a, id).closeKind).toBe('local');
    // BOLT 2: A also fails the connection (closes it); A redials B, its persistent peer.
    expect(offline).toBeGreaterThan(0);
    await waitFor('A and B connected again', () => a.peers.isConnected(b.nodeId) && b.peers.isConnected(a.nodeId), 30_000);

    const id2 = await open();
    // This time B's shutdown names the script it committed to.
    const fresh = b.wallet!.newChangeScript.bind(b.wallet);
    b.wallet!.newChangeScript = () => committed;
    try {
      await b.channels!.close(fromHex(id2));
      await waitFor('A closes mutually', () => summary(a, id2).closeKind === 'mutual');
      const outputs = await lab.btcd.rpc.call<{ vout: { scriptPubKey: { hex: string }; value: number }[] }>('getrawtransaction', summary(a, id2).closingTxid!, 1);
      // B opened and A holds nothing: the close has one output, B's, paid to the script it committed to.
      expect(outputs.vout.map((o) => o.scriptPubKey.hex)).toEqual([hex(committed)]);
    } finally {
      b.wallet!.newChangeScript = fresh;
    }
  }, 120_000);

  test('a closing negotiation the peer never answers fails the channel', async () => {
    const id = await channelWithBalance();
    const wa = wire(a);
    try {
      // The peer hears our closing_signed never (as if it did not answer).
      wa.drop((name) => name === 'closing_signed');
      const started = Date.now();
      const closing = a.channels!.close(fromHex(id)).catch((e: Error) => e);
      // A fails the channel: it stores its commitment as the close, sends B an error, then broadcasts. B broadcasts its own
      // commitment on that error and can reach the mempool first; either is A failing the channel.
      await waitFor('A fails the channel', () => ['local', 'remote'].includes(summary(a, id).closeKind ?? ''), 20_000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(NEGOTIATION_TIMEOUT_MS);
      expect(summary(a, id).closeReason).toBe(`closing negotiation timed out: no closing_signed from the peer within ${NEGOTIATION_TIMEOUT_MS / 1000} s`);
      expect(String(await closing)).toContain('closing negotiation timed out');
    } finally {
      wa.restore();
    }
  }, 60_000);
});
