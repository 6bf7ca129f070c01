/**
 * What lnnode-cli prints: one enum name in readable and JSON output (the
 * short name, OPEN, not INVOICE_STATE_OPEN in one and OPEN in the other),
 * unix times as UTC dates with how long ago, amounts also in sat or BTC,
 * feature bits by their BOLT 9 names.
 */
import { describe, expect, test } from 'bun:test';
import { create } from '@bufbuild/protobuf';
import { duration, humanTime, msatAsSat, readable, satAsBtc, toJson } from '../../src/cli/output.ts';
import {
  InvoiceState,
  ListInvoicesResponseSchema,
  ListPeersResponseSchema,
  Payment_Status,
  PaymentSchema,
  WalletBalanceResponseSchema,
} from '../../src/rpc/gen/lnnode/v1/lnnode_pb.ts';

const NOW = 1_800_000_000;

describe('lnnode-cli output', () => {
  test('enums have the same short name in readable and JSON output', () => {
    const inv = create(ListInvoicesResponseSchema, { invoices: [{ state: InvoiceState.SETTLED, amountMsat: 150_000_000n }] });
    expect((toJson(ListInvoicesResponseSchema, inv).invoices as Record<string, unknown>[])[0]!.state).toBe('SETTLED');
    expect(readable(ListInvoicesResponseSchema, inv, NOW)).toContain('  state: SETTLED');
    const p = create(PaymentSchema, { status: Payment_Status.IN_FLIGHT });
    expect([toJson(PaymentSchema, p).status, readable(PaymentSchema, p, NOW).match(/status: (\S+)/)?.[1]]).toEqual(['IN_FLIGHT', 'IN_FLIGHT']);
  });

  test('times are UTC dates with how long ago; zero is "-"', () => {
    expect(humanTime(NOW - 300, NOW)).toBe('2027-01-15 07:55:00 UTC (5m ago)');
    expect(humanTime(NOW + 3660, NOW)).toBe('2027-01-15 09:01:00 UTC (in 1h 1m)');
    const inv = create(ListInvoicesResponseSchema, { invoices: [{ createdAtUnix: BigInt(NOW - 90), expiresAtUnix: BigInt(NOW + 3510), settledAtUnix: 0n }] });
    const text = readable(ListInvoicesResponseSchema, inv, NOW);
    expect(text).toContain('created_at_unix: 2027-01-15 07:58:30 UTC (1m 30s ago)');
    expect(text).toContain('expires_at_unix: 2027-01-15 08:58:30 UTC (in 58m 30s)');
    expect(text).toContain('settled_at_unix: -');
    // JSON keeps the number.
    expect((toJson(ListInvoicesResponseSchema, inv).invoices as Record<string, unknown>[])[0]!.created_at_unix).toBe(String(NOW - 90));
  });

  test('amounts keep the raw figure and add sat or BTC', () => {
    expect(msatAsSat(150_000_500n)).toBe('150,000.5 sat');
    expect(msatAsSat(1000n)).toBe('1 sat');
    expect(satAsBtc(150_000n)).toBe('0.0015 BTC');
    expect(satAsBtc(2_100_000_000_000_000n)).toBe('21,000,000 BTC');
    const b = create(WalletBalanceResponseSchema, { confirmedSat: 1_000_000n });
    expect(readable(WalletBalanceResponseSchema, b, NOW)).toBe('confirmed_sat: 1000000 (0.01 BTC)\nunconfirmed_sat: 0\nreserved_sat: 0\nlimbo_sat: 0');
    const inv = create(ListInvoicesResponseSchema, { invoices: [{ amountMsat: 150_000_000n }] });
    expect(readable(ListInvoicesResponseSchema, inv, NOW)).toContain('amount_msat: 150000000 (150,000 sat)');
    expect(duration(3600)).toBe('1h');
    expect(duration(90_061)).toBe('1d 1h');
  });

  test('feature bits by BOLT 9 name', () => {
    const peers = create(ListPeersResponseSchema, { peers: [{ features: [1, 12, 23, 99] }] });
    expect(readable(ListPeersResponseSchema, peers, NOW)).toContain(
      'features: option_data_loss_protect (optional), option_static_remotekey (compulsory), option_anchors (optional), unknown bit 99',
    );
    expect((toJson(ListPeersResponseSchema, peers).peers as Record<string, unknown>[])[0]!.features).toEqual([1, 12, 23, 99]);
  });
});
