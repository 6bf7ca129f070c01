/**
 * Channel state through SQLite: what a transition produced is exactly what
 * a restart reads back (every bigint, byte and list), revoked commitments are
 * found by txid, and a crash after persisting but before sending recovers
 * through channel_reestablish with the money where it was.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { forgetUnsigned, ourReestablish, retransmissions, sendAdd, sendFulfill } from '../../src/bolt/bolt2/channel/commitments.ts';
import { type CltvExpiry, type Msat, sat } from '../../src/bolt/units.ts';
import { ChannelExistsError, ChannelStore } from '../../src/node/channels/store.ts';
import { Store } from '../../src/node/store.ts';
import { Pair, type Side } from '../bolt02/channel-harness.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function openDb(path: string): { store: Store; channels: ChannelStore } {
  const store = Store.open(path);
  return { store, channels: new ChannelStore(store) };
}

describe('channel store', () => {
  test('state survives a reopen of the database after every transition, and the channel keeps working', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lnnode-chan-'));
    dirs.push(dir);
    const path = join(dir, 'db.sqlite');
    const p = Pair.open(sat(500_000), 100_000_000n as Msat);
    const peer = new Uint8Array(33).fill(2);
    const persistAndReload = (s: Side): void => {
      const file = `${path}.${s.name}`;
      let db = openDb(file);
      const row = { channelId: s.state.channelId, peer, keyIndex: 0, phase: 'normal' as const, state: s.state };
      if (db.channels.has(row.channelId)) db.channels.update(row);
      else db.channels.insert(row);
      db.store.close();
      db = openDb(file);
      const back = db.channels.load(s.state.channelId)!;
      db.store.close();
      expect(back.state).toEqual(s.state);
      s.state = back.state;
    };
    const preimage = (i: number): Uint8Array => sha256(Uint8Array.of(i));
    for (let i = 0; i < 5; i++) {
      const r = sendAdd(p.a.state, { amountMsat: (1_000n + BigInt(i)) as Msat, paymentHash: sha256(preimage(i)), cltvExpiry: 300 as CltvExpiry, onion: new Uint8Array(1366) });
      p.a.state = r.state;
      p.send(p.a, r.send);
      p.sign(p.a);
      while (p.a.inbox.length || p.b.inbox.length) {
        const to = p.b.inbox.length ? p.b : p.a;
        p.deliverOne(to);
        persistAndReload(to);
      }
      const f = sendFulfill(p.b.state, r.htlc.id, preimage(i));
      p.b.state = f.state;
      p.send(p.b, f.send);
      p.sign(p.b);
      p.settle();
      persistAndReload(p.a);
      persistAndReload(p.b);
    }
    expect(p.b.state.localCommit.spec.toLocalMsat as bigint).toBe(100_000_000n + 5_010n);
  });

  test('revoked commitments are kept and found by txid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lnnode-chan-'));
    dirs.push(dir);
    const { store, channels } = openDb(join(dir, 'db.sqlite'));
    const p = Pair.open(sat(500_000));
    const stored = { channelId: p.a.state.channelId, peer: new Uint8Array(33).fill(3), keyIndex: channels.nextKeyIndex(), phase: 'normal' as const, state: p.a.state };
    channels.insert(stored);
    channels.saveWithRevoked(stored, p.a.state.remoteCommit);
    const found = channels.revokedByTxid(p.a.state.remoteCommit.txid);
    expect(found?.commitmentNumber).toBe(0n);
    expect(found?.spec).toEqual(p.a.state.remoteCommit.spec);
    expect(channels.nextKeyIndex()).toBe(1);
    store.close();
  });

  test('a new channel is inserted, never upserted: a second one with the same channel_id is refused and the first is untouched', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lnnode-chan-'));
    dirs.push(dir);
    const { store, channels } = openDb(join(dir, 'db.sqlite'));
    const p = Pair.open(sat(500_000));
    const first = { channelId: p.a.state.channelId, peer: new Uint8Array(33).fill(3), keyIndex: 0, phase: 'normal' as const, state: p.a.state };
    channels.insert(first);
    channels.saveWithRevoked(first, p.a.state.remoteCommit);
    const rows = () => ({
      channel: store.db.query('SELECT channel_id, peer, key_index, phase, state FROM channels').all(),
      revoked: store.db.query('SELECT * FROM revoked_commitments').all(),
    });
    const before = rows();
    // Another peer's channel naming the same funding outpoint, in another phase, with other commitments.
    const intruder = { channelId: p.b.state.channelId, peer: new Uint8Array(33).fill(4), keyIndex: 1, phase: 'awaiting_lock_in' as const, state: p.b.state };
    expect(() => channels.insert(intruder)).toThrow(ChannelExistsError);
    // An update names the channel's own peer and key index: another peer's state cannot land on it either.
    expect(() => channels.update(intruder)).toThrow(/no stored channel/);
    expect(() => channels.saveWithRevoked(intruder, p.b.state.remoteCommit)).toThrow(/no stored channel/);
    expect(rows()).toEqual(before);
    expect(channels.load(first.channelId)!.state).toEqual(p.a.state);
    store.close();
  });

  test('a crash after persisting a commitment_signed but before sending it: reestablish resends it', () => {
    const p = Pair.open(sat(500_000));
    const r = sendAdd(p.a.state, { amountMsat: 42_000n as Msat, paymentHash: sha256(Uint8Array.of(9)), cltvExpiry: 300 as CltvExpiry, onion: new Uint8Array(1366) });
    p.a.state = r.state;
    p.send(p.a, r.send);
    p.sign(p.a); // persisted (the state is what we keep), then the process dies before the bytes leave
    p.b.inbox.length = 0;
    p.a.state = forgetUnsigned(p.a.state);
    p.b.state = forgetUnsigned(p.b.state);
    p.send(p.a, retransmissions(p.a.state, p.a.secrets, ourReestablish(p.b.state, p.b.secrets)));
    p.settle();
    expect(p.b.events.filter((e) => e.kind === 'incoming').length).toBe(1);
    expect((p.a.state.localCommit.spec.toLocalMsat as bigint) + p.b.state.localCommit.spec.toLocalMsat + 42_000n).toBe(500_000_000n);
  });
});
