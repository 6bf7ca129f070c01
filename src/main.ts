#!/usr/bin/env bun
/**
 * lnnode entry point. For now it only reports its version and the protocol
 * layers present; the peer daemon arrives with the node layer (src/node/).
 */
import pkg from '../package.json' with { type: 'json' };

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`lnnode ${pkg.version}\nusage: lnnode [--version]`);
  process.exit(0);
}
console.log(JSON.stringify({ msg: 'lnnode', version: pkg.version, runtime: `bun ${Bun.version}` }));
