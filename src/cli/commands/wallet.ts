/** lnnode-cli commands for the on-chain wallet. */
import { LightningNodeService } from '../../rpc/gen/lnnode/v1/lnnode_pb.ts';
import { FEE_RATE_LIMIT } from './channels.ts';
import { type CommandGroup } from './command.ts';

const m = LightningNodeService.method;

export const WALLET_COMMANDS: CommandGroup = {
  title: 'On-chain wallet',
  commands: [
    {
      name: 'newaddress',
      summary: 'a new P2WPKH receive address of the wallet',
      args: [],
      flags: [],
      run: async ({ client }) => ({ schema: m.newAddress.output, msg: await client.newAddress({}) }),
    },
    {
      name: 'walletbalance',
      summary: 'confirmed, unconfirmed and reserved satoshis, and funds in closing channels (limbo_sat)',
      args: [],
      flags: [],
      run: async ({ client }) => ({ schema: m.walletBalance.output, msg: await client.walletBalance({}) }),
    },
    {
      name: 'sendtoaddress',
      summary: 'send satoshis on chain',
      args: [
        { name: 'address', help: 'a bitcoin address of the node\'s network' },
        { name: 'amt_sat', help: 'satoshis to send, or "all" to sweep the wallet (the fee comes out of it)' },
      ],
      flags: [
        { name: '--fee-rate', value: 'SAT_PER_VB', help: "fee rate (default: the chain's 6-block estimate)" },
        { name: '--idempotency-key', value: 'KEY', help: 'a retry with the same key returns the first transaction and pays nothing more' },
        { name: '--allow-high-fee', help: 'allow a fee above 10% of the amount (refused otherwise)' },
      ],
      run: async ({ client, values }) => {
        const all = values.raw('amt_sat') === 'all';
        const key = values.raw('--idempotency-key');
        return {
          schema: m.sendToAddress.output,
          msg: await client.sendToAddress({
            address: values.string('address'),
            amountSat: all ? 0n : values.sat('amt_sat'),
            sendAll: all,
            feeRateSatPerVbyte: values.uint('--fee-rate', 'sat/vB', FEE_RATE_LIMIT, 0n),
            rbf: true,
            idempotencyKey: key ? new TextEncoder().encode(key) : new Uint8Array(),
            allowHighFee: values.has('--allow-high-fee'),
          }),
        };
      },
    },
    {
      name: 'listtransactions',
      summary: "the wallet's transactions, newest first, with their state (unconfirmed, failed, …)",
      args: [],
      flags: [],
      run: async ({ client }) => ({ schema: m.listWalletTransactions.output, msg: await client.listWalletTransactions({}) }),
    },
    {
      name: 'releasetransaction',
      summary: 'give up a transaction the chain source does not have, so its coins can be spent again',
      args: [{ name: 'txid', help: 'the transaction id, 64 hex digits (listtransactions)' }],
      flags: [],
      notes: ['Refused while a channel still needs it (its needed_by in listtransactions) or while the chain source has it.'],
      run: async ({ client, values }) => {
        values.hex('txid', 32);
        return { schema: m.releaseTransaction.output, msg: await client.releaseTransaction({ txidHex: values.string('txid').toLowerCase() }) };
      },
    },
  ],
};
