/**
 * lnnode-cli's command line, checked against the command's declaration
 * (spec.ts) before anything is sent: an unknown option, a missing or an
 * extra argument is a UsageError, never dropped, so `payinvoice <bolt11>
 * --amt 5` cannot pay something other than what was typed.
 *
 * Options are `--name value` or `--name=value`; global options may stand
 * before or after the command; `--` ends the options (a later argument that
 * starts with a dash is positional).
 */
import { UsageError } from './exit-codes.ts';
import { type CommandSpec, type FlagSpec, GLOBAL_FLAGS } from './spec.ts';

export interface ParsedLine<C extends CommandSpec = CommandSpec> {
  /** Global option values by name (`--data-dir`), switches as true. */
  global: Map<string, string | true>;
  /** Absent when no command was given. */
  command?: C;
  /** Positional arguments by their declared name; a variadic one joined in `rest`. */
  args: Map<string, string>;
  rest: string[];
  /** The command's option values by name. */
  flags: Map<string, string | true>;
  /** `--help`, `-h`, or `help [<cmd>]`. */
  help: boolean;
}

export const HELP_COMMAND = 'help';

/** The closest command name within two edits, for "did you mean". */
export function closest(word: string, names: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    const d = editDistance(word.toLowerCase(), name);
    if (d <= 2 && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

export function parseCommandLine<C extends CommandSpec>(argv: readonly string[], commands: readonly C[]): ParsedLine<C> {
  const global = new Map<string, string | true>();
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  const byName = new Map(commands.map((c) => [c.name, c]));
  const end = argv.indexOf('--');
  // Asking for help wins over any mistake on the same line: the help is what explains it.
  const help = (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '-h' || a === '--help');
  let command: C | undefined;
  let helpCommand = false;
  let optionsEnded = false;

  const setFlag = (into: Map<string, string | true>, spec: FlagSpec, inline: string | undefined, i: number): number => {
    if (into.has(spec.name)) throw new UsageError(`${spec.name} given twice`, command?.name);
    if (!spec.value) {
      if (inline !== undefined) throw new UsageError(`${spec.name} takes no value`, command?.name);
      into.set(spec.name, true);
      return i;
    }
    const v = inline ?? argv[i + 1];
    if (v === undefined || (inline === undefined && v.startsWith('--'))) {
      throw new UsageError(`${spec.name} needs a value (${spec.value})`, command?.name);
    }
    into.set(spec.name, v);
    return inline === undefined ? i + 1 : i;
  };

  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (!optionsEnded && a === '--') {
        optionsEnded = true;
        continue;
      }
      if (!optionsEnded && (a === '-h' || a === '--help')) continue;
      if (!optionsEnded && a.startsWith('-') && a.length > 1) {
        const eq = a.indexOf('=');
        const name = eq > 0 ? a.slice(0, eq) : a;
        const inline = eq > 0 ? a.slice(eq + 1) : undefined;
        const g = GLOBAL_FLAGS.find((f) => f.name === name);
        if (g) {
          i = setFlag(global, g, inline, i);
          continue;
        }
        const own = command?.flags.find((f) => f.name === name);
        if (own) {
          i = setFlag(flags, own, inline, i);
          continue;
        }
        if (command) throw new UsageError(`unknown option ${name} for ${command.name}`, command.name);
        const owner = commands.some((c) => c.flags.some((f) => f.name === name));
        throw new UsageError(owner ? `${name} is an option of a command: put it after the command name` : `unknown option ${name}`);
      }
      if (!command && !helpCommand && a === HELP_COMMAND) {
        helpCommand = true;
        continue;
      }
      if (!command) {
        const c = byName.get(a);
        if (!c) {
          const near = closest(a, [...byName.keys()]);
          throw new UsageError(`unknown command "${a}"${near ? ` (did you mean ${near}?)` : ''}`);
        }
        command = c;
        continue;
      }
      if (helpCommand) throw new UsageError(`help takes one command name, got "${a}" too`);
      positional.push(a);
    }
  } catch (e) {
    if (!help) throw e;
  }

  if (help || helpCommand || !command) return { global, command, args: new Map(), rest: [], flags, help: help || helpCommand };
  const { args, rest } = assignPositional(command, positional);
  return { global, command, args, rest, flags, help: false };
}

/**
 * Required arguments are filled first; optional ones take what is left in
 * declaration order, so `[<amt_sat>] <description_hash>` reads one argument
 * as the hash and two as amount and hash.
 */
function assignPositional(c: CommandSpec, given: readonly string[]): { args: Map<string, string>; rest: string[] } {
  const variadic = c.args.find((a) => a.variadic);
  const fixed = c.args.filter((a) => !a.variadic);
  const required = fixed.filter((a) => !a.optional).length;
  if (given.length < required) {
    const missing = fixed.filter((a) => !a.optional)[given.length];
    throw new UsageError(`missing <${missing?.name ?? '?'}>`, c.name);
  }
  if (!variadic && given.length > fixed.length) {
    throw new UsageError(`unexpected argument "${given[fixed.length]}" (${c.name} takes ${describeCount(fixed.length, required)})`, c.name);
  }
  let optionalLeft = Math.min(given.length, fixed.length) - required;
  const args = new Map<string, string>();
  let k = 0;
  for (const a of fixed) {
    if (a.optional) {
      if (optionalLeft <= 0) continue;
      optionalLeft--;
    }
    args.set(a.name, given[k++]!);
  }
  return { args, rest: given.slice(k) };
}

function describeCount(max: number, min: number): string {
  if (max === 0) return 'no arguments';
  const n = (k: number): string => `${k} argument${k === 1 ? '' : 's'}`;
  return min === max ? n(max) : `${min} to ${max} arguments`;
}
