/**
 * The test side of src/node/fault-injection.ts: a file that arms a daemon
 * (started with `env`) to SIGKILL itself right after its Nth durable write
 * from the arming, or only to count its writes. Each arming is numbered, so
 * the daemon tells a new arming from the one it already acted on.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labTempDir } from './processes.ts';

export interface FaultArm {
  /** The environment that makes a daemon read the arm file. */
  env: Record<string, string>;
  /** Counts the daemon's writes from now; with `killAt`, it kills itself right after that many. */
  arm(killAt?: number): void;
  /** Stops counting; returns how many writes were counted since the last arm(). */
  disarm(): number;
  /** Writes counted since the last arm() (the arm stays). */
  counted(): number;
  remove(): void;
}

export function faultArm(prefix: string): FaultArm {
  const file = join(labTempDir(prefix), 'arm');
  let armings = 0;
  const counted = (): number => (existsSync(`${file}.count`) ? Number(readFileSync(`${file}.count`, 'utf8')) : 0);
  return {
    env: { LNNODE_FAULT_ARM_FILE: file },
    arm(killAt) {
      rmSync(`${file}.count`, { force: true });
      writeFileSync(file, `${killAt ?? '-'} ${++armings}`);
    },
    disarm() {
      rmSync(file, { force: true });
      return counted();
    },
    counted,
    remove: () => rmSync(file, { force: true }),
  };
}
