import { test } from 'bun:test';
import { ONCHAIN_SCENARIOS } from './onchain-rows.ts';
for (const id of ['onchain/reorg']) test(id, () => ONCHAIN_SCENARIOS.get(id)!(), 60000);
