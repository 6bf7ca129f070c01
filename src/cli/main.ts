/**
 * lnnode-cli: the lnnode.v1 API from a shell. Reads the token, the API's
 * address (rpc.addr, written by the node when it listens) and, off loopback,
 * the TLS certificate from the node's data dir; calls one method; prints the
 * answer readably, or as JSON with --json. Exit codes in exit-codes.ts.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import { parseHostPort } from '../node/config.ts';
import { lnnodeClient, type LnnodeClient } from '../rpc/client.ts';
import { RPC_ADDR_FILE, tokenPath } from '../rpc/credentials.ts';
import { isLoopback } from '../rpc/server.ts';
import { type Answer, type Command } from './commands/command.ts';
import { COMMANDS, GROUPS } from './commands/index.ts';
import { EXIT, SetupError, UsageError } from './exit-codes.ts';
import { commandHelp, globalHelp } from './help.ts';
import { readable, toJson } from './output.ts';
import { parseCommandLine } from './parse.ts';
import { Values } from './values.ts';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Unix seconds, for "5m ago" in readable times. */
  now(): number;
}

const processIo: Io = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
  env: process.env,
  now: () => Math.floor(Date.now() / 1000),
};

/** The API address the node wrote when it started listening, if any. */
function readRpcAddr(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, RPC_ADDR_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** gRPC's canonical code name, as the README and other gRPC tools print it: NotFound -> NOT_FOUND. */
export const codeName = (c: Code): string => (Code[c] ?? String(c)).replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();

function usageHint(e: UsageError): string {
  return e.command ? `run 'lnnode-cli help ${e.command}' for its arguments and options` : "run 'lnnode-cli help' for the commands";
}

/** Thrown by the stand-in client once a command has converted all its arguments. */
const ARGUMENTS_OK = Symbol('arguments ok');

/**
 * Runs the command against a client that stops it at its first call: every
 * argument is converted (and refused with a UsageError) before the command
 * line needs a token or a node, so a bad amount is reported as such even
 * where no node runs.
 */
async function checkArguments(command: Command, values: Values, rest: readonly string[]): Promise<void> {
  const stop = new Proxy({}, { get: () => () => { throw ARGUMENTS_OK; } }) as LnnodeClient;
  try {
    await command.run({ client: stop, values, rest, print: () => {} });
  } catch (e) {
    if (e !== ARGUMENTS_OK) throw e;
  }
}

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let where = '';
  let tokenFile = '';
  try {
    const line = parseCommandLine(argv, COMMANDS);
    if (line.help) {
      io.out(line.command ? commandHelp(line.command) : globalHelp(GROUPS));
      return EXIT.ok;
    }
    if (!line.command) {
      io.err(globalHelp(GROUPS));
      return EXIT.usage;
    }
    const command = line.command;
    const values = new Values(command.name, line.args, line.flags);
    await checkArguments(command, values, line.rest);
    const opt = (n: string): string | undefined => {
      const v = line.global.get(n);
      return typeof v === 'string' ? v : undefined;
    };
    const json = line.global.has('--json');
    const network = opt('--network') ?? 'regtest';
    const dataDir = opt('--data-dir') ?? join(io.env.HOME ?? homedir(), '.lnnode', network);
    let target;
    try {
      target = parseHostPort(opt('--rpc') ?? readRpcAddr(dataDir) ?? '127.0.0.1:10019', '--rpc');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { host, port } = target;
    where = `${host}:${port}`;
    tokenFile = tokenPath(dataDir);
    let token: string;
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch {
      throw new SetupError(`cannot read ${tokenFile}: give --data-dir of the node (the token is created when the node starts)`);
    }
    const certFile = opt('--tls-cert') ?? (isLoopback(host) ? undefined : join(dataDir, 'tls.cert'));
    let caCert: string | undefined;
    try {
      caCert = certFile ? readFileSync(certFile, 'utf8') : undefined;
    } catch {
      throw new SetupError(`cannot read the API certificate ${certFile}: give --tls-cert`);
    }
    const client = lnnodeClient({ host, port, token, caCert });
    const print = (a: Answer): void => {
      if ('schema' in a) {
        const msg = a.msg as Record<string, unknown>;
        io.out(json ? JSON.stringify(toJson(a.schema, msg), null, 2) : readable(a.schema, msg, io.now()));
      } else io.out(json ? JSON.stringify(a.json, null, 2) : a.text);
    };
    const answer = await command.run({ client, values, rest: line.rest, print });
    if (answer) print(answer);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(e instanceof SetupError ? `lnnode-cli: ${e.message}` : `lnnode-cli: ${e.message}\n${usageHint(e)}`);
      return EXIT.usage;
    }
    const c = ConnectError.from(e);
    io.err(`lnnode-cli: ${codeName(c.code)}: ${c.rawMessage}`);
    if (c.code === Code.Unavailable && /ECONNREFUSED|connect|socket/i.test(c.rawMessage)) {
      io.err(`lnnode-cli: no lnnode API answers at ${where}: is the node running, with --rpc-listen ${where}?`);
    }
    if (c.code === Code.Unauthenticated) io.err(`lnnode-cli: ${tokenFile} is not the token of the node at ${where}: give --data-dir of that node`);
    return EXIT.rpcError;
  }
}
