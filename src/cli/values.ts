/**
 * Argument values with their units: each conversion names the argument it
 * read and says what it expected, so a bad value is a clear usage error
 * before anything reaches the node. Amounts are satoshis unless the
 * option's name says msat (as lncli: `addinvoice 150000` is 150,000 sat).
 */
import { fromHex } from '../bolt/bytes.ts';
import { UsageError } from './exit-codes.ts';

/** 21 million BTC: no amount above it means anything. */
export const MAX_SAT = 2_100_000_000_000_000n;
export const MAX_MSAT = MAX_SAT * 1000n;

export class Values {
  constructor(
    private readonly command: string,
    private readonly args: ReadonlyMap<string, string>,
    private readonly flags: ReadonlyMap<string, string | true>,
  ) {}

  private fail(what: string, expected: string, got: string): never {
    throw new UsageError(`${what}: expected ${expected}, got "${got}"`, this.command);
  }

  /** A positional argument's or option's raw text; undefined when absent. */
  raw(name: string): string | undefined {
    const v = name.startsWith('--') ? this.flags.get(name) : this.args.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  has(name: string): boolean {
    return name.startsWith('--') ? this.flags.has(name) : this.args.has(name);
  }

  string(name: string): string {
    const v = this.raw(name);
    if (v === undefined) throw new UsageError(`missing <${name}>`, this.command);
    return v;
  }

  /** A whole number of `unit` in [0, max]; `dflt` when absent. */
  uint(name: string, unit: string, max: bigint, dflt?: bigint): bigint {
    const v = this.raw(name);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new UsageError(`missing <${name}>`, this.command);
    }
    if (!/^\d+$/.test(v)) this.fail(name, `a whole number of ${unit}`, v);
    const n = BigInt(v);
    if (n > max) this.fail(name, `at most ${max} ${unit}`, v);
    return n;
  }

  sat(name: string, dflt?: bigint): bigint {
    return this.uint(name, 'satoshis', MAX_SAT, dflt);
  }

  msat(name: string, dflt?: bigint): bigint {
    return this.uint(name, 'millisatoshis', MAX_MSAT, dflt);
  }

  /**
   * An amount given either in sat (`satName`) or in msat (`msatName`), as
   * msat; `dflt` when neither is given. Both at once is ambiguous.
   */
  amountMsat(satName: string, msatName: string, dflt?: bigint): bigint {
    const inSat = this.has(satName);
    const inMsat = this.has(msatName);
    if (inSat && inMsat) throw new UsageError(`give either ${label(satName)} or ${label(msatName)}, not both`, this.command);
    if (inMsat) return this.msat(msatName);
    if (inSat) return this.sat(satName) * 1000n;
    if (dflt !== undefined) return dflt;
    throw new UsageError(`missing ${label(satName)} (or ${label(msatName)})`, this.command);
  }

  /** A count of seconds, blocks… that fits a uint32. */
  count(name: string, unit: string, dflt: number): number {
    return Number(this.uint(name, unit, 0xffff_ffffn, BigInt(dflt)));
  }

  hex(name: string, length?: number): Uint8Array {
    const v = this.string(name);
    if (!/^([0-9a-fA-F]{2})*$/.test(v)) this.fail(name, length ? `${length} bytes of hex` : 'hex (an even number of 0-9a-f)', v);
    const b = fromHex(v.toLowerCase());
    if (length !== undefined && b.length !== length) {
      throw new UsageError(`${name}: expected ${length} bytes (${2 * length} hex digits), got ${b.length}`, this.command);
    }
    return b;
  }

  pubkey(name: string): Uint8Array {
    const v = this.string(name);
    if (!/^0[23][0-9a-fA-F]{64}$/.test(v)) this.fail(name, "a node id (66 hex digits starting 02 or 03)", v);
    return fromHex(v.toLowerCase());
  }
}

const label = (name: string): string => (name.startsWith('--') ? name : `<${name}>`);
