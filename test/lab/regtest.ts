/** Regtest network parameters shared by the lab's wallets and addresses. */
export const REGTEST = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef } as const;
/** Regtest chain hash (genesis block hash, display order). */
export const REGTEST_GENESIS = '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206';
/** Regtest halves the subsidy every 150 blocks. */
export const subsidySat = (height: number): bigint => (50n * 100_000_000n) >> BigInt(Math.floor(height / 150));
