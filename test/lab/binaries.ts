/**
 * Where the lab's peer binaries are: the cache the build scripts fill
 * (test/lab/build/*.sh), keyed by the versions pinned in versions.env.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const versionsFile = join(import.meta.dir, 'versions.env');

export function labVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(versionsFile, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=("?)(.*)\2\s*$/.exec(line.trim());
    if (m) out[m[1]!] = m[3]!;
  }
  return out;
}

export const labCache = (): string => process.env.LNNODE_LAB_CACHE ?? join(homedir(), '.cache', 'lnnode-lab');

const BUILD_HINT = 'build the lab peers first: bash test/lab/build/all.sh';

/** Path of a lab binary; throws with the build command if it is missing. */
export function labBinary(pkg: 'btcd' | 'lnd' | 'ldk-peer', bin: string = pkg): string {
  const v = labVersions();
  const version = { btcd: v.BTCD_VERSION, lnd: v.LND_VERSION, 'ldk-peer': v.LDK_NODE_VERSION }[pkg];
  const path = join(labCache(), `${pkg}-${version}`, 'bin', bin);
  if (!existsSync(path)) throw new Error(`lab binary ${bin} not found at ${path}: ${BUILD_HINT}`);
  return path;
}
