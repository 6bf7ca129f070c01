/**
 * lnnode-cli's help, printed from the command declarations: the command
 * list (`lnnode-cli help`) and one command's arguments, options, units and
 * defaults (`lnnode-cli help <cmd>`, `<cmd> --help`).
 */
import { type CommandGroup } from './commands/command.ts';
import { type ArgSpec, type CommandSpec, type FlagSpec, GLOBAL_FLAGS } from './spec.ts';

const EXIT_CODES = 'Exit codes: 0 ok; 1 the node refused the call or cannot be reached (gRPC code and message on stderr); 2 a bad command line.';
const UNITS = 'Amounts are satoshis unless the option says msat (--amt-msat, --push-msat), as with lncli.';

function table(rows: readonly [string, string][], indent = '  '): string {
  const width = Math.min(28, Math.max(...rows.map(([l]) => l.length)));
  return rows.map(([l, r]) => (l.length > width ? `${indent}${l}\n${indent}${' '.repeat(width + 2)}${r}` : `${indent}${l.padEnd(width)}  ${r}`)).join('\n');
}

const argLabel = (a: ArgSpec): string => (a.variadic ? `[<${a.name}> ...]` : a.optional ? `[<${a.name}>]` : `<${a.name}>`);
const flagLabel = (f: FlagSpec): string => (f.value ? `${f.name} ${f.value}` : f.name);

export function synopsis(c: CommandSpec): string {
  return ['lnnode-cli', c.name, ...c.args.map(argLabel), ...(c.flags.length ? ['[options]'] : [])].join(' ');
}

export function commandHelp(c: CommandSpec): string {
  const parts = [`usage: ${synopsis(c)}`, '', `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`];
  if (c.args.length) parts.push('', 'Arguments:', table(c.args.map((a) => [`<${a.name}>`, a.help])));
  if (c.flags.length) parts.push('', 'Options:', table(c.flags.map((f) => [flagLabel(f), f.help])));
  for (const n of c.notes ?? []) parts.push('', n);
  if (c.example) parts.push('', `Example: ${c.example}`);
  parts.push('', `Global options (${GLOBAL_FLAGS.map((f) => f.name).join(', ')}): see lnnode-cli help.`, EXIT_CODES);
  return parts.join('\n');
}

export function globalHelp(groups: readonly CommandGroup[]): string {
  const parts = ['usage: lnnode-cli [global options] <command> [arguments] [options]'];
  for (const g of groups) parts.push('', `${g.title}:`, table(g.commands.map((c) => [c.name, c.summary])));
  parts.push('', 'Global options (before or after the command):', table(GLOBAL_FLAGS.map((f) => [flagLabel(f), f.help])));
  parts.push('', "'lnnode-cli help <command>' or 'lnnode-cli <command> --help' shows its arguments, units and defaults.", UNITS, EXIT_CODES);
  return parts.join('\n');
}
