/** BOLT 11: decode (with signature recovery) and encode+sign rates. */
import { fromHex } from '../src/bolt/bytes.ts';
import { decodeInvoice, encodeInvoice } from '../src/bolt/bolt11/invoice.ts';
import { LNNODE_INVOICE_FEATURES } from '../src/bolt/bolt9/features.ts';
import { msat } from '../src/bolt/units.ts';
import { opsPerSecond } from './measure.ts';
import { type Figure } from './run.ts';

export default async function (): Promise<Figure[]> {
  const key = fromHex('e126f68f7eafcc8b74f54d269fe206be715000f94dac067d1c04a8ca3b2db734');
  const params = {
    network: 'regtest' as const,
    amountMsat: msat(123_456n),
    timestamp: 1_800_000_000,
    paymentHash: new Uint8Array(32).fill(1),
    paymentSecret: new Uint8Array(32).fill(2),
    descriptionHash: new Uint8Array(32).fill(3),
    features: LNNODE_INVOICE_FEATURES,
  };
  const invoice = encodeInvoice(params, key);
  return [
    { name: 'BOLT11 decode (with pubkey recovery)', value: opsPerSecond(() => decodeInvoice(invoice)), unit: 'invoices/s' },
    { name: 'BOLT11 encode + sign', value: opsPerSecond(() => encodeInvoice(params, key)), unit: 'invoices/s' },
  ];
}
