/**
 * The running sandbox's control port (127.0.0.1, a random token in the
 * 0600 state file): how `lab fund`, `lab mine` and `lab status` from another
 * shell use the faucet and the miner that live in the `lab up` process.
 */
import { type Sandbox, fund, mine } from './lab-nodes.ts';
import { type LabState } from './state.ts';

export interface Control {
  url: string;
  token: string;
  stop(): void;
}

/** 21 million BTC, in sat: a sanity bound on what `lab fund` is asked for. */
const MAX_SAT = 2_100_000_000_000_000n;
const MAX_BLOCKS = 1000;

export function startControl(s: Sandbox): Control {
  const token = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('hex');
  // One request at a time: the faucet must not hand out one coin twice, and mining waits for the nodes.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const r = queue.then(f);
    queue = r.catch(() => undefined);
    return r;
  };
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      if (req.headers.get('authorization') !== `Bearer ${token}`) return Response.json({ error: 'wrong token' }, { status: 401 });
      const path = new URL(req.url).pathname;
      try {
        if (req.method === 'POST' && path === '/fund') {
          const b = (await req.json()) as { address?: unknown; sat?: unknown };
          if (typeof b.address !== 'string' || typeof b.sat !== 'string' || !/^\d+$/.test(b.sat)) return Response.json({ error: 'address and sat needed' }, { status: 400 });
          const sat = BigInt(b.sat);
          if (sat === 0n || sat > MAX_SAT) return Response.json({ error: 'amount out of range' }, { status: 400 });
          const r = await serial(() => fund(s, b.address as string, sat));
          return Response.json(r);
        }
        if (req.method === 'POST' && path === '/mine') {
          const b = (await req.json()) as { blocks?: unknown };
          if (typeof b.blocks !== 'number' || !Number.isInteger(b.blocks) || b.blocks < 1 || b.blocks > MAX_BLOCKS) {
            return Response.json({ error: `blocks: 1 to ${MAX_BLOCKS}` }, { status: 400 });
          }
          return Response.json({ height: await serial(() => mine(s, b.blocks as number)) });
        }
        if (req.method === 'GET' && path === '/status') {
          const nodes = [];
          for (const n of s.nodes) {
            const [info, bal, ch] = await Promise.all([n.client.getNodeInfo({}), n.client.walletBalance({}), n.client.listChannels({})]);
            nodes.push({
              name: n.name,
              height: info.blockHeight,
              peers: info.numPeers,
              confirmedSat: bal.confirmedSat.toString(),
              unconfirmedSat: bal.unconfirmedSat.toString(),
              channels: ch.channels.map((c) => ({ state: c.state, usable: c.usable, capacitySat: c.channelValueSat.toString() })),
            });
          }
          return Response.json({ height: await s.btcd.height(), nodes });
        }
        return Response.json({ error: `no route ${req.method} ${path}` }, { status: 404 });
      } catch (e) {
        return Response.json({ error: (e as Error).message }, { status: 400 });
      }
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, token, stop: () => void server.stop(true) };
}

/** A call to the running sandbox's control port. */
export async function controlCall<T>(state: LabState, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${state.control.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${state.control.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Error(`the sandbox does not answer at ${state.control.url}: is \`lab up\` still running? (\`lab down\` cleans up after it)`);
  }
  const out = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(out.error ?? `HTTP ${res.status}`);
  return out;
}
