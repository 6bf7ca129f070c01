#!/usr/bin/env node
// `lnnode-cli`: the command-line client (src/cli.ts) under the Bun installed with this package.
import { runWithBun } from './run-with-bun.mjs';

runWithBun('src/cli.ts');
