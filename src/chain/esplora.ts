/**
 * ChainSource over the Esplora HTTP API (blockstream/esplora, mempool.space,
 * or the regtest lab's adapter). `fetch` is a parameter so tests and proxies
 * can supply their own. Every JSON field is checked before use and every raw
 * transaction is re-hashed against the txid asked for: a lying or broken
 * server yields ChainSourceError, never a wrong answer.
 * https://github.com/Blockstream/esplora/blob/master/API.md
 */
import { fromHex, hex } from '../bolt/bytes.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { type Sat, sat, type FeeratePerKw } from '../bolt/units.ts';
import {
  BroadcastError,
  type BlockRef,
  type ChainSource,
  ChainSourceError,
  type FeeEstimates,
  type MerkleProof,
  type Outspend,
  type ScriptTx,
  type TxStatus,
  type Utxo,
  confirmationsAt,
} from './types.ts';
import { FEERATE_FLOOR } from '../bolt/units.ts';
import { FEE_TARGETS, satPerVbToPerKw } from './feerate.ts';
import { fromTxid, MAX_BRANCH_LENGTH } from './merkle.ts';
import { insecureUrlProblem } from './secure-url.ts';
import { isTxid, txidOf } from './txid.ts';

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface EsploraOptions {
  /** Base URL, e.g. `https://blockstream.info/api` or `http://127.0.0.1:3002`. */
  url: string;
  fetch?: Fetch;
  /** Per-request timeout. Default 15 s. */
  timeoutMs?: number;
}

/** Esplora answers 400 when bitcoind refuses a transaction; other failures say nothing about the transaction. */
const REFUSED_STATUS = 400;

/** Esplora pages script history 25 confirmed transactions at a time. */
const HISTORY_PAGE = 25;
/** Bound on history pages we follow, so a hostile server cannot keep us looping. */
const MAX_HISTORY_PAGES = 400;

export class EsploraChainSource implements ChainSource {
  readonly kind = 'esplora';
  private readonly base: string;
  private readonly fetchFn: Fetch;
  private readonly timeoutMs: number;

  constructor(opts: EsploraOptions) {
    const insecure = insecureUrlProblem(opts.url);
    if (insecure) throw new ChainSourceError('esplora', insecure);
    this.base = opts.url.replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? ((i, init) => fetch(i, init));
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  private fail(detail: string): never {
    throw new ChainSourceError(`esplora ${this.base}`, detail);
  }

  private async request(path: string, init?: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchFn(`${this.base}${path}`, {
        ...init,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      this.fail(`${path}: ${(e as Error).message}`);
    }
    return res;
  }

  private async text(path: string): Promise<string> {
    const res = await this.request(path);
    const body = await res.text();
    if (!res.ok) this.fail(`${path}: HTTP ${res.status} ${body.slice(0, 200)}`);
    return body.trim();
  }

  /** A GET that may legitimately 404 (unknown tx): null then. */
  private async textOrNull(path: string): Promise<string | null> {
    const res = await this.request(path);
    const body = await res.text();
    if (res.status === 404 || res.status === 400) return null;
    if (!res.ok) this.fail(`${path}: HTTP ${res.status} ${body.slice(0, 200)}`);
    return body.trim();
  }

  private async json(path: string): Promise<unknown> {
    const body = await this.text(path);
    try {
      return JSON.parse(body);
    } catch {
      this.fail(`${path}: not JSON`);
    }
  }

  private async tipHeight(): Promise<number> {
    const s = await this.text('/blocks/tip/height');
    const h = Number(s);
    if (!Number.isSafeInteger(h) || h < 0) this.fail(`bad tip height ${s.slice(0, 40)}`);
    return h;
  }

  async tip(): Promise<BlockRef> {
    // Two calls race a new block; re-read until height and hash agree.
    for (let i = 0; i < 5; i++) {
      const height = await this.tipHeight();
      const hash = await this.text('/blocks/tip/hash');
      if (!isTxid(hash)) this.fail('bad tip hash');
      if ((await this.blockHash(height)) === hash) return { height, hash };
    }
    this.fail('tip kept moving while being read');
  }

  async blockHash(height: number): Promise<string> {
    const hash = await this.text(`/block-height/${height}`);
    if (!isTxid(hash)) this.fail(`bad block hash at ${height}`);
    return hash;
  }

  async blockHeader(hash: string): Promise<Uint8Array> {
    const h = fromHex(await this.text(`/block/${hash}/header`), 'header');
    if (h.length !== 80) this.fail(`header of ${hash} is ${h.length} bytes`);
    if (hex(sha256(sha256(h)).reverse()) !== hash) this.fail(`header does not hash to ${hash}`);
    return h;
  }

  async blockTxids(hash: string): Promise<string[]> {
    const ids = await this.json(`/block/${hash}/txids`);
    if (!Array.isArray(ids) || !ids.every(isTxid)) this.fail(`bad txids for block ${hash}`);
    return ids as string[];
  }

  async transaction(txid: string): Promise<Uint8Array | null> {
    const body = await this.textOrNull(`/tx/${txid}/hex`);
    if (body === null) return null;
    const raw = fromHex(body, 'tx');
    let id: string;
    try {
      id = txidOf(raw);
    } catch {
      this.fail(`tx ${txid}: unparseable`);
    }
    if (id !== txid) this.fail(`tx ${txid}: server returned ${id}`);
    return raw;
  }

  private async status(raw: unknown, tip?: number): Promise<TxStatus> {
    const s = raw as { confirmed?: unknown; block_height?: unknown; block_hash?: unknown };
    if (typeof s !== 'object' || s === null || typeof s.confirmed !== 'boolean') this.fail('bad status');
    if (!s.confirmed) return { confirmed: false, confirmations: 0 };
    if (!Number.isSafeInteger(s.block_height) || !isTxid(s.block_hash)) this.fail('bad confirmed status');
    const height = s.block_height as number;
    const t = tip ?? (await this.tipHeight());
    return { confirmed: true, block: { height, hash: s.block_hash }, confirmations: confirmationsAt(height, t) };
  }

  async txStatus(txid: string): Promise<TxStatus | null> {
    const body = await this.textOrNull(`/tx/${txid}/status`);
    if (body === null) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      this.fail(`tx ${txid} status: not JSON`);
    }
    return this.status(parsed);
  }

  async outspend(txid: string, vout: number): Promise<Outspend> {
    const o = (await this.json(`/tx/${txid}/outspend/${vout}`)) as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.spent !== 'boolean') this.fail('bad outspend');
    if (!o.spent) return { spent: false };
    if (!isTxid(o.txid) || !Number.isSafeInteger(o.vin)) this.fail('bad outspend spender');
    return { spent: true, txid: o.txid, vin: o.vin as number, status: await this.status(o.status) };
  }

  async merkleProof(txid: string, blockHash: string): Promise<MerkleProof | null> {
    const body = await this.textOrNull(`/tx/${txid}/merkle-proof`);
    if (body === null) return null;
    let p: { block_height?: unknown; merkle?: unknown; pos?: unknown };
    try {
      p = JSON.parse(body);
    } catch {
      this.fail(`merkle proof of ${txid}: not JSON`);
    }
    const { block_height: height, merkle, pos } = p;
    if (!Number.isSafeInteger(height) || !Number.isSafeInteger(pos) || (pos as number) < 0) this.fail(`merkle proof of ${txid} (block ${blockHash}): bad height or position`);
    if (!Array.isArray(merkle) || merkle.length > MAX_BRANCH_LENGTH || !merkle.every(isTxid)) this.fail(`merkle proof of ${txid}: bad branch`);
    return { height: height as number, pos: pos as number, branch: (merkle as string[]).map(fromTxid) };
  }

  /** SHA256 of the script in natural byte order: Esplora's form (Electrum's protocol reverses it). */
  private scripthash(script: Uint8Array): string {
    return hex(sha256(script));
  }

  async scriptHistory(script: Uint8Array): Promise<ScriptTx[]> {
    const sh = this.scripthash(script);
    const tip = await this.tipHeight();
    // First page: mempool txs then up to 25 confirmed, newest first.
    let page = (await this.json(`/scripthash/${sh}/txs`)) as unknown[];
    const all: ScriptTx[] = [];
    for (let n = 0; n < MAX_HISTORY_PAGES; n++) {
      if (!Array.isArray(page)) this.fail('bad script history');
      let lastConfirmed: string | undefined;
      let confirmedOnPage = 0;
      for (const t of page) {
        const tx = t as { txid?: unknown; status?: unknown };
        if (!isTxid(tx.txid)) this.fail('bad txid in script history');
        const status = await this.status(tx.status, tip);
        if (status.confirmed) {
          confirmedOnPage++;
          lastConfirmed = tx.txid;
        }
        if (!all.some((a) => a.txid === tx.txid)) all.push({ txid: tx.txid, status });
      }
      if (confirmedOnPage < HISTORY_PAGE || !lastConfirmed) break;
      page = (await this.json(`/scripthash/${sh}/txs/chain/${lastConfirmed}`)) as unknown[];
    }
    // Oldest first: confirmed by height ascending, then the mempool.
    const key = (s: ScriptTx): number => (s.status.block ? s.status.block.height : Number.MAX_SAFE_INTEGER);
    return all.reverse().sort((a, b) => key(a) - key(b));
  }

  async scriptUtxos(script: Uint8Array): Promise<Utxo[]> {
    const tip = await this.tipHeight();
    const list = await this.json(`/scripthash/${this.scripthash(script)}/utxo`);
    if (!Array.isArray(list)) this.fail('bad utxo list');
    const out: Utxo[] = [];
    for (const u of list as Record<string, unknown>[]) {
      if (!isTxid(u.txid) || !Number.isSafeInteger(u.vout) || !Number.isSafeInteger(u.value) || (u.value as number) < 0) {
        this.fail('bad utxo');
      }
      out.push({ txid: u.txid, vout: u.vout as number, value: sat(u.value as number) as Sat, status: await this.status(u.status, tip) });
    }
    return out;
  }

  async broadcast(tx: Uint8Array): Promise<string> {
    const txid = txidOf(tx);
    const res = await this.request('/tx', { method: 'POST', body: hex(tx) });
    const body = (await res.text()).trim();
    if (res.status === REFUSED_STATUS) throw new BroadcastError(txid, body.slice(0, 300) || `HTTP ${res.status}`);
    if (!res.ok) this.fail(`broadcast of ${txid}: HTTP ${res.status} ${body.slice(0, 200)}`);
    if (body !== txid) this.fail(`broadcast answered ${body.slice(0, 80)} for ${txid}`);
    return txid;
  }

  async feeEstimates(): Promise<FeeEstimates> {
    const raw = (await this.json('/fee-estimates')) as Record<string, unknown>;
    if (typeof raw !== 'object' || raw === null) this.fail('bad fee estimates');
    const known = new Map<number, FeeratePerKw>();
    for (const [k, v] of Object.entries(raw)) {
      const target = Number(k);
      if (Number.isSafeInteger(target) && typeof v === 'number') known.set(target, satPerVbToPerKw(v));
    }
    return fillTargets(known);
  }
}

/**
 * Every target in FEE_TARGETS gets a rate: the estimate for the nearest
 * shorter-or-equal target known, else the nearest longer one, else the floor
 * (regtest servers often know nothing).
 */
export function fillTargets(known: ReadonlyMap<number, FeeratePerKw>): FeeEstimates {
  const sorted = [...known.entries()].sort((a, b) => a[0] - b[0]);
  const out = new Map<number, FeeratePerKw>();
  for (const t of FEE_TARGETS) {
    const atOrBelow = sorted.filter(([k]) => k <= t).pop();
    const above = sorted.find(([k]) => k > t);
    out.set(t, (atOrBelow ?? above)?.[1] ?? FEERATE_FLOOR);
  }
  return out;
}
