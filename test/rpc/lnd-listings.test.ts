/**
 * The lnd listing calls on a node without a chain: ListInvoices pages by
 * add_index as lnd does (offset exclusive, reversed from the end), GetVersion
 * reports the lnd API release and the sub-servers served, the channel
 * listings are empty and zero, and the wallet calls say there is no wallet
 * (FailedPrecondition, not Internal). The same calls against a node with
 * channels and funds are checked with lncli in the lab
 * (test/regtest/rpc/lnd-listings.lab.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { msat } from '../../src/bolt/units.ts';
import { credentialTransport } from '../../src/rpc/client.ts';
import { Invoice_InvoiceState } from '../../src/rpc/gen/lnrpc/lightning_pb.ts';
import { Versioner } from '../../src/rpc/gen/verrpc/verrpc_pb.ts';
import { type LndApi, type NodeWithApi, startNodeWithApi } from './node-with-api.ts';

let a: NodeWithApi;
let lnd: LndApi;

beforeAll(async () => {
  a = await startNodeWithApi();
  lnd = await a.lndApi();
});
afterAll(() => a?.stop());

async function code(p: Promise<unknown>): Promise<Code | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

describe('lnd listings without a chain', () => {
  test('ListInvoices pages by add_index: offset exclusive, max, reversed from the end, pending_only', async () => {
    const made = [1, 2, 3, 4].map((i) => a.node.invoices.create({ amountMsat: msat(BigInt(i) * 1000n) }));
    const l = lnd.lightning();
    const all = await l.listInvoices({});
    expect(all.invoices.map((i) => i.valueMsat)).toEqual([1000n, 2000n, 3000n, 4000n]);
    expect([all.firstIndexOffset, all.lastIndexOffset]).toEqual([1n, 4n]);
    const mid = await l.listInvoices({ indexOffset: 1n, numMaxInvoices: 2n });
    expect(mid.invoices.map((i) => i.addIndex)).toEqual([2n, 3n]);
    const last = await l.listInvoices({ reversed: true, numMaxInvoices: 2n });
    expect(last.invoices.map((i) => i.addIndex)).toEqual([3n, 4n]);
    const before = await l.listInvoices({ reversed: true, indexOffset: 3n, numMaxInvoices: 5n });
    expect(before.invoices.map((i) => i.addIndex)).toEqual([1n, 2n]);
    a.node.invoices.cancel(made[0]!.paymentHash);
    const pending = await l.listInvoices({ pendingOnly: true });
    expect(pending.invoices.map((i) => [i.addIndex, i.state])).toEqual([2n, 3n, 4n].map((n) => [n, Invoice_InvoiceState.OPEN]));
  });

  test('ListPayments with nothing paid; channel listings empty and zero', async () => {
    const l = lnd.lightning();
    expect((await l.listPayments({ includeIncomplete: true, countTotalPayments: true })).payments).toEqual([]);
    const bal = await l.channelBalance({});
    expect([bal.balance, bal.localBalance?.sat, bal.remoteBalance?.msat, bal.pendingOpenLocalBalance?.sat]).toEqual([0n, 0n, 0n, 0n]);
    const pending = await l.pendingChannels({});
    expect([pending.totalLimboBalance, pending.pendingOpenChannels.length, pending.waitingCloseChannels.length, pending.pendingForceClosingChannels.length]).toEqual([0n, 0, 0, 0]);
    expect((await l.closedChannels({})).channels).toEqual([]);
    const fees = await l.feeReport({});
    expect([fees.channelFees.length, fees.dayFeeSum, fees.weekFeeSum, fees.monthFeeSum]).toEqual([0, 0n, 0n, 0n]);
  });

  test('the wallet calls say there is no wallet', async () => {
    const l = lnd.lightning();
    expect(await code(l.listUnspent({ minConfs: 1, maxConfs: 100 }))).toBe(Code.FailedPrecondition);
    expect(await code(l.getTransactions({}))).toBe(Code.FailedPrecondition);
  });

  test('GetVersion: the lnd release the API follows, lnnode in the version string, the sub-servers served', async () => {
    const transport = credentialTransport({ host: '127.0.0.1', port: lnd.server.port, header: ['macaroon', lnd.macaroon], caCert: lnd.caCert });
    const v = await createClient(Versioner, transport).getVersion({});
    expect([v.appMajor, v.appMinor, v.appPatch, v.appPreRelease]).toEqual([0, 21, 3, 'beta']);
    expect(v.version).toMatch(/^0\.21\.3-beta lnnode-\d+\.\d+\.\d+/);
    expect(v.buildTags).toEqual(['routerrpc', 'invoicesrpc']);
    const noMacaroon = credentialTransport({ host: '127.0.0.1', port: lnd.server.port, header: ['macaroon', ''], caCert: lnd.caCert });
    expect(await code(createClient(Versioner, noMacaroon).getVersion({}))).toBe(Code.Unauthenticated);
  });
});
