/**
 * A hostile channel opener for lab tests: a chainless lnnode (BOLT 8 and
 * BOLT 1 only: no channel manager of its own answers anything) that plays
 * open_channel / funding_created by hand with its own keys and the pure
 * BOLT 2 code, so a test can name any funding outpoint (one that belongs to
 * another channel, pays the wrong amount or script, or exists nowhere) with
 * a correctly signed first commitment, and can broadcast the commitment the
 * victim signed for it.
 */
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { Address, OutScript } from '@scure/btc-signer';
import { hex } from '../../../src/bolt/bytes.ts';
import { type Commitments } from '../../../src/bolt/bolt2/channel/commitments.ts';
import { basepointsOf, type ChannelSecrets } from '../../../src/bolt/bolt2/channel/keys.ts';
import {
  acceptFirstLocal,
  type AcceptChannelMessage,
  DEFAULT_POLICY,
  initialCommitments,
  type OpenChannelMessage,
  openChannelMessage,
  signFirstRemote,
  STATIC_REMOTEKEY_TYPE,
} from '../../../src/bolt/bolt2/channel/open.ts';
import { fundingScript } from '../../../src/bolt/bolt3/scripts.ts';
import { p2wsh } from '../../../src/bolt/bolt3/script.ts';
import { serializeTx } from '../../../src/bolt/bolt3/tx.ts';
import { ourCommitment } from '../../../src/bolt/bolt5/our-commitment.ts';
import { type FeeratePerKw, type Msat, type Sat, msat } from '../../../src/bolt/units.ts';
import { createLogger } from '../../../src/node/log.ts';
import { chainHash } from '../../../src/node/networks.ts';
import { LightningNode } from '../../../src/node/node.ts';
import { waitFor } from '../../lab/processes.ts';
import { REGTEST } from '../../lab/regtest.ts';

export interface Received {
  name: string;
  msg: Record<string, unknown>;
}

/** A chainless lnnode: a transport for scripted messages. */
export function startTransport(root: string, name: string): LightningNode {
  return LightningNode.start(
    { network: 'regtest', dataDir: join(root, name), p2pListen: { host: '127.0.0.1', port: 0 }, chain: { kind: 'none' }, connect: [], logLevel: 'error' },
    createLogger({ level: 'error' }).child(name),
  );
}

/** Every message `node` receives from `peer`, in order. */
export class Inbox {
  readonly all: Received[] = [];
  constructor(node: LightningNode, peer: Uint8Array) {
    node.peers.onMessage((from, m) => {
      if (hex(from) === hex(peer)) this.all.push({ name: m.name, msg: m.msg });
    });
  }

  /** Messages named `name` about `channelId` (a channel or temporary id), so far. */
  about(name: string, channelId: Uint8Array): Received[] {
    return this.all.filter((r) => r.name === name && hex((r.msg.channelId ?? r.msg.temporaryChannelId) as Uint8Array) === hex(channelId));
  }

  async next(what: string, pred: (r: Received) => boolean, from = 0): Promise<Received> {
    await waitFor(what, () => this.all.slice(from).some(pred));
    return this.all.slice(from).find(pred)!;
  }
}

/** Errors and warnings carry their text in `data`. */
export const textOf = (r: Received): string => new TextDecoder().decode(r.msg.data as Uint8Array);

let tags = 0;

export class ScriptedFunder {
  readonly secrets: ChannelSecrets;
  readonly inbox: Inbox;
  open?: OpenChannelMessage;
  accept?: AcceptChannelMessage;
  /** Our side of the channel once the victim signed it. */
  state?: Commitments;

  constructor(
    readonly node: LightningNode,
    readonly victim: Uint8Array,
    inbox?: Inbox,
  ) {
    const tag = ++tags;
    const k = (i: number): Uint8Array => sha256(Uint8Array.of(0x5c, tag, i, ...crypto.getRandomValues(new Uint8Array(8))));
    this.secrets = { funding: k(1), revocation: k(2), payment: k(3), delayedPayment: k(4), htlc: k(5), shachainSeed: k(6) };
    this.inbox = inbox ?? new Inbox(node, victim);
  }

  /** The open_channel we would send (sent by `open`). */
  openMessage(o: { fundingSat: Sat; pushMsat?: Msat; temporaryChannelId?: Uint8Array; feerate?: FeeratePerKw }): OpenChannelMessage {
    return openChannelMessage(DEFAULT_POLICY, {
      temporaryChannelId: o.temporaryChannelId ?? crypto.getRandomValues(new Uint8Array(32)),
      chainHash: chainHash('regtest'),
      fundingSat: o.fundingSat,
      pushMsat: o.pushMsat ?? msat(0),
      feeratePerKw: o.feerate ?? (1000 as FeeratePerKw),
      channelType: STATIC_REMOTEKEY_TYPE,
      secrets: this.secrets,
      basepoints: basepointsOf(this.secrets),
    });
  }

  /** Sends open_channel and waits for the answer: accept_channel, or the error that refused it. */
  async sendOpen(open: OpenChannelMessage): Promise<Received> {
    const from = this.inbox.all.length;
    this.open = open;
    this.node.peers.send(this.victim, 'open_channel', open);
    const r = await this.inbox.next(
      'an answer to open_channel',
      (x) => (x.name === 'accept_channel' || x.name === 'error') && hex((x.msg.temporaryChannelId ?? x.msg.channelId) as Uint8Array) === hex(open.temporaryChannelId),
      from,
    );
    if (r.name === 'accept_channel') this.accept = r.msg as unknown as AcceptChannelMessage;
    return r;
  }

  /** The P2WSH output script the funding output must pay (BOLT 3). */
  fundingOutputScript(): Uint8Array {
    return p2wsh(fundingScript(this.open!.fundingPubkey, this.accept!.fundingPubkey));
  }

  fundingAddress(script = this.fundingOutputScript()): string {
    return Address(REGTEST).encode(OutScript.decode(script));
  }

  /** Sends a correctly signed funding_created naming `funding` and waits for funding_signed or an error. */
  async sendFundingCreated(funding: { txid: string; vout: number }): Promise<Received> {
    const open = this.open!;
    const { state } = initialCommitments({ weAreOpener: true, open, accept: this.accept!, funding, secrets: this.secrets });
    const signed = signFirstRemote(state, this.secrets);
    const from = this.inbox.all.length;
    this.node.peers.send(this.victim, 'funding_created', {
      temporaryChannelId: open.temporaryChannelId,
      fundingTxid: Uint8Array.from(Buffer.from(funding.txid, 'hex')).reverse(),
      fundingOutputIndex: funding.vout,
      signature: signed.signature,
    });
    const r = await this.inbox.next(
      'an answer to funding_created',
      (x) =>
        (x.name === 'funding_signed' && hex(x.msg.channelId as Uint8Array) === hex(state.channelId)) ||
        (x.name === 'error' && [hex(open.temporaryChannelId), hex(state.channelId)].includes(hex(x.msg.channelId as Uint8Array))),
      from,
    );
    if (r.name === 'funding_signed') this.state = acceptFirstLocal(signed.state, this.secrets, r.msg.signature as Uint8Array);
    return r;
  }

  /** Our first commitment with both signatures: spends the funding output. */
  commitmentTx(): { txid: string; raw: Uint8Array } {
    const oc = ourCommitment(this.state!, this.secrets, () => undefined);
    return { txid: oc.txid, raw: serializeTx(oc.tx) };
  }
}
