/**
 * lnnode-cli against a running node: readable output by default, --json
 * with bytes as hex and enums by the same short name, amounts in sat unless
 * the option says msat, the API address from the data dir, exit 1 with the
 * gRPC code (and a hint) when the node refuses or is not there, exit 2 for
 * a bad command line.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex } from '../../src/bolt/bytes.ts';
import { main } from '../../src/cli/main.ts';
import { startNodeWithApi } from './node-with-api.ts';

const { node, api, dataDir, stop } = await startNodeWithApi();
afterAll(stop);

/**
 * The CLI's main() in this process with its output captured (as src/cli.ts
 * runs it, less the process): a spawned `bun src/cli.ts` costs half a second
 * of module loading each. The two tests at the end spawn the real command.
 */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['--data-dir', dataDir, ...args], {
    out: (t) => void (out += `${t}\n`),
    err: (t) => void (err += `${t}\n`),
    env: process.env,
    now: () => Math.floor(Date.now() / 1000),
  });
  return { code, out, err };
}

describe('lnnode-cli', () => {
  test('getinfo, addinvoice, decodeinvoice, listinvoices', async () => {
    const info = await cli('getinfo', '--json');
    expect(info.code).toBe(0);
    expect(JSON.parse(info.out)).toMatchObject({ node_pubkey: hex(node.nodeId), network: 'regtest', chain_source: 'none' });
    const dh = 'ab'.repeat(32);
    const inv = JSON.parse((await cli('addinvoice', '123456', dh, '--expiry', '600', '--json')).out);
    expect(inv.payment_hash).toMatch(/^[0-9a-f]{64}$/);
    const d = JSON.parse((await cli('decodeinvoice', inv.payment_request, '--json')).out);
    // 123456 is sat, as with lncli.
    expect(d).toMatchObject({ payee_pubkey: hex(node.nodeId), description_hash: dh, amount_msat: '123456000', expiry_seconds: '600', payment_hash: inv.payment_hash });
    const list = JSON.parse((await cli('listinvoices', '--json')).out);
    expect(list.invoices.map((i: { payment_hash: string; state: string }) => [i.payment_hash, i.state])).toEqual([[inv.payment_hash, 'OPEN']]);
    const precise = JSON.parse((await cli('addinvoice', dh, '--amt-msat', '1500', '--json')).out);
    expect(JSON.parse((await cli('decodeinvoice', precise.payment_request, '--json')).out).amount_msat).toBe('1500');
    const anyAmount = JSON.parse((await cli('addinvoice', dh, '--json')).out);
    expect(JSON.parse((await cli('decodeinvoice', anyAmount.payment_request, '--json')).out).amount_msat).toBe('0');
  });

  test('readable decodeinvoice: the amount in sat beside msat, dates, the expiry in hours', async () => {
    const inv = JSON.parse((await cli('addinvoice', '150000', 'ab'.repeat(32), '--json')).out);
    const d = await cli('decodeinvoice', inv.payment_request);
    expect(d.code).toBe(0);
    expect(d.out).toContain('amount_msat: 150000000 (150,000 sat)');
    expect(d.out).toMatch(/timestamp_unix: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((now|\d+s ago)\)/);
    expect(d.out).toContain('expiry_seconds: 3600 (1h)');
  });

  test('connect, listpeers with feature names, a sendcustom that says what it sent', async () => {
    const other = await startNodeWithApi();
    try {
      const target = `${hex(other.node.nodeId)}@127.0.0.1:${other.node.p2pPort}`;
      const c = await cli('connect', target);
      expect([c.code, c.out]).toEqual([0, `connected to ${target}\n`]);
      const peers = await cli('listpeers');
      expect(peers.out).toContain(`peer_pubkey: ${hex(other.node.nodeId)}`);
      expect(peers.out).toMatch(/features: .*option_static_remotekey \(compulsory\)/);
      const feed = other.node.peers.subscribeCustom([32769]);
      const s = await cli('sendcustom', hex(other.node.nodeId), '32769', '68656c6c6f');
      expect([s.code, s.out]).toEqual([0, `sent custom message type 32769 (5 bytes) to ${hex(other.node.nodeId)}\n`]);
      const got = await feed.next();
      expect(new TextDecoder().decode(got.value!.payload)).toBe('hello');
      feed.close();
      const sj = JSON.parse((await cli('sendcustom', hex(other.node.nodeId), '32769', '', '--json')).out);
      expect(sj).toEqual({ peer_pubkey: hex(other.node.nodeId), msg_type: 32769, data_bytes: 0, sent: true });
    } finally {
      await other.stop();
    }
  });

  test('readable output by default; the address comes from rpc.addr in the data dir', async () => {
    const info = await cli('getinfo');
    expect(info.code).toBe(0);
    expect(info.out).toContain(`node_pubkey: ${hex(node.nodeId)}`);
    expect(info.out).toContain('network: regtest');
    const inv = JSON.parse((await cli('addinvoice', '1000', 'cd'.repeat(32), '--json')).out);
    const listed = await cli('listinvoices');
    expect(listed.out).toContain(`payment_hash: ${inv.payment_hash}`);
    expect(listed.out).toContain('state: OPEN');
  });

  test('the real command: its answer on stdout with exit 0; a node that is not running gets a hint, not a stack trace', async () => {
    const ok = Bun.spawn([process.execPath, 'src/cli.ts', '--data-dir', dataDir, 'getinfo', '--json'], { stdout: 'pipe' });
    const [okCode, okOut] = [await ok.exited, await new Response(ok.stdout).text()];
    expect([okCode, JSON.parse(okOut).node_pubkey]).toEqual([0, hex(node.nodeId)]);
    const p = Bun.spawn([process.execPath, 'src/cli.ts', '--data-dir', dataDir, '--rpc', '127.0.0.1:1', 'getinfo'], { stderr: 'pipe' });
    const [code, err] = [await p.exited, await new Response(p.stderr).text()];
    expect([code, err]).toEqual([1, expect.stringContaining('UNAVAILABLE')]);
    expect(err).toContain('is the node running');
  });

  test('a refusal exits 1 with the gRPC code; a bad command line exits 2', async () => {
    const r = await cli('addinvoice', '1000', 'ab'.repeat(31));
    expect([r.code, r.err]).toEqual([2, expect.stringContaining('description_hash: expected 32 bytes (64 hex digits), got 31')]);
    const nf = await cli('sendcustom', `02${'11'.repeat(32)}`, '40000', '00');
    expect([nf.code, nf.err]).toEqual([1, expect.stringContaining('NOT_FOUND: peer')]);
    const low = await cli('sendcustom', `02${'11'.repeat(32)}`, '100', '00');
    expect([low.code, low.err]).toEqual([1, expect.stringContaining('INVALID_ARGUMENT: msg_type 100 is outside the custom range')]);
    expect((await cli('frobnicate')).code).toBe(2);
    const dropped = await cli('payinvoice', 'lnbcrt1x', '--amount-msat', '5');
    expect([dropped.code, dropped.err]).toEqual([2, expect.stringContaining('unknown option --amount-msat for payinvoice')]);
    const other = mkdtempSync(join(tmpdir(), 'lnnode-cli-other-'));
    writeFileSync(join(other, 'rpc.token'), `${'00'.repeat(32)}\n`);
    const wrong = Bun.spawn([process.execPath, 'src/cli.ts', '--data-dir', other, '--rpc', `127.0.0.1:${api.port}`, 'getinfo'], { stderr: 'pipe' });
    const wrongErr = [await wrong.exited, await new Response(wrong.stderr).text()] as const;
    expect(wrongErr).toEqual([1, expect.stringContaining('UNAUTHENTICATED')]);
    expect(wrongErr[1]).toContain('is not the token of the node');
    rmSync(other, { recursive: true, force: true });
  });
});
