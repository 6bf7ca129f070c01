/**
 * lnnode-cli's command line checked against each command's declaration:
 * unknown options and extra arguments are refused (exit 2, a one-line hint
 * to that command's help), amounts carry explicit units (sat by default, as
 * lncli; msat only where the option says so), and help comes from the same
 * declarations.
 */
import { describe, expect, test } from 'bun:test';
import { COMMANDS } from '../../src/cli/commands/index.ts';
import { UsageError } from '../../src/cli/exit-codes.ts';
import { main } from '../../src/cli/main.ts';
import { parseCommandLine } from '../../src/cli/parse.ts';
import { Values } from '../../src/cli/values.ts';

const parse = (...argv: string[]) => parseCommandLine(argv, COMMANDS);
const refused = (argv: string[]): UsageError => {
  try {
    parse(...argv);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
};
const values = (...argv: string[]): Values => {
  const l = parse(...argv);
  return new Values(l.command!.name, l.args, l.flags);
};

/** main() with captured output and no node: what a usage error or help prints. */
async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`), env: { HOME: '/nonexistent' }, now: () => 0 });
  return { code, out, err };
}

describe('lnnode-cli command line', () => {
  test('global options stand before or after the command; command options after it', () => {
    const a = parse('--data-dir', '/tmp/ln1', 'openchannel', '02' + '11'.repeat(32), '500000', '--json', '--push-amt=1000');
    expect(a.command?.name).toBe('openchannel');
    expect([...a.global]).toEqual([['--data-dir', '/tmp/ln1'], ['--json', true]]);
    expect([...a.args]).toEqual([['node_id', '02' + '11'.repeat(32)], ['amt_sat', '500000']]);
    expect([...a.flags]).toEqual([['--push-amt', '1000']]);
  });

  test('an unknown option is an error naming it and the command, never dropped', () => {
    const e = refused(['payinvoice', 'lnbcrt1x', '--amount', '5']);
    expect([e.message, e.command]).toEqual(['unknown option --amount for payinvoice', 'payinvoice']);
    expect(refused(['--persistent', 'connect', 'x']).message).toBe('--persistent is an option of a command: put it after the command name');
    expect(refused(['--frob']).message).toBe('unknown option --frob');
  });

  test('extra and missing arguments are errors', () => {
    expect(refused(['getinfo', 'extra']).message).toBe('unexpected argument "extra" (getinfo takes no arguments)');
    expect(refused(['openchannel', '02' + '11'.repeat(32), '1', '2']).message).toBe('unexpected argument "2" (openchannel takes 2 arguments)');
    expect(refused(['openchannel', '02' + '11'.repeat(32)]).message).toBe('missing <amt_sat>');
    expect(refused(['addinvoice']).message).toBe('missing <description_hash>');
    expect(refused(['addinvoice', '1', 'ab', 'c']).message).toBe('unexpected argument "c" (addinvoice takes 1 to 2 arguments)');
  });

  test('option values: needed, not doubled, no value for a switch', () => {
    expect(refused(['payinvoice', 'x', '--timeout']).message).toBe('--timeout needs a value (SECONDS)');
    expect(refused(['payinvoice', 'x', '--timeout', '--amt', '5']).message).toBe('--timeout needs a value (SECONDS)');
    expect(refused(['payinvoice', 'x', '--amt', '1', '--amt', '2']).message).toBe('--amt given twice');
    expect(refused(['closechannel', 'x', '--force=yes']).message).toBe('--force takes no value');
  });

  test('an unknown command suggests the nearest one; help and --help are recognised', () => {
    expect(refused(['listchanels']).message).toBe('unknown command "listchanels" (did you mean listchannels?)');
    expect(refused(['frobnicate']).message).toBe('unknown command "frobnicate"');
    expect(parse('help')).toMatchObject({ help: true, command: undefined });
    expect(parse('help', 'openchannel')).toMatchObject({ help: true, command: { name: 'openchannel' } });
    expect(parse('openchannel', '--help')).toMatchObject({ help: true, command: { name: 'openchannel' } });
    // Help wins over a mistake on the same line.
    expect(parse('openchannel', '--bogus', '-h')).toMatchObject({ help: true, command: { name: 'openchannel' } });
  });

  test('-- ends the options', () => {
    expect([...parse('decodeinvoice', '--', '--json').args]).toEqual([['bolt11', '--json']]);
  });

  test('optional arguments: addinvoice [<amt_sat>] <description_hash>', () => {
    const h = 'ab'.repeat(32);
    expect([...parse('addinvoice', h).args]).toEqual([['description_hash', h]]);
    expect([...parse('addinvoice', '150000', h).args]).toEqual([['amt_sat', '150000'], ['description_hash', h]]);
  });

  test('amounts are sat by default, msat where the option says so, never both', () => {
    const h = 'ab'.repeat(32);
    expect(values('addinvoice', '150000', h).amountMsat('amt_sat', '--amt-msat', 0n)).toBe(150_000_000n);
    expect(values('addinvoice', h, '--amt-msat', '150000500').amountMsat('amt_sat', '--amt-msat', 0n)).toBe(150_000_500n);
    expect(values('addinvoice', h).amountMsat('amt_sat', '--amt-msat', 0n)).toBe(0n);
    expect(() => values('addinvoice', '1', h, '--amt-msat', '1000').amountMsat('amt_sat', '--amt-msat', 0n)).toThrow('give either <amt_sat> or --amt-msat, not both');
    expect(values('payinvoice', 'x', '--amt', '5').amountMsat('--amt', '--amt-msat', 0n)).toBe(5000n);
    expect(() => values('openchannel', '02' + '11'.repeat(32), '1.5').sat('amt_sat')).toThrow('amt_sat: expected a whole number of satoshis, got "1.5"');
    expect(() => values('openchannel', '02' + '11'.repeat(32), '2100000000000001').sat('amt_sat')).toThrow('amt_sat: expected at most 2100000000000000 satoshis');
    expect(() => values('disconnect', '04' + '11'.repeat(32)).pubkey('node_id')).toThrow('node_id: expected a node id (66 hex digits starting 02 or 03)');
    expect(() => values('closechannel', 'ab'.repeat(31)).hex('channel_id', 32)).toThrow('channel_id: expected 32 bytes (64 hex digits), got 31');
  });
});

describe('lnnode-cli help and exit codes', () => {
  test('help <cmd> and <cmd> --help print its arguments with units and defaults', async () => {
    const a = await run('help', 'addinvoice');
    const b = await run('addinvoice', '--help');
    expect(a).toEqual(b);
    expect(a.code).toBe(0);
    expect(a.out).toContain('usage: lnnode-cli addinvoice [<amt_sat>] <description_hash> [options]');
    expect(a.out).toMatch(/<amt_sat> +amount in satoshis \(default: none, the payer chooses\)/);
    expect(a.out).toMatch(/--amt-msat MSAT +the amount in millisatoshis, instead of <amt_sat>/);
    expect(a.out).toMatch(/--expiry SECONDS +how long it can be paid \(default 3600\)/);
    expect(a.out).toContain('Exit codes: 0 ok; 1 the node refused');
    expect((await run('help', 'payinvoice')).out).toMatch(/--timeout SECONDS +stop waiting after this long \(default 60\)/);
  });

  test('every command has help for each of its arguments and options', () => {
    for (const c of COMMANDS) {
      expect(c.summary.length).toBeGreaterThan(10);
      for (const x of [...c.args, ...c.flags]) expect(`${c.name} ${x.name}: ${x.help}`).toMatch(/: \S.{10,}/);
    }
  });

  test('a usage error exits 2 with the message and one hint line, not the whole usage', async () => {
    const r = await run('payinvoice', 'lnbcrt1x', '--amt', '5', '--bogus');
    expect(r).toEqual({ code: 2, out: '', err: "lnnode-cli: unknown option --bogus for payinvoice\nrun 'lnnode-cli help payinvoice' for its arguments and options\n" });
    const u = await run('frobnicate');
    expect(u).toEqual({ code: 2, out: '', err: "lnnode-cli: unknown command \"frobnicate\"\nrun 'lnnode-cli help' for the commands\n" });
  });

  test('a bad value is reported before the token or the node is needed', async () => {
    const r = await run('--data-dir', '/nonexistent', 'addinvoice', '1.5', 'ab'.repeat(32));
    expect(r).toEqual({ code: 2, out: '', err: "lnnode-cli: amt_sat: expected a whole number of satoshis, got \"1.5\"\nrun 'lnnode-cli help addinvoice' for its arguments and options\n" });
    const s = await run('--data-dir', '/nonexistent', 'subscribecustom', '32768', 'x');
    expect(s.err).toStartWith('lnnode-cli: type: expected a BOLT 1 custom message type');
    const ok = await run('--data-dir', '/nonexistent', 'addinvoice', '150000', 'ab'.repeat(32));
    expect(ok).toEqual({ code: 2, out: '', err: "lnnode-cli: cannot read /nonexistent/rpc.token: give --data-dir of the node (the token is created when the node starts)\n" });
  });

  test('no command prints the command list on stderr and exits 2; help exits 0', async () => {
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.err).toContain('Invoices and payments:');
    const help = await run('help');
    expect([help.code, help.err]).toEqual([0, '']);
    expect(help.out).toMatch(/addinvoice +create a BOLT 11 invoice/);
    expect(help.out).toContain('Amounts are satoshis unless the option says msat');
  });
});
