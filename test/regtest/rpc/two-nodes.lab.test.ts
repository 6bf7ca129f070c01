// lab-peers: btcd go-client
/**
 * Two lnnode daemons driven only through lnnode.v1, once with the generated
 * TypeScript client and once with a Go gRPC client (test/go-client, compiled
 * from the same .proto): connect, custom messages both ways through the
 * streams, open a channel, an invoice with a description_hash, decode it, pay
 * it, WaitInvoiceSettled says SETTLED, the payer's preimage hashes to the
 * payment hash, close. Then bad calls through the Go client get the right
 * codes and change nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { hex } from '../../../src/bolt/bytes.ts';
import { tokenPath } from '../../../src/rpc/credentials.ts';
import { PayInvoiceResponse_Status, Payment_Status, WaitInvoiceSettledResponse_State } from '../../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';
import { ChannelLab } from '../../lab/channel-lab.ts';
import { GoClient, GoRpcError, type In, type MethodName, type Out } from '../../lab/go-client.ts';
import { startLnnode, type LnnodeProcess } from '../../lab/lnnode.ts';
import { waitFor } from '../../lab/processes.ts';

const FUNDING_SAT = 600_000n;
const INVOICE_MSAT = 45_678_901n;

/** One way of calling lnnode.v1: unary calls, and a stream read to `count` messages. */
interface Driver {
  call<K extends MethodName>(method: K, req: In<K>): Promise<Out<K>>;
  stream<K extends MethodName>(method: K, req: In<K>, count: number): Promise<Out<K>[]>;
}

function tsDriver(n: LnnodeProcess): Driver {
  const client = n.client() as unknown as Record<string, (req: unknown, opts?: unknown) => unknown>;
  return {
    call: (method, req) => client[method]!(req) as never,
    stream: async (method, req, count) => {
      const out: never[] = [];
      const abort = new AbortController();
      try {
        for await (const m of client[method]!(req, { signal: abort.signal }) as AsyncIterable<never>) {
          out.push(m);
          if (out.length === count) abort.abort();
        }
      } catch (e) {
        if (out.length < count) throw e;
      }
      return out;
    },
  };
}

function goDriver(n: LnnodeProcess): Driver {
  const go = new GoClient(n.rpcPort, tokenPath(n.dataDir));
  return { call: (m, req) => go.call(m, req), stream: (m, req, count) => go.stream(m, req, count, n.dataDir) };
}

let lab: ChannelLab;
const daemons: LnnodeProcess[] = [];

beforeAll(async () => {
  lab = await ChannelLab.start('two-nodes');
}, 60_000);

afterAll(async () => {
  for (const d of daemons) await d.stop();
  await lab?.stop();
});

async function daemon(): Promise<LnnodeProcess> {
  const d = await startLnnode({ args: ['--esplora-url', lab.esplora.url, '--chain-poll-ms', '200'] });
  daemons.push(d);
  return d;
}

/** Sends `type` from `from` to `to` until `to`'s stream (already started) has it. */
async function customUntilReceived(from: Driver, to: Uint8Array, type: number, received: Promise<unknown>): Promise<void> {
  let done = false;
  void received.then(() => (done = true));
  for (let i = 0; !done; i++) {
    await from.call('sendCustomMessage', { peerPubkey: to, msgType: type, data: Uint8Array.of(0x4c, 0x43, 0x50, i & 0xff) });
    await Promise.race([received, Bun.sleep(250)]);
    if (i > 200) throw new Error('custom message never arrived');
  }
}

describe.each([
  ['generated TypeScript client', tsDriver],
  ['Go gRPC client', goDriver],
] as const)('two lnnodes through lnnode.v1 with the %s', (_name, driverOf) => {
  test('connect, custom messages both ways, open, invoice with description_hash, decode, pay, settled, close', async () => {
    const [na, nb] = [await daemon(), await daemon()];
    const [a, b] = [driverOf(na), driverOf(nb)];
    const aKey = (await a.call('getNodeInfo', {})).nodePubkey;
    const bKey = (await b.call('getNodeInfo', {})).nodePubkey;
    expect([hex(aKey), hex(bKey)]).toEqual([na.nodeId, nb.nodeId]);

    const { address } = await a.call('newAddress', {});
    await lab.faucet.send(address, 1_000_000n);
    await lab.btcd.generate(1);
    await waitFor('A funded', async () => (await a.call('walletBalance', {})).confirmedSat === 1_000_000n);

    await a.call('connectPeer', { peerPubkey: bKey, addr: `127.0.0.1:${nb.p2pPort}` });
    await waitFor('B sees A', async () => (await b.call('listPeers', {})).peers.some((p) => hex(p.peerPubkey) === hex(aKey)));

    // Custom messages through the streams, both ways.
    const atB = b.stream('subscribeCustomMessages', { msgTypes: [32_801] }, 1);
    await customUntilReceived(a, bKey, 32_801, atB);
    const [m1] = await atB;
    expect([hex(m1!.peerPubkey), m1!.msgType, hex(m1!.data).slice(0, 6)]).toEqual([hex(aKey), 32_801, '4c4350']);
    const atA = a.stream('subscribeCustomMessages', { msgTypes: [32_803] }, 1);
    await customUntilReceived(b, aKey, 32_803, atA);
    expect(hex((await atA)[0]!.peerPubkey)).toBe(hex(bKey));

    const opened = await a.call('openChannel', { peerPubkey: bKey, localFundingAmountSat: FUNDING_SAT });
    expect((await lab.btcd.rpc.call<string[]>('getrawmempool')).includes(opened.fundingTxidHex)).toBe(true);
    await lab.btcd.generate(3);
    for (const d of [a, b]) await waitFor('channel usable', async () => (await d.call('listChannels', {})).channels.some((c) => c.usable));
    await waitFor('A at the tip', async () => (await a.call('getNodeInfo', {})).blockHeight >= (await lab.btcd.height()));

    const descriptionHash = sha256(new TextEncoder().encode(`terms of job ${_name}`));
    const inv = await b.call('createInvoice', { amountMsat: INVOICE_MSAT, descriptionHash, expirySeconds: 600n });
    const decoded = await a.call('decodeInvoice', { paymentRequest: inv.paymentRequest });
    expect([hex(decoded.descriptionHash), hex(decoded.payeePubkey), decoded.amountMsat, hex(decoded.paymentHash)]).toEqual([
      hex(descriptionHash),
      hex(bKey),
      INVOICE_MSAT,
      hex(inv.paymentHash),
    ]);
    const settled = b.call('waitInvoiceSettled', { paymentHash: inv.paymentHash, timeoutSeconds: 60 });
    const paid = await a.call('payInvoice', { paymentRequest: inv.paymentRequest, timeoutSeconds: 60 });
    expect(paid.status).toBe(PayInvoiceResponse_Status.SUCCEEDED);
    expect(hex(sha256(paid.paymentPreimage))).toBe(hex(inv.paymentHash));
    const s = await settled;
    expect([s.state, s.amountReceivedMsat, hex(s.paymentPreimage)]).toEqual([WaitInvoiceSettledResponse_State.SETTLED, INVOICE_MSAT, hex(paid.paymentPreimage)]);

    const closed = await a.call('closeChannel', { channelId: opened.channelId });
    expect((await lab.btcd.rpc.call<string[]>('getrawmempool')).includes(closed.closingTxidHex)).toBe(true);
    const outputs = await lab.outputs(closed.closingTxidHex);
    expect(outputs).toContain(INVOICE_MSAT / 1000n); // B's balance, rounded down
    await lab.mineUntil('channel closed on both', async () => {
      for (const d of [a, b]) if ((await d.call('listChannels', {})).channels.length) return false;
      return true;
    });
  }, 240_000);
});

describe('bad calls through the Go client get the right codes and change nothing', () => {
  test('missing credential, wrong lengths, unknown peer, amount zero, a second pay of a paid invoice', async () => {
    const [na, nb] = [daemons[2]!, daemons[3]!];
    const a = new GoClient(na.rpcPort, tokenPath(na.dataDir));
    const code = (p: Promise<unknown>): Promise<string> => p.then(() => 'OK', (e: unknown) => (e instanceof GoRpcError ? e.code : String(e)));
    const balance = await a.call('walletBalance', {});
    const payments = (await a.call('listPayments', {})).payments.length;

    expect(await code(new GoClient(na.rpcPort, undefined).call('getNodeInfo', {}))).toBe('Unauthenticated');
    expect(await code(new GoClient(na.rpcPort, join(nb.dataDir, 'rpc.token')).call('getNodeInfo', {}))).toBe('Unauthenticated');
    expect(await code(a.call('createInvoice', { descriptionHash: new Uint8Array(31) }))).toBe('InvalidArgument');
    expect(await code(a.call('sendCustomMessage', { peerPubkey: new Uint8Array(33).fill(2), msgType: 100 }))).toBe('InvalidArgument');
    expect(await code(a.call('disconnectPeer', { peerPubkey: Uint8Array.of(2, ...new Uint8Array(32).fill(7)) }))).toBe('NotFound');
    expect(await code(a.call('sendToAddress', { address: (await a.call('newAddress', {})).address, amountSat: 0n }))).toBe('InvalidArgument');
    expect(await code(a.call('openChannel', { peerPubkey: Uint8Array.of(2, ...new Uint8Array(32).fill(7)), localFundingAmountSat: 0n }))).toBe('InvalidArgument');
    // The paid invoice of the Go round: paying it again is refused and pays nothing.
    const paid = (await a.call('listPayments', {})).payments.find((p) => p.status === Payment_Status.SUCCEEDED);
    expect(paid).toBeDefined();
    expect(await code(a.call('payInvoice', { paymentRequest: paid!.paymentRequest }))).toBe('AlreadyExists');

    const after = await a.call('walletBalance', {});
    expect([after.confirmedSat + after.unconfirmedSat, (await a.call('listPayments', {})).payments.length]).toEqual([balance.confirmedSat + balance.unconfirmedSat, payments]);
  }, 60_000);
});
