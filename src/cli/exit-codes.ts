/**
 * lnnode-cli's exit codes, the same for every command (documented in
 * `lnnode-cli help` and the README): scripts tell a refusal by the node from
 * a mistake on the command line.
 */
export const EXIT = {
  /** The call succeeded (or help was asked for). */
  ok: 0,
  /** The node refused the call or could not be reached: the gRPC code and message are on stderr. */
  rpcError: 1,
  /** The command line is wrong: unknown command or option, missing or extra argument, bad value. */
  usage: 2,
} as const;

/** A mistake on the command line; `command` names the command whose help explains it. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** The command line is fine but names no usable node (no token, no certificate): exit 2, no help hint. */
export class SetupError extends UsageError {}
