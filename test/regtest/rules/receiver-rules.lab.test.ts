// lab-peers: btcd
/**
 * The receiver-rule table against a real lnnode daemon: each lab row of
 * test/regtest/rules/receiver-rules.ts played by a scripted hostile peer
 * (test/lab/hostile-peer*.ts) that deviates from BOLT 2 in one field, with
 * what the node sent back, what it stored and what it broadcast checked.
 * Groups share one daemon and one chain; each group opens the channels its
 * rows need at once. The results go to .test-results for the tally
 * (test/support/receiver-rules-tally.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { labRows, type LabGroup } from './receiver-rules.ts';
import { Table } from './lab-table.ts';
import { openGroup } from './groups/open.ts';
import { acceptGroup } from './groups/accept.ts';

// The other groups run in their own files (receiver-rules-<group>.lab.test.ts), each on its own daemon and chain.
const GROUPS: LabGroup[] = ['open', 'accept'];
const t = new Table(GROUPS);

beforeAll(() => t.start(), 120_000);
afterAll(() => t.stop(), 60_000);

openGroup(t);
acceptGroup(t);

describe('the lab table', () => {
  test('every lab row of the groups run here has a scenario', () => {
    const missing = GROUPS.flatMap((g) => labRows(g)).filter((r) => !t.implemented.has(r.id)).map((r) => r.id);
    expect(missing).toEqual([]);
  });
});
