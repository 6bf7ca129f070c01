/**
 * Bytes received and not yet framed, as the chunks the socket gave. Taking
 * a piece that lies inside one chunk is a view, not a copy; a piece that
 * spans chunks is copied once into a buffer of its own size. Appending each
 * chunk to one growing buffer instead copied every byte again on each chunk
 * (a 65 KB message in 16 KB chunks allocated 160 KB), which under a flood of
 * large messages was most of the daemon's garbage.
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  /** Bytes of chunks[0] already taken. */
  private offset = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** The next `n` bytes (n <= length), removed from the queue. */
  take(n: number): Uint8Array {
    if (n > this.size) throw new RangeError(`take(${n}) with ${this.size} bytes queued`);
    this.size -= n;
    const first = this.chunks[0];
    if (n === 0 || !first) return new Uint8Array(0);
    if (first.length - this.offset >= n) {
      const piece = first.subarray(this.offset, this.offset + n);
      this.offset += n;
      if (this.offset === first.length) this.drop();
      return piece;
    }
    const piece = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(n - at, c.length - this.offset);
      piece.set(c.subarray(this.offset, this.offset + k), at);
      at += k;
      this.offset += k;
      if (this.offset === c.length) this.drop();
    }
    return piece;
  }

  private drop(): void {
    this.chunks.shift();
    this.offset = 0;
  }
}
