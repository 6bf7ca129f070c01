/**
 * Writing the channel backup so that whatever reads it (the operator's copy
 * job, a crash in the middle) sees the old file or the new one, never half:
 * write a temporary file beside it, fsync it, rename it over the old one,
 * then fsync the directory so the rename itself survives a power loss.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { BackupError, MAX_BACKUP_BYTES } from './format.ts';

export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export function readBackupFile(path: string): Uint8Array {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new BackupError(`cannot read the channel backup ${path}: no such file`);
  }
  if (size > MAX_BACKUP_BYTES) throw new BackupError(`${path} is ${size} bytes, more than a channel backup can be`);
  return new Uint8Array(readFileSync(path));
}
