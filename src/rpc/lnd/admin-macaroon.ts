/**
 * The lnd-compatible API's credential, laid out as lnd lays it out so lnd
 * clients find it with `--lnddir <data dir> --network <network>`:
 * `<data dir>/data/chain/bitcoin/<network>/admin.macaroon` (mode 0600).
 *
 * The root key is 32 random bytes in `<data dir>/macaroon-root.key` (0600).
 * Deleting that file and restarting revokes every macaroon issued so far and
 * writes a new admin.macaroon.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Network } from '../../node/identity.ts';
import { bake, encodeMacaroon } from './macaroon.ts';

export const ROOT_KEY_FILE = 'macaroon-root.key';
const LOCATION = 'lnd';
/** lnd's identifier format: version 3, then a protobuf MacaroonId { nonce = 1; storageId = 2; ops = 3 }. */
const ID_VERSION = 3;
/** What lnd's admin.macaroon grants; lnnode checks only the signature, but `lncli printmacaroon` shows these. */
const ADMIN_OPS: [string, string[]][] = [
  ['address', ['read', 'write']],
  ['info', ['read', 'write']],
  ['invoices', ['read', 'write']],
  ['macaroon', ['generate', 'read', 'write']],
  ['message', ['read', 'write']],
  ['offchain', ['read', 'write']],
  ['onchain', ['read', 'write']],
  ['peers', ['read', 'write']],
  ['signer', ['generate', 'read']],
];

/** lnd names its network directories as lnnode names its networks. */
export function adminMacaroonPath(dataDir: string, network: Network): string {
  return join(dataDir, 'data', 'chain', 'bitcoin', network, 'admin.macaroon');
}

function identifier(nonce: Uint8Array): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, 2).bytes(nonce);
  w.tag(2, 2).bytes(new TextEncoder().encode('0'));
  for (const [entity, actions] of ADMIN_OPS) {
    const op = new BinaryWriter();
    op.tag(1, 2).string(entity);
    for (const a of actions) op.tag(2, 2).string(a);
    w.tag(3, 2).bytes(op.finish());
  }
  const body = w.finish();
  const id = new Uint8Array(1 + body.length);
  id[0] = ID_VERSION;
  id.set(body, 1);
  return id;
}

/** The root key (created on first use) and the admin.macaroon written from it if missing. */
export function loadOrCreateAdminMacaroon(dataDir: string, network: Network): { rootKey: Uint8Array; macaroonPath: string } {
  const keyPath = join(dataDir, ROOT_KEY_FILE);
  const macaroonPath = adminMacaroonPath(dataDir, network);
  let fresh = false;
  if (!existsSync(keyPath)) {
    writeFileSync(keyPath, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600, flag: 'wx' });
    fresh = true;
  }
  const rootKey = new Uint8Array(readFileSync(keyPath));
  if (rootKey.length !== 32) throw new Error(`${keyPath} does not hold a 32-byte key; delete it (and ${macaroonPath}) to make new ones`);
  if (fresh || !existsSync(macaroonPath)) {
    mkdirSync(dirname(macaroonPath), { recursive: true, mode: 0o700 });
    const mac = bake(rootKey, identifier(crypto.getRandomValues(new Uint8Array(16))), LOCATION);
    writeFileSync(macaroonPath, encodeMacaroon(mac), { mode: 0o600 });
  }
  return { rootKey, macaroonPath };
}
