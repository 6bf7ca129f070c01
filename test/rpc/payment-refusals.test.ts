/**
 * Paying through either API, refusals before anything is stored or sent:
 * each with the status its API gives (lnnode.v1 per the README, lnd's codes
 * and texts in the lnd-compatible API). Among them issue 16 item 4: an
 * invoice whose min_final_cltv_expiry would lock the payment past the CLTV
 * cap (2016 blocks) is refused, and so is an lnd cltv_limit above it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { sha256 } from '@noble/hashes/sha2.js';
import { encodeInvoice } from '../../src/bolt/bolt11/invoice.ts';
import { LNNODE_INVOICE_FEATURES } from '../../src/bolt/bolt9/features.ts';
import { type Network } from '../../src/bolt/bolt11/fallback.ts';
import { msat } from '../../src/bolt/units.ts';
import { credentialTransport } from '../../src/rpc/client.ts';
import { Router } from '../../src/rpc/gen/routerrpc/router_pb.ts';
import { adminMacaroonPath } from '../../src/rpc/lnd/admin-macaroon.ts';
import { startLndApi } from '../../src/rpc/lnd/api.ts';
import { type RpcServer } from '../../src/rpc/server.ts';
import { quiet, startNodeWithApi, type NodeWithApi } from './node-with-api.ts';

const payeeSecret = sha256(Uint8Array.of(77));
let a: NodeWithApi;
let lnd: RpcServer;
let router: Client<typeof Router>;

beforeAll(async () => {
  a = await startNodeWithApi();
  lnd = (await startLndApi(a.node, { ...a.node.config, lndRpcListen: { host: '127.0.0.1', port: 0 } }, quiet))!;
  const macaroon = readFileSync(adminMacaroonPath(a.dataDir, 'regtest')).toString('hex');
  router = createClient(Router, credentialTransport({ host: '127.0.0.1', port: lnd.port, header: ['macaroon', macaroon], caCert: readFileSync(join(a.dataDir, 'tls.cert')) }));
});

afterAll(async () => {
  await lnd?.stop();
  await a?.stop();
});

let n = 0;
function invoice(o: { c?: number; amountMsat?: bigint; network?: Network; expirySeconds?: number; timestamp?: number } = {}): string {
  return encodeInvoice(
    {
      network: o.network ?? 'regtest',
      amountMsat: o.amountMsat === undefined ? msat(10_000) : o.amountMsat === 0n ? undefined : msat(o.amountMsat),
      timestamp: o.timestamp ?? Math.floor(Date.now() / 1000),
      paymentHash: sha256(Uint8Array.of(1, n++)),
      paymentSecret: new Uint8Array(32).fill(3),
      description: 'refusals',
      expirySeconds: o.expirySeconds,
      minFinalCltvExpiryDelta: o.c ?? 18,
      features: LNNODE_INVOICE_FEATURES,
    },
    payeeSecret,
  );
}

const refusal = async (p: Promise<unknown>): Promise<[string, string]> =>
  p.then(
    () => ['OK', ''],
    (e: unknown) => {
      const c = ConnectError.from(e);
      return [Code[c.code], c.rawMessage];
    },
  );

const sendPayment = async (req: Parameters<Client<typeof Router>['sendPaymentV2']>[0]): Promise<void> => {
  for await (const _ of router.sendPaymentV2(req));
};

describe('payment refusals', () => {
  test('an invoice asking c=100000 blocks: lnnode.v1 InvalidArgument naming the cap, lnd Unknown with lnd\'s text; nothing stored', async () => {
    const bolt11 = invoice({ c: 100_000 });
    const [code, msg] = await refusal(a.client.payInvoice({ paymentRequest: bolt11 }));
    expect(code).toBe('InvalidArgument');
    expect(msg).toContain('cap of 2016 blocks');
    expect(await refusal(sendPayment({ paymentRequest: bolt11, timeoutSeconds: 10 }))).toEqual(['Unknown', 'cltv limit 2016 should be greater than 100003']);
    expect(a.node.payments.list()).toEqual([]);
  });

  test('lnd cltv_limit: above --max-cltv-expiry refused, below the invoice\'s demand refused', async () => {
    expect(await refusal(sendPayment({ paymentRequest: invoice(), timeoutSeconds: 10, cltvLimit: 5000 }))).toEqual(['Unknown', 'total time lock of 5000 exceeds max allowed 2016']);
    expect(await refusal(sendPayment({ paymentRequest: invoice({ c: 40 }), timeoutSeconds: 10, cltvLimit: 30 }))).toEqual(['Unknown', 'cltv limit 30 should be greater than 43']);
  });

  test('other refusals keep their codes: amounts, network, expiry, garbage', async () => {
    expect(await refusal(a.client.payInvoice({ paymentRequest: invoice(), amountMsat: 5n }))).toEqual(['InvalidArgument', 'amount_msat: the invoice has its own amount; leave amount_msat 0']);
    expect(await refusal(a.client.payInvoice({ paymentRequest: invoice({ amountMsat: 0n }) }))).toEqual(['InvalidArgument', 'amount_msat is required: the invoice has no amount']);
    expect((await refusal(a.client.payInvoice({ paymentRequest: invoice({ network: 'testnet' }) })))[0]).toBe('InvalidArgument');
    expect((await refusal(a.client.payInvoice({ paymentRequest: invoice({ timestamp: 1_000_000, expirySeconds: 60 }) })))[0]).toBe('FailedPrecondition');
    expect((await refusal(a.client.payInvoice({ paymentRequest: 'lnbcrt1garbage' })))[1]).toMatch(/^payment_request is not a valid BOLT 11 invoice/);
    // Past the checks of the invoice, a node without a chain source has no channels.
    expect(await refusal(a.client.payInvoice({ paymentRequest: invoice() }))).toEqual(['FailedPrecondition', 'no chain source configured: the node runs without channels']);

    expect(await refusal(sendPayment({ paymentRequest: invoice(), timeoutSeconds: 10, amt: 5n }))).toEqual(['InvalidArgument', 'amount must not be specified when paying a non-zero amount invoice']);
    expect(await refusal(sendPayment({ paymentRequest: invoice({ amountMsat: 0n }), timeoutSeconds: 10 }))).toEqual(['InvalidArgument', 'amount must be specified when paying a zero amount invoice']);
    expect(await refusal(sendPayment({ paymentRequest: invoice({ timestamp: 1_000_000, expirySeconds: 60 }), timeoutSeconds: 10 }))).toEqual(['FailedPrecondition', 'invoice expired']);
    expect(a.node.payments.list()).toEqual([]);
  });
});
