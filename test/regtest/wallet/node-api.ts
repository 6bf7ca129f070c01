/**
 * The lnnode.v1 API of an in-process lab node (ChannelLab.startNode with an
 * rpcListen), and a client holding its token: how the wallet lab tests call
 * what an operator calls and check the gRPC codes it gets.
 */
import { readFileSync } from 'node:fs';
import { ConnectError } from '@connectrpc/connect';
import { type LightningNode } from '../../../src/node/node.ts';
import { startApi } from '../../../src/rpc/api.ts';
import { lnnodeClient, type LnnodeClient } from '../../../src/rpc/client.ts';
import { tokenPath } from '../../../src/rpc/credentials.ts';
import { createLogger } from '../../../src/node/log.ts';

export const API_LISTEN = { rpcListen: { host: '127.0.0.1', port: 0 } };

export async function apiOf(node: LightningNode): Promise<{ client: LnnodeClient; stop: () => Promise<void> }> {
  const api = (await startApi(node, node.config, createLogger({ level: 'error' })))!;
  const token = readFileSync(tokenPath(node.config.dataDir), 'utf8').trim();
  return { client: lnnodeClient({ host: '127.0.0.1', port: api.port, token }), stop: () => api.stop() };
}

/** The gRPC code name and message a call failed with. */
export async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConnectError) return { code: codeName(e.code), message: e.rawMessage };
    throw e;
  }
  throw new Error('the call succeeded');
}

const NAMES: Record<number, string> = { 3: 'InvalidArgument', 5: 'NotFound', 9: 'FailedPrecondition', 13: 'Internal', 14: 'Unavailable' };
const codeName = (c: number): string => NAMES[c] ?? String(c);
