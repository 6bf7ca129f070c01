// lab-peers: btcd
/**
 * The receiver-rule table, lab group "normal" (groups/normal.ts), on its own
 * daemon and chain: channels in normal operation that a hostile funder
 * breaks one rule at a time. The results go to .test-results for the tally
 * (test/support/receiver-rules-tally.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { labRows, type LabGroup } from './receiver-rules.ts';
import { Table } from './lab-table.ts';
import { normalGroup } from './groups/normal.ts';

const GROUPS: LabGroup[] = ['normal'];
const t = new Table(GROUPS);

beforeAll(() => t.start(), 120_000);
afterAll(() => t.stop(), 60_000);

normalGroup(t);

describe('the lab table', () => {
  test('every lab row of the groups run here has a scenario', () => {
    const missing = GROUPS.flatMap((g) => labRows(g)).filter((r) => !t.implemented.has(r.id)).map((r) => r.id);
    expect(missing).toEqual([]);
  });
});
