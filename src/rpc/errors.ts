/**
 * gRPC status codes for what goes wrong in an RPC: argument checks that
 * name the field, and the node's own errors mapped to the code a client
 * can act on. Anything unexpected is Internal, logged, and its message kept
 * short (no stack traces to clients).
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { ChainSourceError } from '../chain/types.ts';
import { ChannelError } from '../node/channels/manager.ts';
import { InvoiceError } from '../node/payments/invoices.ts';
import { PaymentError, type PaymentErrorCode } from '../node/payments/payments.ts';
import { PeerBusyError, PeerNotConnectedError } from '../node/peer/manager.ts';
import { SubscriberOverflowError } from '../node/subscription.ts';
import { WalletError } from '../node/wallet/wallet.ts';

export const invalidArgument = (msg: string): ConnectError => new ConnectError(msg, Code.InvalidArgument);
export const notFound = (msg: string): ConnectError => new ConnectError(msg, Code.NotFound);
export const failedPrecondition = (msg: string): ConnectError => new ConnectError(msg, Code.FailedPrecondition);

/** Throws InvalidArgument unless `b` has exactly `len` bytes. */
export function requireBytes(field: string, b: Uint8Array, len: number): Uint8Array {
  if (b.length !== len) throw invalidArgument(`${field} must be ${len} bytes, got ${b.length}`);
  return b;
}

export function requirePubkey(field: string, b: Uint8Array): Uint8Array {
  requireBytes(field, b, 33);
  if (b[0] !== 2 && b[0] !== 3) throw invalidArgument(`${field} is not a compressed public key (first byte 0x02 or 0x03)`);
  return b;
}

/** How each payment refusal reads as a status (lnnode.v1 and the lnd API agree on the codes). */
export const PAYMENT_ERROR_CODES: Readonly<Record<PaymentErrorCode, Code>> = {
  invalid_invoice: Code.InvalidArgument,
  wrong_network: Code.InvalidArgument,
  amount_not_allowed: Code.InvalidArgument,
  amount_required: Code.InvalidArgument,
  amount_invalid: Code.InvalidArgument,
  cltv_too_far: Code.InvalidArgument,
  invoice_expired: Code.FailedPrecondition,
  no_route: Code.FailedPrecondition,
  failed: Code.FailedPrecondition,
  already_paid: Code.AlreadyExists,
  in_flight: Code.AlreadyExists,
  not_synced: Code.Unavailable,
  stopped: Code.Unavailable,
  timeout: Code.DeadlineExceeded,
};

export function toConnectError(e: unknown): ConnectError {
  if (e instanceof PaymentError) return new ConnectError(e.message, PAYMENT_ERROR_CODES[e.code]);
  if (e instanceof ConnectError) return e;
  if (e instanceof PeerNotConnectedError) return notFound(e.message);
  if (e instanceof SubscriberOverflowError) return new ConnectError(e.message, Code.ResourceExhausted);
  // The peer is not reading what we already queued for it: the client should back off and retry.
  if (e instanceof PeerBusyError) return new ConnectError(e.message, Code.ResourceExhausted);
  if (e instanceof InvoiceError) return invalidArgument(e.message);
  if (e instanceof ChannelError || e instanceof WalletError) return failedPrecondition(e.message);
  // The chain source is down or answered something refused: try again later.
  if (e instanceof ChainSourceError) return new ConnectError(e.message, Code.Unavailable);
  return new ConnectError(e instanceof Error ? e.message : String(e), Code.Internal);
}
