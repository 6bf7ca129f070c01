/**
 * Bad arguments for every call of both APIs that takes an amount, a memo, a
 * time or another bounded field (issue 13 "Errors"): out-of-range amounts
 * (over 21 million BTC, 2^64-1, 2^63-1, negative), an over-long memo (BOLT 11
 * caps a description at 639 bytes), timeouts past what a timer can hold,
 * CLTV deltas payers refuse, over-long keys and labels. Each row names the
 * field its error must name; every row must be InvalidArgument, never
 * Internal, whatever the node has (a chain or none, funds or none).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { type Client } from '@connectrpc/connect';
import { encodeInvoice } from '../../src/bolt/bolt11/invoice.ts';
import { LNNODE_INVOICE_FEATURES } from '../../src/bolt/bolt9/features.ts';
import { msat } from '../../src/bolt/units.ts';
import { type LnnodeClient } from '../../src/rpc/client.ts';
import { type Lightning } from '../../src/rpc/gen/lnrpc/lightning_pb.ts';
import { type Router } from '../../src/rpc/gen/routerrpc/router_pb.ts';

export interface Clients {
  lnnode: LnnodeClient;
  lightning: Client<typeof Lightning>;
  router: Client<typeof Router>;
}

export interface ArgumentRow {
  api: 'lnnode.v1' | 'lnd';
  call: string;
  /** The field the error must name. */
  field: string;
  what: string;
  invoke(c: Clients): Promise<unknown>;
}

export const U64_MAX = 2n ** 64n - 1n;
export const I64_MAX = 2n ** 63n - 1n;
/** One satoshi more than 21 million bitcoin. */
export const OVER_SAT = 2_100_000_000_000_001n;
export const OVER_MSAT = OVER_SAT * 1000n;
const U32_MAX = 2 ** 32 - 1;
const I32_MAX = 2 ** 31 - 1;

const PEER = secp256k1.getPublicKey(sha256(Uint8Array.of(1)), true);
const PEER_HEX = Buffer.from(PEER).toString('hex');
/** A regtest address (P2WPKH) that is nobody's. */
const ADDRESS = 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080';
const MEMO_640 = 'm'.repeat(640);

let n = 0;
/** A zero-amount regtest invoice of a stranger, so only the amount given with it decides. */
function anyAmountInvoice(): string {
  return encodeInvoice(
    {
      network: 'regtest',
      timestamp: Math.floor(Date.now() / 1000),
      paymentHash: sha256(Uint8Array.of(9, n++)),
      paymentSecret: new Uint8Array(32).fill(3),
      description: 'argument table',
      minFinalCltvExpiryDelta: 18,
      features: LNNODE_INVOICE_FEATURES,
    },
    sha256(Uint8Array.of(5)),
  );
}

function invoiceWithAmount(): string {
  return encodeInvoice(
    {
      network: 'regtest',
      amountMsat: msat(10_000),
      timestamp: Math.floor(Date.now() / 1000),
      paymentHash: sha256(Uint8Array.of(8, n++)),
      paymentSecret: new Uint8Array(32).fill(3),
      description: 'argument table',
      minFinalCltvExpiryDelta: 18,
      features: LNNODE_INVOICE_FEATURES,
    },
    sha256(Uint8Array.of(5)),
  );
}

const drain = async (it: AsyncIterable<unknown>): Promise<void> => {
  for await (const _ of it);
};

const lnnode = (call: string, field: string, what: string, invoke: (c: LnnodeClient) => Promise<unknown>): ArgumentRow => ({
  api: 'lnnode.v1',
  call,
  field,
  what,
  invoke: (c) => invoke(c.lnnode),
});
const lnd = (call: string, field: string, what: string, invoke: (c: Clients) => Promise<unknown>): ArgumentRow => ({ api: 'lnd', call, field, what, invoke });

const lndOpen = { nodePubkey: PEER, private: true, localFundingAmount: 100_000n };

export const ARGUMENT_ROWS: ArgumentRow[] = [
  // ---------------------------------------------------------------- lnnode.v1
  lnnode('OpenChannel', 'local_funding_amount_sat', 'over 21M BTC', (c) => c.openChannel({ peerPubkey: PEER, localFundingAmountSat: OVER_SAT })),
  lnnode('OpenChannel', 'local_funding_amount_sat', '2^64-1', (c) => c.openChannel({ peerPubkey: PEER, localFundingAmountSat: U64_MAX })),
  lnnode('OpenChannel', 'push_msat', '2^64-1', (c) => c.openChannel({ peerPubkey: PEER, localFundingAmountSat: 100_000n, pushMsat: U64_MAX })),
  lnnode('OpenChannel', 'funding_fee_rate_sat_per_vbyte', '2^64-1', (c) =>
    c.openChannel({ peerPubkey: PEER, localFundingAmountSat: 100_000n, fundingFeeRateSatPerVbyte: U64_MAX }),
  ),
  lnnode('CloseChannel', 'fee_rate_sat_per_vbyte', '2^64-1', (c) => c.closeChannel({ channelId: new Uint8Array(32), feeRateSatPerVbyte: U64_MAX })),
  lnnode('SendToAddress', 'amount_sat', 'over 21M BTC', (c) => c.sendToAddress({ address: ADDRESS, amountSat: OVER_SAT })),
  lnnode('SendToAddress', 'amount_sat', '2^64-1', (c) => c.sendToAddress({ address: ADDRESS, amountSat: U64_MAX })),
  lnnode('SendToAddress', 'fee_rate_sat_per_vbyte', '2^64-1', (c) => c.sendToAddress({ address: ADDRESS, amountSat: 10_000n, feeRateSatPerVbyte: U64_MAX })),
  lnnode('SendToAddress', 'idempotency_key', '1,000 bytes', (c) => c.sendToAddress({ address: ADDRESS, amountSat: 10_000n, idempotencyKey: new Uint8Array(1000) })),
  lnnode('SendToAddress', 'address', 'mainnet address on regtest', (c) => c.sendToAddress({ address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', amountSat: 10_000n })),
  lnnode('CreateInvoice', 'amount_msat', 'over 21M BTC', (c) => c.createInvoice({ descriptionHash: new Uint8Array(32), amountMsat: OVER_MSAT })),
  lnnode('CreateInvoice', 'amount_msat', '2^64-1', (c) => c.createInvoice({ descriptionHash: new Uint8Array(32), amountMsat: U64_MAX })),
  lnnode('CreateInvoice', 'expiry_seconds', '2^64-1', (c) => c.createInvoice({ descriptionHash: new Uint8Array(32), expirySeconds: U64_MAX })),
  lnnode('CreateInvoice', 'min_final_cltv_expiry', '2^32-1', (c) => c.createInvoice({ descriptionHash: new Uint8Array(32), minFinalCltvExpiry: U32_MAX })),
  lnnode('WaitInvoiceSettled', 'timeout_seconds', '2^32-1 (past what a timer holds)', (c) => c.waitInvoiceSettled({ paymentHash: new Uint8Array(32), timeoutSeconds: U32_MAX })),
  lnnode('PayInvoice', 'amount_msat', 'over 21M BTC', (c) => c.payInvoice({ paymentRequest: anyAmountInvoice(), amountMsat: OVER_MSAT })),
  lnnode('PayInvoice', 'amount_msat', '2^64-1', (c) => c.payInvoice({ paymentRequest: anyAmountInvoice(), amountMsat: U64_MAX })),
  lnnode('PayInvoice', 'timeout_seconds', '2^32-1', (c) => c.payInvoice({ paymentRequest: invoiceWithAmount(), timeoutSeconds: U32_MAX })),
  lnnode('PayInvoice', 'payment_request', 'garbage', (c) => c.payInvoice({ paymentRequest: 'lnbcrt1qqqq' })),
  lnnode('SendCustomMessage', 'msg_type', '70000', (c) => c.sendCustomMessage({ peerPubkey: PEER, msgType: 70_000, data: new Uint8Array(1) })),
  lnnode('SubscribeCustomMessages', 'msg_types', '70000', (c) => drain(c.subscribeCustomMessages({ msgTypes: [70_000] }))),
  lnnode('ConnectPeer', 'addr', '1,000 characters', (c) => c.connectPeer({ peerPubkey: PEER, addr: 'h'.repeat(1000) })),
  lnnode('ReleaseTransaction', 'txid_hex', 'not hex', (c) => c.releaseTransaction({ txidHex: 'zz' })),

  // ---------------------------------------------------------------- lnd
  lnd('AddInvoice', 'memo', '640 bytes (BOLT 11 allows 639)', (c) => c.lightning.addInvoice({ memo: MEMO_640, value: 1000n })),
  lnd('AddInvoice', 'value', 'over 21M BTC', (c) => c.lightning.addInvoice({ value: OVER_SAT })),
  lnd('AddInvoice', 'value', '2^63-1', (c) => c.lightning.addInvoice({ value: I64_MAX })),
  lnd('AddInvoice', 'value', 'negative', (c) => c.lightning.addInvoice({ value: -1n })),
  lnd('AddInvoice', 'value_msat', 'over 21M BTC', (c) => c.lightning.addInvoice({ valueMsat: OVER_MSAT })),
  lnd('AddInvoice', 'value_msat', '2^63-1', (c) => c.lightning.addInvoice({ valueMsat: I64_MAX })),
  lnd('AddInvoice', 'cltv_expiry', '2^64-1', (c) => c.lightning.addInvoice({ value: 1000n, cltvExpiry: U64_MAX })),
  lnd('AddInvoice', 'expiry', '2^63-1', (c) => c.lightning.addInvoice({ value: 1000n, expiry: I64_MAX })),
  lnd('SendCoins', 'amount', 'over 21M BTC', (c) => c.lightning.sendCoins({ addr: ADDRESS, amount: OVER_SAT })),
  lnd('SendCoins', 'amount', '2^63-1', (c) => c.lightning.sendCoins({ addr: ADDRESS, amount: I64_MAX })),
  lnd('SendCoins', 'amount', 'negative', (c) => c.lightning.sendCoins({ addr: ADDRESS, amount: -5n })),
  lnd('SendCoins', 'sat_per_vbyte', '2^64-1', (c) => c.lightning.sendCoins({ addr: ADDRESS, amount: 10_000n, satPerVbyte: U64_MAX })),
  lnd('SendCoins', 'label', '501 characters (lnd allows 500)', (c) => c.lightning.sendCoins({ addr: ADDRESS, amount: 10_000n, label: 'l'.repeat(501) })),
  lnd('OpenChannelSync', 'local_funding_amount', 'over 21M BTC', (c) => c.lightning.openChannelSync({ ...lndOpen, localFundingAmount: OVER_SAT })),
  lnd('OpenChannelSync', 'local_funding_amount', '2^63-1', (c) => c.lightning.openChannelSync({ ...lndOpen, localFundingAmount: I64_MAX })),
  lnd('OpenChannelSync', 'push_sat', '2^63-1', (c) => c.lightning.openChannelSync({ ...lndOpen, pushSat: I64_MAX })),
  lnd('OpenChannelSync', 'sat_per_vbyte', '2^64-1', (c) => c.lightning.openChannelSync({ ...lndOpen, satPerVbyte: U64_MAX })),
  lnd('OpenChannel', 'local_funding_amount', 'over 21M BTC', (c) => drain(c.lightning.openChannel({ ...lndOpen, localFundingAmount: OVER_SAT }))),
  lnd('OpenChannel', 'push_sat', 'negative', (c) => drain(c.lightning.openChannel({ ...lndOpen, pushSat: -1n }))),
  lnd('OpenChannel', 'node_pubkey_string', 'not a key', (c) => drain(c.lightning.openChannel({ nodePubkeyString: 'xyz', private: true, localFundingAmount: 100_000n }))),
  lnd('CloseChannel', 'sat_per_vbyte', '2^64-1', (c) =>
    drain(c.lightning.closeChannel({ channelPoint: { fundingTxid: { case: 'fundingTxidStr', value: '00'.repeat(32) }, outputIndex: 0 }, satPerVbyte: U64_MAX })),
  ),
  lnd('SendPaymentV2', 'amt', 'over 21M BTC', (c) => drain(c.router.sendPaymentV2({ paymentRequest: anyAmountInvoice(), amt: OVER_SAT, timeoutSeconds: 10 }))),
  lnd('SendPaymentV2', 'amt', '2^63-1', (c) => drain(c.router.sendPaymentV2({ paymentRequest: anyAmountInvoice(), amt: I64_MAX, timeoutSeconds: 10 }))),
  lnd('SendPaymentV2', 'amt_msat', 'over 21M BTC', (c) => drain(c.router.sendPaymentV2({ paymentRequest: anyAmountInvoice(), amtMsat: OVER_MSAT, timeoutSeconds: 10 }))),
  lnd('SendPaymentV2', 'amt_msat', 'negative', (c) => drain(c.router.sendPaymentV2({ paymentRequest: anyAmountInvoice(), amtMsat: -1n, timeoutSeconds: 10 }))),
  lnd('SendPaymentV2', 'timeout_seconds', '2^31-1 (past what a timer holds)', (c) => drain(c.router.sendPaymentV2({ paymentRequest: invoiceWithAmount(), timeoutSeconds: I32_MAX }))),
  lnd('SendPaymentV2', 'fee_limit_msat', 'negative', (c) => drain(c.router.sendPaymentV2({ paymentRequest: invoiceWithAmount(), timeoutSeconds: 10, feeLimitMsat: -1n }))),
  lnd('SendCustomMessage', 'type', '70000', (c) => c.lightning.sendCustomMessage({ peer: PEER, type: 70_000, data: new Uint8Array(1) })),
  lnd('ConnectPeer', 'addr.pubkey', 'not a key', (c) => c.lightning.connectPeer({ addr: { pubkey: 'nope', host: '127.0.0.1:9735' } })),
  lnd('DecodePayReq', 'pay_req', 'garbage', (c) => c.lightning.decodePayReq({ payReq: 'lnbcrt1qqqq' })),
  lnd('LookupInvoice', 'r_hash_str', 'not hex', (c) => c.lightning.lookupInvoice({ rHashStr: 'zz' })),
  lnd('ListChannels', 'peer', '5 bytes', (c) => c.lightning.listChannels({ peer: new Uint8Array(5) })),
];

export { PEER_HEX };
