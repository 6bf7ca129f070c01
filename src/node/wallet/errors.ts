/**
 * What the wallet refuses, as data: the RPC layers map every WalletError to
 * FAILED_PRECONDITION (the call was fine, the wallet cannot do it now), so a
 * client can tell "not enough funds" from a bug.
 */

export class WalletError extends Error {
  override readonly name: string = 'WalletError';
}

export class InsufficientFundsError extends WalletError {
  override readonly name: string = 'InsufficientFundsError';
  constructor(
    readonly neededSat: bigint,
    readonly availableSat: bigint,
    message = `insufficient funds: need ${neededSat} sat including fees, have ${availableSat} sat spendable`,
  ) {
    super(message);
  }
}

/**
 * Funding (and fee bumps) spend only coins a stranger cannot take back:
 * confirmed ones and our own unconfirmed change. Says how much of each
 * there is, so the operator knows whether waiting for a block is enough.
 */
export class UnconfirmedFundsError extends InsufficientFundsError {
  override readonly name = 'UnconfirmedFundsError';
  constructor(
    neededSat: bigint,
    readonly confirmedSat: bigint,
    readonly unconfirmedForeignSat: bigint,
    what: string,
  ) {
    super(
      neededSat,
      confirmedSat,
      `insufficient confirmed funds for ${what}: need ${neededSat} sat including fees, have ${confirmedSat} sat confirmed (or our own change); ` +
        `${unconfirmedForeignSat} sat more is unconfirmed from other wallets and is not used until it confirms, since its sender could replace it`,
    );
  }
}
