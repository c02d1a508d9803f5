/**
 * Latency variability (dissertation chapter 6, "ICMP variability, 64 bytes, 5000 pings"): a train
 * of 64-byte ICMP echoes from guest A to guest B, one after another, and the distribution of their
 * round trips as the `pingRtt` observer reads them from the recorded stream. The median says what a
 * typical ping costs; p99 and the maximum show the bursts (host noise, interrupt timing).
 */
import type { Costs } from './costs.js';
import { distribution, type Distribution } from './metrics.js';
import type { TwoHostPath } from './overlay-path.js';
import { addPing, pingRtt } from './ping.js';
import type { Observer } from './recorder.js';
import type { SystemOptions } from './wiring.js';

/** Pings in the train: the dissertation's 5000, and the short train of `--quick`. */
export const VARIABILITY_PINGS = 5000;
export const VARIABILITY_PINGS_QUICK = 500;
/** ICMP data bytes of each ping. */
export const VARIABILITY_SIZE_BYTES = 64;
/** Time from one reply to the next request (ping's `-i`, here 1 ms: the train is not a flood). */
export const VARIABILITY_INTERVAL_NS = 1_000_000;

export interface VariabilityResult {
  /** Pings that came back (all of them, or the run throws). */
  readonly count: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly minUs: number;
  readonly meanUs: number;
}

export function variabilityOf(d: Distribution): VariabilityResult {
  return { count: d.count, p50Us: d.p50 / 1000, p99Us: d.p99 / 1000, maxUs: d.max / 1000, minUs: d.min / 1000, meanUs: d.mean / 1000 };
}

/**
 * Runs a train of `count` 64-byte pings over a built configuration at `mtu` and returns the round
 * trips in the order they completed (ns) and their distribution. `observers` see the same recorded
 * stream (for example interrupt accounting, model/interrupts.ts).
 */
export function measurePingTrain(
  build: (o: { mtu: number; costs: Costs; seed?: number; system?: Omit<SystemOptions, 'seed'> }) => TwoHostPath,
  o: {
    readonly mtu: number;
    readonly costs: Costs;
    readonly seed?: number;
    readonly count?: number;
    readonly sizeBytes?: number;
    readonly intervalNs?: number;
    readonly observers?: readonly Observer[];
  },
): { readonly samplesNs: readonly number[]; readonly result: VariabilityResult } {
  const count = o.count ?? VARIABILITY_PINGS;
  if (!Number.isInteger(count) || count < 1 || count > 1_000_000) throw new RangeError(`ping train count must be an integer from 1 to 1000000, got ${count}`);
  const intervalNs = o.intervalNs ?? VARIABILITY_INTERVAL_NS;
  if (!Number.isInteger(intervalNs) || intervalNs < 0) throw new RangeError(`ping train intervalNs must be a non-negative integer, got ${intervalNs}`);
  const sizeBytes = o.sizeBytes ?? VARIABILITY_SIZE_BYTES;
  // Only observers read the stream, so keep a short ring rather than the whole trace.
  const path = build({ mtu: o.mtu, costs: o.costs, seed: o.seed, system: { recorder: { mode: 'ring', capacity: 64 } } });
  addPing(path, { sizeBytes, mtu: o.mtu, count, intervalNs });
  const rtt = pingRtt();
  path.system.recorder.observe(rtt.onRecord);
  for (const obs of o.observers ?? []) path.system.recorder.observe(obs);
  path.system.run({ maxEvents: 200 * count + 1_000_000 });
  const r = rtt.result();
  if (r.samples.length !== count) throw new Error(`ping train of ${count} at MTU ${o.mtu}: ${r.samples.length} replies came back`);
  return { samplesNs: r.samples, result: variabilityOf(distribution(r.samples)) };
}
