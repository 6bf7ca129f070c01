/**
 * The Esplora client's handling of what a server sends, with `fetch`
 * replaced: merkle proofs parsed and bounded, a refused broadcast (400)
 * told apart from a failing server (5xx), and plain http refused for
 * anything but loopback.
 */
import { describe, expect, test } from 'bun:test';
import { hex } from '../../src/bolt/bytes.ts';
import { EsploraChainSource } from '../../src/chain/esplora.ts';
import { insecureUrlProblem } from '../../src/chain/secure-url.ts';
import { BroadcastError, ChainSourceError } from '../../src/chain/types.ts';
import { rawTx } from './fake-chain.ts';

function esplora(answer: (path: string, init?: RequestInit) => Response): EsploraChainSource {
  return new EsploraChainSource({ url: 'http://127.0.0.1:1', fetch: async (url, init) => answer(new URL(url).pathname, init) });
}

const TXID = 'aa'.repeat(32);

describe('Esplora client', () => {
  test('merkle proofs: parsed into internal byte order; malformed or unbounded ones are errors', async () => {
    const sibling = '0102' + '00'.repeat(30);
    const ok = esplora(() => Response.json({ block_height: 7, merkle: [sibling], pos: 1 }));
    const p = await ok.merkleProof(TXID, 'bb'.repeat(32));
    expect({ height: p!.height, pos: p!.pos, branch: p!.branch.map(hex) }).toEqual({ height: 7, pos: 1, branch: ['00'.repeat(30) + '0201'] });
    expect(await esplora(() => new Response('Transaction not found', { status: 404 })).merkleProof(TXID, 'bb'.repeat(32))).toBeNull();
    await expect(esplora(() => Response.json({ block_height: 7, merkle: Array(33).fill(sibling), pos: 1 })).merkleProof(TXID, 'b')).rejects.toThrow(/bad branch/);
    await expect(esplora(() => Response.json({ block_height: 7, merkle: ['zz'], pos: 1 })).merkleProof(TXID, 'b')).rejects.toThrow(/bad branch/);
    await expect(esplora(() => Response.json({ block_height: 7, merkle: [], pos: -1 })).merkleProof(TXID, 'b')).rejects.toThrow(/bad height or position/);
  });

  test('a broadcast refused by the node (400) is a BroadcastError; a failing server is a ChainSourceError', async () => {
    const tx = rawTx([{ txid: TXID, vout: 0 }], [{ script: Uint8Array.of(0x51), value: 1_000n }]);
    const refused = esplora(() => new Response('sendrawtransaction RPC error: {"code":-26,"message":"min relay fee not met"}', { status: 400 }));
    const e = await refused.broadcast(tx).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BroadcastError);
    expect((e as BroadcastError).reason).toContain('min relay fee not met');
    const down = esplora(() => new Response('lab esplora error: connection refused', { status: 500 }));
    const d = await down.broadcast(tx).catch((x: unknown) => x);
    expect(d).toBeInstanceOf(ChainSourceError);
    expect(d).not.toBeInstanceOf(BroadcastError);
  });

  test('plain http only to loopback: anything else must be https', () => {
    for (const ok of ['http://127.0.0.1:3002', 'http://localhost:3002/api', 'http://[::1]:80', 'https://blockstream.info/api', 'https://10.0.0.5']) expect({ ok, problem: insecureUrlProblem(ok) }).toEqual({ ok, problem: undefined });
    expect(insecureUrlProblem('http://10.0.0.5:3002')).toMatch(/plain http to 10\.0\.0\.5 is refused: use https/);
    expect(insecureUrlProblem('http://blockstream.info/api')).toMatch(/refused/);
    expect(insecureUrlProblem('ftp://127.0.0.1')).toMatch(/not an http\(s\) URL/);
    expect(() => new EsploraChainSource({ url: 'http://mempool.example:3002' })).toThrow(ChainSourceError);
  });
});
