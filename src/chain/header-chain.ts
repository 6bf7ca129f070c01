/**
 * The chain of block headers we have checked ourselves, following a chain
 * source's tip: each new header must build on the one before, meet its
 * target and carry the target the network requires there (pow.ts); a
 * branch replacing ours must have at least as much work as what it
 * replaces. The first header (the anchor, taken from the source's tip on
 * the first start) is trusted on that first use, limited by the network's
 * floor of difficulty; headers below it are trusted only through the hash
 * links that lead down from it. Stored, so a restart continues from what
 * was already verified instead of trusting the source again.
 */
import { type BlockRef, type ChainSource, ChainSourceError } from './types.ts';
import { checkHeader, checkWork, compactOf, type Header, parseHeader, type PowParams, PowError, workOf } from './pow.ts';

export interface StoredHeader {
  height: number;
  hash: string;
  raw: Uint8Array;
}

/** Where verified headers are kept (SQLite in the node, memory in tests). */
export interface HeaderStore {
  top(): StoredHeader | undefined;
  bottom(): StoredHeader | undefined;
  at(height: number): StoredHeader | undefined;
  heightOf(hash: string): number | undefined;
  /** Atomically removes every header above `above` (if given) and stores `headers`. */
  put(headers: readonly StoredHeader[], above?: number): void;
}

export class MemoryHeaderStore implements HeaderStore {
  private readonly byHeight = new Map<number, StoredHeader>();
  private readonly byHash = new Map<string, number>();
  top(): StoredHeader | undefined {
    return this.byHeight.size ? this.byHeight.get(Math.max(...this.byHeight.keys())) : undefined;
  }
  bottom(): StoredHeader | undefined {
    return this.byHeight.size ? this.byHeight.get(Math.min(...this.byHeight.keys())) : undefined;
  }
  at(height: number): StoredHeader | undefined {
    return this.byHeight.get(height);
  }
  heightOf(hash: string): number | undefined {
    return this.byHash.get(hash);
  }
  put(headers: readonly StoredHeader[], above?: number): void {
    if (above !== undefined) {
      for (const [h, s] of this.byHeight) {
        if (h > above) {
          this.byHeight.delete(h);
          this.byHash.delete(s.hash);
        }
      }
    }
    for (const s of headers) {
      const old = this.byHeight.get(s.height);
      if (old) this.byHash.delete(old.hash);
      this.byHeight.set(s.height, s);
      this.byHash.set(s.hash, s.height);
    }
  }
}

export interface HeaderChainOptions {
  /** Seconds since the epoch (headers may not be dated more than two hours ahead). */
  now?: () => number;
  /** Deepest reorg accepted, in blocks (the tip tracker's depth). */
  maxReorg?: number;
  /** How far below the anchor a confirmation may be proven by walking hash links down. */
  maxBackfill?: number;
}

/** Blocks below the first start's tip where the verified chain begins. */
const ANCHOR_DEPTH = 6;
/** Parsed headers kept in memory for the retarget and median-time rules. */
const PARSED_CACHE = 4_096;

export class HeaderChain {
  private readonly now: () => number;
  private readonly maxReorg: number;
  private readonly maxBackfill: number;
  private readonly parsed = new Map<number, Header>();
  private syncing: Promise<BlockRef> | undefined;

  constructor(
    private readonly source: ChainSource,
    private readonly params: PowParams,
    private readonly store: HeaderStore,
    o: HeaderChainOptions = {},
  ) {
    this.now = o.now ?? (() => Math.floor(Date.now() / 1000));
    this.maxReorg = o.maxReorg ?? 144;
    this.maxBackfill = o.maxBackfill ?? 20_000;
  }

  private fail(detail: string): never {
    throw new ChainSourceError(this.source.kind, `refused: ${detail}`);
  }

  /** The highest verified header, once synced. */
  get tip(): BlockRef | undefined {
    const t = this.store.top();
    return t && { height: t.height, hash: t.hash };
  }

  /** A verified header we already hold (no backfill). */
  knownHeader(height: number): Header | undefined {
    const cached = this.parsed.get(height);
    if (cached) return cached;
    const s = this.store.at(height);
    if (!s) return undefined;
    const h = parseHeader(s.raw);
    if (this.parsed.size >= PARSED_CACHE) this.parsed.delete(this.parsed.keys().next().value!);
    this.parsed.set(height, h);
    return h;
  }

  /** Whether a height is too far below the first verified header to be reached by walking links down. */
  beyondBackfill(height: number): boolean {
    const bottom = this.store.bottom();
    return !!bottom && bottom.height - height > this.maxBackfill;
  }

  /** The verified header at a height, walking hash links down from the lowest one we hold if needed. */
  async headerAt(height: number): Promise<Header | undefined> {
    const top = this.store.top();
    if (!top || height > top.height || height < 0) return undefined;
    const have = this.knownHeader(height);
    if (have) return have;
    const bottom = this.store.bottom()!;
    if (bottom.height - height > this.maxBackfill) this.fail(`height ${height} is more than ${this.maxBackfill} blocks below the first verified header (${bottom.height})`);
    let below = parseHeader(bottom.raw);
    const found: StoredHeader[] = [];
    for (let h = bottom.height - 1; h >= height; h--) {
      const raw = await this.source.blockHeader(below.prevHash);
      const parsed = parseHeader(raw);
      if (parsed.hash !== below.prevHash) this.fail(`header for ${below.prevHash} hashes to ${parsed.hash}`);
      found.push({ height: h, hash: parsed.hash, raw });
      below = parsed;
    }
    this.store.put(found);
    return this.knownHeader(height);
  }

  async hashAt(height: number): Promise<string | undefined> {
    return (await this.headerAt(height))?.hash;
  }

  /** The height of a header on our chain, if it is there. */
  heightOf(hash: string): number | undefined {
    return this.store.heightOf(hash);
  }

  /** Brings the verified chain to the source's `tip`, or throws ChainSourceError saying which rule a header broke. */
  sync(tip: BlockRef): Promise<BlockRef> {
    this.syncing ??= this.doSync(tip).finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async doSync(tip: BlockRef): Promise<BlockRef> {
    const top = this.store.top();
    if (!top) return this.anchor(tip);
    if (top.hash === tip.hash) return tip;
    // Walk the new chain down by its own links to a header we hold: no race with a moving tip.
    const branch: { raw: Uint8Array; h: Header }[] = [];
    let cursor = tip.hash;
    let forkHeight: number | undefined;
    const limit = Math.max(0, tip.height - top.height) + this.maxReorg;
    while ((forkHeight = this.store.heightOf(cursor)) === undefined) {
      if (branch.length >= limit) this.fail(`the source's chain does not meet ours within ${this.maxReorg} blocks of reorganisation`);
      const height = tip.height - branch.length;
      if (height < 0) this.fail(`the source's chain for tip ${tip.hash} runs below genesis`);
      // Below the first header we hold: bring ours down by its hash links, then compare again.
      if (height <= this.store.bottom()!.height) {
        const ours = await this.headerAt(height).catch(() => undefined);
        if (!ours) this.fail(`the source's chain leaves ours below the first header we verified (height ${this.store.bottom()!.height})`);
        if ((forkHeight = this.store.heightOf(cursor)) !== undefined) break;
      }
      const raw = await this.source.blockHeader(cursor);
      const h = parseHeader(raw);
      if (h.hash !== cursor) this.fail(`header for ${cursor} hashes to ${h.hash}`);
      branch.push({ raw, h });
      cursor = h.prevHash;
    }
    branch.reverse();
    if (forkHeight + branch.length !== tip.height) this.fail(`tip ${tip.hash} claimed at height ${tip.height} is at ${forkHeight + branch.length}`);
    const newBranch = new Map<number, Header>();
    const at = (height: number): Header | undefined => newBranch.get(height) ?? (height <= forkHeight! ? this.knownHeader(height) : undefined);
    let newWork = 0n;
    for (let i = 0; i < branch.length; i++) {
      const height = forkHeight + 1 + i;
      const { h } = branch[i]!;
      try {
        checkHeader(h, height, at(height - 1)!, at, this.params, this.now());
      } catch (e) {
        if (e instanceof PowError) this.fail(e.message);
        throw e;
      }
      newBranch.set(height, h);
      newWork += workOf(h.bits);
    }
    let oldWork = 0n;
    for (let height = forkHeight + 1; height <= top.height; height++) {
      const h = this.knownHeader(height);
      if (h) oldWork += workOf(h.bits);
    }
    if (newWork < oldWork) this.fail(`the source switched to a branch with less work than ours above height ${forkHeight}`);
    for (const height of [...this.parsed.keys()]) if (height > forkHeight) this.parsed.delete(height);
    this.store.put(
      branch.map((b, i) => ({ height: forkHeight! + 1 + i, hash: b.h.hash, raw: b.raw })),
      forkHeight,
    );
    return tip;
  }

  /**
   * The first header, a few blocks below the tip so that a reorg of the
   * last blocks right after the first start still meets a header we hold;
   * the headers above it are then checked like any new ones.
   */
  private async anchor(tip: BlockRef): Promise<BlockRef> {
    const height = Math.max(0, tip.height - ANCHOR_DEPTH);
    const hash = await this.source.blockHash(height);
    const raw = await this.source.blockHeader(hash);
    const h = parseHeader(raw);
    if (h.hash !== hash) this.fail(`header for ${hash} hashes to ${h.hash}`);
    try {
      checkWork(h, this.params);
    } catch (e) {
      if (e instanceof PowError) this.fail(e.message);
      throw e;
    }
    if (this.params.noRetargeting && h.bits !== compactOf(this.params.powLimit)) this.fail(`header ${h.hash} has bits 0x${h.bits.toString(16)}; ${this.params.network} never changes its target`);
    this.store.put([{ height, hash: h.hash, raw }]);
    return this.doSync(tip);
  }
}

