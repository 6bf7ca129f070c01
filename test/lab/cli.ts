#!/usr/bin/env bun
/**
 * `bun run lab up`: starts a complete regtest lab for a person to explore
 * (btcd with 101 blocks, the Esplora API over it, an lnd, an LDK peer and an
 * lnnode daemon on btcd) and prints how to
 * reach each part; it stays in the foreground and Ctrl-C stops everything.
 * `bun run lab down` stops a lab started elsewhere (e.g. with `&`), by the
 * PIDs recorded in .lab/state.json.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBtcd } from './btcd.ts';
import { startEsploraServer } from './esplora-server.ts';
import { startLdk } from './ldk.ts';
import { startLnd } from './lnd.ts';
import { startLnnode } from './lnnode.ts';

const stateDir = join(process.cwd(), '.lab');
const stateFile = join(stateDir, 'state.json');

async function up(): Promise<void> {
  const btcd = await startBtcd();
  await btcd.generate(101);
  const esplora = startEsploraServer(btcd.rpc);
  const lnd = await startLnd(btcd);
  const ldk = await startLdk(esplora.url);
  const lnnode = await startLnnode({
    args: ['--bitcoind-rpc-url', btcd.rpcUrl, '--bitcoind-rpc-user', btcd.rpcUser, '--bitcoind-rpc-password', btcd.rpcPass, '--bitcoind-rpc-cafile', btcd.rpcCertPath],
  });
  const state = {
    pids: [btcd.proc.pid, lnd.proc.pid, ldk.proc.pid, lnnode.proc.pid, process.pid],
    ldk: { nodeId: ldk.nodeId, p2p: `127.0.0.1:${ldk.p2pPort}`, control: `http://127.0.0.1:${ldk.controlPort}`, dir: ldk.dir },
    lnnode: { nodeId: lnnode.nodeId, p2p: `127.0.0.1:${lnnode.p2pPort}`, rpc: `127.0.0.1:${lnnode.rpcPort}`, dataDir: lnnode.dataDir, log: lnnode.proc.logFile },
    btcd: { rpc: btcd.rpcUrl, user: btcd.rpcUser, pass: btcd.rpcPass, cert: btcd.rpcCertPath, dir: btcd.dir },
    esplora: esplora.url,
    lnd: {
      nodeId: lnd.nodeId,
      p2p: `127.0.0.1:${lnd.p2pPort}`,
      grpc: `127.0.0.1:${lnd.rpcPort}`,
      rest: `https://127.0.0.1:${lnd.restPort}`,
      dir: lnd.dir,
      tlsCert: lnd.tlsCertPath,
      macaroon: lnd.macaroonPath,
    },
  };
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
  console.log(`regtest lab is up (state in ${stateFile}); Ctrl-C or \`bun run lab down\` stops it.

btcd     JSON-RPC ${state.btcd.rpc}  user ${state.btcd.user} pass ${state.btcd.pass}  cert ${state.btcd.cert}
esplora  ${state.esplora}  (e.g. curl ${state.esplora}/blocks/tip/height)
lnd      node ${state.lnd.nodeId}@${state.lnd.p2p}
         lncli --rpcserver=${state.lnd.grpc} --tlscertpath=${state.lnd.tlsCert} --macaroonpath=${state.lnd.macaroon} getinfo
ldk      node ${state.ldk.nodeId}@${state.ldk.p2p}
         control API ${state.ldk.control} (e.g. curl ${state.ldk.control}/peers; routes in test/lab/README.md)
lnnode   node ${state.lnnode.nodeId}@${state.lnnode.p2p}  data ${state.lnnode.dataDir}  log ${state.lnnode.log}
mine     bun -e "..." or: btcctl is in the lab cache; blocks via JSON-RPC 'generate'`);
  await new Promise(() => {});
}

function down(): void {
  if (!existsSync(stateFile)) {
    console.log('no lab is running (no .lab/state.json)');
    return;
  }
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { pids: number[] };
  for (const pid of state.pids) {
    try {
      process.kill(pid, 'SIGTERM');
      console.log(`stopped ${pid}`);
    } catch {
      // already gone
    }
  }
  rmSync(stateFile);
}

const cmd = process.argv[2];
if (cmd === 'up') await up();
else if (cmd === 'down') down();
else {
  console.error('usage: bun run lab up | down');
  process.exit(2);
}
