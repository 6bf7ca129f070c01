/** BOLT 3: commitment transaction build + sign rate, with 0 and 10 HTLCs. */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { buildCommitment, type CommitmentParams } from '../src/bolt/bolt3/commitment.ts';
import { commitmentKeys } from '../src/bolt/bolt3/keys.ts';
import { signInput } from '../src/bolt/bolt3/sign.ts';
import { SIGHASH_ALL } from '../src/bolt/bolt3/tx.ts';
import { cltvExpiry, feeratePerKw, msat, sat } from '../src/bolt/units.ts';
import { opsPerSecond } from './measure.ts';
import { type Figure } from './run.ts';

const pt = (): Uint8Array => secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
const basepoints = () => ({ funding: pt(), revocation: pt(), payment: pt(), delayedPayment: pt(), htlc: pt() });

export default async function (): Promise<Figure[]> {
  const fundingKey = secp256k1.utils.randomSecretKey();
  const local = { ...basepoints(), funding: secp256k1.getPublicKey(fundingKey, true) };
  const remote = basepoints();
  const figures: Figure[] = [];
  for (const n of [0, 10]) {
    const p: CommitmentParams = {
      fundingTxid: 'ab'.repeat(32),
      fundingVout: 0,
      fundingSatoshis: sat(10_000_000n),
      localFundingPubkey: local.funding,
      remoteFundingPubkey: remote.funding,
      keys: commitmentKeys(local, remote, pt()),
      toSelfDelay: 144,
      dustLimit: sat(546n),
      feeratePerKw: feeratePerKw(2500),
      ownerIsOpener: true,
      toLocalMsat: msat(6_000_000_000n),
      toRemoteMsat: msat(3_000_000_000n),
      htlcs: Array.from({ length: n }, (_, i) => ({
        direction: i % 2 ? ('offered' as const) : ('received' as const),
        amountMsat: msat(50_000_000n + BigInt(i)),
        paymentHash: sha256(Uint8Array.of(i)),
        cltvExpiry: cltvExpiry(800_000 + i),
      })),
      commitmentNumber: 42n,
      obscuringFactor: 0x2bb038521914n,
      variant: 'static',
    };
    const rate = opsPerSecond(() => {
      const c = buildCommitment(p);
      signInput(c.tx, 0, c.fundingScript, 10_000_000n, fundingKey, SIGHASH_ALL);
    });
    figures.push({ name: `commitment build + sign, ${n} HTLCs`, value: rate, unit: 'commitments/s' });
  }
  return figures;
}
