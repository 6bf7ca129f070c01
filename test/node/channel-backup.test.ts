/**
 * The static channel backup file: encrypted with a key of the seed (another
 * seed, a flipped byte or another format is refused with a sentence), every
 * field back as written, rewritten atomically and only when its content
 * changes, and turned into a `recovering` record whose keys must be the
 * seed's own.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { obscuringFactor } from '../../src/bolt/bolt3/commitment-number.ts';
import { basepointsOf } from '../../src/bolt/bolt2/channel/keys.ts';
import { type BackupChannel, BackupError, backupKey, decryptBackup, encryptBackup } from '../../src/node/backup/format.ts';
import { readBackupFile } from '../../src/node/backup/file.ts';
import { recoveringRecord } from '../../src/node/backup/recovering.ts';
import { ChannelBackupWriter } from '../../src/node/backup/writer.ts';
import { channelSecrets } from '../../src/node/channels/secrets.ts';
import { silentLogger } from '../../src/node/log.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
const root = HDKey.fromMasterSeed(new Uint8Array(64).fill(7));
const other = HDKey.fromMasterSeed(new Uint8Array(64).fill(8));
const point = (b: number): string => `02${b.toString(16).padStart(2, '0').repeat(32)}`;

function entry(keyIndex: number, seedRoot = root): BackupChannel {
  return {
    channelId: 'ab'.repeat(32),
    peer: point(0x11),
    addresses: ['127.0.0.1:9735'],
    fundingTxid: 'cd'.repeat(32),
    fundingVout: 1,
    fundingSat: 1_000_000n,
    channelType: 'anchors',
    weAreOpener: true,
    keyIndex,
    paymentBasepoint: hex(basepointsOf(channelSecrets(seedRoot, 'regtest', keyIndex)).payment),
    remoteBasepoints: { funding: point(1), revocation: point(2), payment: point(3), delayedPayment: point(4), htlc: point(5) },
    remoteToSelfDelay: 144,
  };
}

describe('channel backup format', () => {
  const key = backupKey(root, 'regtest');
  const b = { version: 1, network: 'regtest' as const, nodeId: point(0x22), createdAt: 1_700_000_000, channels: [entry(3)] };

  test('round trip: every field back as written; the ciphertext shows no channel field', () => {
    const bytes = encryptBackup(key, random(12), b);
    expect(new TextDecoder().decode(bytes.subarray(0, 5))).toBe('LNSCB');
    expect(Buffer.from(bytes).includes(Buffer.from('cdcdcdcd'))).toBe(false);
    expect(Buffer.from(bytes).includes(Buffer.from('127.0.0.1'))).toBe(false);
    expect(decryptBackup(key, bytes)).toEqual(b);
  });

  test('the key differs by seed and between mainnet and the test networks (their coin type)', () => {
    expect(hex(backupKey(other, 'regtest'))).not.toBe(hex(key));
    expect(hex(backupKey(root, 'mainnet'))).not.toBe(hex(key));
  });

  test('another seed, a flipped byte, another file: refused with what it means', () => {
    const bytes = encryptBackup(key, random(12), b);
    expect(() => decryptBackup(backupKey(other, 'regtest'), bytes)).toThrow(new BackupError('the channel backup does not open with this seed: it was made by another mnemonic or passphrase (or the file is damaged)'));
    const flipped = bytes.slice();
    flipped[40]! ^= 1;
    expect(() => decryptBackup(key, flipped)).toThrow('does not open with this seed');
    const header = bytes.slice();
    header[5] = 9;
    expect(() => decryptBackup(key, header)).toThrow('channel backup version 9; this lnnode reads version 1');
    expect(() => decryptBackup(key, new TextEncoder().encode('{"channels": []} not a backup at all'))).toThrow('not an lnnode channel backup (no LNSCB header)');
  });
});

describe('channel backup file', () => {
  test('written atomically (no temporary file left, mode 0600) and rewritten only when its content changes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lnnode-scb-'));
    dirs.push(dir);
    let channels: BackupChannel[] = [];
    let now = 100;
    const w = new ChannelBackupWriter({
      path: join(dir, 'channel.backup'),
      key: backupKey(root, 'regtest'),
      network: 'regtest',
      nodeId: new Uint8Array(33).fill(2),
      entries: () => channels,
      random,
      log: silentLogger,
      now: () => now,
    });
    expect(w.refresh()).toBe(true);
    expect(decryptBackup(backupKey(root, 'regtest'), readBackupFile(w.path)).channels).toEqual([]);
    now++;
    expect(w.refresh()).toBe(false);
    channels = [entry(0)];
    expect(w.refresh()).toBe(true);
    const first = readFileSync(w.path);
    expect(w.refresh()).toBe(false);
    expect(hex(readFileSync(w.path))).toBe(hex(first));
    channels = [{ ...entry(0), addresses: ['10.0.0.1:9735'] }];
    expect(w.refresh()).toBe(true);
    const back = decryptBackup(backupKey(root, 'regtest'), readBackupFile(w.path));
    expect(back.channels[0]!.addresses).toEqual(['10.0.0.1:9735']);
    expect(back.createdAt).toBe(101);
    expect(w.writes).toBe(3);
    expect(readdirSync(dir)).toEqual(['channel.backup']);
    expect(statSync(w.path).mode & 0o777).toBe(0o600);
  });

  test('a missing file is named', () => {
    expect(() => readBackupFile('/nonexistent/channel.backup')).toThrow('cannot read the channel backup /nonexistent/channel.backup: no such file');
  });
});

describe('a recovering channel record', () => {
  test('names the funding output, type and our keys; no commitment txid, no balance', () => {
    const rec = recoveringRecord(entry(5), channelSecrets(root, 'regtest', 5));
    const c = rec.commitments;
    expect([c.fundingTxid, c.fundingVout, String(c.fundingSat), c.variant, c.weAreOpener]).toEqual(['cd'.repeat(32), 1, '1000000', 'anchors', true]);
    expect([c.localCommit.txid, c.remoteCommit.txid, String(c.localCommit.spec.toLocalMsat)]).toEqual(['', '', '0']);
    expect(rec.dataLoss).toBe(true);
    // BOLT 3's obscuring factor from opener then accepter payment basepoint: our own commitment is recognised by its number.
    const ours = basepointsOf(channelSecrets(root, 'regtest', 5)).payment;
    expect(c.obscuringFactor).toBe(obscuringFactor(ours, fromHex(point(3))));
    expect(recoveringRecord({ ...entry(5), weAreOpener: false }, channelSecrets(root, 'regtest', 5)).commitments.obscuringFactor).toBe(obscuringFactor(fromHex(point(3)), ours));
  });

  test('keys of another seed (or index) are refused: the backup is not this node\'s', () => {
    expect(() => recoveringRecord(entry(5, other), channelSecrets(root, 'regtest', 5))).toThrow("our key at index 5 is not the one the backup names; this node's seed is not the one that made the channel");
    expect(() => recoveringRecord(entry(5), channelSecrets(root, 'regtest', 6))).toThrow(BackupError);
  });
});
