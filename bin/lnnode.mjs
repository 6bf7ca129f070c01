#!/usr/bin/env node
// `lnnode`: the daemon (src/main.ts) under the Bun installed with this package.
import { runWithBun } from './run-with-bun.mjs';

runWithBun('src/main.ts');
