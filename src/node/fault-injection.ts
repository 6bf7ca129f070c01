/**
 * Test-only crash injection at the persistence points (issue 14 "crash at
 * every persistence point"). Every durable write of the node goes through
 * the store's one database (counting-db.ts counts each commit). With
 * LNNODE_FAULT_ARM_FILE=<file> in the environment, each commit made while
 * that file exists is counted (the count is written beside it,
 * `<file>.count`, so a test learns how many a scenario makes). The file
 * holds `<N> <label>`: each new content starts a new count, and with N a
 * number (not `-`) the process SIGKILLs itself right after the Nth commit:
 * after the write, before anything that follows it in the same turn (the
 * message it protects, the broadcast). The test writes the file when its
 * scenario starts, so the writes of start-up and set-up are not counted.
 * With LNNODE_FAULT_TRACE set, the stack of each counted write is appended
 * to `<file>.trace`. Without the variable nothing is installed.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

export function commitFaultHook(env: Record<string, string | undefined> = process.env): (() => void) | undefined {
  const arm = env.LNNODE_FAULT_ARM_FILE;
  if (!arm) return undefined;
  let count = 0;
  let armedWith = '';
  return () => {
    if (!existsSync(arm)) return;
    const content = readFileSync(arm, 'utf8');
    if (content !== armedWith) [count, armedWith] = [0, content];
    count++;
    writeFileSync(`${arm}.count`, String(count));
    // Where each counted write came from, to tell which step a crash point is (debugging a failing point).
    if (env.LNNODE_FAULT_TRACE) appendFileSync(`${arm}.trace`, `write ${count}\n${new Error().stack}\n`);
    const limit = Number(content.split(' ')[0]);
    if (Number.isInteger(limit) && count >= limit) process.kill(process.pid, 'SIGKILL');
  };
}
