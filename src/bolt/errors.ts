/**
 * The one error every decoder in src/bolt throws on bad input.
 *
 * Decoders never throw anything else on malformed bytes (a RangeError from a
 * DataView or a TypeError from a bad index is a bug): callers in src/node can
 * catch this one class, log it, and fail the peer or the request with the
 * message, which always names the field that was wrong.
 */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    /** Dotted path of the field that failed, e.g. `open_channel.funding_satoshis`. */
    readonly field: string,
    /** What was wrong with it, without secret material. */
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/** Thrown by encoders and constructors given a value the wire format cannot carry. */
export class EncodeError extends Error {
  override readonly name = 'EncodeError';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}
