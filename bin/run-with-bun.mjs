/**
 * Runs one of lnnode's TypeScript entry points under the Bun that is
 * installed with this package (the `bun` npm dependency), so `lnnode` and
 * `lnnode-cli` work after `npm i -g` with only Node.js on PATH. Signals are
 * passed on and the exit code (or signal) comes back unchanged.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The bun binary of the `bun` package this one depends on, wherever npm put it (nested or hoisted). */
export function bunBinary() {
  if (process.versions.bun) return process.execPath;
  const require = createRequire(join(here, '..', 'package.json'));
  let pkg;
  try {
    pkg = require.resolve('bun/package.json');
  } catch {
    throw new Error('the bun package is not installed next to lnnode: reinstall lnnode with npm (bun is one of its dependencies)');
  }
  // The package names its binary bun.exe on every platform; until bun's postinstall has run it is a
  // small placeholder, and the binary is still in the platform package (@oven/bun-linux-x64, ...).
  const bin = join(dirname(pkg), 'bin', 'bun.exe');
  if (existsSync(bin) && statSync(bin).size > 1_000_000) return bin;
  const arch = process.arch === 'arm64' ? 'aarch64' : process.arch;
  try {
    const platformBin = join(dirname(require.resolve(`@oven/bun-${process.platform}-${arch}/package.json`)), 'bin', 'bun');
    if (existsSync(platformBin)) return platformBin;
  } catch {
    // not installed for this platform
  }
  throw new Error(`${bin} is a placeholder: reinstall lnnode without --ignore-scripts (bun's install step puts the binary there)`);
}

export function runWithBun(entry) {
  let bun;
  try {
    bun = bunBinary();
  } catch (e) {
    process.stderr.write(`lnnode: ${e.message}\n`);
    process.exit(1);
  }
  const child = spawn(bun, [join(here, '..', entry), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('error', (e) => {
    process.stderr.write(`lnnode: cannot run ${bun}: ${e.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
}
