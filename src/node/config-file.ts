/**
 * The daemon's config file: `<data-dir>/lnnode.conf` (or `--config FILE`),
 * one `name = value` a line with the command line's option names without
 * the dashes, `#` comments, a switch written alone. It becomes command-line
 * options placed before the real ones; an option given on the command line
 * replaces every line of that name, so flags override the file. Pure: the
 * caller reads the file.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, SWITCH_OPTIONS, VALUE_OPTIONS } from './config.ts';
import { isNetwork } from './networks.ts';

export const CONFIG_FILE = 'lnnode.conf';

export interface ConfigEntry {
  /** With the dashes: `--esplora-url`. */
  name: string;
  value?: string;
  line: number;
}

/** Where the config file is: `--config`, else in the data dir the command line names (or the default one). */
export function configFileLocation(argv: readonly string[], env: Record<string, string | undefined>): { path: string; explicit: boolean; defaultDataDir: boolean; network: string } {
  const given = (name: string): string | undefined => {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === name) return argv[i + 1];
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
    }
    return undefined;
  };
  const network = given('--network') ?? 'regtest';
  const dataDir = given('--data-dir');
  const config = given('--config');
  const dir = dataDir ?? join(env.HOME ?? homedir(), '.lnnode', network);
  return { path: config ?? join(dir, CONFIG_FILE), explicit: config !== undefined, defaultDataDir: dataDir === undefined, network };
}

export function parseConfigFile(text: string, file: string): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = i + 1;
    const s = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!s) continue;
    if (s.startsWith('-')) throw new ConfigError(`${file} line ${line}: write option names without the leading dashes ("${s.replace(/^-+/, '')}")`);
    const m = /^([a-z0-9][a-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(s);
    if (!m) throw new ConfigError(`${file} line ${line}: expected "name = value", got "${raw.trim()}"`);
    const name = `--${m[1]}`;
    const value = m[2]?.trim();
    if (name === '--data-dir' || name === '--config') throw new ConfigError(`${file} line ${line}: ${m[1]} cannot be set in the config file (it is how the file is found)`);
    // A restore happens once, on a new data dir: from the file it would be tried again on every start.
    if (name.startsWith('--restore')) throw new ConfigError(`${file} line ${line}: ${m[1]} belongs on the command line of the one start that restores, not in a config file`);
    if (SWITCH_OPTIONS.has(name)) {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new ConfigError(`${file} line ${line}: ${m[1]} is a switch: write it alone, or = true / false`);
      if (value !== 'false') out.push({ name, line });
      continue;
    }
    if (!VALUE_OPTIONS.has(name)) throw new ConfigError(`${file} line ${line}: unknown option ${m[1]} (lnnode --help lists the options)`);
    if (!value) throw new ConfigError(`${file} line ${line}: ${m[1]} needs a value`);
    out.push({ name, value, line });
  }
  return out;
}

/** The command line with the file's options before it, less those the command line gives itself, and without --config. */
export function withConfigFile(argv: readonly string[], entries: readonly ConfigEntry[]): string[] {
  const own: string[] = [];
  const givenNames = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    if (name === '--config') {
      if (!a.includes('=')) i++;
      continue;
    }
    if (name.startsWith('--')) givenNames.add(name);
    own.push(a);
  }
  const fromFile = entries.filter((e) => !givenNames.has(e.name)).flatMap((e) => (e.value === undefined ? [e.name] : [e.name, e.value]));
  return [...fromFile, ...own];
}

/**
 * The file's network against the data dir it was found in: a file in the
 * default ~/.lnnode/<network> dir naming another network would mix chains.
 */
export function networkMismatch(entries: readonly ConfigEntry[], where: ReturnType<typeof configFileLocation>, argv: readonly string[]): string | undefined {
  const fromFile = entries.find((e) => e.name === '--network')?.value;
  if (!fromFile || !isNetwork(fromFile) || !where.defaultDataDir || where.explicit) return undefined;
  const onCommandLine = argv.some((a) => a === '--network' || a.startsWith('--network='));
  if (onCommandLine || fromFile === where.network) return undefined;
  return `${where.path} says network = ${fromFile}, but it is in the ${where.network} data dir: give --network ${fromFile} or --data-dir`;
}
