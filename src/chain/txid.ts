/**
 * Txids computed from raw bytes, so a chain source's answer can be checked
 * against the txid we asked for instead of trusted.
 */
import { Transaction } from '@scure/btc-signer';

const PARSE_ANY = {
  allowUnknownInputs: true,
  allowUnknownOutputs: true,
  allowUnknownVersion: true,
  disableScriptCheck: true,
} as const;

export function parseTx(raw: Uint8Array): Transaction {
  return Transaction.fromRaw(raw, PARSE_ANY);
}

export function txidOf(raw: Uint8Array): string {
  return parseTx(raw).id;
}

export const isTxid = (s: unknown): s is string => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
