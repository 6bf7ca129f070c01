/**
 * The node's metrics as exposition families, read from the node at scrape
 * time so they agree with what the API reports at the same moment:
 * channels by phase and their balances as ListChannels sums them, the
 * wallet's balance as WalletBalance gives it, payments and invoices as
 * stored. Counts of stored rows come from one GROUP BY each, so a scrape
 * never loads every payment.
 */
import pkg from '../../../package.json' with { type: 'json' };
import { type ChannelPhase } from '../channels/store.ts';
import { type LightningNode } from '../node.ts';
import { type MetricFamily, msatAsSat, type Sample } from './exposition.ts';

const PHASES: readonly ChannelPhase[] = ['awaiting_funding_signed', 'awaiting_lock_in', 'normal', 'shutdown', 'closing', 'closed'];
const PAYMENT_STATES = ['in_flight', 'succeeded', 'failed'] as const;
const INVOICE_STATES = ['open', 'settled', 'canceled'] as const;
const PROCESS_START_S = Math.floor(Date.now() / 1000 - performance.now() / 1000);

function countBy(node: LightningNode, table: 'payments' | 'invoices', states: readonly string[], label: string): Sample[] {
  const rows = node.store.db.query<{ state: string; n: number }, []>(`SELECT state, count(*) AS n FROM ${table} GROUP BY state`).all();
  const by = new Map(rows.map((r) => [r.state, r.n]));
  const extra = rows.filter((r) => !states.includes(r.state)).map((r) => r.state);
  return [...states, ...extra].map((s) => ({ labels: { [label]: s }, value: by.get(s) ?? 0 }));
}

export function collectMetrics(node: LightningNode): MetricFamily[] {
  const m = node.metrics;
  const channels = node.channels?.list() ?? [];
  const families: MetricFamily[] = [
    { name: 'lnnode_info', help: 'The running lnnode: version and network as labels.', type: 'gauge', samples: [{ labels: { version: pkg.version, network: node.config.network, chain_source: node.config.chain.kind }, value: 1 }] },
    { name: 'lnnode_chain_height', help: 'Height of the chain tip the node follows (0 before the chain source answers).', type: 'gauge', samples: [{ value: node.tip?.height ?? 0 }] },
    { name: 'lnnode_peers_connected', help: 'Peers connected with init exchanged.', type: 'gauge', samples: [{ value: node.peers.peers().length }] },
    {
      name: 'lnnode_channels',
      help: 'Channels by phase (closed ones included).',
      type: 'gauge',
      samples: PHASES.map((phase) => ({ labels: { phase }, value: channels.filter((c) => c.phase === phase).length })),
    },
    {
      name: 'lnnode_channels_active',
      help: 'Channels that can carry a payment now (normal, peer connected, reestablished).',
      type: 'gauge',
      samples: [{ value: channels.filter((c) => c.active).length }],
    },
    {
      name: 'lnnode_channel_balance_sat',
      help: 'Sum of channel balances in sat (msat as a fraction) by phase and side, as ListChannels reports them; closed channels left out.',
      type: 'gauge',
      samples: PHASES.filter((p) => p !== 'closed').flatMap((phase) => {
        const of = channels.filter((c) => c.phase === phase);
        return [
          { labels: { phase, side: 'local' }, value: msatAsSat(of.reduce((s, c) => s + c.localBalanceMsat, 0n)) },
          { labels: { phase, side: 'remote' }, value: msatAsSat(of.reduce((s, c) => s + c.remoteBalanceMsat, 0n)) },
        ];
      }),
    },
    {
      name: 'lnnode_channel_sendable_sat',
      help: 'What the channels can carry in one payment now, summed (sat, msat as a fraction): to send as spendable_msat, to receive as receivable_msat of ListChannels.',
      type: 'gauge',
      samples: [
        { labels: { direction: 'send' }, value: msatAsSat(channels.reduce((s, c) => s + c.numbers.spendableMsat, 0n)) },
        { labels: { direction: 'receive' }, value: msatAsSat(channels.reduce((s, c) => s + c.numbers.receivableMsat, 0n)) },
      ],
    },
  ];
  if (node.wallet) {
    const b = node.wallet.balance();
    families.push({
      name: 'lnnode_wallet_balance_sat',
      help: 'On-chain wallet balance in sat by state, as WalletBalance reports it (limbo: ours in closing channels, not yet in the wallet).',
      type: 'gauge',
      samples: [
        { labels: { state: 'confirmed' }, value: b.confirmedSat },
        { labels: { state: 'unconfirmed' }, value: b.unconfirmedSat },
        { labels: { state: 'reserved' }, value: b.reservedSat },
        // Ours in closing channels, not yet back in the wallet: WalletBalance's limbo_sat.
        { labels: { state: 'limbo' }, value: channels.reduce((s, c) => s + c.numbers.limboSat, 0n) },
      ],
    });
  }
  families.push(
    { name: 'lnnode_payments', help: 'Stored outgoing payments by state.', type: 'gauge', samples: countBy(node, 'payments', PAYMENT_STATES, 'state') },
    {
      name: 'lnnode_payment_latency_seconds',
      help: 'Time from the start of a payment to its outcome, for payments started since the process started.',
      type: 'histogram',
      samples: [...m.paymentLatency.entries()].flatMap(([outcome, h]) => h.samples({ outcome })),
    },
    { name: 'lnnode_invoices', help: 'Stored invoices by state (an open invoice past its expiry still counts as open).', type: 'gauge', samples: countBy(node, 'invoices', INVOICE_STATES, 'state') },
    { name: 'lnnode_store_commits_total', help: 'Durable database commits (one WAL fsync each) since start.', type: 'counter', samples: [{ value: node.store.commits }] },
    { name: 'lnnode_rpc_calls_total', help: 'API calls by service, method and status code.', type: 'counter', samples: m.rpcCalls.samples() },
    {
      name: 'lnnode_custom_messages_total',
      help: 'BOLT 1 custom messages since start, by direction (received counts dropped ones too).',
      type: 'counter',
      samples: [
        { labels: { direction: 'in' }, value: node.peers.customReceived },
        { labels: { direction: 'out' }, value: node.peers.customSent },
      ],
    },
    {
      name: 'lnnode_p2p_messages_total',
      help: 'P2P messages since start by direction and message name (custom messages as "custom", gossip and unknown odd types as "ignored").',
      type: 'counter',
      samples: [...node.peers.wireCounts]
        .sort(([x], [y]) => (x < y ? -1 : 1))
        .map(([key, n]) => {
          const [direction, message] = key.split(' ') as [string, string];
          return { labels: { direction, message }, value: n };
        }),
    },
    { name: 'lnnode_custom_messages_dropped_total', help: 'Custom messages dropped at the inbox bounds since start.', type: 'counter', samples: [{ value: node.peers.customDropped }] },
    { name: 'process_resident_memory_bytes', help: 'Resident set size of the process in bytes.', type: 'gauge', samples: [{ value: process.memoryUsage.rss() }] },
    { name: 'process_start_time_seconds', help: 'Start time of the process since the unix epoch in seconds.', type: 'gauge', samples: [{ value: PROCESS_START_S }] },
  );
  return families;
}
