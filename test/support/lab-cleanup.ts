/**
 * Preloaded by `bun test` (bunfig.toml): after the last test file, any lab
 * process a test left running is killed and the lab's temp dirs are
 * removed. bun test emits no process 'exit', so the lab's own exit hook
 * does not run there.
 */
import { afterAll } from 'bun:test';
import { cleanUpLab } from '../lab/processes.ts';

afterAll(cleanUpLab);
