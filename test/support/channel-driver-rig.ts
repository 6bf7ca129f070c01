/**
 * Two channel drivers (ChannelManager) with no socket, no btcd and no file:
 * each has an in-memory SQLite store, a fake peer layer that hands every
 * message through its BOLT codec to the other side, the in-memory chain of
 * sim-chain.ts, and a wallet that only funds opens. Either they open a
 * channel (nodePair) or start with one stored in phase normal, built by the
 * open steps (channelPair); what runs is the driver: the step, apply(), the
 * hooks, restarts on the same store. A "restart" is a new ChannelManager on
 * the same database.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HDKey } from '@scure/bip32';
import { sha256 } from '@noble/hashes/sha2.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes, hex } from '../../src/bolt/bytes.ts';
import { p2wpkh } from '../../src/bolt/bolt3/script.ts';
import { serializeTx, type Tx, txid as txidOf } from '../../src/bolt/bolt3/tx.ts';
import { type ChannelSecrets } from '../../src/bolt/bolt2/channel/keys.ts';
import { type Commitments } from '../../src/bolt/bolt2/channel/commitments.ts';
import { STATIC_REMOTEKEY_TYPE } from '../../src/bolt/bolt2/channel/open.ts';
import { type HtlcEntry } from '../../src/bolt/bolt2/channel/spec.ts';
import { type ChannelRecord } from '../../src/bolt/bolt2/channel/state.ts';
import { type CltvExpiry, type FeeratePerKw, type Msat, type Sat } from '../../src/bolt/units.ts';
import { type PeerMessage, peerMessageCodec } from '../../src/bolt/peer-messages.ts';
import { ChannelError, ChannelManager, type Resolution } from '../../src/node/channels/manager.ts';
import { ChannelStore } from '../../src/node/channels/store.ts';
import { channelSecrets } from '../../src/node/channels/secrets.ts';
import { silentLogger } from '../../src/node/log.ts';
import { type PeerManager } from '../../src/node/peer/manager.ts';
import { Store } from '../../src/node/store.ts';
import { type Wallet } from '../../src/node/wallet/wallet.ts';
import { ManualClock } from './fake-payment-channels.ts';
import { SimChain } from './sim-chain.ts';
import { openedCommitments, REGTEST } from '../bolt02/channel-harness.ts';

type Listener = (peer: Uint8Array, m: PeerMessage) => void;

/** Messages sent and not delivered yet, on every link. */
let inFlight = 0;
type EventListener = (e: { kind: 'online' | 'offline'; peer: Uint8Array }) => void;

/** The part of PeerManager the channel driver uses, over an in-memory link to one other node. */
export class FakePeers {
  private readonly messageListeners = new Set<Listener>();
  private readonly eventListeners = new Set<EventListener>();
  other?: FakePeers;
  connected = false;
  /** Counts connections: a message belongs to the one it was sent on. */
  link = 0;
  /** The process crashed: nothing it sends leaves, nothing reaches it. */
  dead = false;
  /** Every message this side sent, by name, in order. */
  readonly sent: string[] = [];

  constructor(readonly nodeId: Uint8Array) {}

  onMessage(f: Listener): () => void {
    this.messageListeners.add(f);
    return () => this.messageListeners.delete(f);
  }
  onPeerEvent(f: EventListener): () => void {
    this.eventListeners.add(f);
    return () => this.eventListeners.delete(f);
  }
  isConnected(peer: Uint8Array): boolean {
    return this.connected && !!this.other && equalBytes(peer, this.other.nodeId);
  }
  peers(): { nodeId: Uint8Array; features: undefined }[] {
    return this.connected && this.other ? [{ nodeId: this.other.nodeId, features: undefined }] : [];
  }
  send(peer: Uint8Array, name: PeerMessage['name'], msg: unknown): void {
    // A node that crashed sends nothing more, whatever its old driver still runs.
    if (this.dead) return;
    if (!this.isConnected(peer)) throw new Error('not connected');
    const codec = peerMessageCodec(name);
    // Through the codec both ways: the other side gets what a socket would have given it.
    const decoded = codec.decode(codec.encode(msg));
    this.sent.push(name);
    const to = this.other!;
    const link = this.link;
    inFlight++;
    queueMicrotask(() => {
      inFlight--;
      // Sent on a connection that has ended: lost with it, never delivered on the next one.
      if (link === this.link && to.connected && !to.dead && !this.dead) for (const f of to.messageListeners) f(this.nodeId, { name, msg: decoded } as PeerMessage);
    });
  }
  closeConnection(): void {
    disconnect(this, this.other!);
  }
  /** Drops every listener: the manager that registered them is gone (a restart). */
  reset(): void {
    this.messageListeners.clear();
    this.eventListeners.clear();
  }
  event(kind: 'online' | 'offline'): void {
    for (const f of this.eventListeners) f({ kind, peer: this.other!.nodeId });
  }
}

export function connect(a: FakePeers, b: FakePeers): void {
  [a.other, b.other, a.connected, b.connected] = [b, a, true, true];
  a.link = b.link = Math.max(a.link, b.link) + 1;
  a.event('online');
  b.event('online');
}

export function disconnect(a: FakePeers, b: FakePeers): void {
  if (!a.connected) return;
  [a.connected, b.connected] = [false, false];
  a.link = b.link = Math.max(a.link, b.link) + 1;
  a.event('offline');
  b.event('offline');
}

/**
 * A wallet for the driver: scripts for closes, the anchor reserve, and a
 * funding for an open as funder, paid from a coin the sim chain is given
 * (its input is not signed: the sim chain checks no scripts). A funding is
 * held until the open sends it (broadcastStored) or abandons it.
 */
class RigWallet {
  anchorReserve: unknown;
  readonly held = new Map<string, Uint8Array>();
  private coins = 0;
  private readonly script: Uint8Array;
  constructor(
    private readonly tag: number,
    private readonly chain: SimChain,
  ) {
    this.script = p2wpkh(secp256k1.getPublicKey(sha256(Uint8Array.of(0xee, tag))));
  }
  newChangeScript(): Uint8Array {
    return this.script;
  }
  heldFundings(): string[] {
    return [...this.held.keys()];
  }
  abandon(txid: string): void {
    this.held.delete(txid);
  }
  async broadcastStored(txid: string): Promise<void> {
    const raw = this.held.get(txid);
    if (!raw) throw new Error(`no stored transaction ${txid}`);
    await this.chain.broadcast(raw);
    this.held.delete(txid);
  }
  balance(): { confirmedSat: bigint; unconfirmedSat: bigint } {
    return { confirmedSat: 10_000_000n, unconfirmedSat: 0n };
  }
  fundingTransaction(script: Uint8Array, amountSat: Sat): { txid: string; vout: number } {
    const coin = hex(sha256(Uint8Array.of(0xc0, this.tag, this.coins++)));
    this.chain.fund(coin, [{ value: amountSat + 1_000n, script: this.script }]);
    const tx: Tx = { version: 2, locktime: 0, inputs: [{ txid: coin, vout: 0, sequence: 0xfffffffd, witness: [] }], outputs: [{ value: amountSat, script }] };
    const id = txidOf(tx);
    this.held.set(id, serializeTx(tx));
    return { txid: id, vout: 0 };
  }
}

/**
 * One node: its keys and fake peer layer survive restarts; `store` is its
 * database and `manager` the running driver. The payments layer's records
 * (what our HTLCs ended with, which incoming ones we settled) are rows in
 * the same database, written in the channel's transactions as the real
 * payments layer's are, so a crash keeps or loses them with the channel.
 */
export class DriverNode {
  store: Store;
  readonly root: HDKey;
  readonly peers: FakePeers;
  /** Preimages this node's invoices know, by payment hash. */
  readonly preimages = new Map<string, Uint8Array>();
  manager!: ChannelManager;
  readonly clock = new ManualClock();
  readonly wallet: RigWallet;
  /** The database as it was right after the armed write: what a restart after the crash finds. */
  private image?: Uint8Array;
  /** Durable writes since the count was armed. */
  writes = 0;

  constructor(readonly tag: number, readonly chain: SimChain) {
    this.root = rootOf(tag);
    this.peers = new FakePeers(secp256k1.getPublicKey(sha256(Uint8Array.of(0x70, tag))));
    this.wallet = new RigWallet(tag, chain);
    this.store = Store.open(':memory:');
    this.store.db.exec(`CREATE TABLE rig_outcomes (n INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL, kind TEXT NOT NULL);
      CREATE TABLE rig_settled (hash TEXT PRIMARY KEY, amount_msat INTEGER NOT NULL);
      CREATE TABLE rig_attempts (hash TEXT PRIMARY KEY, htlc_id INTEGER NOT NULL, amount_msat INTEGER NOT NULL)`);
  }

  secrets(keyIndex = 0): ChannelSecrets {
    return channelSecrets(this.root, 'regtest', keyIndex);
  }

  /** Our HTLCs' outcomes as stored, oldest first. */
  outcomes(): { hash: string; kind: string }[] {
    return this.store.db.query<{ hash: string; kind: string }, []>('SELECT hash, kind FROM rig_outcomes ORDER BY n').all();
  }

  /**
   * Offers an HTLC of `amountMsat` for `preimage`'s hash to the peer, the
   * attempt stored in the channel's transaction (as Payments does). False
   * when the channel refused it (not active).
   */
  pay(channelId: Uint8Array, preimage: Uint8Array, amountMsat: Msat): boolean {
    const paymentHash = sha256(preimage);
    const db = this.store.db;
    try {
      this.manager.addHtlc(channelId, { amountMsat, paymentHash, cltvExpiry: 500 as CltvExpiry, onion: new Uint8Array(1366) }, (id) => {
        db.query('INSERT INTO rig_attempts (hash, htlc_id, amount_msat) VALUES (?, ?, ?)').run(hex(paymentHash), id, amountMsat);
      });
      return true;
    } catch (e) {
      if (e instanceof ChannelError) return false;
      throw e;
    }
  }

  /** Payment attempts as stored: hash to amount. */
  attempts(): Map<string, bigint> {
    const rows = this.store.db.query<{ hash: string; amount_msat: number }, []>('SELECT hash, amount_msat FROM rig_attempts').all();
    return new Map(rows.map((r) => [r.hash, BigInt(r.amount_msat)]));
  }

  settled(): Map<string, bigint> {
    const rows = this.store.db.query<{ hash: string; amount_msat: number }, []>('SELECT hash, amount_msat FROM rig_settled').all();
    return new Map(rows.map((r) => [r.hash, BigInt(r.amount_msat)]));
  }

  /** Counts durable writes from now; with `crashAt`, the node dies right after that one: the database as it then was is kept, and nothing it does after leaves. */
  arm(crashAt?: number): void {
    this.writes = 0;
    this.store.onCommit = (): void => {
      this.writes++;
      if (this.writes !== crashAt) return;
      this.image = this.store.db.serialize();
      this.peers.dead = true;
      this.store.onCommit = undefined;
    };
  }

  get crashed(): boolean {
    return this.peers.dead;
  }

  /** Starts (or restarts) the driver; after a crash, on the database as the crash left it. */
  start(): ChannelManager {
    this.manager?.stop();
    this.peers.reset();
    if (this.image) {
      const file = join(mkdtempSync(join(tmpdir(), 'lnnode-rig-')), 'lnnode.sqlite');
      writeFileSync(file, this.image);
      this.store = Store.open(file);
      this.image = undefined;
      this.peers.dead = false;
    }
    const db = this.store.db;
    this.manager = new ChannelManager({
      db: this.store,
      root: this.root,
      network: 'regtest',
      chainHash: REGTEST,
      peers: this.peers as unknown as PeerManager,
      // Only the members RigWallet has are reached by the driver.
      wallet: this.wallet as unknown as Wallet,
      chain: this.chain,
      log: silentLogger,
      // Timers (open, close and negotiation timeouts) run only when a test moves this clock.
      clock: this.clock,
      hooks: {
        resolveIncoming: (_c, htlc) => this.resolve(htlc),
        refuseIncoming: () => ({ kind: 'fail', reason: new Uint8Array(32) }),
        outgoingResolved: (o) => void db.query('INSERT INTO rig_outcomes (hash, kind) VALUES (?, ?)').run(hex(o.htlc.paymentHash), o.kind),
        preimageOf: (h) => (this.settled().has(hex(h)) ? this.preimages.get(hex(h)) : undefined),
      },
    });
    return this.manager;
  }

  private resolve(htlc: HtlcEntry): Resolution {
    const preimage = this.preimages.get(hex(htlc.paymentHash));
    if (!preimage) return { kind: 'fail', reason: new Uint8Array(32) };
    const db = this.store.db;
    return { kind: 'fulfill', preimage, persist: () => void db.query('INSERT OR IGNORE INTO rig_settled (hash, amount_msat) VALUES (?, ?)').run(hex(htlc.paymentHash), htlc.amountMsat) };
  }
}

const roots = new Map<number, HDKey>();
const rootOf = (tag: number): HDKey => roots.get(tag) ?? roots.set(tag, HDKey.fromMasterSeed(sha256(Uint8Array.of(tag)))).get(tag)!;
const opened = new Map<string, { a: Commitments; b: Commitments }>();

/** Two nodes with no channel, not started: for an open between them. */
export function nodePair(): { a: DriverNode; b: DriverNode; chain: SimChain } {
  const chain = new SimChain();
  const a = new DriverNode(1, chain);
  const b = new DriverNode(2, chain);
  [a.peers.other, b.peers.other] = [b.peers, a.peers];
  return { a, b, chain };
}

/** Mines `n` blocks and lets both drivers handle the new tip. */
export async function mine(chain: SimChain, nodes: DriverNode[], n = 1): Promise<void> {
  chain.mine(n);
  const { height } = await chain.tip();
  await Promise.all(nodes.map((x) => x.manager.onTip(height)));
  await quiet();
}

/**
 * Two nodes with one channel between them, opened by `a` with `fundingSat`
 * and `pushMsat` to `b`, stored in phase normal on both sides at key index 0
 * (so the drivers derive the keys it was built with). Not started.
 */
export function channelPair(fundingSat: Sat, pushMsat: Msat): { a: DriverNode; b: DriverNode; chain: SimChain; channelId: Uint8Array } {
  const chain = new SimChain();
  const a = new DriverNode(1, chain);
  const b = new DriverNode(2, chain);
  const key = `${fundingSat}:${pushMsat}`;
  // The same keys give the same first commitments: built once per amounts (signing them is most of a round's set-up).
  const built = opened.get(key) ?? openedCommitments(a.secrets(), b.secrets(), { fundingSat, pushMsat, feerate: 2500 as FeeratePerKw, channelType: STATIC_REMOTEKEY_TYPE, funding: { txid: 'cd'.repeat(32), vout: 0 } });
  opened.set(key, built);
  const { a: ca, b: cb } = built;
  const rec = (commitments: typeof ca, alias: bigint): ChannelRecord => ({ commitments, minimumDepth: 1, readySent: true, theirReady: true, localAlias: alias, shortChannelId: '101x1x0', fundingConfirmedAt: 101 });
  new ChannelStore(a.store).insert({ channelId: ca.channelId, peer: b.peers.nodeId, keyIndex: 0, phase: 'normal', state: rec(ca, 1n) });
  new ChannelStore(b.store).insert({ channelId: cb.channelId, peer: a.peers.nodeId, keyIndex: 0, phase: 'normal', state: rec(cb, 2n) });
  [a.peers.other, b.peers.other] = [b.peers, a.peers];
  return { a, b, chain, channelId: ca.channelId };
}

/**
 * Waits until no message is on its way and a few turns of the event loop
 * passed without one: the drivers' work for what they received is done
 * (what they do on their own, like a broadcast, may take more turns).
 */
export async function quiet(idleTurns = 3): Promise<void> {
  for (let idle = 0; idle < idleTurns; ) {
    await new Promise((r) => setImmediate(r));
    idle = inFlight === 0 ? idle + 1 : 0;
  }
}
