/**
 * Schema migrations, applied in order. Never edit a released migration:
 * add a new one. Rows that hold encoded records carry a format version.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'peers',
    sql: `
      CREATE TABLE peers (
        node_id BLOB PRIMARY KEY CHECK (length(node_id) = 33),
        address TEXT NOT NULL,
        persistent INTEGER NOT NULL DEFAULT 1,
        added_at INTEGER NOT NULL,
        last_connected_at INTEGER
      );
      CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    `,
  },
  {
    version: 2,
    name: 'channels',
    sql: `
      CREATE TABLE channels (
        channel_id BLOB PRIMARY KEY CHECK (length(channel_id) = 32),
        peer BLOB NOT NULL CHECK (length(peer) = 33),
        key_index INTEGER NOT NULL UNIQUE,
        phase TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX channels_peer ON channels (peer);
      -- What a justice transaction needs besides the shachain secret: one row per revoked commitment of the peer.
      CREATE TABLE revoked_commitments (
        channel_id BLOB NOT NULL REFERENCES channels (channel_id),
        commitment_number INTEGER NOT NULL,
        txid TEXT NOT NULL,
        spec TEXT NOT NULL,
        PRIMARY KEY (channel_id, commitment_number)
      );
      CREATE INDEX revoked_commitments_txid ON revoked_commitments (txid);
    `,
  },
  {
    version: 3,
    name: 'wallet',
    sql: `
      -- BIP84 scripts handed out or watched: chain 0 receive, 1 change.
      CREATE TABLE wallet_scripts (
        chain INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        script BLOB NOT NULL UNIQUE,
        used INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (chain, idx)
      );
      -- Transactions the wallet signed, stored before they are broadcast so a
      -- crash never loses one, and so their inputs are never spent twice.
      CREATE TABLE wallet_txs (
        txid TEXT PRIMARY KEY,
        raw BLOB NOT NULL,
        purpose TEXT NOT NULL,
        idempotency_key TEXT UNIQUE,
        fee_sat INTEGER NOT NULL,
        broadcast INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE wallet_tx_inputs (
        txid TEXT NOT NULL REFERENCES wallet_txs (txid) ON DELETE CASCADE,
        outpoint TEXT NOT NULL,
        PRIMARY KEY (txid, outpoint)
      );
      CREATE INDEX wallet_tx_inputs_outpoint ON wallet_tx_inputs (outpoint);
    `,
  },
  {
    version: 4,
    name: 'payments',
    sql: `
      CREATE TABLE invoices (
        payment_hash BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
        preimage BLOB NOT NULL,
        payment_secret BLOB NOT NULL,
        amount_msat INTEGER,
        bolt11 TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        min_final_cltv INTEGER NOT NULL,
        settled_at INTEGER,
        received_msat INTEGER
      );
      -- One row per payment hash: paying the same invoice again finds it here.
      CREATE TABLE payments (
        payment_hash BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
        bolt11 TEXT,
        payee BLOB NOT NULL,
        amount_msat INTEGER NOT NULL,
        state TEXT NOT NULL,
        channel_id BLOB,
        htlc_id INTEGER,
        session_key BLOB,
        preimage BLOB,
        failure TEXT,
        created_at INTEGER NOT NULL,
        resolved_at INTEGER
      );
    `,
  },
  {
    version: 5,
    name: 'invoice settle index',
    // lnd's SubscribeInvoices resumes from add_index/settle_index; add_index is the rowid
    // (invoices are never deleted), settle_index counts settlements in order.
    sql: `
      ALTER TABLE invoices ADD COLUMN settle_index INTEGER;
      CREATE UNIQUE INDEX invoices_settle_index ON invoices (settle_index) WHERE settle_index IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: 'payment route and failure code, invoice settled by',
    // A payment keeps its route's node ids (to decrypt a failure from any hop) and why it
    // failed as a code the RPC layers map (lnd's failure_reason); rows failed before this
    // migration get the code their text implies. An invoice remembers the HTLC that settled
    // it, so only a retransmission of that HTLC is fulfilled again.
    sql: `
      ALTER TABLE payments ADD COLUMN route BLOB;
      ALTER TABLE payments ADD COLUMN failure_code TEXT;
      UPDATE payments SET failure_code = CASE
          WHEN failure LIKE '%incorrect_or_unknown_payment_details%' THEN 'incorrect_payment_details'
          WHEN failure LIKE 'not sent:%' THEN 'not_sent'
          ELSE 'error' END
        WHERE state = 'failed';
      ALTER TABLE invoices ADD COLUMN settled_channel_id BLOB;
      ALTER TABLE invoices ADD COLUMN settled_htlc_id INTEGER;
    `,
  },
  {
    version: 7,
    name: 'wallet transaction states and verified headers',
    // See src/node/wallet/tx-ledger.ts for the states. A funding never broadcast stays held
    // unless its channel got past funding_signed (its broadcast failed: send it again).
    sql: `
      ALTER TABLE wallet_txs ADD COLUMN state TEXT NOT NULL DEFAULT 'unconfirmed';
      ALTER TABLE wallet_txs ADD COLUMN trusted INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE wallet_txs ADD COLUMN block_height INTEGER;
      ALTER TABLE wallet_txs ADD COLUMN conflict_txid TEXT;
      ALTER TABLE wallet_txs ADD COLUMN conflict_height INTEGER;
      ALTER TABLE wallet_txs ADD COLUMN last_error TEXT;
      ALTER TABLE wallet_txs ADD COLUMN released_key TEXT;
      ALTER TABLE wallet_txs ADD COLUMN updated_at INTEGER;
      UPDATE wallet_txs SET state = 'held'
        WHERE broadcast = 0 AND purpose = 'funding' AND txid NOT IN (
          SELECT json_extract(channels.state, '$.d.commitments.fundingTxid') FROM channels
          WHERE channels.phase <> 'awaiting_funding_signed' AND json_extract(channels.state, '$.d.commitments.fundingTxid') IS NOT NULL);
      CREATE INDEX wallet_txs_state ON wallet_txs (state);
      -- Block headers checked by proof of work (src/chain/header-chain.ts), from the first one trusted.
      CREATE TABLE chain_headers (
        height INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        header BLOB NOT NULL CHECK (length(header) = 80)
      );
    `,
  },
  {
    version: 8,
    name: 'payment htlc expiry',
    // The absolute CLTV expiry of the HTLC a payment sent: lnd's route total_time_lock (lncli's TIMELOCK).
    sql: `
      ALTER TABLE payments ADD COLUMN htlc_cltv_expiry INTEGER;
    `,
  },
];
