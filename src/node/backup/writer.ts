/**
 * Keeps the static channel backup file up to date: after every channel
 * state change the backup's content is computed again (cheap: a few fields
 * per channel) and the file rewritten, atomically, only when that content
 * changed: a channel opened or closed, a peer reached at a new address.
 * Payments do not change it, so it is not rewritten on each one.
 *
 * A failed write is logged and retried on the next change; it never stops
 * the node (the database still holds every channel).
 */
import { hex } from '../../bolt/bytes.ts';
import { type Logger } from '../log.ts';
import { type Network } from '../identity.ts';
import { BACKUP_VERSION, type BackupChannel, backupText, encryptBackup } from './format.ts';
import { writeFileAtomic } from './file.ts';

export interface BackupWriterOptions {
  path: string;
  key: Uint8Array;
  network: Network;
  nodeId: Uint8Array;
  entries: () => BackupChannel[];
  random: (n: number) => Uint8Array;
  log: Logger;
  /** Unix seconds (tests fix it). */
  now?: () => number;
}

export class ChannelBackupWriter {
  private lastText: string | undefined;
  /** Files written since start (tests and logs count them). */
  writes = 0;

  constructor(private readonly o: BackupWriterOptions) {}

  get path(): string {
    return this.o.path;
  }

  /** Writes the file if its content changed (or was never written by this process). Returns whether it wrote. */
  refresh(): boolean {
    const channels = this.o.entries();
    const b = { version: BACKUP_VERSION, network: this.o.network, nodeId: hex(this.o.nodeId), channels };
    const text = backupText(b);
    if (text === this.lastText) return false;
    try {
      const now = this.o.now ?? (() => Math.floor(Date.now() / 1000));
      writeFileAtomic(this.o.path, encryptBackup(this.o.key, this.o.random(12), { ...b, createdAt: now() }));
    } catch (e) {
      this.o.log.error('cannot write the channel backup; retried on the next channel change', { path: this.o.path, error: e as Error });
      return false;
    }
    this.lastText = text;
    this.writes++;
    this.o.log.info('channel backup written', { path: this.o.path, channels: channels.length });
    return true;
  }
}
