/**
 * One running lnnode: identity, database, peers and chain data wired
 * together. main.ts builds it from the command line; tests and the RPC layer
 * drive it through its methods.
 *
 * Start order is chosen so the node is reachable quickly: the database and
 * identity are opened (cheap), the P2P listener starts, persistent peers are
 * redialled, and chain sync runs in the background. A chain source that
 * serves another network is fatal (funds could be sent on the wrong chain); a
 * chain source that is merely unreachable is retried.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICY } from '../bolt/bolt2/channel/open.ts';
import { fromHex, hex } from '../bolt/bytes.ts';
import { BitcoindRpcChainSource } from '../chain/bitcoind-rpc.ts';
import { EsploraChainSource } from '../chain/esplora.ts';
import { CheckedChainSource } from '../chain/checked-source.ts';
import { DEFAULT_MAX_FEERATE_SAT_VB, satPerVbToPerKw } from '../chain/feerate.ts';
import { HeaderChain } from '../chain/header-chain.ts';
import { POW_PARAMS } from '../chain/pow.ts';
import { type TipChange, TipTracker } from '../chain/tip-tracker.ts';
import { type BlockRef, type ChainSource } from '../chain/types.ts';
import { SqliteHeaderStore } from './chain-headers.ts';
import { AddressBook } from './address-book.ts';
import { type ChainConfig, type DaemonConfig } from './config.ts';
import { type DataDirLock, openDataDir } from './data-dir.ts';
import { deriveIdentity, type NodeIdentity, openSeed, type SeedOrigin, type SeedSetup } from './identity.ts';
import { BackupError, backupKey, type ChannelBackup, decryptBackup } from './backup/format.ts';
import { ChannelBackupWriter } from './backup/writer.ts';
import { type Logger } from './log.ts';
import { chainHash, GENESIS } from './networks.ts';
import { PeerManager, type PeerEvent } from './peer/manager.ts';
import { EVENT_OVERHEAD_BYTES, type QueueBudget, Subscription, withEventLimit } from './subscription.ts';
import { Store } from './store.ts';
import { failBack } from './channels/fail-back.ts';
import { ChannelManager, type HtlcOutcome } from './channels/manager.ts';
import { refuseChannelsWithoutChain } from './channels/no-chain.ts';
import { NodeMetrics } from './metrics/node-metrics.ts';
import { Invoices } from './payments/invoices.ts';
import { NO_CHANNELS } from './payments/payment-channels.ts';
import { Payments } from './payments/payments.ts';
import { Wallet } from './wallet/wallet.ts';

const TIP_POLL_MS = 2_000;
/** Channel phases that need the peer online: being confirmed, in use, or negotiating a mutual close. */
const REDIAL_PHASES: ReadonlySet<string> = new Set(['awaiting_lock_in', 'normal', 'shutdown', 'recovering']);
const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

export function chainSourceFor(c: ChainConfig): ChainSource | undefined {
  switch (c.kind) {
    case 'esplora':
      return new EsploraChainSource({ url: c.url });
    case 'bitcoind-rpc':
      return new BitcoindRpcChainSource({
        url: c.url,
        user: c.user,
        password: c.password,
        caCert: c.caCertFile ? readFileSync(c.caCertFile, 'utf8') : undefined,
      });
    case 'none':
      return undefined;
  }
}

/**
 * The chain source as the node uses it: headers verified by proof of work
 * into the node's database, confirmations proven, UTXOs and spends
 * cross-checked, fee estimates clamped to --max-feerate (checked-source.ts).
 */
export function checkedChainSource(raw: ChainSource, config: DaemonConfig, store: Store, log: Logger): ChainSource {
  const headers = new HeaderChain(raw, POW_PARAMS[config.network], new SqliteHeaderStore(store));
  return new CheckedChainSource(raw, headers, {
    maxFeerate: satPerVbToPerKw(config.maxFeerateSatPerVb ?? DEFAULT_MAX_FEERATE_SAT_VB),
    warn: (msg, fields) => log.warn(msg, fields),
  });
}

/** What a start needs besides the configuration: how to make or restore the seed, a backup to restore channels from. */
export interface StartOptions {
  seed?: SeedSetup;
  /** The bytes of a static channel backup file: its channels are stored as recovering (needs a chain source). */
  restoreChannelBackup?: Uint8Array;
}

/** Where the static channel backup is kept unless --channel-backup says otherwise. */
export const channelBackupPath = (config: DaemonConfig): string => config.channelBackupPath ?? join(config.dataDir, 'channel.backup');

/** A channel backup's content, if it is this node's on this network (BackupError otherwise). */
function openRestoreBackup(bytes: Uint8Array, identity: NodeIdentity, network: DaemonConfig['network']): ChannelBackup {
  const b = decryptBackup(backupKey(identity.root, network), bytes);
  if (b.network !== network) throw new BackupError(`the channel backup is for ${b.network}, this node runs on ${network}`);
  if (b.nodeId !== hex(identity.nodeId)) throw new BackupError(`the channel backup belongs to node ${b.nodeId}, this seed is node ${hex(identity.nodeId)}`);
  return b;
}

export class ChainMismatchError extends Error {
  override readonly name = 'ChainMismatchError';
}

export class LightningNode {
  readonly identity: NodeIdentity;
  readonly store: Store;
  readonly addressBook: AddressBook;
  readonly peers: PeerManager;
  readonly chain: ChainSource | undefined;
  /** Wallet, channels and payments exist when a chain source is configured. */
  readonly wallet: Wallet | undefined;
  readonly channels: ChannelManager | undefined;
  readonly invoices: Invoices;
  readonly payments: Payments;
  /** Counters kept while running, for /metrics (metrics/collect.ts reads the rest from the node). */
  readonly metrics = new NodeMetrics();
  /** Where the seed came from on this start (a raw seed has no mnemonic). */
  readonly seedOrigin: SeedOrigin;
  /** Rewrites the static channel backup when the channels change (with a chain source). */
  readonly backup: ChannelBackupWriter | undefined;
  private tracker: TipTracker | undefined;
  private readonly startTip: BlockRef | undefined;
  private tipTimer: ReturnType<typeof setTimeout> | undefined;
  /** Tips the channels have not finished handling, the newest tip, and the newest for which none was left. */
  private tipsInFlight = 0;
  private newestTip: BlockRef | undefined;
  private handled: BlockRef | undefined;
  private stopped = false;
  private lastChainAnswerMs: number | undefined;
  private readonly peerEventSubscribers = new Set<Subscription<PeerEvent>>();
  /** Called once if the node hits an error it must not run on with. */
  onFatal: (e: Error) => void = () => {};
  /**
   * How an API Stop call ends the process cleanly: set by the daemon
   * (main.ts), which owns the process; undefined where nothing does (a node
   * inside a test), and Stop is then refused.
   */
  requestStop: ((reason: string) => void) | undefined;

  get isStopped(): boolean {
    return this.stopped;
  }

  private constructor(
    readonly config: DaemonConfig,
    private readonly log: Logger,
    private readonly dataDirLock: DataDirLock,
    opts: StartOptions,
  ) {
    if (opts.restoreChannelBackup && config.chain.kind === 'none') throw new BackupError('restoring channels from a backup needs a chain source (--esplora-url or --bitcoind-rpc-url) to watch and sweep them');
    // A backup the restored seed cannot open stops the start before the seed is written: the data dir stays new for another try.
    const check = opts.restoreChannelBackup && opts.seed?.restore
      ? (s: Uint8Array) => void openRestoreBackup(opts.restoreChannelBackup!, deriveIdentity(s, config.network), config.network)
      : undefined;
    const seed = openSeed(config.dataDir, random, { ...opts.seed, ...(check ? { check } : {}) });
    this.seedOrigin = seed.origin;
    this.identity = deriveIdentity(seed.seed, config.network);
    this.store = Store.open(join(config.dataDir, 'lnnode.sqlite'));
    this.addressBook = new AddressBook(this.store);
    this.peers = new PeerManager({
      nodeSecret: this.identity.nodeSecret,
      chainHash: chainHash(config.network),
      log: log.child('peer'),
      random,
      pingIntervalMs: config.pingIntervalMs,
      pingTimeoutMs: config.pingTimeoutMs,
      subscriberQueueLimit: config.subscriberQueueLimit,
      limits: config.peerLimits,
    });
    this.peers.onPeerEvent((e) => {
      if (e.kind === 'online') this.addressBook.markConnected(e.peer, Math.floor(Date.now() / 1000));
      if (e.kind === 'offline' && !this.stopped) this.keepChannelPeer(e.peer);
      for (const s of this.peerEventSubscribers) s.offer(e);
    });
    const source = chainSourceFor(config.chain);
    this.chain = source && checkedChainSource(source, config, this.store, log.child('chain'));
    this.startTip = this.storedTip();
    this.invoices = new Invoices({ store: this.store, network: config.network, nodeSecret: this.identity.nodeSecret, random });
    // The channels come first and their hooks reach Payments lazily; outcomes they report while
    // starting (HTLCs forgotten with the last connection) wait for it.
    let payments: Payments | undefined;
    const early: HtlcOutcome[] = [];
    if (this.chain) {
      this.wallet = new Wallet(this.store, this.identity.root, config.network, this.chain, log.child('wallet'));
      this.channels = new ChannelManager({
        db: this.store,
        root: this.identity.root,
        network: config.network,
        chainHash: chainHash(config.network),
        peers: this.peers,
        wallet: this.wallet,
        chain: this.chain,
        hooks: {
          resolveIncoming: (channelId, htlc) => this.invoices.resolve(channelId, htlc, this.knownHeight),
          outgoingResolved: (o) => (payments ? payments.resolved(o) : early.push(o)),
          // lnnode sends no channel_update (no gossip): temporary_channel_failure carries an empty one, as lnd does without an update.
          refuseIncoming: (_channelId, htlc, failure) =>
            failBack(this.identity.nodeSecret, htlc, failure === 'temporary_channel_failure' ? { name: failure, channelUpdate: new Uint8Array(0) } : { name: failure }),
          preimageOf: (h) => {
            const inv = this.invoices.get(h);
            return inv?.state === 'settled' ? inv.preimage : undefined;
          },
        },
        log: log.child('channel'),
        policy: { ...DEFAULT_POLICY, ...config.channelPolicy },
        limits: config.channelLimits,
        maxFeerate: satPerVbToPerKw(config.maxFeerateSatPerVb ?? DEFAULT_MAX_FEERATE_SAT_VB),
        random,
      });
      const channels = this.channels;
      const addressBook = this.addressBook;
      this.backup = new ChannelBackupWriter({
        path: channelBackupPath(config),
        key: backupKey(this.identity.root, config.network),
        network: config.network,
        nodeId: this.identity.nodeId,
        entries: () => channels.backupEntries((p) => [addressBook.addressOf(p)].filter((a): a is string => a !== undefined)),
        random,
        log: log.child('backup'),
      });
      if (opts.restoreChannelBackup) this.restoreChannels(opts.restoreChannelBackup);
      channels.onStateChange(() => this.backup?.refresh());
      this.backup.refresh();
      this.wallet.dependents = (txid) => {
        const c = channels.list().find((x) => x.fundingTxid === txid && x.phase !== 'closed');
        return c && `channel ${c.channelId} (${c.phase}), whose funding it is`;
      };
    } else {
      refuseChannelsWithoutChain(this.peers);
    }
    this.payments = payments = new Payments({
      store: this.store,
      network: config.network,
      channels: this.channels ?? NO_CHANNELS,
      random,
      maxCltvDelta: config.maxCltvExpiry,
      log: log.child('payments'),
    });
    payments.onStarted((p) => this.metrics.paymentStarted(p.paymentHash));
    payments.onResolved((p) => this.metrics.paymentResolved(p));
    for (const o of early) payments.resolved(o);
  }

  /**
   * The channels of a static channel backup, stored as recovering; their
   * peers' addresses go to the address book so they are dialled (and asked
   * to force close). A backup of another node or network is refused.
   */
  private restoreChannels(bytes: Uint8Array): void {
    const b = openRestoreBackup(bytes, this.identity, this.config.network);
    for (const c of b.channels) if (c.addresses[0] && !this.addressBook.addressOf(fromHex(c.peer))) this.addressBook.remember(fromHex(c.peer), c.addresses[0]);
    const r = this.channels!.recover(b.channels);
    this.log.warn('channels restored from backup', { restored: r.added.length, alreadyKnown: r.known.length, backupCreatedAt: b.createdAt });
  }

  static start(config: DaemonConfig, log: Logger, opts: StartOptions = {}): LightningNode {
    // Before anything is read from it: a second daemon on the same data dir stops here.
    const lock = openDataDir(config.dataDir, log);
    let node: LightningNode;
    try {
      node = new LightningNode(config, log, lock, opts);
    } catch (e) {
      lock.release();
      throw e;
    }
    node.log.info('starting', { network: config.network, nodeId: node.identity.nodeId, dataDir: config.dataDir, chain: config.chain.kind, seed: node.seedOrigin });
    if (node.seedOrigin === 'raw') {
      node.log.warn('this data dir has a raw seed from an older lnnode, without a mnemonic: back up the file itself', { seedFile: join(config.dataDir, 'seed') });
    }
    if (config.p2pListen) {
      const port = node.peers.listen(config.p2pListen.host, config.p2pListen.port);
      node.log.info('p2p listening', { host: config.p2pListen.host, port });
    }
    for (const t of config.connect) node.addressBook.upsert({ nodeId: fromHex(t.nodeId), address: `${t.host}:${t.port}`, persistent: true });
    for (const p of node.addressBook.persistent()) node.dial(p.nodeId, p.address);
    node.redialChannelPeers();
    if (node.chain) void node.followChain(node.chain);
    else node.log.warn('no chain source configured: peer-only mode (no wallet or channels)');
    return node;
  }

  get nodeId(): Uint8Array {
    return this.identity.nodeId;
  }

  get p2pPort(): number | undefined {
    return this.peers.listenPort;
  }

  get tip(): BlockRef | undefined {
    return this.tracker?.tip;
  }

  /**
   * The tip up to which the channels have handled every block: closes
   * watched and stepped (sweeps and justice broadcast), HTLC deadlines
   * enforced, fees updated. What a caller waits on to know the node has
   * acted on a block rather than only seen it (`tip`). The wallet's refresh
   * for the block may still be running (Wallet.sync() waits for it).
   */
  get handledTip(): BlockRef | undefined {
    return this.handled;
  }

  /**
   * The tip the node followed last: the chain source's, or until it answers
   * after a start, the one stored before the stop. An incoming HTLC's expiry
   * is checked against it (never against height 0).
   */
  get knownHeight(): number | undefined {
    return this.tip?.height ?? this.startTip?.height;
  }

  /** Milliseconds since the chain source last answered a tip poll (undefined before its first answer). */
  get chainSilentMs(): number | undefined {
    return this.lastChainAnswerMs === undefined ? undefined : performance.now() - this.lastChainAnswerMs;
  }

  /** Peers coming online and going offline, through a bounded feed (see Subscription). */
  subscribePeerEvents(budget?: QueueBudget): Subscription<PeerEvent> {
    const s = new Subscription<PeerEvent>((x) => this.peerEventSubscribers.delete(x), {
      sizeOf: (e) => EVENT_OVERHEAD_BYTES + (e.kind === 'online' ? e.address.length : e.reason.length),
      budget: withEventLimit(budget, this.config.subscriberQueueLimit),
    });
    this.peerEventSubscribers.add(s);
    return s;
  }

  /**
   * Connects to a peer; `persistent` peers are stored and redialled after
   * disconnects and restarts. Any other peer's address is remembered once
   * the connection works, so that if we come to have a channel with it, it
   * is redialled too (redialChannelPeers).
   */
  async connect(nodeId: Uint8Array, host: string, port: number, persistent = true): Promise<void> {
    if (persistent) this.addressBook.upsert({ nodeId, address: `${host}:${port}`, persistent });
    await this.peers.connect(nodeId, host, port, { persistent });
    if (!persistent) this.addressBook.remember(nodeId, `${host}:${port}`);
    // A channel peer's new address goes into the channel backup (written only if it changed).
    this.backup?.refresh();
  }

  /**
   * Every peer we have a channel with that is not closed is redialled (on
   * start and after each disconnect, 1 s .. 5 min backoff) from the address
   * book, as lnd, CLN and LDK do: otherwise a restart leaves the channel
   * unusable until someone calls connect. Persistent peers keep their own
   * redial; a peer that only ever dialled us has no address to dial.
   */
  private redialChannelPeers(): void {
    const peers = new Set((this.channels?.list() ?? []).filter((c) => REDIAL_PHASES.has(c.phase)).map((c) => c.peer));
    for (const p of peers) this.keepChannelPeer(fromHex(p));
  }

  private keepChannelPeer(peer: Uint8Array): void {
    if (!this.channels || this.peers.redialReason(peer) || !this.hasChannelWith(peer)) return;
    const address = this.addressBook.addressOf(peer);
    if (!address) return;
    const i = address.lastIndexOf(':');
    this.log.info('redialling channel peer', { peer: hex(peer), address });
    this.peers.keepConnected(peer, address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1)), () => this.hasChannelWith(peer));
  }

  private hasChannelWith(peer: Uint8Array): boolean {
    const key = hex(peer);
    return !this.stopped && (this.channels?.list() ?? []).some((c) => c.peer === key && REDIAL_PHASES.has(c.phase));
  }

  disconnect(nodeId: Uint8Array): void {
    this.addressBook.remove(nodeId);
    this.peers.disconnect(nodeId);
  }

  private dial(nodeId: Uint8Array, address: string): void {
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '');
    this.peers.connect(nodeId, host, Number(address.slice(i + 1)), { persistent: true }).catch((e: Error) => {
      this.log.info('persistent peer not reachable yet, retrying with backoff', { peer: nodeId, reason: e.message });
    });
  }

  private async followChain(source: ChainSource): Promise<void> {
    const log = this.log.child('chain');
    let attempt = 0;
    while (!this.stopped) {
      try {
        const genesis = await source.blockHash(0);
        if (genesis !== GENESIS[this.config.network]) {
          throw new ChainMismatchError(`the ${source.kind} chain source serves genesis ${genesis}, not ${this.config.network}`);
        }
        this.tracker = new TipTracker(source);
        const stored = this.storedTip();
        const change = await this.tracker.start(stored, stored ? this.storedRecent() : []);
        // Also without a new block: the wallet sends again what did not go out before the restart.
        this.lastChainAnswerMs = performance.now();
        this.tipChanged(change, log);
        break;
      } catch (e) {
        if (e instanceof ChainMismatchError) {
          log.error('wrong chain', { error: e });
          return this.onFatal(e);
        }
        const delay = Math.min(30_000, 1_000 * 2 ** attempt++);
        log.warn('chain source unavailable, retrying', { source: source.kind, error: e, retryMs: delay });
        await Bun.sleep(delay);
      }
    }
    let failing = false;
    const poll = async (): Promise<void> => {
      if (this.stopped || !this.tracker) return;
      try {
        const change = await this.tracker.poll();
        this.lastChainAnswerMs = performance.now();
        if (change.connected.length || change.disconnected.length) this.tipChanged(change, log);
        else if (failing) {
          // Back after an outage, which may have been a restart that lost its mempool: what we depend on is
          // checked and sent again now, as on a block, rather than at the next block (minutes away on mainnet).
          log.info('chain source reachable again: unconfirmed transactions checked', { source: source.kind, height: change.tip.height });
          this.tipChanged(change, log);
        }
        failing = false;
      } catch (e) {
        failing = true;
        log.warn('chain poll failed', { source: source.kind, error: e });
      }
      if (!this.stopped) this.tipTimer = setTimeout(poll, this.config.tipPollMs ?? TIP_POLL_MS);
    };
    this.tipTimer = setTimeout(poll, this.config.tipPollMs ?? TIP_POLL_MS);
  }

  private storedTip(): BlockRef | undefined {
    const row = this.store.db.query<{ value: Uint8Array }, [string]>('SELECT value FROM meta WHERE key = ?').get('chain_tip');
    if (!row) return undefined;
    const t = JSON.parse(new TextDecoder().decode(row.value)) as BlockRef;
    return typeof t.height === 'number' && typeof t.hash === 'string' ? t : undefined;
  }

  /** The block hashes below the stored tip (see TipTracker.start): a reorg of the stored tip while we were down is then followed. */
  private storedRecent(): BlockRef[] {
    const row = this.store.db.query<{ value: Uint8Array }, [string]>('SELECT value FROM meta WHERE key = ?').get('chain_recent');
    if (!row) return [];
    const list = JSON.parse(new TextDecoder().decode(row.value)) as unknown;
    return Array.isArray(list) ? list.filter((b): b is BlockRef => typeof b?.height === 'number' && typeof b?.hash === 'string') : [];
  }

  private tipChanged(change: TipChange, log: Logger): void {
    const { tip, connected, disconnected } = change;
    const put = this.store.db.query('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.store.db.transaction(() => {
      put.run('chain_tip', new TextEncoder().encode(JSON.stringify(tip)));
      put.run('chain_recent', new TextEncoder().encode(JSON.stringify(this.tracker?.remembered() ?? [])));
    })();
    log.info('chain tip', { height: tip.height, hash: tip.hash, connected: connected.length, disconnected: disconnected.length });
    const forkHeight = disconnected.length ? Math.min(...disconnected.map((b) => b.height)) - 1 : undefined;
    const channels = this.channels?.onTip(tip.height, forkHeight).catch((e: Error) => log.warn('channel chain update failed', { error: e.message }));
    // Confirmations change balances and what coin selection may spend; what is not on chain is sent again.
    void this.wallet?.onBlock(forkHeight === undefined ? {} : { forkHeight }).catch((e: Error) => log.warn('wallet update failed', { error: e.message }));
    this.tipsInFlight++;
    this.newestTip = tip;
    // Handlings can end out of order; only when none is left is every block up to the newest tip handled.
    void Promise.resolve(channels).then(() => {
      if (--this.tipsInFlight === 0) this.handled = this.newestTip;
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.tipTimer);
    for (const s of this.peerEventSubscribers) s.close();
    this.payments.stop();
    this.channels?.stop();
    this.peers.stop();
    this.store.close();
    this.dataDirLock.release();
    this.log.info('stopped', { nodeId: hex(this.nodeId) });
  }
}
