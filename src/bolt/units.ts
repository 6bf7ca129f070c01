/**
 * Units as types, so a satoshi amount cannot be passed where millisatoshis
 * are expected (DESIGN.md rule 4: amounts are integers, never floats).
 * Conversions between them are explicit functions with the rounding named.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Millisatoshis, as carried in HTLCs and invoices. */
export type Msat = Brand<bigint, 'msat'>;
/** Satoshis, as carried in transaction outputs. */
export type Sat = Brand<bigint, 'sat'>;
/** Fee rate in satoshis per 1000 weight units (BOLT #3 `feerate_per_kw`). */
export type FeeratePerKw = Brand<number, 'feerate_per_kw'>;
/** Absolute block height at which an HTLC expires. */
export type CltvExpiry = Brand<number, 'cltv_expiry'>;
/** A number of blocks, relative. */
export type CltvExpiryDelta = Brand<number, 'cltv_expiry_delta'>;

export const MAX_MONEY_SAT = 2_100_000_000_000_000n;
export const MAX_MONEY_MSAT = MAX_MONEY_SAT * 1000n;

export const msat = (v: bigint | number): Msat => BigInt(v) as Msat;
export const sat = (v: bigint | number): Sat => BigInt(v) as Sat;
export const feeratePerKw = (v: number): FeeratePerKw => v as FeeratePerKw;
export const cltvExpiry = (v: number): CltvExpiry => v as CltvExpiry;
/** 253 sat/kw: the floor every implementation uses, so a rate rounded down to whole vbytes still relays at 1 sat/vB. */
export const FEERATE_FLOOR = feeratePerKw(253);
export const cltvExpiryDelta = (v: number): CltvExpiryDelta => v as CltvExpiryDelta;

export const satToMsat = (v: Sat): Msat => (v * 1000n) as Msat;
/** Drops the sub-satoshi part, as BOLT #3 does for outputs and trimmed HTLCs. */
export const msatToSatFloor = (v: Msat): Sat => (v / 1000n) as Sat;
