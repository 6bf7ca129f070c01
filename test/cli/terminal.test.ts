/**
 * lnnode-cli in a real terminal (tmux), as a person types it: what they see
 * on the screen for help, an invoice in sat, a typo, and a refusal, with the
 * exit code the shell reports. The node runs in this process; the terminal
 * runs `lnnode-cli` (a wrapper on PATH) in bash. Skipped where tmux is not
 * installed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { hex } from '../../src/bolt/bytes.ts';
import { startNodeWithApi, type NodeWithApi } from '../rpc/node-with-api.ts';

const TMUX = Bun.which('tmux');
const CLI = resolve(import.meta.dir, '../../src/cli.ts');
const socket = `lnnode-cli-test-${process.pid}`;
let node: NodeWithApi;
let bin: string;
let commands = 0;

const tmux = (...args: string[]): string => {
  const r = Bun.spawnSync([TMUX!, '-L', socket, ...args], { stdout: 'pipe', stderr: 'pipe' });
  if (r.exitCode !== 0) throw new Error(`tmux ${args[0]}: ${r.stderr.toString()}`);
  return r.stdout.toString();
};

/** Types a command line and Enter, waits for its prompt to come back, returns what the screen shows for it and its exit code. */
async function type(line: string): Promise<{ screen: string; code: number }> {
  const mark = `#${++commands}`;
  const typed = `${line}; echo "[exit $? ${mark}]"`;
  tmux('send-keys', '-t', 'cli', '-l', typed);
  tmux('send-keys', '-t', 'cli', 'Enter');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const screen = tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'cli');
    const start = screen.lastIndexOf(typed);
    const end = new RegExp(`^\\[exit (\\d+) ${mark}\\]$`, 'm').exec(screen.slice(start));
    if (start >= 0 && end) return { screen: screen.slice(start + typed.length, start + end.index).trim(), code: Number(end[1]) };
    if (Date.now() > deadline) throw new Error(`no prompt after "${line}"; the screen shows:\n${screen}`);
    await Bun.sleep(50);
  }
}

describe.skipIf(!TMUX)('lnnode-cli in a terminal', () => {
  beforeAll(async () => {
    node = await startNodeWithApi();
    bin = mkdtempSync(join(tmpdir(), 'lnnode-cli-term-'));
    writeFileSync(join(bin, 'lnnode-cli'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" --data-dir "${node.dataDir}" "$@"\n`);
    chmodSync(join(bin, 'lnnode-cli'), 0o755);
    tmux('new-session', '-d', '-s', 'cli', '-x', '200', '-y', '50', 'bash --norc --noprofile');
    tmux('set-option', '-t', 'cli', 'history-limit', '10000');
    expect((await type(`export PATH=${bin}:$PATH`)).code).toBe(0);
  });
  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    rmSync(bin, { recursive: true, force: true });
    await node.stop();
  });

  test('help for one command: its arguments with units and defaults', async () => {
    const { screen, code } = await type('lnnode-cli openchannel --help');
    expect(code).toBe(0);
    expect(screen.split('\n').slice(0, 3)).toEqual(['usage: lnnode-cli openchannel <node_id> <amt_sat> [options]', '', 'Open a private channel to a connected peer, funded from the wallet.']);
    expect(screen).toMatch(/<amt_sat> +channel capacity in satoshis, taken from the on-chain wallet/);
    expect(screen).toMatch(/--push-amt SAT +satoshis given to the peer at open \(default 0\)/);
  });

  test('addinvoice 150000 is 150,000 sat; decodeinvoice shows it with dates and the expiry in hours', async () => {
    const h = 'ab'.repeat(32);
    const add = await type(`lnnode-cli addinvoice 150000 ${h}`);
    expect(add.code).toBe(0);
    expect(add.screen).toMatch(/^payment_request: lnbcrt1500u1\S+$/m);
    const d = await type(`lnnode-cli decodeinvoice $(lnnode-cli addinvoice 150000 ${h} | sed -n 's/^payment_request: //p')`);
    expect(d.code).toBe(0);
    const lines = d.screen.split('\n');
    expect(lines).toContain(`payee_pubkey: ${hex(node.node.nodeId)}`);
    expect(lines).toContain(`description_hash: ${h}`);
    expect(lines).toContain('amount_msat: 150000000 (150,000 sat)');
    expect(lines).toContain('expiry_seconds: 3600 (1h)');
    expect(lines.find((l) => l.startsWith('timestamp_unix:'))).toMatch(/^timestamp_unix: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((now|\d+s ago)\)$/);
    const list = await type('lnnode-cli listinvoices');
    expect(list.screen).toContain('  state: OPEN');
  });

  test('a typo in an option: one error line, one hint line, exit 2, nothing sent', async () => {
    const r = await type('lnnode-cli payinvoice lnbcrt1x --amt-sat 5');
    expect(r).toEqual({ code: 2, screen: "lnnode-cli: unknown option --amt-sat for payinvoice\nrun 'lnnode-cli help payinvoice' for its arguments and options" });
    const extra = await type('lnnode-cli getinfo now');
    expect(extra).toEqual({ code: 2, screen: "lnnode-cli: unexpected argument \"now\" (getinfo takes no arguments)\nrun 'lnnode-cli help getinfo' for its arguments and options" });
  });

  test('a refusal by the node: its gRPC code and reason, exit 1', async () => {
    const r = await type(`lnnode-cli sendcustom 02${'11'.repeat(32)} 32769 00`);
    expect(r.code).toBe(1);
    expect(r.screen).toMatch(/^lnnode-cli: NOT_FOUND: peer 02(11){32} is not connected/);
  });
});
