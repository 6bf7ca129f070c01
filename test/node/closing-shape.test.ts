/**
 * isOurClosingTx (resolver.ts): a spend of the funding output that is not
 * commitment-shaped and pays our shutdown script is a closing transaction
 * we signed; a commitment (its number hidden in locktime 0x20.. and sequence
 * 0x80..) never is, even when it pays the same script.
 */
import { expect, test } from 'bun:test';
import { Transaction } from '@scure/btc-signer';
import { isOurClosingTx } from '../../src/node/channels/resolver.ts';

const ours = Uint8Array.of(0x00, 0x14, ...new Uint8Array(20).fill(1));
const theirs = Uint8Array.of(0x00, 0x14, ...new Uint8Array(20).fill(2));

function spend(lockTime: number, sequence: number, scripts: Uint8Array[]): Uint8Array {
  const tx = new Transaction({ lockTime, allowUnknownOutputs: true, disableScriptCheck: true });
  tx.addInput({ txid: new Uint8Array(32).fill(9), index: 0, sequence });
  for (const script of scripts) tx.addOutput({ script, amount: 10_000n });
  return tx.toBytes(true, false);
}

test('a closing transaction paying our shutdown script is ours; a commitment, or a spend not paying us, is not', () => {
  expect(isOurClosingTx(spend(0, 0xffffffff, [theirs, ours]), ours)).toBe(true);
  expect(isOurClosingTx(spend(0, 0xfffffffd, [ours]), ours)).toBe(true);
  expect(isOurClosingTx(spend(0x20123456, 0x80abcdef, [ours, theirs]), ours)).toBe(false);
  expect(isOurClosingTx(spend(0, 0xffffffff, [theirs]), ours)).toBe(false);
  expect(isOurClosingTx(Uint8Array.of(1, 2, 3), ours)).toBe(false);
});
