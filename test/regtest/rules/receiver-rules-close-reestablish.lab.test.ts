// lab-peers: btcd
/**
 * The receiver-rule table, lab groups "close" (groups/close.ts) and
 * "reestablish" (groups/reestablish.ts) on their own daemon and chain:
 * shutdown and the fee negotiation, reconnections, and channel_reestablish
 * honest or with one field wrong. The results go to .test-results for the
 * tally (test/support/receiver-rules-tally.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { labRows, type LabGroup } from './receiver-rules.ts';
import { Table } from './lab-table.ts';
import { closeGroup } from './groups/close.ts';
import { reestablishGroup } from './groups/reestablish.ts';

const GROUPS: LabGroup[] = ['close', 'reestablish'];
const t = new Table(GROUPS);

beforeAll(() => t.start(), 120_000);
afterAll(() => t.stop(), 60_000);

closeGroup(t);
reestablishGroup(t);

describe('the lab table', () => {
  test('every lab row of the groups run here has a scenario', () => {
    const missing = GROUPS.flatMap((g) => labRows(g)).filter((r) => !t.implemented.has(r.id)).map((r) => r.id);
    expect(missing).toEqual([]);
  });
});
