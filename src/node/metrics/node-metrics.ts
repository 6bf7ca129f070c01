/**
 * What the node counts while it runs, for /metrics: RPC calls by method and
 * status code, and how long payments take from start to their outcome.
 * Everything else /metrics shows is read from the node when scraped
 * (collect.ts), so it is never out of step with the API. Counters start at
 * zero with the process, as Prometheus expects of counters.
 */
import { hex } from '../../bolt/bytes.ts';
import { type PaymentRecord } from '../payments/payments.ts';
import { Histogram, LabelledCounter } from './exposition.ts';

/** Payment latency buckets (seconds): a direct payment takes tens of ms, a multi-hop one up to the pay timeout. */
export const PAYMENT_LATENCY_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Payments remembered between start and outcome; past it the oldest start is forgotten (its latency is not observed). */
const MAX_STARTED = 10_000;

export class NodeMetrics {
  /** RPC calls by service, method and gRPC status code name ("ok", "invalid_argument"...). */
  readonly rpcCalls = new LabelledCounter();
  readonly paymentLatency = new Map<'succeeded' | 'failed', Histogram>([
    ['succeeded', new Histogram(PAYMENT_LATENCY_BUCKETS_S)],
    ['failed', new Histogram(PAYMENT_LATENCY_BUCKETS_S)],
  ]);
  private readonly started = new Map<string, number>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  rpcCall(service: string, method: string, code: string): void {
    this.rpcCalls.inc({ service, method, code });
  }

  paymentStarted(paymentHash: Uint8Array): void {
    if (this.started.size >= MAX_STARTED) this.started.delete(this.started.keys().next().value!);
    this.started.set(hex(paymentHash), this.now());
  }

  /** A payment ended; its latency is observed if it started in this process. */
  paymentResolved(p: PaymentRecord): void {
    if (p.state === 'in_flight') return;
    const key = hex(p.paymentHash);
    const t0 = this.started.get(key);
    if (t0 === undefined) return;
    this.started.delete(key);
    this.paymentLatency.get(p.state)!.observe((this.now() - t0) / 1000);
  }
}
