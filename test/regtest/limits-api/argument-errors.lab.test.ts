// lab-peers: btcd
/**
 * The argument table (test/rpc/argument-table.ts) against a node that has
 * everything the unit test's node lacks: a btcd chain source, a funded
 * wallet, a connected peer. Every row is still InvalidArgument naming its
 * field (never Internal or FailedPrecondition), and no call moved a sat:
 * the wallet balance and its transactions are as before.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { type LightningNode } from '../../../src/node/node.ts';
import { credentialTransport } from '../../../src/rpc/client.ts';
import { Lightning } from '../../../src/rpc/gen/lnrpc/lightning_pb.ts';
import { Router } from '../../../src/rpc/gen/routerrpc/router_pb.ts';
import { adminMacaroonPath } from '../../../src/rpc/lnd/admin-macaroon.ts';
import { startLndApi } from '../../../src/rpc/lnd/api.ts';
import { type RpcServer } from '../../../src/rpc/server.ts';
import { createLogger } from '../../../src/node/log.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { ARGUMENT_ROWS, type Clients } from '../../rpc/argument-table.ts';
import { API_LISTEN, apiOf } from '../wallet/node-api.ts';

let lab: ChannelLab;
let a: LightningNode;
let b: LightningNode;
let api: Awaited<ReturnType<typeof apiOf>>;
let lnd: RpcServer;
let clients: Clients;

beforeAll(async () => {
  lab = await ChannelLab.start('argerrors');
  a = lab.startNode('a', API_LISTEN);
  b = lab.startNode('b');
  api = await apiOf(a);
  lnd = (await startLndApi(a, { ...a.config, lndRpcListen: { host: '127.0.0.1', port: 0 } }, createLogger({ level: 'error' })))!;
  const macaroon = readFileSync(adminMacaroonPath(a.config.dataDir, 'regtest')).toString('hex');
  const transport = credentialTransport({ host: '127.0.0.1', port: lnd.port, header: ['macaroon', macaroon], caCert: readFileSync(join(a.config.dataDir, 'tls.cert')) });
  clients = { lnnode: api.client, lightning: createClient(Lightning, transport), router: createClient(Router, transport) };
  await lab.fund(a, 1_000_000n);
  await a.connect(b.nodeId, '127.0.0.1', b.p2pPort!);
}, 120_000);

afterAll(async () => {
  await lnd?.stop();
  await api?.stop();
  await lab?.stop();
});

describe('argument errors on a node with a chain, funds and a peer', () => {
  test('every row is InvalidArgument naming its field; the wallet is untouched', async () => {
    const before = a.wallet!.balance();
    const txs = a.wallet!.transactions().length;
    const wrong: string[] = [];
    for (const row of ARGUMENT_ROWS) {
      let got: string;
      try {
        await row.invoke(clients);
        got = 'OK';
      } catch (e) {
        const c = ConnectError.from(e);
        got = c.code === Code.InvalidArgument && c.rawMessage.includes(row.field) ? 'ok' : `${Code[c.code]}: ${c.rawMessage}`;
      }
      if (got !== 'ok') wrong.push(`${row.api} ${row.call} ${row.field} (${row.what}): ${got}`);
    }
    expect(wrong).toEqual([]);
    expect(a.wallet!.balance()).toEqual(before);
    expect(a.wallet!.transactions().length).toBe(txs);
    expect([a.invoices.list().length, a.payments.list().length, a.channels!.list().length]).toEqual([0, 0, 0]);
  }, 60_000);
});
