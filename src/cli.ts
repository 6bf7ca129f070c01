#!/usr/bin/env bun
/**
 * lnnode-cli: the lnnode.v1 API from a shell. Reads the token, the API's
 * address (rpc.addr, written by the node when it listens) and, off loopback,
 * the TLS certificate from the node's data dir; calls one method; prints the
 * answer readably, or as JSON with --json (bytes as hex, amounts as strings
 * so no precision is lost). Exit codes: 0 ok, 1 the node refused or cannot
 * be reached (gRPC code and message on stderr), 2 a bad command line.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type DescMessage } from '@bufbuild/protobuf';
import { ConnectError, Code } from '@connectrpc/connect';
import { fromHex, hex } from './bolt/bytes.ts';
import { parseHostPort, parsePeerTarget } from './node/config.ts';
import { lnnodeClient, type LnnodeClient } from './rpc/client.ts';
import { RPC_ADDR_FILE, tokenPath } from './rpc/credentials.ts';
import { LightningNodeService } from './rpc/gen/lnnode/v1/lnnode_pb.ts';
import { isLoopback } from './rpc/server.ts';

const USAGE = `usage: lnnode-cli [--network regtest] [--data-dir DIR] [--rpc HOST:PORT] [--tls-cert FILE] [--json] <command> [args]
  getinfo
  connect <pubkey>@<host:port> [--persistent]     disconnect <pubkey>     listpeers
  sendcustom <pubkey> <type> <hex>                 subscribecustom [type ...]     subscribepeers
  openchannel <pubkey> <sat> [--push-msat N] [--fee-rate SAT_PER_VB]
  closechannel <channel_id> [--force] [--fee-rate SAT_PER_VB]                     listchannels [--all]
  newaddress     walletbalance     sendtoaddress <address> <sat|all> [--fee-rate SAT_PER_VB] [--idempotency-key KEY]
  addinvoice <amount_msat> <description_hash_hex> [--expiry SECONDS]
  waitinvoice <payment_hash> [--timeout SECONDS]   listinvoices     decodeinvoice <bolt11>
  payinvoice <bolt11> [--amount-msat N] [--timeout SECONDS]                       listpayments`;

class UsageError extends Error {}

/** Proto message -> JSON-friendly object: bytes as hex, 64-bit ints as strings, enums by name. */
function render(schema: DescMessage, msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const scalar = (v: unknown): unknown => (v instanceof Uint8Array ? hex(v) : typeof v === 'bigint' ? v.toString() : v);
  for (const f of schema.fields) {
    const v = msg[f.localName];
    if (f.fieldKind === 'message') out[f.name] = v === undefined ? null : render(f.message, v as Record<string, unknown>);
    else if (f.fieldKind === 'enum') out[f.name] = f.enum.values.find((e) => e.number === v)?.name ?? v;
    else if (f.fieldKind === 'list') {
      const list = v as unknown[];
      out[f.name] = f.listKind === 'message' ? list.map((x) => render(f.message, x as Record<string, unknown>)) : list.map(scalar);
    } else if (f.fieldKind === 'scalar') out[f.name] = scalar(v);
  }
  return out;
}

/** The rendered object as indented "key: value" lines, enum prefixes dropped. */
function readable(o: Record<string, unknown>, indent = ''): string {
  const lines: string[] = [];
  const scalar = (v: unknown): string => (typeof v === 'string' ? v.replace(/^[A-Z]+(_[A-Z]+)*_(?=[A-Z]+$)/, '') : String(v));
  for (const [k, v] of Object.entries(o)) {
    if (Array.isArray(v)) {
      if (!v.length) lines.push(`${indent}${k}: (none)`);
      else if (typeof v[0] !== 'object') lines.push(`${indent}${k}: ${v.map(scalar).join(', ')}`);
      else for (const [i, x] of v.entries()) lines.push(`${indent}${k}[${i}]:`, readable(x as Record<string, unknown>, `${indent}  `));
    } else if (v && typeof v === 'object') lines.push(`${indent}${k}:`, readable(v as Record<string, unknown>, `${indent}  `));
    else lines.push(`${indent}${k}: ${v === null || v === '' ? '-' : scalar(v)}`);
  }
  return lines.join('\n');
}

function parse(argv: string[]): { opts: Map<string, string | true>; args: string[] } {
  const opts = new Map<string, string | true>();
  const args: string[] = [];
  const flags = new Set(['--force', '--persistent', '--all', '--help', '-h', '--json']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      args.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (flags.has(name)) opts.set(name, true);
    else {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      opts.set(name, v);
    }
  }
  return { opts, args };
}

const bytesArg = (what: string, s: string | undefined, len?: number): Uint8Array => {
  if (s === undefined || !/^([0-9a-fA-F]{2})*$/.test(s)) throw new UsageError(`${what}: expected hex`);
  const b = fromHex(s.toLowerCase());
  if (len !== undefined && b.length !== len) throw new UsageError(`${what}: expected ${len} bytes, got ${b.length}`);
  return b;
};
const intArg = (what: string, s: string | true | undefined, dflt?: bigint): bigint => {
  if (s === undefined && dflt !== undefined) return dflt;
  if (typeof s !== 'string' || !/^\d+$/.test(s)) throw new UsageError(`${what}: expected a non-negative integer`);
  return BigInt(s);
};

async function run(c: LnnodeClient, cmd: string, args: string[], opts: Map<string, string | true>): Promise<[DescMessage, unknown] | undefined> {
  const show = (schema: DescMessage, msg: unknown): void => {
    const r = render(schema, msg as Record<string, unknown>);
    console.log(opts.has('--json') ? JSON.stringify(r) : `${readable(r)}\n`);
  };
  const m = LightningNodeService.method;
  const opt = (n: string): string | undefined => (typeof opts.get(n) === 'string' ? (opts.get(n) as string) : undefined);
  switch (cmd) {
    case 'getinfo':
      return [m.getNodeInfo.output, await c.getNodeInfo({})];
    case 'connect': {
      const t = parsePeerTarget(args[0] ?? '', 'connect');
      return [m.connectPeer.output, await c.connectPeer({ peerPubkey: fromHex(t.nodeId), addr: `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`, persistent: opts.has('--persistent') })];
    }
    case 'disconnect':
      return [m.disconnectPeer.output, await c.disconnectPeer({ peerPubkey: bytesArg('pubkey', args[0], 33) })];
    case 'listpeers':
      return [m.listPeers.output, await c.listPeers({})];
    case 'sendcustom':
      return [m.sendCustomMessage.output, await c.sendCustomMessage({ peerPubkey: bytesArg('pubkey', args[0], 33), msgType: Number(intArg('type', args[1])), data: bytesArg('data', args[2] ?? '') })];
    case 'subscribecustom':
      for await (const msg of c.subscribeCustomMessages({ msgTypes: args.map((t) => Number(intArg('type', t))) })) show(m.subscribeCustomMessages.output, msg);
      return undefined;
    case 'subscribepeers':
      for await (const e of c.subscribePeerEvents({})) show(m.subscribePeerEvents.output, e);
      return undefined;
    case 'openchannel':
      return [
        m.openChannel.output,
        await c.openChannel({
          peerPubkey: bytesArg('pubkey', args[0], 33),
          localFundingAmountSat: intArg('sat', args[1]),
          pushMsat: intArg('--push-msat', opt('--push-msat'), 0n),
          fundingFeeRateSatPerVbyte: intArg('--fee-rate', opt('--fee-rate'), 0n),
        }),
      ];
    case 'closechannel':
      return [
        m.closeChannel.output,
        await c.closeChannel({ channelId: bytesArg('channel_id', args[0], 32), force: opts.has('--force'), feeRateSatPerVbyte: intArg('--fee-rate', opt('--fee-rate'), 0n) }),
      ];
    case 'listchannels':
      return [m.listChannels.output, await c.listChannels({ includeClosed: opts.has('--all') })];
    case 'newaddress':
      return [m.newAddress.output, await c.newAddress({})];
    case 'walletbalance':
      return [m.walletBalance.output, await c.walletBalance({})];
    case 'sendtoaddress': {
      const all = args[1] === 'all';
      const key = opt('--idempotency-key');
      return [
        m.sendToAddress.output,
        await c.sendToAddress({
          address: args[0] ?? '',
          amountSat: all ? 0n : intArg('sat', args[1]),
          sendAll: all,
          feeRateSatPerVbyte: intArg('--fee-rate', opt('--fee-rate'), 0n),
          rbf: true,
          idempotencyKey: key ? new TextEncoder().encode(key) : new Uint8Array(),
        }),
      ];
    }
    case 'addinvoice':
      return [
        m.createInvoice.output,
        await c.createInvoice({ amountMsat: intArg('amount_msat', args[0]), descriptionHash: bytesArg('description_hash', args[1], 32), expirySeconds: intArg('--expiry', opt('--expiry'), 0n) }),
      ];
    case 'waitinvoice':
      return [m.waitInvoiceSettled.output, await c.waitInvoiceSettled({ paymentHash: bytesArg('payment_hash', args[0], 32), timeoutSeconds: Number(intArg('--timeout', opt('--timeout'), 0n)) })];
    case 'listinvoices':
      return [m.listInvoices.output, await c.listInvoices({})];
    case 'decodeinvoice':
      return [m.decodeInvoice.output, await c.decodeInvoice({ paymentRequest: args[0] ?? '' })];
    case 'payinvoice':
      return [
        m.payInvoice.output,
        await c.payInvoice({ paymentRequest: args[0] ?? '', amountMsat: intArg('--amount-msat', opt('--amount-msat'), 0n), timeoutSeconds: Number(intArg('--timeout', opt('--timeout'), 0n)) }),
      ];
    case 'listpayments':
      return [m.listPayments.output, await c.listPayments({})];
    default:
      throw new UsageError(`unknown command "${cmd}"`);
  }
}

/** The API address the node wrote when it started listening, if any. */
function readRpcAddr(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, RPC_ADDR_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

let where = '';
let tokenFile = '';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parse(process.argv.slice(2));
    const { opts, args } = parsed;
    if (opts.has('--help') || opts.has('-h') || !args.length) {
      console.log(USAGE);
      return args.length || opts.size ? 0 : 2;
    }
    const network = (opts.get('--network') as string | undefined) ?? 'regtest';
    const dataDir = (opts.get('--data-dir') as string | undefined) ?? join(process.env.HOME ?? homedir(), '.lnnode', network);
    const { host, port } = parseHostPort((opts.get('--rpc') as string | undefined) ?? readRpcAddr(dataDir) ?? '127.0.0.1:10019', '--rpc');
    let token: string;
    try {
      token = readFileSync(tokenPath(dataDir), 'utf8').trim();
    } catch {
      throw new UsageError(`cannot read ${tokenPath(dataDir)}: give --data-dir of the node (the token is created when the node starts)`);
    }
    const certFile = (opts.get('--tls-cert') as string | undefined) ?? (isLoopback(host) ? undefined : join(dataDir, 'tls.cert'));
    const client = lnnodeClient({ host, port, token, caCert: certFile ? readFileSync(certFile, 'utf8') : undefined });
    const [cmd, ...rest] = args;
    where = `${host}:${port}`;
    tokenFile = tokenPath(dataDir);
    const r = await run(client, cmd!, rest, opts);
    if (r) {
      const out = render(r[0], r[1] as Record<string, unknown>);
      console.log(opts.has('--json') ? JSON.stringify(out, null, 2) : readable(out));
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError || (e as Error).name === 'ConfigError') {
      console.error(`lnnode-cli: ${(e as Error).message}\n${USAGE}`);
      return 2;
    }
    const c = ConnectError.from(e);
    console.error(`lnnode-cli: ${Code[c.code]}: ${c.rawMessage}`);
    if (c.code === Code.Unavailable) console.error(`lnnode-cli: no lnnode API answers at ${where}: is the node running, with --rpc-listen ${where}?`);
    if (c.code === Code.Unauthenticated) console.error(`lnnode-cli: ${tokenFile} is not the token of the node at ${where}: give --data-dir of that node`);
    return 1;
  }
}

process.exit(await main());
