/**
 * BOLT #8 message encryption after the handshake: each message is a 2-byte
 * encrypted length (18 bytes with its MAC) then the encrypted body (+16).
 * Receiving is split in two so a socket can read the 18-byte header, learn
 * how much to wait for, then read the body. Each direction rotates its key
 * after 1000 uses of it (500 messages).
 * https://github.com/lightning/bolts/blob/master/08-transport.md#lightning-message-specification
 */
import { DecodeError, EncodeError } from '../errors.ts';
import { decryptWithAD, encryptWithAD, hkdf2 } from './primitives.ts';

export const MAX_MESSAGE_LENGTH = 65535;
export const MAC_LENGTH = 16;
export const HEADER_LENGTH = 2 + MAC_LENGTH;
const ROTATE_AFTER = 1000;
const EMPTY = new Uint8Array(0);

/** One direction's key, chaining key and nonce. */
class CipherState {
  private n = 0;
  constructor(
    private ck: Uint8Array,
    private k: Uint8Array,
  ) {}

  private advance(): void {
    if (++this.n === ROTATE_AFTER) {
      [this.ck, this.k] = hkdf2(this.ck, this.k);
      this.n = 0;
    }
  }

  encrypt(plaintext: Uint8Array): Uint8Array {
    const c = encryptWithAD(this.k, this.n, EMPTY, plaintext);
    this.advance();
    return c;
  }

  decrypt(ciphertext: Uint8Array, field: string): Uint8Array {
    let p: Uint8Array;
    try {
      p = decryptWithAD(this.k, this.n, EMPTY, ciphertext);
    } catch {
      throw new DecodeError(field, 'bad MAC');
    }
    this.advance();
    return p;
  }
}

export class NoiseTransport {
  private readonly sending: CipherState;
  private readonly receiving: CipherState;

  constructor(ck: Uint8Array, sk: Uint8Array, rk: Uint8Array) {
    this.sending = new CipherState(ck, sk);
    this.receiving = new CipherState(ck, rk);
  }

  /** Encrypts one Lightning message (type + payload) into header + body. */
  encrypt(message: Uint8Array): Uint8Array {
    if (message.length > MAX_MESSAGE_LENGTH) {
      throw new EncodeError('message', `length ${message.length} exceeds ${MAX_MESSAGE_LENGTH}`);
    }
    const len = Uint8Array.of(message.length >>> 8, message.length & 0xff);
    const header = this.sending.encrypt(len);
    const body = this.sending.encrypt(message);
    const out = new Uint8Array(header.length + body.length);
    out.set(header);
    out.set(body, header.length);
    return out;
  }

  /** Decrypts an 18-byte header; returns how many body bytes (length + 16) to read next. */
  decryptHeader(header: Uint8Array): number {
    if (header.length !== HEADER_LENGTH) {
      throw new DecodeError('transport.header', `expected ${HEADER_LENGTH} bytes, got ${header.length}`);
    }
    const len = this.receiving.decrypt(header, 'transport.header');
    return ((len[0]! << 8) | len[1]!) + MAC_LENGTH;
  }

  /** Decrypts the body whose length the last header announced. */
  decryptBody(body: Uint8Array): Uint8Array {
    if (body.length < MAC_LENGTH) throw new DecodeError('transport.body', 'shorter than its MAC');
    return this.receiving.decrypt(body, 'transport.body');
  }
}
