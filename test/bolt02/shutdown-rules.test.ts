/**
 * BOLT 2 "Closing Initiation: shutdown" receiver rules as pure verdicts: an
 * add crossing our shutdown, an add after the peer's, and the peer's
 * upfront_shutdown_script binding its shutdown scriptpubkey.
 */
import { describe, expect, test } from 'bun:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { addDuringShutdown, addedAfterOurShutdown, checkAgainstUpfront, checkUpfrontScript } from '../../src/bolt/bolt2/channel/closing.ts';
import { ChannelProtocolError } from '../../src/bolt/bolt2/channel/commitments.ts';
import { basepointsOf } from '../../src/bolt/bolt2/channel/keys.ts';
import { checkOpenChannel, DEFAULT_POLICY, openChannelMessage, STATIC_REMOTEKEY_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { type FeeratePerKw, msat, sat } from '../../src/bolt/units.ts';
import { p2wpkh } from '../../src/bolt/bolt3/script.ts';
import { REGTEST, secrets } from './channel-harness.ts';

const script = p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(0x11)));
const other = p2wpkh(secp256k1.getPublicKey(new Uint8Array(32).fill(0x22)));

describe('shutdown receiver rules', () => {
  test('update_add_htlc: accepted before any shutdown, failed back after ours, a violation after theirs', () => {
    expect(addDuringShutdown({ weSentShutdown: false, theySentShutdown: false })).toBe('accept');
    expect(addDuringShutdown({ weSentShutdown: true, theySentShutdown: false })).toBe('fail_back');
    expect(addDuringShutdown({ weSentShutdown: false, theySentShutdown: true })).toBe('violation');
    expect(addDuringShutdown({ weSentShutdown: true, theySentShutdown: true })).toBe('violation');
  });

  test('HTLCs failed back: from the peer\'s next id when our shutdown went out, none before it', () => {
    expect(addedAfterOurShutdown(undefined, 7n)).toBe(false);
    expect(addedAfterOurShutdown(5n, 4n)).toBe(false);
    expect(addedAfterOurShutdown(5n, 5n)).toBe(true);
    expect(addedAfterOurShutdown(5n, 9n)).toBe(true);
  });

  test('upfront_shutdown_script: empty or absent restricts nothing; a non-empty one must be the shutdown script', () => {
    expect(() => checkAgainstUpfront(undefined, other)).not.toThrow();
    expect(() => checkAgainstUpfront(new Uint8Array(0), other)).not.toThrow();
    expect(() => checkAgainstUpfront(script, script)).not.toThrow();
    expect(() => checkAgainstUpfront(script, other)).toThrow(new ChannelProtocolError('shutdown scriptpubkey is not the upfront_shutdown_script the peer committed to'));
  });

  test('an upfront_shutdown_script in open_channel that is not a valid shutdown script refuses the open', () => {
    expect(() => checkUpfrontScript(script, 'open_channel')).not.toThrow();
    const sa = secrets(1);
    const valid = openChannelMessage(DEFAULT_POLICY, {
      temporaryChannelId: new Uint8Array(32), chainHash: REGTEST, fundingSat: sat(500_000), pushMsat: msat(0), feeratePerKw: 2500 as FeeratePerKw,
      channelType: STATIC_REMOTEKEY_TYPE, secrets: sa, basepoints: basepointsOf(sa),
    });
    expect(() => checkOpenChannel(DEFAULT_POLICY, { ...valid, upfrontShutdownScript: Uint8Array.from(script) }, REGTEST)).not.toThrow();
    const open = { ...valid, upfrontShutdownScript: Uint8Array.of(0x6a, 0x01, 0x00) };
    expect(() => checkOpenChannel(DEFAULT_POLICY, open, REGTEST)).toThrow('open_channel: upfront_shutdown_script is not a segwit output script');
  });
});
