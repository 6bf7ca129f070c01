/**
 * `npm run lab up`: a regtest sandbox for a person. By default btcd, the
 * Esplora adapter and two lnnode daemons (A and B) on it, each with 1 BTC
 * confirmed, A connected to B; `--with lnd,ldk` adds those peers (funded,
 * connected to A). Only the binaries it needs are built (btcd: ~30 s the
 * first time, cached after). Everything lives in `.lab/` in the repo and
 * is removed when the sandbox stops (Ctrl-C here, or `lab down`). It
 * prints copy-paste commands with the real ports and full paths, and
 * writes `.lab/env` for a shell (`lnnode-a`, `lnnode-b`, `$B_ID`, ...).
 */
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { labBinary } from '../binaries.ts';
import { startBtcd } from '../btcd.ts';
import { startEsploraServer } from '../esplora-server.ts';
import { Faucet } from '../faucet.ts';
import { startLdk } from '../ldk.ts';
import { startLnd } from '../lnd.ts';
import { startLnnode } from '../lnnode.ts';
import { startControl } from './control.ts';
import { mine, type Sandbox } from './lab-nodes.ts';
import { ENV_FILE, LAB_DIR, readState, record, signalVerified, stillRunning, writeState, type RecordedProcess } from './state.ts';

const REPO = resolve(import.meta.dir, '../../..');
const CLI = join(REPO, 'bin', 'lnnode-cli.mjs');
const NODE_FUNDS_SAT = 100_000_000n;
/** Blocks mined at start: coinbases mature after 100, so the faucet has a few to hand out. */
const START_HEIGHT = 110;

export type Extra = 'lnd' | 'ldk';

const say = (s: string): void => void process.stderr.write(`lab: ${s}\n`);
const q = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Runs the cached build script of a lab binary (a no-op once built). */
function build(script: string, what: string, firstTime: string): void {
  say(`building ${what} if needed (first time ${firstTime}, cached after)`);
  const r = Bun.spawnSync(['bash', join(REPO, 'test/lab/build', script)], { stdout: 'ignore', stderr: 'inherit' });
  if (r.exitCode !== 0) throw new Error(`building ${what} failed (bash test/lab/build/${script})`);
}

/** Stops a sandbox whose `lab up` is gone: its processes (only if their PIDs are still theirs) and its files. */
export async function cleanStale(): Promise<string[]> {
  const done: string[] = [];
  const s = readState();
  for (const p of s?.processes ?? []) {
    if (signalVerified(p, 'SIGTERM')) done.push(`stopped ${p.name} (pid ${p.pid})`);
    else done.push(`${p.name} (pid ${p.pid}) was not running`);
  }
  for (const p of s?.processes ?? []) {
    for (let i = 0; i < 50 && stillRunning(p); i++) await Bun.sleep(100);
    if (stillRunning(p) && signalVerified(p, 'SIGKILL')) done.push(`killed ${p.name} (pid ${p.pid})`);
  }
  if (existsSync(LAB_DIR)) {
    rmSync(LAB_DIR, { recursive: true, force: true });
    done.push(`removed ${LAB_DIR}`);
  }
  return done;
}

export async function up(extras: ReadonlySet<Extra>): Promise<void> {
  const running = readState();
  if (running && stillRunning(running.up)) {
    throw new Error(`a sandbox is already running (lab up, pid ${running.up.pid}): stop it with \`npm --prefix ${REPO} run lab down\` first`);
  }
  for (const line of await cleanStale()) say(`earlier sandbox: ${line}`);

  build('btcd.sh', 'btcd', '~30 s');
  if (extras.has('lnd')) build('lnd.sh', 'lnd', '~5 min');
  if (extras.has('ldk')) build('ldk-peer.sh', 'the LDK peer', '~6 min');
  mkdirSync(LAB_DIR, { recursive: true, mode: 0o700 });

  // Stopping: every part we started, then the directory. Our handlers replace processes.ts's
  // immediate SIGKILL so the daemons stop cleanly; its exit hook still kills anything left.
  const stops: (() => Promise<void> | void)[] = [];
  let stopping = false;
  const stopAll = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      say('stopping the sandbox');
      for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
      rmSync(LAB_DIR, { recursive: true, force: true });
      say(`stopped; ${LAB_DIR} removed`);
    }
    process.exit(code);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.removeAllListeners(sig);
    process.on(sig, () => void stopAll(0));
  }

  try {
    say('starting btcd');
    const btcd = await startBtcd({ dir: join(LAB_DIR, 'btcd') });
    stops.push(() => btcd.stop());
    await btcd.generate(START_HEIGHT);
    const esplora = startEsploraServer(btcd.rpc);
    stops.push(() => esplora.stop());
    const faucet = new Faucet(btcd);
    const sandbox: Sandbox = { btcd, esplora, faucet, nodes: [] };

    for (const name of ['A', 'B']) {
      say(`starting lnnode ${name}`);
      const dataDir = join(LAB_DIR, name.toLowerCase());
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const proc = await startLnnode({ dataDir, args: ['--esplora-url', esplora.url, '--chain-poll-ms', '500', '--anchor-reserve', '10000'] });
      stops.push(() => proc.stop());
      sandbox.nodes.push({ name, proc, client: proc.client() });
    }
    if (extras.has('lnd')) {
      say('starting lnd');
      const lnd = await startLnd(btcd, { dir: join(LAB_DIR, 'lnd') });
      stops.push(() => lnd.stop());
      sandbox.lnd = lnd;
    }
    if (extras.has('ldk')) {
      say('starting the LDK peer');
      const ldk = await startLdk(esplora.url, { dir: join(LAB_DIR, 'ldk') });
      stops.push(() => ldk.stop());
      sandbox.ldk = ldk;
    }

    say('funding the wallets (1 BTC each) and connecting A to its peers');
    const addresses: string[] = [];
    for (const n of sandbox.nodes) addresses.push((await n.client.newAddress({})).address);
    if (sandbox.lnd) addresses.push((await sandbox.lnd.rest<{ address: string }>('GET', '/v1/newaddress?type=0')).address);
    if (sandbox.ldk) addresses.push((await sandbox.ldk.api<{ address: string }>('POST', '/new_address')).address);
    for (const a of addresses) await faucet.send(a, NODE_FUNDS_SAT);
    await mine(sandbox, 1);
    const [a, b] = sandbox.nodes as [Sandbox['nodes'][0], Sandbox['nodes'][0]];
    for (const n of sandbox.nodes) {
      await waitBalance(n.client, NODE_FUNDS_SAT);
    }
    if (sandbox.lnd) await sandbox.lnd.funded(Number(NODE_FUNDS_SAT));
    if (sandbox.ldk) await sandbox.ldk.funded(Number(NODE_FUNDS_SAT));
    const peers: [string, number][] = [[b.proc.nodeId, b.proc.p2pPort]];
    if (sandbox.lnd) peers.push([sandbox.lnd.nodeId, sandbox.lnd.p2pPort]);
    if (sandbox.ldk) peers.push([sandbox.ldk.nodeId, sandbox.ldk.p2pPort]);
    for (const [id, port] of peers) await a.client.connectPeer({ peerPubkey: Buffer.from(id, 'hex'), addr: `127.0.0.1:${port}`, persistent: true });

    const control = startControl(sandbox);
    stops.push(() => control.stop());

    const processes: RecordedProcess[] = [record('btcd', btcd.proc.pid), ...sandbox.nodes.map((n) => record(`lnnode ${n.name}`, n.proc.proc.pid))];
    if (sandbox.lnd) processes.push(record('lnd', sandbox.lnd.proc.pid));
    if (sandbox.ldk) processes.push(record('ldk-peer', sandbox.ldk.proc.pid));
    writeEnv(sandbox);
    const summary = describe(sandbox, await btcd.height());
    writeState({ version: 1, up: record('lab up', process.pid), processes, control: { url: control.url, token: control.token }, summary });
    process.stdout.write(`${summary}\n`);
    for (const n of sandbox.nodes) {
      void n.proc.proc.exited.then(() => {
        if (!stopping) say(`lnnode ${n.name} exited; see ${n.proc.proc.logFile}`);
      });
    }
  } catch (e) {
    say(`cannot start the sandbox: ${(e as Error).message}`);
    await stopAll(1);
  }
  await new Promise(() => {});
}

async function waitBalance(c: Sandbox['nodes'][0]['client'], sat: bigint): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await c.walletBalance({})).confirmedSat >= sat) return;
    await Bun.sleep(100);
  }
  throw new Error(`a wallet did not count its ${sat} sat`);
}

/** `.lab/env`: shell functions and variables for the README's example (bash or zsh: `. .lab/env`). */
function writeEnv(s: Sandbox): void {
  const lines = ['# The lnnode sandbox, for a shell: . .lab/env (removed when the sandbox stops)'];
  for (const n of s.nodes) {
    const l = n.name.toLowerCase();
    lines.push(`lnnode-${l}() { ${q(CLI)} --data-dir ${q(n.proc.dataDir)} "$@"; }`);
    lines.push(`export ${n.name}_ID=${n.proc.nodeId} ${n.name}_ADDR=127.0.0.1:${n.proc.p2pPort}`);
  }
  if (s.lnd) {
    lines.push(`lncli-lab() { ${q(labBinary('lnd', 'lncli'))} --network regtest --rpcserver=127.0.0.1:${s.lnd.rpcPort} --tlscertpath=${q(s.lnd.tlsCertPath)} --macaroonpath=${q(s.lnd.macaroonPath)} "$@"; }`);
    lines.push(`export LND_ID=${s.lnd.nodeId} LND_ADDR=127.0.0.1:${s.lnd.p2pPort}`);
  }
  if (s.ldk) lines.push(`export LDK_ID=${s.ldk.nodeId} LDK_ADDR=127.0.0.1:${s.ldk.p2pPort} LDK_CONTROL=http://127.0.0.1:${s.ldk.controlPort}`);
  writeFileSync(ENV_FILE, `${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(ENV_FILE, 0o600);
}

/** What `lab up` prints and `lab status` repeats: every part, and a command to reach it. */
function describe(s: Sandbox, height: number): string {
  const lab = `npm --prefix ${q(REPO)} run lab --`;
  const out = [
    `lnnode sandbox is up (regtest, height ${height}); Ctrl-C here or \`${lab} down\` stops it and removes ${LAB_DIR}`,
    '',
    `btcd      JSON-RPC ${s.btcd.rpcUrl}  user ${s.btcd.rpcUser}  pass ${s.btcd.rpcPass}  cert ${s.btcd.rpcCertPath}`,
    `esplora   ${s.esplora.url}    e.g. curl ${s.esplora.url}/blocks/tip/height`,
  ];
  for (const n of s.nodes) {
    out.push(
      `lnnode ${n.name}  ${n.proc.nodeId}@127.0.0.1:${n.proc.p2pPort}  (1 BTC; ${n.name === 'A' ? 'connected to every peer' : 'connected to A'})`,
      `          ${q(CLI)} --data-dir ${q(n.proc.dataDir)} getinfo`,
      `          log ${n.proc.proc.logFile}`,
    );
  }
  if (s.lnd) {
    out.push(
      `lnd       ${s.lnd.nodeId}@127.0.0.1:${s.lnd.p2pPort}  (1 BTC; connected to A)`,
      `          ${q(labBinary('lnd', 'lncli'))} --network regtest --rpcserver=127.0.0.1:${s.lnd.rpcPort} --tlscertpath=${q(s.lnd.tlsCertPath)} --macaroonpath=${q(s.lnd.macaroonPath)} getinfo`,
    );
  }
  if (s.ldk) {
    out.push(
      `ldk       ${s.ldk.nodeId}@127.0.0.1:${s.ldk.p2pPort}  (1 BTC; connected to A)`,
      `          curl http://127.0.0.1:${s.ldk.controlPort}/channels    (routes in test/lab/README.md)`,
    );
  }
  out.push(
    '',
    `fund      ${lab} fund <address> <btc>     sends from the faucet and mines a block`,
    `mine      ${lab} mine <n>                 returns once the nodes have the blocks`,
    `status    ${lab} status`,
    `shell     . ${q(ENV_FILE)}    defines ${s.nodes.map((n) => `lnnode-${n.name.toLowerCase()}`).join(', ')} (lnnode-cli for each node)${s.lnd ? ', lncli-lab' : ''} and ${s.nodes.map((n) => `$${n.name}_ID $${n.name}_ADDR`).join(' ')}`,
  );
  return out.join('\n');
}
