/**
 * The lnnode.v1 API credential: 32 random bytes written once to
 * `<data dir>/rpc.token` (hex, mode 0600) and sent by clients as
 * `authorization: Bearer <hex>`. Whoever can read the file can move the
 * node's money, so nothing else grants access.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';

export const TOKEN_FILE = 'rpc.token';
/** host:port the lnnode.v1 API listens on, written at start so lnnode-cli finds it. */
export const RPC_ADDR_FILE = 'rpc.addr';

export function tokenPath(dataDir: string): string {
  return join(dataDir, TOKEN_FILE);
}

export function loadOrCreateToken(dataDir: string): string {
  const path = tokenPath(dataDir);
  if (!existsSync(path)) {
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex');
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  }
  const token = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(token)) throw new Error(`${path} does not hold a 64-hex-digit token; delete it to make a new one`);
  return token;
}

/** Whether an `authorization` header carries the token (constant time in the token's bytes). */
export function bearerMatches(header: string | null, token: string): boolean {
  const m = header ? /^Bearer ([0-9a-fA-F]{64})$/.exec(header.trim()) : null;
  if (!m) return false;
  return timingSafeEqual(Buffer.from(m[1]!.toLowerCase()), Buffer.from(token));
}
