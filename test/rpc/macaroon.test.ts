/**
 * Macaroons byte for byte as lnd's library makes them (vectors from
 * gopkg.in/macaroon.v2), and the checks that decide who may call the
 * lnd-compatible API.
 */
import { describe, expect, test } from 'bun:test';
import { fromHex, hex } from '../../src/bolt/bytes.ts';
import { macaroonHeaderRefusal } from '../../src/rpc/lnd/api.ts';
import { addFirstPartyCaveat, bake, decodeMacaroon, encodeMacaroon, MacaroonError, macaroonRefusal } from '../../src/rpc/lnd/macaroon.ts';
import v from '../vectors/macaroon-v2.json';

const rootKey = fromHex(v.rootKeyHex);
const id = new TextEncoder().encode(v.identifier);
const before2030 = new Date('2029-12-31T23:59:59Z');

describe('macaroon v2 encoding (vectors from gopkg.in/macaroon.v2)', () => {
  test('baking and adding a caveat give the library\'s bytes', () => {
    const m = bake(rootKey, id, v.location);
    expect(hex(encodeMacaroon(m))).toBe(v.bare);
    expect(hex(encodeMacaroon(addFirstPartyCaveat(m, v.caveat)))).toBe(v.withCaveat);
  });

  test('decoding and encoding again is the identity', () => {
    for (const b of [v.bare, v.withCaveat]) expect(hex(encodeMacaroon(decodeMacaroon(fromHex(b))))).toBe(b);
    const d = decodeMacaroon(fromHex(v.withCaveat));
    expect(d.location).toBe('lnd');
    expect(new TextDecoder().decode(d.caveats[0]!.id)).toBe(v.caveat);
  });

  test('garbage is refused with MacaroonError, never a crash', () => {
    const good = fromHex(v.withCaveat);
    const cases = [new Uint8Array(), Uint8Array.of(1), Uint8Array.of(2), good.subarray(0, good.length - 1), Uint8Array.from([...good, 0]), Uint8Array.of(2, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)];
    for (let i = 0; i < good.length; i += 7) cases.push(good.subarray(0, i));
    for (const c of cases) expect(() => decodeMacaroon(c)).toThrow(MacaroonError);
  });
});

describe('who may call', () => {
  const issued = bake(rootKey, id, 'lnd');

  test('the issued macaroon, and it narrowed by an unexpired time-before caveat (as lncli sends it)', () => {
    expect(macaroonRefusal(issued, rootKey, before2030)).toBeUndefined();
    expect(macaroonRefusal(decodeMacaroon(fromHex(v.withCaveat)), rootKey, before2030)).toBeUndefined();
    expect(macaroonHeaderRefusal(v.withCaveat, rootKey, before2030)).toBeUndefined();
  });

  test('refused: expired, another root key, altered signature or caveat, removed caveat, unknown caveat', () => {
    const narrowed = decodeMacaroon(fromHex(v.withCaveat));
    expect(macaroonRefusal(narrowed, rootKey, new Date('2030-01-01T00:00:00Z'))).toContain('expired');
    expect(macaroonRefusal(issued, new Uint8Array(32), before2030)).toContain('does not verify');
    const flipped = Uint8Array.from(issued.signature);
    flipped[0]! ^= 1;
    expect(macaroonRefusal({ ...issued, signature: flipped }, rootKey, before2030)).toContain('does not verify');
    // Loosening the caveat or dropping it breaks the HMAC chain.
    const loosened = { ...narrowed, caveats: [{ id: new TextEncoder().encode('time-before 2099-01-01T00:00:00Z') }] };
    expect(macaroonRefusal(loosened, rootKey, before2030)).toContain('does not verify');
    expect(macaroonRefusal({ ...narrowed, caveats: [] }, rootKey, before2030)).toContain('does not verify');
    expect(macaroonRefusal(addFirstPartyCaveat(issued, 'ipaddr 10.0.0.1'), rootKey, before2030)).toContain('not supported');
    expect(macaroonRefusal(addFirstPartyCaveat(issued, 'time-before yesterday'), rootKey, before2030)).toContain('unreadable time');
  });

  test('the metadata header: missing, not hex, not a macaroon', () => {
    expect(macaroonHeaderRefusal(null, rootKey)).toContain('expected 1 macaroon');
    expect(macaroonHeaderRefusal('zz', rootKey)).toContain('not hex');
    expect(macaroonHeaderRefusal('0201', rootKey)).toContain('cannot decode');
  });
});
