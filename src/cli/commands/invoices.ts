/** lnnode-cli commands for invoices and payments. */
import { LightningNodeService } from '../../rpc/gen/lnnode/v1/lnnode_pb.ts';
import { type CommandGroup } from './command.ts';

const m = LightningNodeService.method;

export const INVOICE_COMMANDS: CommandGroup = {
  title: 'Invoices and payments',
  commands: [
    {
      name: 'addinvoice',
      summary: 'create a BOLT 11 invoice to be paid to this node',
      args: [
        { name: 'amt_sat', help: 'amount in satoshis (default: none, the payer chooses)', optional: true },
        { name: 'description_hash', help: 'SHA-256 of the description, 64 hex digits (LCP: of the job terms)' },
      ],
      flags: [
        { name: '--amt-msat', value: 'MSAT', help: 'the amount in millisatoshis, instead of <amt_sat>' },
        { name: '--expiry', value: 'SECONDS', help: 'how long it can be paid (default 3600)' },
        { name: '--cltv-expiry', value: 'BLOCKS', help: 'min_final_cltv_expiry asked of the payer (default 18)' },
      ],
      example: "lnnode-cli addinvoice 150000 $(printf 'job terms' | sha256sum | cut -c1-64)",
      run: async ({ client, values }) => ({
        schema: m.createInvoice.output,
        msg: await client.createInvoice({
          amountMsat: values.amountMsat('amt_sat', '--amt-msat', 0n),
          descriptionHash: values.hex('description_hash', 32),
          expirySeconds: values.uint('--expiry', 'seconds', 0xffff_ffffn, 0n),
          minFinalCltvExpiry: values.count('--cltv-expiry', 'blocks', 0),
        }),
      }),
    },
    {
      name: 'waitinvoice',
      summary: 'wait until an invoice is settled, canceled or expired',
      args: [{ name: 'payment_hash', help: "the invoice's payment hash, 64 hex digits" }],
      flags: [{ name: '--timeout', value: 'SECONDS', help: 'give up after this long (DEADLINE_EXCEEDED; default: wait until it ends)' }],
      run: async ({ client, values }) => ({
        schema: m.waitInvoiceSettled.output,
        msg: await client.waitInvoiceSettled({ paymentHash: values.hex('payment_hash', 32), timeoutSeconds: values.count('--timeout', 'seconds', 0) }),
      }),
    },
    {
      name: 'listinvoices',
      summary: 'invoices this node issued, with their state',
      args: [],
      flags: [],
      run: async ({ client }) => ({ schema: m.listInvoices.output, msg: await client.listInvoices({}) }),
    },
    {
      name: 'decodeinvoice',
      summary: 'what a BOLT 11 invoice says (payee, amount, hashes, expiry)',
      args: [{ name: 'bolt11', help: 'the payment request (lnbcrt…)' }],
      flags: [],
      run: async ({ client, values }) => ({ schema: m.decodeInvoice.output, msg: await client.decodeInvoice({ paymentRequest: values.string('bolt11') }) }),
    },
    {
      name: 'payinvoice',
      summary: 'pay a BOLT 11 invoice over a direct channel',
      args: [{ name: 'bolt11', help: 'the payment request (lnbcrt…)' }],
      flags: [
        { name: '--amt', value: 'SAT', help: 'amount in satoshis, only for an invoice without one' },
        { name: '--amt-msat', value: 'MSAT', help: 'the same in millisatoshis, instead of --amt' },
        { name: '--timeout', value: 'SECONDS', help: 'stop waiting after this long (default 60); the payment itself still ends settled or failed' },
      ],
      notes: ['An invoice already paid or with a payment in flight is refused (ALREADY_EXISTS): it is never paid twice.'],
      run: async ({ client, values }) => ({
        schema: m.payInvoice.output,
        msg: await client.payInvoice({
          paymentRequest: values.string('bolt11'),
          amountMsat: values.amountMsat('--amt', '--amt-msat', 0n),
          timeoutSeconds: values.count('--timeout', 'seconds', 0),
        }),
      }),
    },
    {
      name: 'listpayments',
      summary: 'payments this node made or tried, with their status',
      args: [],
      flags: [],
      run: async ({ client }) => ({ schema: m.listPayments.output, msg: await client.listPayments({}) }),
    },
  ],
};
