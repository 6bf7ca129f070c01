/**
 * Logs for people beside logs for machines: --log-format text writes one
 * readable line per record (time, level, component, message, key=value),
 * coloured only when asked; JSON stays the default and unchanged.
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger, textLine } from '../../src/node/log.ts';
import { freePort } from '../lab/processes.ts';

const lines = (format?: 'json' | 'text', color?: boolean) => {
  const out: string[] = [];
  const log = createLogger({ format, color, sink: { write: (l) => out.push(l) } });
  return { out, log };
};

describe('log formats', () => {
  test('text: time, level, component, message and fields; child components and levels kept', () => {
    const { out, log } = lines('text');
    log.child('rpc').info('rpc listening', { host: '127.0.0.1', port: 10019, tls: false });
    log.warn('chain source unavailable, retrying', { error: new Error('connect ECONNREFUSED 127.0.0.1:3002'), peer: new Uint8Array([2, 171]) });
    log.debug('not shown at info');
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  lnnode\.rpc rpc listening host=127\.0\.0\.1 port=10019 tls=false\n$/);
    expect(out[1]).toMatch(/ WARN  lnnode chain source unavailable, retrying error="Error: connect ECONNREFUSED 127.0.0.1:3002" peer=02ab\n$/);
  });

  test('colour only when asked; JSON by default, as before', () => {
    expect(textLine(new Date(0), 'error', 'lnnode', 'fatal', {}, true)).toBe('00:00:00.000 \x1b[31mERROR\x1b[0m lnnode fatal');
    const { out, log } = lines();
    log.info('ready', { p2pPort: 9735 });
    expect(JSON.parse(out[0]!)).toMatchObject({ level: 'info', c: 'lnnode', msg: 'ready', p2pPort: 9735 });
  });

  test('the daemon with --log-format text', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lnnode-logfmt-'));
    try {
      const p = Bun.spawn([process.execPath, resolve(import.meta.dir, '../../src/main.ts'), '--data-dir', dataDir, '--log-format', 'text', '--p2p-listen', `127.0.0.1:${await freePort()}`, '--rpc-listen', 'off'], { stderr: 'pipe' });
      let err = '';
      const reader = p.stderr.getReader();
      while (!/ INFO  lnnode ready /.test(err)) {
        const { value, done } = await reader.read();
        if (done) break;
        err += new TextDecoder().decode(value);
      }
      p.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(err).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  lnnode starting network=regtest nodeId=0[23][0-9a-f]{64} /m);
      expect(err).not.toContain('{"t"');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 20_000);
});
