/**
 * Address descriptors (BOLT #7 node_announcement `addresses`), used by
 * `init`'s remote_addr: 1 = IPv4, 2 = IPv6, 4 = Tor v3, 5 = DNS hostname.
 * https://github.com/lightning/bolts/blob/master/07-routing-gossip.md#the-node_announcement-message
 */
import { Reader, Writer } from '../bytes.ts';
import { DecodeError, EncodeError } from '../errors.ts';

export type NetAddress =
  | { type: 'ipv4'; host: string; port: number }
  | { type: 'ipv6'; host: string; port: number }
  | { type: 'torv3'; pubkey: Uint8Array; checksum: number; version: number; port: number }
  | { type: 'dns'; host: string; port: number };

export function decodeAddress(bytes: Uint8Array, field = 'address'): NetAddress {
  const r = new Reader(bytes, field);
  const kind = r.u8('type');
  let addr: NetAddress;
  if (kind === 1) {
    const ip = r.bytes(4, 'ipv4');
    addr = { type: 'ipv4', host: [...ip].join('.'), port: r.u16('port') };
  } else if (kind === 2) {
    const ip = r.bytes(16, 'ipv6');
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((ip[i]! << 8) | ip[i + 1]!).toString(16));
    addr = { type: 'ipv6', host: groups.join(':'), port: r.u16('port') };
  } else if (kind === 4) {
    addr = {
      type: 'torv3',
      pubkey: r.bytes(32, 'torv3.pubkey'),
      checksum: r.u16('torv3.checksum'),
      version: r.u8('torv3.version'),
      port: r.u16('port'),
    };
  } else if (kind === 5) {
    const len = r.u8('dns.len');
    const host = new TextDecoder('ascii').decode(r.bytes(len, 'dns.hostname'));
    addr = { type: 'dns', host, port: r.u16('port') };
  } else {
    throw new DecodeError(`${field}.type`, `unknown address type ${kind}`);
  }
  r.end();
  return addr;
}

export function encodeAddress(a: NetAddress, field = 'address'): Uint8Array {
  const w = new Writer(64);
  if (a.type === 'ipv4') {
    const parts = a.host.split('.').map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
      throw new EncodeError(field, `bad IPv4 address ${a.host}`);
    }
    w.u8(1).bytes(Uint8Array.from(parts));
  } else if (a.type === 'ipv6') {
    w.u8(2).bytes(parseIpv6(a.host, field));
  } else if (a.type === 'torv3') {
    w.u8(4).bytes(a.pubkey).u16(a.checksum).u8(a.version);
  } else {
    const host = new TextEncoder().encode(a.host);
    if (host.length > 255) throw new EncodeError(field, 'hostname longer than 255 bytes');
    w.u8(5).u8(host.length).bytes(host);
  }
  return w.u16(a.port, `${field}.port`).finish();
}

function parseIpv6(host: string, field: string): Uint8Array {
  const [head, tail] = host.includes('::') ? host.split('::') : [host, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const missing = 8 - h.length - t.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) throw new EncodeError(field, `bad IPv6 address ${host}`);
  const groups = [...h, ...Array<string>(missing).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new EncodeError(field, `bad IPv6 address ${host}`);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}
