/**
 * The sandbox's bookkeeping, without starting it: a recorded process is
 * signalled only while its PID still has the start time recorded with it
 * (a PID reused after a crash is left alone), and `lab fund` amounts in BTC
 * become exact satoshis.
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { btcToSat } from '../lab/cli.ts';
import { processIdentity, record, signalVerified, stillRunning } from '../lab/sandbox/state.ts';

const sleeper = Bun.spawn(['sleep', '60']);
afterAll(() => sleeper.kill('SIGKILL'));

describe('sandbox state', () => {
  test('a live process is recognised by PID and start time; another start time is not it', async () => {
    const p = record('sleep', sleeper.pid);
    expect(stillRunning(p)).toBe(true);
    expect(processIdentity(process.pid)).not.toBe(p.identity);
    // As if the PID had been reused by another program since the state file was written.
    const reused = { ...p, identity: `${p.identity}0` };
    expect(signalVerified(reused, 'SIGTERM')).toBe(false);
    expect(sleeper.exitCode).toBeNull();
    expect(signalVerified(p, 'SIGTERM')).toBe(true);
    expect(await sleeper.exited).toBe(143);
    expect(stillRunning(p)).toBe(false);
    expect(signalVerified(p, 'SIGTERM')).toBe(false);
  });

  test('a process that does not exist cannot be recorded', () => {
    expect(processIdentity(2 ** 22 + 7)).toBeUndefined();
    expect(() => record('ghost', 2 ** 22 + 7)).toThrow('ghost (pid 4194311) is not running');
  });

  test('BTC amounts to exact satoshis', () => {
    expect(btcToSat('0.5')).toBe(50_000_000n);
    expect(btcToSat('1')).toBe(100_000_000n);
    expect(btcToSat('0.00000001')).toBe(1n);
    expect(btcToSat('21000000')).toBe(2_100_000_000_000_000n);
    expect(() => btcToSat('0.000000001')).toThrow('<btc>: expected an amount in BTC such as 0.5 (at most 8 decimals), got "0.000000001"');
    expect(() => btcToSat('1e3')).toThrow('expected an amount in BTC');
  });
});
