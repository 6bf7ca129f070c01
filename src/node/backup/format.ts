/**
 * The static channel backup file (<data-dir>/channel.backup): for each
 * channel, what a node restored from its mnemonic needs to get the
 * channel's funds back from the peer: whom to reach (node id, addresses),
 * which output to watch (channel point), and which key index re-derives our
 * keys from the seed, so our to_remote output on the peer's commitment can
 * be swept. It holds no commitment state (that changes with every payment),
 * so it only ever asks the peer to close: it can never broadcast anything
 * that could be revoked.
 *
 * The file is encrypted with a key derived from the seed
 * (ChaCha20-Poly1305): a copy kept with a cloud provider reveals neither
 * the channels nor the peers, and only the node with the same mnemonic
 * (and passphrase) can read it. Layout: "LNSCB" | version (1) | nonce (12) |
 * ciphertext+tag; the first 6 bytes are the AEAD's associated data.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { type HDKey } from '@scure/bip32';
import { coinType, type Network } from '../identity.ts';

const MAGIC = new TextEncoder().encode('LNSCB');
export const BACKUP_VERSION = 1;
const HEADER_LEN = MAGIC.length + 1;
const NONCE_LEN = 12;
/** A backup larger than this is not ours (thousands of channels fit well below it). */
export const MAX_BACKUP_BYTES = 16 * 1024 * 1024;

export interface BackupChannel {
  channelId: string;
  /** The peer's node id (hex). */
  peer: string;
  /** Where the peer was reached (host:port), newest first. */
  addresses: string[];
  fundingTxid: string;
  fundingVout: number;
  fundingSat: bigint;
  channelType: 'static_remotekey' | 'anchors';
  weAreOpener: boolean;
  /** Our keys are m/1017'/coin'/1'/keyIndex'/... of the seed (channels/secrets.ts). */
  keyIndex: number;
  /** Our payment basepoint (hex): checked against the re-derived key on restore (right seed, right index). */
  paymentBasepoint: string;
  /** The peer's basepoints (hex), as it announced them. */
  remoteBasepoints: { funding: string; revocation: string; payment: string; delayedPayment: string; htlc: string };
  /** Delay the peer's commitment puts on our to_local (ours on it is to_remote, undelayed). */
  remoteToSelfDelay: number;
}

export interface ChannelBackup {
  version: number;
  network: Network;
  /** Our node id (hex), to say which node a backup belongs to. */
  nodeId: string;
  /** Unix seconds when it was written. */
  createdAt: number;
  channels: BackupChannel[];
}

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

/** The backup's encryption key: HKDF-SHA256 over a hardened key of the seed that nothing else uses. */
export function backupKey(root: HDKey, network: Network): Uint8Array {
  const k = root.derive(`m/1017'/${coinType(network)}'/2'/0'`).privateKey;
  if (!k) throw new BackupError('backup key derivation gave no private key');
  return hkdf(sha256, k, undefined, new TextEncoder().encode('lnnode static channel backup v1'), 32);
}

/** The plaintext: JSON with bigints as strings, channels in a stable order (so equal content gives equal text). */
export function backupText(b: Omit<ChannelBackup, 'createdAt'>): string {
  const channels = [...b.channels].sort((x, y) => (x.channelId < y.channelId ? -1 : x.channelId > y.channelId ? 1 : 0));
  return JSON.stringify({ version: b.version, network: b.network, nodeId: b.nodeId, channels: channels.map((c) => ({ ...c, fundingSat: c.fundingSat.toString() })) });
}

export function encryptBackup(key: Uint8Array, nonce: Uint8Array, b: ChannelBackup): Uint8Array {
  if (nonce.length !== NONCE_LEN) throw new BackupError(`nonce must be ${NONCE_LEN} bytes`);
  const o = JSON.parse(backupText(b)) as Record<string, unknown>;
  const plain = new TextEncoder().encode(JSON.stringify({ ...o, createdAt: b.createdAt }));
  const header = Uint8Array.of(...MAGIC, BACKUP_VERSION);
  const sealed = chacha20poly1305(key, nonce, header).encrypt(plain);
  const out = new Uint8Array(HEADER_LEN + NONCE_LEN + sealed.length);
  out.set(header, 0);
  out.set(nonce, HEADER_LEN);
  out.set(sealed, HEADER_LEN + NONCE_LEN);
  return out;
}

/** Opens a backup file's bytes; a wrong key (another seed or passphrase) and any tampering fail the tag check. */
export function decryptBackup(key: Uint8Array, bytes: Uint8Array): ChannelBackup {
  if (bytes.length > MAX_BACKUP_BYTES) throw new BackupError(`the file is ${bytes.length} bytes, more than a channel backup can be`);
  if (bytes.length < HEADER_LEN + NONCE_LEN + 16 || !MAGIC.every((b, i) => bytes[i] === b)) throw new BackupError('not an lnnode channel backup (no LNSCB header)');
  const version = bytes[MAGIC.length]!;
  if (version !== BACKUP_VERSION) throw new BackupError(`channel backup version ${version}; this lnnode reads version ${BACKUP_VERSION}`);
  const header = bytes.subarray(0, HEADER_LEN);
  const nonce = bytes.subarray(HEADER_LEN, HEADER_LEN + NONCE_LEN);
  let plain: Uint8Array;
  try {
    plain = chacha20poly1305(key, nonce, header).decrypt(bytes.subarray(HEADER_LEN + NONCE_LEN));
  } catch {
    throw new BackupError('the channel backup does not open with this seed: it was made by another mnemonic or passphrase (or the file is damaged)');
  }
  return parseBackup(new TextDecoder().decode(plain));
}

function parseBackup(text: string): ChannelBackup {
  const o = JSON.parse(text) as Record<string, unknown>;
  const chans = o.channels;
  if (o.version !== BACKUP_VERSION || typeof o.nodeId !== 'string' || typeof o.network !== 'string' || !Array.isArray(chans)) {
    throw new BackupError('the channel backup is not in the expected form');
  }
  const hexOf = (v: unknown, len: number, what: string): string => {
    if (typeof v !== 'string' || !new RegExp(`^[0-9a-f]{${len * 2}}$`).test(v)) throw new BackupError(`channel backup: bad ${what}`);
    return v;
  };
  const channels = chans.map((raw): BackupChannel => {
    const c = raw as Record<string, unknown>;
    const rb = (c.remoteBasepoints ?? {}) as Record<string, unknown>;
    if (c.channelType !== 'static_remotekey' && c.channelType !== 'anchors') throw new BackupError('channel backup: bad channel type');
    if (!Number.isInteger(c.keyIndex) || (c.keyIndex as number) < 0 || !Number.isInteger(c.fundingVout) || !/^\d+$/.test(String(c.fundingSat))) {
      throw new BackupError('channel backup: bad key index, output index or amount');
    }
    return {
      channelId: hexOf(c.channelId, 32, 'channel id'),
      peer: hexOf(c.peer, 33, 'peer node id'),
      addresses: Array.isArray(c.addresses) ? c.addresses.filter((a): a is string => typeof a === 'string').slice(0, 8) : [],
      fundingTxid: hexOf(c.fundingTxid, 32, 'funding txid'),
      fundingVout: c.fundingVout as number,
      fundingSat: BigInt(String(c.fundingSat)),
      channelType: c.channelType,
      weAreOpener: c.weAreOpener === true,
      keyIndex: c.keyIndex as number,
      paymentBasepoint: hexOf(c.paymentBasepoint, 33, 'payment basepoint'),
      remoteBasepoints: {
        funding: hexOf(rb.funding, 33, 'remote funding basepoint'),
        revocation: hexOf(rb.revocation, 33, 'remote revocation basepoint'),
        payment: hexOf(rb.payment, 33, 'remote payment basepoint'),
        delayedPayment: hexOf(rb.delayedPayment, 33, 'remote delayed payment basepoint'),
        htlc: hexOf(rb.htlc, 33, 'remote htlc basepoint'),
      },
      remoteToSelfDelay: Number.isInteger(c.remoteToSelfDelay) ? (c.remoteToSelfDelay as number) : 0,
    };
  });
  return { version: BACKUP_VERSION, network: o.network as Network, nodeId: o.nodeId, createdAt: Number(o.createdAt) || 0, channels };
}
