/**
 * Our commitment on chain after we lost the channel state: found from the
 * commitment number it carries (BOLT 3 obscured locktime and sequence), its
 * to_local claimed with the delayed key of that number and the peer's
 * to_self_delay; the peer's commitment and other transactions give nothing.
 * Checked on commitments of both channel types after payments both ways,
 * against what the full state says to_local is.
 */
import { describe, expect, test } from 'bun:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../src/bolt/bytes.ts';
import { sendAdd, sendFulfill } from '../../src/bolt/bolt2/channel/commitments.ts';
import { ANCHORS_TYPE, STATIC_REMOTEKEY_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { type Tx } from '../../src/bolt/bolt3/tx.ts';
import { lostLocalCommitmentClaims } from '../../src/bolt/bolt5/lost-commitment.ts';
import { ourCommitment } from '../../src/bolt/bolt5/our-commitment.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, sat } from '../../src/bolt/units.ts';
import { Pair, type Side } from '../bolt02/channel-harness.ts';

const onion = new Uint8Array(1366);
const preimage = (i: number): Uint8Array => sha256(Uint8Array.of(0xdd, i));

function pay(p: Pair, from: Side, to: Side, amountMsat: bigint, i: number): void {
  const r = sendAdd(from.state, { amountMsat: amountMsat as Msat, paymentHash: sha256(preimage(i)), cltvExpiry: 500 as CltvExpiry, onion });
  from.state = r.state;
  p.send(from, r.send);
  p.sign(from);
  p.settle();
  const f = sendFulfill(to.state, r.htlc.id, preimage(i));
  to.state = f.state;
  p.send(to, f.send);
  p.sign(to);
  p.settle();
}

const asChain = (txid: string, tx: Tx) => ({ txid, locktime: tx.locktime, sequence: tx.inputs[0]!.sequence, outputs: tx.outputs.map((o) => ({ script: o.script, amount: o.value })) });

describe.each([
  ['static_remotekey', STATIC_REMOTEKEY_TYPE],
  ['anchors', ANCHORS_TYPE],
] as const)('%s', (_name, type) => {
  test('our commitment of any number: its to_local, with the delayed key and delay the full state would use', () => {
    const p = Pair.open(sat(1_000_000), 0n as Msat, 2500 as FeeratePerKw, type);
    const seen: string[] = [];
    for (const [i, amount] of [[1, 300_000_000n], [2, 50_000_000n]] as const) {
      pay(p, p.a, p.b, amount, i);
      if (i === 2) pay(p, p.b, p.a, 20_000_000n, 3);
      for (const side of [p.a, p.b]) {
        const full = ourCommitment(side.state, side.secrets, () => undefined);
        expect(full.claims).toHaveLength(1);
        const found = lostLocalCommitmentClaims(side.state, side.secrets, asChain(full.txid, full.tx));
        expect(found.map((c) => [c.kind, c.vout, c.amount, c.csv, hex(c.scriptCode), hex(c.privkey)])).toEqual(
          full.claims.map((c) => [c.kind, c.vout, c.amount, c.csv, hex(c.scriptCode), hex(c.privkey)]),
        );
        seen.push(`${side.state.localCommit.index}`);
        // The other side's commitment is not ours: nothing in it matches our to_local.
        const other = side === p.a ? p.b : p.a;
        const theirs = ourCommitment(other.state, other.secrets, () => undefined);
        expect(lostLocalCommitmentClaims(side.state, side.secrets, asChain(theirs.txid, theirs.tx))).toEqual([]);
      }
    }
    expect(new Set(seen).size).toBeGreaterThan(1);
  });

  test('a transaction without the commitment markers (a mutual close, a sweep) gives nothing', () => {
    const p = Pair.open(sat(1_000_000), 0n as Msat, 2500 as FeeratePerKw, type);
    const full = ourCommitment(p.a.state, p.a.secrets, () => undefined);
    expect(lostLocalCommitmentClaims(p.a.state, p.a.secrets, { ...asChain(full.txid, full.tx), locktime: 0 })).toEqual([]);
    expect(lostLocalCommitmentClaims(p.a.state, p.a.secrets, { ...asChain(full.txid, full.tx), sequence: 0xffffffff })).toEqual([]);
  });
});
