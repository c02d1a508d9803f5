/**
 * MPI messages (model/mpi.ts) arrive whole and unchanged over the guest TCP model whatever the wire
 * does to individual packets (loss, duplication, delay, corruption, per packet index as fast-check
 * generates): both ranks finish IMB PingPong and SendRecv, and every message's bytes pass the
 * receiving rank's pattern check (a wrong byte fails the run). Broken variant: a TCP that hands
 * out-of-order segments to the application at once corrupts a message.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts } from '../model/calibrated-costs.js';
import type { BuildOptions } from '../model/configurations.js';
import { measureImb, MATCH_HEADER_BYTES, OMPI_TCP_EAGER_LIMIT } from '../model/mpi.js';
import type { WireFaultHook } from '../model/overlay-path.js';
import type { TcpBreakage } from '../model/tcp.js';
import { systemRuns } from './harness.js';
import { quietBuild, scheduledFaults, type WireAction } from './model-tcp-checks.js';

const actionArb: fc.Arbitrary<WireAction> = fc.oneof(
  { weight: 70, arbitrary: fc.constant({ kind: 'pass' } as const) },
  { weight: 8, arbitrary: fc.constant({ kind: 'drop' } as const) },
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 300_000 }).map((laterNs) => ({ kind: 'dup', laterNs }) as const) },
  { weight: 8, arbitrary: fc.integer({ min: 1_000, max: 400_000 }).map((ns) => ({ kind: 'delay', ns }) as const) },
  { weight: 3, arbitrary: fc.constant({ kind: 'corrupt' } as const) },
);

const SIZES = [0, 1000, OMPI_TCP_EAGER_LIMIT - MATCH_HEADER_BYTES + 1];

function imb(id: string, mode: 'pingpong' | 'sendrecv', faults: readonly WireAction[] | WireFaultHook, breakage?: TcpBreakage) {
  const quiet = quietBuild(id);
  const build = (o: BuildOptions) => quiet({ ...o, wireFaults: typeof faults === 'function' ? faults : scheduledFaults(faults) });
  return measureImb(build, { mode, sizes: SIZES, mtu: 9000, costs: calibratedCosts, seed: 1, repetitions: () => 2, warmup: 0, breakage });
}

describe('MPI messages survive wire faults', () => {
  test('both ranks finish and every byte of every message is right', () => {
    fc.assert(
      fc.property(fc.constantFrom('native-10g', 'vnetp-10g'), fc.constantFrom('pingpong' as const, 'sendrecv' as const), fc.array(actionArb, { maxLength: 120 }), (id, mode, schedule) => {
        const rows = imb(id, mode, schedule);
        expect(rows.map((r) => r.sizeBytes)).toEqual(SIZES);
      }),
      { numRuns: systemRuns(12) },
    );
  });

  test('a TCP that delivers out-of-order segments at once corrupts a message', () => {
    // The sixth full-sized packet A sends (a segment of the 65521-byte message; the window has
    // grown past it by then) is held back 300 us: the segments after it overtake it.
    const holdSixthBig = (): WireFaultHook => {
      let big = 0;
      return (p, deliver) => deliver(p.from === 'A' && p.packet.length > 8000 && ++big === 6 ? p.arriveNs + 300_000 : p.arriveNs, p.packet);
    };
    expect(() => imb('native-10g', 'pingpong', holdSixthBig())).not.toThrow();
    expect(() => imb('native-10g', 'pingpong', holdSixthBig(), { deliverOutOfOrder: true })).toThrow(/wrong|did not finish|unknown/);
  });
});
