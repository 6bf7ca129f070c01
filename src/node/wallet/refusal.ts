/**
 * Which broadcast refusals say "not now" rather than "never", pure. The
 * wallet releases a transaction's coins only on a refusal that time will not
 * change (an invalid or non-standard transaction, a fee below the node's
 * fixed minimum) and only after checking that its inputs still exist and are
 * unspent; these reasons keep it stored and sent again on the next block.
 * Texts of Bitcoin Core (as Esplora passes them on) and btcd.
 */
const TEMPORARY = [
  // A timelock not yet reached: Core's non-final / non-BIP68-final, btcd's wording.
  /non-final/i,
  /non-BIP68-final/i,
  /not finalized/i,
  /sequence locks/i,
  /premature/i,
  // Its parent is not (yet) known.
  /missing ?inputs/i,
  /orphan/i,
  /inputs-missingorspent/i,
  // Mempool limits that move with other traffic.
  /too-long-mempool-chain/i,
  /too many descendants/i,
  /mempool min fee not met/i,
  /mempool full/i,
  // A competing transaction in the mempool (a replacement may yet win either way).
  /txn-mempool-conflict/i,
  /already spent by transaction/i,
  /insufficient fee/i,
  /replacement/i,
  // Not a verdict on the transaction at all.
  /warming up/i,
  /already (have|in|known)/i,
  /txn-already/i,
] as const;

export function isTemporaryRefusal(reason: string): boolean {
  return TEMPORARY.some((re) => re.test(reason));
}
