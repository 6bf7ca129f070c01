/**
 * Which test files a run selects and what each needs. Unit files are every
 * `*.test.ts` outside test/regtest/ (no lab peer, no Go, no Rust); lab files
 * are the ones under test/regtest/, and each declares the lab peers it
 * starts in a line of its own near the top:
 *
 *     // lab-peers: btcd lnd
 *
 * (`none` when it starts none). The runner builds only the peers of the
 * selected files. The declaration can be checked against what the file
 * imports (`inferredPeers`), so it cannot drift from the code.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** The lab peers, named as their build scripts in test/lab/build/. */
export const LAB_PEERS = ['btcd', 'lnd', 'ldk-peer', 'go-client'] as const;
export type LabPeer = (typeof LAB_PEERS)[number];

export const REPO = resolve(import.meta.dir, '../..');
const TEST_DIR = join(REPO, 'test');

const rel = (abs: string): string => relative(REPO, abs).split(sep).join('/');

export const isTestFile = (path: string): boolean => path.endsWith('.test.ts');
export const isLabFile = (path: string): boolean => rel(resolve(REPO, path)).startsWith('test/regtest/');

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p, out);
    } else if (isTestFile(e.name)) out.push(p);
  }
  return out;
}

export interface Selection {
  unit: string[];
  lab: string[];
}

/** All unit and lab files, as repo-relative paths in a stable order. */
export function allTests(): Selection {
  const files = walk(TEST_DIR).map(rel).sort();
  return { unit: files.filter((f) => !isLabFile(f)), lab: files.filter(isLabFile) };
}

/** Files and folders named on the command line, expanded to their test files; throws on a name that matches none. */
export function select(args: readonly string[]): Selection {
  const out = new Set<string>();
  for (const a of args) {
    const abs = resolve(REPO, a);
    if (!existsSync(abs)) throw new Error(`no such test file or folder: ${a}`);
    const found = statSync(abs).isDirectory() ? walk(abs).map(rel) : isTestFile(abs) ? [rel(abs)] : [];
    if (found.length === 0) throw new Error(`${a} holds no *.test.ts file`);
    for (const f of found) out.add(f);
  }
  const files = [...out].sort();
  return { unit: files.filter((f) => !isLabFile(f)), lab: files.filter(isLabFile) };
}

const DECLARATION = /^\s*\/\/\s*lab-peers:(.*)$/m;

/** The peers a lab file declares, or undefined if it has no `// lab-peers:` line; throws on an unknown name. */
export function declaredPeers(file: string): LabPeer[] | undefined {
  const m = DECLARATION.exec(readFileSync(resolve(REPO, file), 'utf8'));
  if (!m) return undefined;
  const names = m[1]!.trim().split(/[\s,]+/).filter(Boolean);
  if (names.length === 1 && names[0] === 'none') return [];
  for (const n of names) {
    if (!(LAB_PEERS as readonly string[]).includes(n)) throw new Error(`${file}: unknown lab peer "${n}" in its lab-peers line (known: ${LAB_PEERS.join(', ')})`);
  }
  return sortPeers(names as LabPeer[]);
}

const sortPeers = (ps: Iterable<LabPeer>): LabPeer[] => LAB_PEERS.filter((p) => new Set(ps).has(p));

/** What starts each peer: a lab driver that calls labBinary(...) or goClientBinary(). */
const STARTS: [RegExp, LabPeer][] = [
  [/labBinary\(\s*['"]btcd['"]/, 'btcd'],
  [/labBinary\(\s*['"]lnd['"]/, 'lnd'],
  [/labBinary\(\s*['"]ldk-peer['"]/, 'ldk-peer'],
  [/goClientBinary\(\s*\)/, 'go-client'],
];
const IMPORT = /\b(?:import|export)\b[^'"]*?\bfrom\s*['"](\.[^'"]+)['"]|\bimport\s*\(?\s*['"](\.[^'"]+)['"]/g;

/**
 * The peers a file starts, found by following its relative imports inside test/
 * (src/ starts no lab peer) to the drivers that launch a binary. Over-approximates
 * a file that imports a driver it does not use, which only means a build too many.
 */
export function inferredPeers(file: string): LabPeer[] {
  const seen = new Set<string>();
  const peers = new Set<LabPeer>();
  const visit = (abs: string): void => {
    if (seen.has(abs) || !abs.startsWith(TEST_DIR + sep) || !existsSync(abs)) return;
    seen.add(abs);
    const text = readFileSync(abs, 'utf8');
    for (const [re, peer] of STARTS) if (re.test(text)) peers.add(peer);
    for (const m of text.matchAll(IMPORT)) visit(resolve(dirname(abs), (m[1] ?? m[2])!));
  };
  visit(resolve(REPO, file));
  return sortPeers(peers);
}

/** The peers a lab file needs: its declaration, or what its imports start when it has none. */
export function peersOf(file: string): { peers: LabPeer[]; declared: boolean } {
  const d = declaredPeers(file);
  return d ? { peers: d, declared: true } : { peers: inferredPeers(file), declared: false };
}
