/** lnnode-cli commands for the node itself, its peers and BOLT 1 custom messages. */
import { fromHex, hex } from '../../bolt/bytes.ts';
import { parsePeerTarget } from '../../node/config.ts';
import { LightningNodeService } from '../../rpc/gen/lnnode/v1/lnnode_pb.ts';
import { UsageError } from '../exit-codes.ts';
import { type CommandGroup } from './command.ts';

const m = LightningNodeService.method;
const CUSTOM_RANGE = 'a BOLT 1 custom message type, 32768..65535';

export const PEER_COMMANDS: CommandGroup = {
  title: 'Node and peers',
  commands: [
    {
      name: 'getinfo',
      summary: "the node's id, network, listen addresses, chain tip and counts",
      args: [],
      flags: [],
      run: async ({ client }) => ({ schema: m.getNodeInfo.output, msg: await client.getNodeInfo({}) }),
    },
    {
      name: 'stop',
      summary: 'stop the daemon cleanly: it answers, closes its listeners, peers and database, and exits 0',
      args: [],
      flags: [],
      run: async ({ client }) => {
        const r = await client.stop({});
        return { json: { status: r.status }, text: `stopping: ${r.status}` };
      },
    },
    {
      name: 'connect',
      summary: 'connect to a peer',
      args: [{ name: 'node_id@host:port', help: "the peer's node id (66 hex digits) and P2P address, e.g. 02ab…@127.0.0.1:9735" }],
      flags: [{ name: '--persistent', help: 'redial it after disconnects and restarts (default: connect once)' }],
      example: 'lnnode-cli connect 02…@127.0.0.1:9736',
      run: async ({ client, values }) => {
        const raw = values.string('node_id@host:port');
        let t;
        try {
          t = parsePeerTarget(raw, 'node_id@host:port');
        } catch (e) {
          throw new UsageError((e as Error).message, 'connect');
        }
        const addr = `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
        const persistent = values.has('--persistent');
        const r = await client.connectPeer({ peerPubkey: fromHex(t.nodeId), addr, persistent });
        return {
          json: { peer_pubkey: t.nodeId, addr, persistent, already_connected: r.alreadyConnected },
          text: `${r.alreadyConnected ? 'already connected to' : 'connected to'} ${t.nodeId}@${addr}${persistent ? ' (persistent: redialled after disconnects)' : ''}`,
        };
      },
    },
    {
      name: 'disconnect',
      summary: 'disconnect a peer (a persistent one is forgotten as such)',
      args: [{ name: 'node_id', help: "the peer's node id, 66 hex digits" }],
      flags: [],
      run: async ({ client, values }) => {
        const id = values.pubkey('node_id');
        await client.disconnectPeer({ peerPubkey: id });
        return { json: { peer_pubkey: hex(id), disconnected: true }, text: `disconnected ${hex(id)}` };
      },
    },
    {
      name: 'listpeers',
      summary: 'peers, connected or remembered, with their features',
      args: [],
      flags: [],
      run: async ({ client }) => ({ schema: m.listPeers.output, msg: await client.listPeers({}) }),
    },
    {
      name: 'subscribepeers',
      summary: 'print peers coming online and going offline until Ctrl-C',
      args: [],
      flags: [],
      run: async ({ client, print }) => {
        for await (const e of client.subscribePeerEvents({})) print({ schema: m.subscribePeerEvents.output, msg: e });
        return undefined;
      },
    },
    {
      name: 'sendcustom',
      summary: 'send a BOLT 1 custom message to a connected peer',
      args: [
        { name: 'node_id', help: "the peer's node id, 66 hex digits" },
        { name: 'type', help: CUSTOM_RANGE },
        { name: 'data', help: 'the payload as hex (default empty)', optional: true },
      ],
      flags: [],
      example: 'lnnode-cli sendcustom 02… 32769 68656c6c6f',
      run: async ({ client, values }) => {
        const id = values.pubkey('node_id');
        const type = Number(values.uint('type', CUSTOM_RANGE, 65535n));
        const data = values.has('data') ? values.hex('data') : new Uint8Array();
        await client.sendCustomMessage({ peerPubkey: id, msgType: type, data });
        return {
          json: { peer_pubkey: hex(id), msg_type: type, data_bytes: data.length, sent: true },
          text: `sent custom message type ${type} (${data.length} byte${data.length === 1 ? '' : 's'}) to ${hex(id)}`,
        };
      },
    },
    {
      name: 'subscribecustom',
      summary: 'print custom messages from peers as they arrive until Ctrl-C',
      args: [{ name: 'type', help: `only these types (${CUSTOM_RANGE}; default every type)`, variadic: true }],
      flags: [],
      run: async ({ client, values, rest, print }) => {
        void values;
        const msgTypes = rest.map((t) => {
          if (!/^\d+$/.test(t) || Number(t) > 65535) throw new UsageError(`type: expected ${CUSTOM_RANGE}, got "${t}"`, 'subscribecustom');
          return Number(t);
        });
        for await (const msg of client.subscribeCustomMessages({ msgTypes })) print({ schema: m.subscribeCustomMessages.output, msg });
        return undefined;
      },
    },
  ],
};
