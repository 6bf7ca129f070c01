/**
 * BOLT 2 channel_ready: the fundee checks that the funding outpoint pays
 * exactly funding_satoshis to the 2-of-2 P2WSH of both funding keys.
 */
import { describe, expect, test } from 'bun:test';
import { fundingOutputProblem } from '../../src/bolt/bolt2/channel/funding-output.ts';
import { p2wpkh, p2wsh } from '../../src/bolt/bolt3/script.ts';
import { fundingScript } from '../../src/bolt/bolt3/scripts.ts';
import { sat } from '../../src/bolt/units.ts';
import { Pair } from './channel-harness.ts';

describe('funding output check (BOLT 2 channel_ready)', () => {
  const p = Pair.open(sat(250_000));
  const c = p.b.state; // the fundee; the harness funds output 1
  const right = p2wsh(fundingScript(c.localBasepoints.funding, c.remoteBasepoints.funding));
  const other = { script: p2wpkh(c.remoteBasepoints.funding), amount: 1_000n };

  test('the right script and amount at funding_output_index pass, whatever else the transaction pays', () => {
    expect(fundingOutputProblem(c, [other, { script: right, amount: 250_000n }])).toBeUndefined();
  });

  test('one satoshi less, or more, is refused', () => {
    expect(fundingOutputProblem(c, [other, { script: right, amount: 249_999n }])).toBe('funding output 1 pays 249999 sat, funding_satoshis is 250000');
    expect(fundingOutputProblem(c, [other, { script: right, amount: 250_001n }])).toBe('funding output 1 pays 250001 sat, funding_satoshis is 250000');
  });

  test('another script is refused: a 2-of-2 without our key, a P2WPKH of the funder', () => {
    const withoutUs = p2wsh(fundingScript(c.remoteBasepoints.funding, c.remoteBasepoints.revocation));
    for (const script of [withoutUs, other.script]) {
      expect(fundingOutputProblem(c, [other, { script, amount: 250_000n }])).toBe('funding output 1 does not pay the 2-of-2 of both funding keys');
    }
  });

  test('the right output at another index, or no output at that index, is refused', () => {
    expect(fundingOutputProblem(c, [{ script: right, amount: 250_000n }, other])).toBe('funding output 1 does not pay the 2-of-2 of both funding keys');
    expect(fundingOutputProblem(c, [{ script: right, amount: 250_000n }])).toBe('the funding transaction has no output 1');
  });
});
