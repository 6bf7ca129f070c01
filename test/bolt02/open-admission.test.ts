/**
 * The caps on inbound channels that hold nothing yet, and BOLT 2's 2016
 * blocks after which a fundee forgets a channel whose funding never came.
 */
import { describe, expect, test } from 'bun:test';
import { fundingCreatedRefusal, openChannelRefusal, unfundedExpired } from '../../src/bolt/bolt2/channel/open-admission.ts';
import { DEFAULT_CHANNEL_LIMITS } from '../../src/node/channels/limits.ts';

const none = { pendingFromPeer: 0, pendingTotal: 0, unfundedFromPeer: 0, unfundedTotal: 0 };
const caps = DEFAULT_CHANNEL_LIMITS;

describe('inbound open admission', () => {
  test('below every cap an open is taken', () => {
    expect(openChannelRefusal({ pendingFromPeer: 3, pendingTotal: 99, unfundedFromPeer: 3, unfundedTotal: 99 }, caps)).toBeUndefined();
  });

  test('each cap refuses at its value, with a reason for the peer', () => {
    expect(openChannelRefusal({ ...none, pendingFromPeer: 4 }, caps)).toBe('too many channel opens in progress from this peer (4)');
    expect(openChannelRefusal({ ...none, pendingTotal: 100 }, caps)).toBe('too many channel opens in progress; try again later');
    expect(openChannelRefusal({ ...none, unfundedFromPeer: 4 }, caps)).toBe('too many unconfirmed channels from this peer (4); confirm one first');
    expect(fundingCreatedRefusal({ ...none, unfundedTotal: 100 }, caps)).toBe('too many unconfirmed channels; try again later');
    expect(fundingCreatedRefusal({ ...none, pendingFromPeer: 4, pendingTotal: 100 }, caps)).toBeUndefined();
  });

  test('an unfunded channel is forgotten 2016 blocks after it was stored, not before', () => {
    expect(caps.unfundedForgetBlocks).toBe(2016);
    expect(unfundedExpired(800_000, 802_015, 2016)).toBe(false);
    expect(unfundedExpired(800_000, 802_016, 2016)).toBe(true);
  });
});
