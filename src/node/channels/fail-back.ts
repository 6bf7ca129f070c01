/**
 * Failing back an incoming HTLC the channel layer refuses to take itself
 * (one the peer added after our shutdown: BOLT 2 "SHOULD fail to route any
 * HTLC added after it has sent shutdown"). The failure is encrypted for the
 * payer with the onion's shared secret (BOLT 4 "Returning Errors"); an
 * onion we cannot read is answered with update_fail_malformed_htlc.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { type HtlcEntry } from '../../bolt/bolt2/channel/spec.ts';
import { FailureCode } from '../../bolt/bolt4/failure-codes.ts';
import { encodeFailureMessage, type FailureMessage } from '../../bolt/bolt4/failure-message.ts';
import { createFailurePacket } from '../../bolt/bolt4/failure-packet.ts';
import { OnionError, peelOnion } from '../../bolt/bolt4/sphinx.ts';
import { type Resolution } from './manager.ts';

export function failBack(nodeSecret: Uint8Array, htlc: HtlcEntry, failure: FailureMessage): Resolution {
  try {
    const { sharedSecret } = peelOnion(htlc.onion, nodeSecret, htlc.paymentHash);
    return { kind: 'fail', reason: createFailurePacket(sharedSecret, encodeFailureMessage(failure)) };
  } catch (e) {
    const code = e instanceof OnionError && e.failureCode & 0x8000 ? e.failureCode : FailureCode.invalid_onion_hmac;
    return { kind: 'fail_malformed', sha256OfOnion: sha256(htlc.onion), failureCode: code };
  }
}
