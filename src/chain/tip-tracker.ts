/**
 * Follows the best chain of a ChainSource and reports blocks connected and
 * disconnected, so reorgs are seen as such rather than as a jump in height.
 *
 * It remembers the hashes of the last `depth` blocks. On each poll it walks
 * back from the new tip until a height whose hash it remembers matches: the
 * blocks it remembered above that point were disconnected (newest first), the
 * new ones are connected (oldest first). A reorg deeper than `depth` is
 * reported as an error, because what the node watched there must be rescanned.
 */
import { type BlockRef, type ChainSource, ChainSourceError } from './types.ts';

export interface TipChange {
  /** Blocks no longer on the best chain, newest first. */
  disconnected: BlockRef[];
  /** Blocks now on the best chain, oldest first. */
  connected: BlockRef[];
  tip: BlockRef;
}

/** Blocks below the tip whose hashes are fetched at start. */
const START_MEMORY = 12;

export class TipTracker {
  /** height -> hash for the last `depth` blocks of the chain we believe in. */
  private readonly known = new Map<number, string>();
  private current: BlockRef | undefined;

  constructor(
    private readonly source: ChainSource,
    private readonly depth = 144,
  ) {}

  get tip(): BlockRef | undefined {
    return this.current;
  }

  /**
   * Starts from the source's current tip, or from a stored one to report what
   * changed since. `remembered` are blocks below the stored tip as `remembered()`
   * gave them before the stop: without them a reorg that took the stored tip
   * away while the node was down could not be told from a reorg deeper than
   * `depth` (no hash to compare below the tip), and the node would never follow
   * the chain again.
   */
  async start(from?: BlockRef, remembered: readonly BlockRef[] = []): Promise<TipChange> {
    if (from) {
      this.current = from;
      for (const b of remembered) if (b.height < from.height && b.height > from.height - this.depth) this.known.set(b.height, b.hash);
      this.known.set(from.height, from.hash);
      return this.poll();
    }
    const tip = await this.source.tip();
    this.current = tip;
    this.known.set(tip.height, tip.hash);
    // Remember a few blocks below the tip so a shallow reorg right after start is recognised.
    for (let h = tip.height - 1; h >= Math.max(0, tip.height - START_MEMORY); h--) {
      this.known.set(h, await this.source.blockHash(h));
    }
    return { disconnected: [], connected: [], tip };
  }

  /** The blocks below the tip whose hashes are remembered, newest first: what to store beside the tip for `start`. */
  remembered(): BlockRef[] {
    const tip = this.current?.height;
    return [...this.known].filter(([h]) => tip === undefined || h < tip).sort(([x], [y]) => y - x).map(([height, hash]) => ({ height, hash }));
  }

  async poll(): Promise<TipChange> {
    const prev = this.current;
    if (!prev) return this.start();
    const tip = await this.source.tip();
    if (tip.hash === prev.hash) return { disconnected: [], connected: [], tip };

    // Collect the new chain from its tip down to a block we know.
    const newBlocks: BlockRef[] = [tip];
    let h = tip.height - 1;
    const lowest = prev.height - this.depth;
    while (h >= 0 && h > lowest) {
      const remembered = this.known.get(h);
      if (remembered === undefined && h <= prev.height) {
        throw new ChainSourceError(this.source.kind, `reorg deeper than ${this.depth} blocks at height ${h}`);
      }
      const hash = await this.source.blockHash(h);
      if (remembered === hash) break;
      newBlocks.push({ height: h, hash });
      h--;
    }
    if (h <= lowest && h >= 0) {
      throw new ChainSourceError(this.source.kind, `reorg deeper than ${this.depth} blocks`);
    }
    const forkHeight = h;

    const disconnected: BlockRef[] = [];
    for (let x = prev.height; x > forkHeight; x--) {
      const hash = this.known.get(x);
      if (hash !== undefined) disconnected.push({ height: x, hash });
      this.known.delete(x);
    }
    const connected = newBlocks.reverse();
    for (const b of connected) this.known.set(b.height, b.hash);
    for (const height of this.known.keys()) if (height <= tip.height - this.depth) this.known.delete(height);
    this.current = tip;
    return { disconnected, connected, tip };
  }
}
