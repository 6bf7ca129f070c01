#!/usr/bin/env bun
/** lnnode-cli's entry point (package.json bin); the CLI itself is in src/cli/. */
import { main } from './cli/main.ts';

process.exit(await main(process.argv.slice(2)));
