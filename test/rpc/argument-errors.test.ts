/**
 * Every row of the argument table (argument-table.ts) through a real API
 * server: InvalidArgument whose message names the row's field, never
 * Internal, and nothing stored (no invoice, payment or wallet transaction).
 * The node here has no chain source: arguments are checked before anything
 * the node has or lacks, so a node with one answers the same (the lab test
 * test/regtest/limits-api/argument-errors.lab.test.ts runs the table there).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { MAX_MONEY_MSAT } from '../../src/bolt/units.ts';
import { MAX_WAIT_SECONDS } from '../../src/rpc/args.ts';
import { ARGUMENT_ROWS, type Clients } from './argument-table.ts';
import { type NodeWithApi, startNodeWithApi } from './node-with-api.ts';

let a: NodeWithApi;
let clients: Clients;

beforeAll(async () => {
  a = await startNodeWithApi();
  const lnd = await a.lndApi();
  clients = { lnnode: a.client, lightning: lnd.lightning(), router: lnd.router() };
});
afterAll(() => a?.stop());

async function outcome(p: Promise<unknown>): Promise<[string, string]> {
  try {
    await p;
    return ['OK', ''];
  } catch (e) {
    const c = ConnectError.from(e);
    return [Code[c.code], c.rawMessage];
  }
}

describe('argument errors', () => {
  test.each(ARGUMENT_ROWS.map((r) => [`${r.api} ${r.call} ${r.field}: ${r.what}`, r] as const))('%s', async (_name, row) => {
    const [code, msg] = await outcome(row.invoke(clients));
    expect([code, msg]).toEqual(['InvalidArgument', expect.stringContaining(row.field)]);
  });

  test('nothing was stored by any refused call', () => {
    expect([a.node.invoices.list().length, a.node.payments.list().length]).toEqual([0, 0]);
  });

  test('the bounds themselves pass: a 639-byte memo, 21 million bitcoin, the longest wait', async () => {
    const memo = 'é'.repeat(319) + 'x'; // 639 bytes of UTF-8
    const inv = await clients.lightning.addInvoice({ memo, valueMsat: MAX_MONEY_MSAT });
    const d = await clients.lightning.decodePayReq({ payReq: inv.paymentRequest });
    expect([d.description, d.numMsat]).toEqual([memo, MAX_MONEY_MSAT]);
    const own = await clients.lnnode.createInvoice({ descriptionHash: new Uint8Array(32).fill(1), amountMsat: MAX_MONEY_MSAT });
    expect((await clients.lnnode.decodeInvoice({ paymentRequest: own.paymentRequest })).amountMsat).toBe(MAX_MONEY_MSAT);
    // Past the argument check: an unknown hash is NotFound.
    expect((await outcome(clients.lnnode.waitInvoiceSettled({ paymentHash: new Uint8Array(32), timeoutSeconds: MAX_WAIT_SECONDS })))[0]).toBe('NotFound');
  });
});
