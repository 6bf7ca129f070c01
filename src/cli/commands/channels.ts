/** lnnode-cli commands for channels. */
import { writeFileSync } from 'node:fs';
import { MAX_FEERATE_LIMIT_SAT_VB } from '../../chain/feerate.ts';
import { LightningNodeService } from '../../rpc/gen/lnnode/v1/lnnode_pb.ts';
import { type CommandGroup } from './command.ts';

const m = LightningNodeService.method;
// The node refuses rates above its own --max-feerate; no node accepts more than this.
export const FEE_RATE_LIMIT = BigInt(MAX_FEERATE_LIMIT_SAT_VB);

export const CHANNEL_COMMANDS: CommandGroup = {
  title: 'Channels',
  commands: [
    {
      name: 'openchannel',
      summary: 'open a private channel to a connected peer, funded from the wallet',
      args: [
        { name: 'node_id', help: "the peer's node id, 66 hex digits (connect to it first)" },
        { name: 'amt_sat', help: 'channel capacity in satoshis, taken from the on-chain wallet' },
      ],
      flags: [
        { name: '--push-amt', value: 'SAT', help: 'satoshis given to the peer at open (default 0)' },
        { name: '--push-msat', value: 'MSAT', help: 'the same in millisatoshis, instead of --push-amt' },
        { name: '--fee-rate', value: 'SAT_PER_VB', help: "funding transaction fee rate (default: the chain's estimate)" },
      ],
      notes: ['The channel is usable once the funding transaction has 3 confirmations (listchannels: usable true).'],
      example: 'lnnode-cli openchannel 02… 500000',
      run: async ({ client, values }) => ({
        schema: m.openChannel.output,
        msg: await client.openChannel({
          peerPubkey: values.pubkey('node_id'),
          localFundingAmountSat: values.sat('amt_sat'),
          pushMsat: values.amountMsat('--push-amt', '--push-msat', 0n),
          fundingFeeRateSatPerVbyte: values.uint('--fee-rate', 'sat/vB', FEE_RATE_LIMIT, 0n),
        }),
      }),
    },
    {
      name: 'closechannel',
      summary: 'close a channel with its peer, or alone with --force',
      args: [{ name: 'channel_id', help: 'the channel id, 64 hex digits (listchannels)' }],
      flags: [
        { name: '--force', help: 'broadcast our commitment instead of negotiating (our funds wait to_self_delay blocks)' },
        { name: '--fee-rate', value: 'SAT_PER_VB', help: "mutual close fee rate (default: the chain's 6-block estimate)" },
      ],
      run: async ({ client, values }) => ({
        schema: m.closeChannel.output,
        msg: await client.closeChannel({
          channelId: values.hex('channel_id', 32),
          force: values.has('--force'),
          feeRateSatPerVbyte: values.uint('--fee-rate', 'sat/vB', FEE_RATE_LIMIT, 0n),
        }),
      }),
    },
    {
      name: 'listchannels',
      summary: 'channels with their state, balances and funding',
      args: [],
      flags: [{ name: '--all', help: 'also closed and resolved channels (default: open and closing ones)' }],
      run: async ({ client, values }) => ({ schema: m.listChannels.output, msg: await client.listChannels({ includeClosed: values.has('--all') }) }),
    },
    {
      name: 'pendingchannels',
      summary: 'channels opening (confirmations to go) or closing (maturity height, funds in limbo)',
      args: [],
      flags: [],
      notes: [
        'Opening: funding_confirmations and funding_blocks_to_go. Closing: close_height once the closing transaction confirmed;',
        'after a force close maturity_height / blocks_til_maturity (when our output can be swept) and limbo_sat (not yet in the wallet).',
      ],
      run: async ({ client }) => {
        const all = await client.listChannels({ includeClosed: false });
        return { schema: m.listChannels.output, msg: { ...all, channels: all.channels.filter((c) => PENDING_STATES.has(c.state)) } };
      },
    },
    {
      name: 'closedchannels',
      summary: 'closed channels with close height, close kind and the balance that came back',
      args: [],
      flags: [],
      notes: ['settled_sat: what reached the wallet (the mutual-close output, or the sum of our sweeps); close_kind: mutual, local, remote, revoked.'],
      run: async ({ client }) => {
        const all = await client.listChannels({ includeClosed: true });
        return { schema: m.listChannels.output, msg: { ...all, channels: all.channels.filter((c) => c.state === 'closed') } };
      },
    },
    {
      name: 'exportchanbackup',
      summary: 'write the encrypted static channel backup to a file (for lnnode --restore-channel-backup)',
      args: [{ name: 'file', help: 'where to write it (created 0600; an existing file is replaced)' }],
      flags: [],
      notes: ['The backup opens only with this node\'s mnemonic (and passphrase); keep it off the machine, beside nothing that holds the words.'],
      example: 'lnnode-cli exportchanbackup /media/usb/channel.backup',
      run: async ({ client, values }) => {
        const file = values.string('file');
        const r = await client.exportChannelBackup({});
        writeFileSync(file, r.backup, { mode: 0o600 });
        return { json: { file, num_channels: r.numChannels, bytes: r.backup.length, node_path: r.path }, text: `wrote ${r.backup.length} bytes (${r.numChannels} channels) to ${file}` };
      },
    },
  ],
};

/** Channel states between asking for a channel and using it, and between closing it and having every satoshi back. */
const PENDING_STATES = new Set(['awaiting_funding_signed', 'awaiting_lock_in', 'closing']);
