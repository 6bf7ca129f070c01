// lab-peers: btcd
/**
 * The receiver-rule table, groups dataloss and onchain (test/regtest/rules/
 * groups/{dataloss,onchain}.ts) on one daemon and chain of their own:
 * a node restarted from an older copy of its database, and channels the
 * hostile peers take to the chain (their commitments, revoked ones, HTLC
 * deadlines, the node's own force close). dataloss runs first: it puts an
 * old database back, which would take the onchain group's channels with
 * it. The results go to .test-results for the tally
 * (test/support/receiver-rules-tally.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { labRows, type LabGroup } from './receiver-rules.ts';
import { Table } from './lab-table.ts';
import { dataLossGroup } from './groups/dataloss.ts';
import { onchainGroup } from './groups/onchain.ts';

const GROUPS: LabGroup[] = ['dataloss', 'onchain'];
const t = new Table(GROUPS);

beforeAll(() => t.start(), 120_000);
afterAll(() => t.stop(), 60_000);

dataLossGroup(t);
onchainGroup(t);

describe('the lab table', () => {
  test('every lab row of the groups run here has a scenario', () => {
    const missing = GROUPS.flatMap((g) => labRows(g)).filter((r) => !t.implemented.has(r.id)).map((r) => r.id);
    expect(missing).toEqual([]);
  });
});
