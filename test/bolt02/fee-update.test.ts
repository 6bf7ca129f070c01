import { describe, expect, test } from 'bun:test';
import { sendFee } from '../../src/bolt/bolt2/channel/commitments.ts';
import { feeUpdateFor, proposedFeerate } from '../../src/bolt/bolt2/channel/fee-update.ts';
import { type FeeratePerKw, sat } from '../../src/bolt/units.ts';
import { Pair } from './channel-harness.ts';

const rate = (n: number): FeeratePerKw => n as FeeratePerKw;

describe('when the opener sends update_fee', () => {
  const p = Pair.open(sat(1_000_000), undefined, rate(2000));

  test('a rise of more than 10% is sent, a smaller one is not', () => {
    expect(feeUpdateFor(p.a.state, rate(2200))).toBeUndefined();
    expect(feeUpdateFor(p.a.state, rate(2201))).toBe(rate(2201));
  });

  test('a fall is sent only below half the current rate', () => {
    expect(feeUpdateFor(p.a.state, rate(1000))).toBeUndefined();
    expect(feeUpdateFor(p.a.state, rate(999))).toBe(rate(999));
  });

  test('never below the 253 sat/kw floor, and never by the side that did not open', () => {
    expect(feeUpdateFor(p.a.state, rate(1))).toBe(rate(253));
    expect(feeUpdateFor(p.b.state, rate(9000))).toBeUndefined();
  });

  test('an update already proposed is the rate compared with', () => {
    const proposed = sendFee(p.a.state, rate(5000)).state;
    expect(proposedFeerate(proposed)).toBe(rate(5000));
    expect(feeUpdateFor(proposed, rate(5400))).toBeUndefined();
    expect(feeUpdateFor(proposed, rate(2000))).toBe(rate(2000));
  });
});
