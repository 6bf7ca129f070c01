/**
 * The witness scripts of BOLT #3: funding 2-of-2, to_local, to_remote
 * (anchors variant), anchors, offered and received HTLCs (both variants).
 * https://github.com/lightning/bolts/blob/master/03-transactions.md#commitment-transaction-outputs
 */
import { ripemd160 } from '@noble/hashes/legacy.js';
import { compareBytes } from '../bytes.ts';
import { EncodeError } from '../errors.ts';
import { hash160, type Item, OP, op, script } from './script.ts';

function key(k: Uint8Array, name: string): Uint8Array {
  if (!(k instanceof Uint8Array) || k.length !== 33) throw new EncodeError(name, 'expected a 33-byte public key');
  return k;
}

/** 2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG, keys in lexicographic order. */
export function fundingScript(a: Uint8Array, b: Uint8Array): Uint8Array {
  const [k1, k2] = compareBytes(key(a, 'fundingPubkey'), key(b, 'fundingPubkey')) <= 0 ? [a, b] : [b, a];
  return script(2n, k1, k2, 2n, op(OP.CHECKMULTISIG));
}

/**
 * Witness spending the funding output: OP_CHECKMULTISIG's dummy, then the two
 * signatures (DER + sighash byte) in the same key order as fundingScript.
 */
export function fundingWitness(ourKey: Uint8Array, theirKey: Uint8Array, ourSig: Uint8Array, theirSig: Uint8Array): Uint8Array[] {
  const oursFirst = compareBytes(ourKey, theirKey) <= 0;
  return [new Uint8Array(0), oursFirst ? ourSig : theirSig, oursFirst ? theirSig : ourSig, fundingScript(ourKey, theirKey)];
}

export function toLocalScript(revocation: Uint8Array, toSelfDelay: number, localDelayed: Uint8Array): Uint8Array {
  return script(
    op(OP.IF),
    key(revocation, 'revocationPubkey'),
    op(OP.ELSE),
    BigInt(toSelfDelay),
    op(OP.CHECKSEQUENCEVERIFY),
    op(OP.DROP),
    key(localDelayed, 'localDelayedPubkey'),
    op(OP.ENDIF),
    op(OP.CHECKSIG),
  );
}

/** option_anchors to_remote: <remotepubkey> OP_CHECKSIGVERIFY 1 OP_CHECKSEQUENCEVERIFY */
export function toRemoteAnchorsScript(remote: Uint8Array): Uint8Array {
  return script(key(remote, 'remotePubkey'), op(OP.CHECKSIGVERIFY), 1n, op(OP.CHECKSEQUENCEVERIFY));
}

export function anchorScript(fundingPubkey: Uint8Array): Uint8Array {
  return script(
    key(fundingPubkey, 'fundingPubkey'),
    op(OP.CHECKSIG),
    op(OP.IFDUP),
    op(OP.NOTIF),
    16n,
    op(OP.CHECKSEQUENCEVERIFY),
    op(OP.ENDIF),
  );
}

/**
 * Both HTLC scripts open alike: the revocation key spends at once; otherwise
 * the remote HTLC key's signature goes aside and the next witness item's size
 * (32 = a preimage) picks the branch.
 */
function htlcHead(revocation: Uint8Array, remoteHtlc: Uint8Array): Item[] {
  return [
    op(OP.DUP),
    op(OP.HASH160),
    hash160(key(revocation, 'revocationPubkey')),
    op(OP.EQUAL),
    op(OP.IF),
    op(OP.CHECKSIG),
    op(OP.ELSE),
    key(remoteHtlc, 'remoteHtlcPubkey'),
    op(OP.SWAP),
    op(OP.SIZE),
    32n,
    op(OP.EQUAL),
  ];
}

/** The second-stage path: both HTLC keys sign (the remote one's signature is already on the stack). */
const htlcMultisig = (localHtlc: Uint8Array): Item[] => [2n, op(OP.SWAP), key(localHtlc, 'localHtlcPubkey'), 2n, op(OP.CHECKMULTISIG)];

/** The 32-byte item on the stack must be the payment preimage. */
const preimageCheck = (paymentHash: Uint8Array): Item[] => [op(OP.HASH160), ripemd160(paymentHash), op(OP.EQUALVERIFY)];

/** With option_anchors, HTLC outputs are CSV 1 locked on the non-revocation paths. */
const csv1 = [1n, op(OP.CHECKSEQUENCEVERIFY), op(OP.DROP)];

export function offeredHtlcScript(
  revocation: Uint8Array,
  remoteHtlc: Uint8Array,
  localHtlc: Uint8Array,
  paymentHash: Uint8Array,
  anchors: boolean,
): Uint8Array {
  return script(
    ...htlcHead(revocation, remoteHtlc),
    op(OP.NOTIF),
    op(OP.DROP),
    ...htlcMultisig(localHtlc),
    op(OP.ELSE),
    ...preimageCheck(paymentHash),
    op(OP.CHECKSIG),
    op(OP.ENDIF),
    ...(anchors ? csv1 : []),
    op(OP.ENDIF),
  );
}

export function receivedHtlcScript(
  revocation: Uint8Array,
  remoteHtlc: Uint8Array,
  localHtlc: Uint8Array,
  paymentHash: Uint8Array,
  cltvExpiry: number,
  anchors: boolean,
): Uint8Array {
  return script(
    ...htlcHead(revocation, remoteHtlc),
    op(OP.IF),
    ...preimageCheck(paymentHash),
    ...htlcMultisig(localHtlc),
    op(OP.ELSE),
    op(OP.DROP),
    BigInt(cltvExpiry),
    op(OP.CHECKLOCKTIMEVERIFY),
    op(OP.DROP),
    op(OP.CHECKSIG),
    op(OP.ENDIF),
    ...(anchors ? csv1 : []),
    op(OP.ENDIF),
  );
}
