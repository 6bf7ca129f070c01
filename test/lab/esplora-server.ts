/**
 * The Esplora HTTP API served over a bitcoind-compatible RPC node, for the
 * regtest lab (no Esplora server can be installed from the registries).
 * It answers the endpoints LDK's esplora-client and lnnode's
 * EsploraChainSource call, from a ChainIndex plus the node's mempool.
 * A test can make it lie or fail: `intercept` answers chosen requests in
 * its place (a confirmation that is not there, a bad merkle path, a fee
 * estimate nobody should pay), and `setFeeRate` sets what it quotes.
 * https://github.com/Blockstream/esplora/blob/master/API.md
 */
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { type JsonRpcClient, RpcError } from '../../src/chain/json-rpc.ts';
import { parseTx, txidOf } from '../../src/chain/txid.ts';
import { ChainIndex, type IndexedBlock, scripthashOf } from './chain-index.ts';

export interface EsploraServer {
  url: string;
  port: number;
  index: ChainIndex;
  /** What /fee-estimates quotes for every target from now on (sat/vB). */
  setFeeRate(satPerVb: number): void;
  /**
   * Answers requests in the adapter's place: the first interceptor that
   * returns a Response for a path wins (after the index has synced, so it
   * can read it); undefined lets the request through. Returns its remover.
   */
  intercept(i: Interceptor): () => void;
  stop(): void;
}

export type Interceptor = (path: string, req: Request) => Response | undefined | Promise<Response | undefined>;

/** sat/vB the lab quotes for every target when the node has no estimate. */
const DEFAULT_FEE_SAT_VB = 2;

export function startEsploraServer(rpc: JsonRpcClient, opts: { port?: number } = {}): EsploraServer {
  const index = new ChainIndex(rpc);
  let feeSatVb = DEFAULT_FEE_SAT_VB;
  const interceptors: Interceptor[] = [];

  const mempool = async (): Promise<Map<string, Uint8Array>> => {
    const ids = await rpc.call<string[]>('getrawmempool');
    const out = new Map<string, Uint8Array>();
    for (const id of ids) {
      try {
        out.set(id, fromHex(await rpc.call<string>('getrawtransaction', id, 0)));
      } catch (e) {
        if (!(e instanceof RpcError)) throw e; // left the mempool meanwhile
      }
    }
    return out;
  };

  const rawTx = async (txid: string): Promise<Uint8Array | undefined> => {
    const t = index.txs.get(txid);
    if (t) return t.raw;
    try {
      return fromHex(await rpc.call<string>('getrawtransaction', txid, 0));
    } catch (e) {
      if (e instanceof RpcError) return undefined;
      throw e;
    }
  };

  const status = (txid: string): Record<string, unknown> => {
    const t = index.txs.get(txid);
    if (!t) return { confirmed: false };
    const b = t.loc.block;
    return { confirmed: true, block_height: b.height, block_hash: b.hash, block_time: b.time };
  };

  const txJson = async (txid: string, raw: Uint8Array): Promise<Record<string, unknown>> => {
    const tx = parseTx(raw);
    let inSum = 0n;
    let outSum = 0n;
    let coinbase = false;
    const vin = [];
    for (let i = 0; i < tx.inputsLength; i++) {
      const inp = tx.getInput(i);
      const prevTxid = hex(inp.txid!);
      const isCoinbase = /^0+$/.test(prevTxid) && inp.index === 0xffffffff;
      coinbase ||= isCoinbase;
      let prevout: Record<string, unknown> | null = null;
      if (!isCoinbase) {
        const prevRaw = await rawTx(prevTxid);
        const out = prevRaw ? parseTx(prevRaw).getOutput(inp.index!) : undefined;
        if (out?.script && out.amount !== undefined) {
          prevout = { scriptpubkey: hex(out.script), value: Number(out.amount) };
          inSum += out.amount;
        }
      }
      vin.push({
        txid: prevTxid,
        vout: inp.index,
        prevout,
        scriptsig: hex(inp.finalScriptSig ?? new Uint8Array()),
        witness: (inp.finalScriptWitness ?? []).map(hex),
        is_coinbase: isCoinbase,
        sequence: inp.sequence ?? 0xffffffff,
      });
    }
    const vout = [];
    for (let i = 0; i < tx.outputsLength; i++) {
      const o = tx.getOutput(i);
      outSum += o.amount ?? 0n;
      vout.push({ scriptpubkey: hex(o.script ?? new Uint8Array()), value: Number(o.amount ?? 0n) });
    }
    return {
      txid,
      version: tx.version,
      locktime: tx.lockTime,
      vin,
      vout,
      size: raw.length,
      weight: tx.weight,
      fee: coinbase ? 0 : Number(inSum - outSum),
      status: status(txid),
    };
  };

  const blockJson = (b: IndexedBlock): Record<string, unknown> => ({
    id: b.hash,
    height: b.height,
    version: new DataView(b.header.buffer, b.header.byteOffset).getInt32(0, true),
    timestamp: b.time,
    tx_count: b.txids.length,
    size: b.raw.length,
    weight: b.raw.length * 4,
    merkle_root: hex(b.header.slice(36, 68).reverse()),
    previousblockhash: hex(b.header.slice(4, 36).reverse()),
    mediantime: b.time,
    nonce: new DataView(b.header.buffer, b.header.byteOffset).getUint32(76, true),
    bits: new DataView(b.header.buffer, b.header.byteOffset).getUint32(72, true),
    difficulty: 0,
  });

  const scriptTxs = async (sh: string): Promise<{ mempool: string[]; chain: string[] }> => {
    const chain = index.scripts.get(sh) ?? [];
    const pool = await mempool();
    const inPool: string[] = [];
    const touches = async (raw: Uint8Array): Promise<boolean> => {
      const tx = parseTx(raw);
      for (let i = 0; i < tx.outputsLength; i++) if (scripthashOf(tx.getOutput(i).script!) === sh) return true;
      for (let i = 0; i < tx.inputsLength; i++) {
        const inp = tx.getInput(i);
        const prev = await rawTx(hex(inp.txid!));
        const script = prev ? parseTx(prev).getOutput(inp.index!).script : undefined;
        if (script && scripthashOf(script) === sh) return true;
      }
      return false;
    };
    for (const [id, raw] of pool) if (await touches(raw)) inPool.push(id);
    return { mempool: inPool, chain };
  };

  const outspend = async (txid: string, vout: number): Promise<Record<string, unknown>> => {
    const key = `${txid}:${vout}`;
    const s = index.spends.get(key);
    if (s) return { spent: true, txid: s.txid, vin: s.vin, status: status(s.txid) };
    for (const [id, raw] of await mempool()) {
      const tx = parseTx(raw);
      for (let i = 0; i < tx.inputsLength; i++) {
        const inp = tx.getInput(i);
        if (`${hex(inp.txid!)}:${inp.index}` === key) return { spent: true, txid: id, vin: i, status: { confirmed: false } };
      }
    }
    return { spent: false };
  };

  const routes: [RegExp, (m: RegExpMatchArray, req: Request) => Promise<Response>][] = [
    [/^\/blocks\/tip\/height$/, async () => text(String(index.tip!.height))],
    [/^\/blocks\/tip\/hash$/, async () => text(index.tip!.hash)],
    [
      /^\/blocks(?:\/(\d+))?$/,
      async (m) => {
        const start = m[1] ? Math.min(Number(m[1]), index.tip!.height) : index.tip!.height;
        const list = [];
        for (let h = start; h >= 0 && h > start - 10; h--) list.push(blockJson(index.chain[h]!));
        return json(list);
      },
    ],
    [
      /^\/block-height\/(\d+)$/,
      async (m) => {
        const b = index.chain[Number(m[1])];
        return b ? text(b.hash) : notFound('Block not found');
      },
    ],
    [/^\/block\/([0-9a-f]{64})$/, async (m) => withBlock(m[1]!, (b) => json(blockJson(b)))],
    [/^\/block\/([0-9a-f]{64})\/header$/, async (m) => withBlock(m[1]!, (b) => text(hex(b.header)))],
    [/^\/block\/([0-9a-f]{64})\/raw$/, async (m) => withBlock(m[1]!, (b) => bytes(b.raw))],
    [/^\/block\/([0-9a-f]{64})\/txids$/, async (m) => withBlock(m[1]!, (b) => json(b.txids))],
    [
      /^\/block\/([0-9a-f]{64})\/status$/,
      async (m) => {
        const b = index.blockByHash(m[1]!);
        if (!b) return json({ in_best_chain: false });
        const next = index.chain[b.height + 1];
        return json({ in_best_chain: true, height: b.height, next_best: next?.hash ?? null });
      },
    ],
    [
      /^\/tx\/([0-9a-f]{64})$/,
      async (m) => {
        const raw = await rawTx(m[1]!);
        return raw ? json(await txJson(m[1]!, raw)) : notFound('Transaction not found');
      },
    ],
    [
      /^\/tx\/([0-9a-f]{64})\/(hex|raw)$/,
      async (m) => {
        const raw = await rawTx(m[1]!);
        if (!raw) return notFound('Transaction not found');
        return m[2] === 'hex' ? text(hex(raw)) : bytes(raw);
      },
    ],
    [
      /^\/tx\/([0-9a-f]{64})\/status$/,
      async (m) => ((await rawTx(m[1]!)) ? json(status(m[1]!)) : notFound('Transaction not found')),
    ],
    [
      /^\/tx\/([0-9a-f]{64})\/merkle-proof$/,
      async (m) => {
        const p = index.merkleProof(m[1]!);
        return p ? json(p) : notFound('Transaction not found');
      },
    ],
    [
      /^\/tx\/([0-9a-f]{64})\/merkleblock-proof$/,
      async (m) => {
        const p = index.merkleBlock(m[1]!);
        return p ? text(hex(p)) : notFound('Transaction not found');
      },
    ],
    [/^\/tx\/([0-9a-f]{64})\/outspend\/(\d+)$/, async (m) => json(await outspend(m[1]!, Number(m[2])))],
    [
      /^\/tx\/([0-9a-f]{64})\/outspends$/,
      async (m) => {
        const raw = await rawTx(m[1]!);
        if (!raw) return notFound('Transaction not found');
        const n = parseTx(raw).outputsLength;
        const list = [];
        for (let i = 0; i < n; i++) list.push(await outspend(m[1]!, i));
        return json(list);
      },
    ],
    [
      /^\/scripthash\/([0-9a-f]{64})\/txs(?:\/(chain|mempool)(?:\/([0-9a-f]{64}))?)?$/,
      async (m) => {
        const { mempool: pool, chain } = await scriptTxs(m[1]!);
        const newestFirst = [...chain].reverse();
        let ids: string[];
        if (m[2] === 'mempool') ids = pool;
        else if (m[2] === 'chain') {
          const after = m[3] ? newestFirst.indexOf(m[3]) + 1 : 0;
          ids = newestFirst.slice(after, after + 25);
        } else ids = [...pool, ...newestFirst.slice(0, 25)];
        const list = [];
        for (const id of ids) list.push(await txJson(id, (await rawTx(id))!));
        return json(list);
      },
    ],
    [
      /^\/scripthash\/([0-9a-f]{64})\/utxo$/,
      async (m) => {
        const sh = m[1]!;
        const { mempool: pool, chain } = await scriptTxs(sh);
        const spentInPool = new Set<string>();
        for (const id of pool) {
          const tx = parseTx((await rawTx(id))!);
          for (let i = 0; i < tx.inputsLength; i++) spentInPool.add(`${hex(tx.getInput(i).txid!)}:${tx.getInput(i).index}`);
        }
        const list = [];
        for (const id of [...chain, ...pool]) {
          const tx = parseTx((await rawTx(id))!);
          for (let vout = 0; vout < tx.outputsLength; vout++) {
            const o = tx.getOutput(vout);
            const key = `${id}:${vout}`;
            if (scripthashOf(o.script!) !== sh || index.spends.has(key) || spentInPool.has(key)) continue;
            list.push({ txid: id, vout, value: Number(o.amount), status: status(id) });
          }
        }
        return json(list);
      },
    ],
    [
      /^\/fee-estimates$/,
      async () => {
        const out: Record<string, number> = {};
        for (const t of [1, 2, 3, 4, 5, 6, 10, 12, 24, 144, 504, 1008]) out[String(t)] = feeSatVb;
        return json(out);
      },
    ],
    [/^\/mempool\/txids$/, async () => json([...(await mempool()).keys()])],
    [
      /^\/tx$/,
      async (_m, req) => {
        if (req.method !== 'POST') return new Response('Method not allowed', { status: 405 });
        const body = (await req.text()).trim();
        try {
          const raw = fromHex(body);
          const txid = txidOf(raw);
          await rpc.call('sendrawtransaction', body);
          return text(txid);
        } catch (e) {
          const msg = e instanceof RpcError ? e.rpcMessage : (e as Error).message;
          return new Response(`sendrawtransaction RPC error: ${JSON.stringify({ code: -26, message: msg })}`, {
            status: 400,
          });
        }
      },
    ],
  ];

  function withBlock(hash: string, f: (b: IndexedBlock) => Response): Response {
    const b = index.blockByHash(hash);
    return b ? f(b) : notFound('Block not found');
  }

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: opts.port ?? 0,
    async fetch(req) {
      const path = new URL(req.url).pathname.replace(/\/+$/, '') || '/';
      // LAB_ESPLORA_LOG=1 prints each request: how to see what a client asks for.
      if (process.env.LAB_ESPLORA_LOG) console.error(`[esplora] ${req.method} ${path}`);
      try {
        await index.sync();
        for (const i of interceptors) {
          const answer = await i(path, req);
          if (answer) return answer;
        }
        for (const [re, handler] of routes) {
          const m = path.match(re);
          if (m) return await handler(m, req);
        }
        return notFound(`unknown endpoint ${path}`);
      } catch (e) {
        return new Response(`lab esplora error: ${(e as Error).message}`, { status: 500 });
      }
    },
  });
  const port = server.port!;
  const setFeeRate = (satPerVb: number): void => void (feeSatVb = satPerVb);
  const intercept = (i: Interceptor): (() => void) => {
    interceptors.push(i);
    return () => void interceptors.splice(interceptors.indexOf(i), 1);
  };
  return { url: `http://127.0.0.1:${port}`, port, index, setFeeRate, intercept, stop: () => server.stop(true) };
}

const text = (s: string): Response => new Response(s, { headers: { 'content-type': 'text/plain' } });
const json = (v: unknown): Response => Response.json(v);
const notFound = (s: string): Response => new Response(s, { status: 404 });
const bytes = (b: Uint8Array): Response => new Response(Buffer.from(b), { headers: { 'content-type': 'application/octet-stream' } });
