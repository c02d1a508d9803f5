/**
 * Every guest frame is delivered once or dropped with a counted reason, on every Ethernet
 * configuration, whatever the wire does to its packets (model/system-invariants.ts, checked during
 * each run and after it settles):
 *
 * - under generated fault schedules (one action per wire packet: deliver, drop, duplicate, delay,
 *   corrupt) with pings and small UDP bursts both ways, at each MTU the configuration runs with and
 *   with either cost table: conservation and isolation hold (the run is not stopped), and the
 *   monitor's totals balance: frames sent + duplicate copies = delivered + counted drops, and every
 *   wire fault appears among the counted packet drops;
 * - with a host NIC receive queue of a few frames, so `rx-queue-full` drops happen: the same;
 * - on a switch of three to six hosts (model/overlay-path.ts `buildHostsPath`), UDP datagrams
 *   between random pairs of guests: the same (isolation now has other guests to be wrong about).
 *
 * "Sometimes" witnesses make sure the interesting cases happen: a fragment loss ending in a
 * counted reassembly timeout, a duplicate reaching the guest, a corrupted packet discarded by the
 * FCS check, a NIC queue overflow. The invariants themselves fail on the broken variants of
 * model-broken-variants-caught-under-faults.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { builtConfigurations } from '../model/configurations.js';
import { defaultCosts } from '../model/costs.js';
import { WireFaults } from '../model/faults.js';
import type { InvariantReport } from '../model/system-invariants.js';
import { systemRuns } from './harness.js';
import { faultScheduleArb, manyHostsWorkloadArb, runUnderFaults, workloadsArb } from './model-under-faults-harness.js';

const configs = builtConfigurations();
const COSTS = { default: defaultCosts, calibrated: calibratedCosts } as const;
const costsArb = fc.constantFrom(...(Object.keys(COSTS) as (keyof typeof COSTS)[]));

const sum = (r: Readonly<Record<string, number>>) => Object.values(r).reduce((a, b) => a + b, 0);

/** The monitor's totals balance, and the fault model's counts are among its packet drops. */
function expectBalanced(report: InvariantReport, faults: WireFaults): void {
  expect(report.sent + report.extraCopies).toBe(report.delivered + sum(report.frameDrops));
  expect(report.packetDrops['wire:wire-loss'] ?? 0).toBe(faults.drops['wire-loss']);
  expect(report.packetDrops['wire:fcs'] ?? 0).toBe(faults.drops.fcs);
}

const seen = { timeout: 0, allFragments: 0, duplicateDelivered: 0, fcs: 0, delayed: 0, overflows: 0 };

describe.each(configs.map((c) => [c.id, c] as const))('%s', (_id, config) => {
  const mtuArb = fc.constantFrom(...config.mtus);

  test('under generated fault schedules every frame is delivered once or dropped with a counted reason', () => {
    fc.assert(
      fc.property(mtuArb, faultScheduleArb, workloadsArb, costsArb, fc.integer({ min: 1, max: 1000 }), (mtu, schedule, workloads, costs, seed) => {
        const faults = WireFaults.scheduled(schedule);
        const { report } = runUnderFaults({ config, mtu, faults, workloads, costs: COSTS[costs], seed });
        expectBalanced(report, faults);
        seen.timeout += report.frameDrops['bridge:reassembly-timeout'] ?? 0;
        seen.allFragments += report.frameDrops['fragments-all-dropped'] ?? 0;
        if (report.extraCopies > 0 && report.delivered > report.sent - sum(report.frameDrops)) seen.duplicateDelivered++;
        seen.fcs += faults.drops.fcs;
        seen.delayed += faults.counts.delay;
      }),
      { numRuns: systemRuns(8) },
    );
  });

  test('regression: a lost first fragment and a duplicated second one strand no frame (optimistic interrupts lost wakeup)', () => {
    for (const mtu of config.mtus) {
      const faults = WireFaults.scheduled([{ kind: 'drop' }, { kind: 'duplicate' }]);
      const { report } = runUnderFaults({ config, mtu, faults, workloads: [{ kind: 'ping', sizeBytes: 2953, count: 1 }], costs: calibratedCosts, seed: 1 });
      expectBalanced(report, faults);
    }
  });

  test('with a host NIC queue of a few frames, overflowing packets are counted rx-queue-full drops', () => {
    fc.assert(
      fc.property(mtuArb, fc.integer({ min: 1, max: 4 }), faultScheduleArb, workloadsArb, (mtu, queue, schedule, workloads) => {
        const faults = WireFaults.scheduled(schedule);
        const { report } = runUnderFaults({ config, mtu, faults, workloads, nicRxQueueSize: queue });
        expectBalanced(report, faults);
        seen.overflows += report.packetDrops['nic:rx-queue-full'] ?? 0;
      }),
      { numRuns: systemRuns(4) },
    );
  });
});

test('on a switch of three to six hosts, frames between any two guests are delivered once or dropped with a counted reason', () => {
  const ids = configs.map((c) => c.id);
  fc.assert(
    fc.property(
      fc.constantFrom(...ids),
      fc.integer({ min: 3, max: 6 }).chain((hosts) => fc.tuple(fc.constant(hosts), manyHostsWorkloadArb(hosts))),
      faultScheduleArb,
      (id, [hosts, workloads], schedule) => {
        const config = configs.find((c) => c.id === id)!;
        const faults = WireFaults.scheduled(schedule);
        const { report } = runUnderFaults({ config, mtu: Math.min(...config.mtus), hosts, faults, workloads });
        expectBalanced(report, faults);
      },
    ),
    { numRuns: systemRuns(15) },
  );
});

test('the faults that matter happen: fragment loss, whole datagrams lost, duplicates delivered, FCS discards, delays, NIC overflows', () => {
  expect(seen.timeout, 'a lost fragment sometimes ends in a counted reassembly timeout').toBeGreaterThan(0);
  expect(seen.allFragments, 'every fragment of a datagram is sometimes lost (no reassembly to time out)').toBeGreaterThan(0);
  expect(seen.duplicateDelivered, 'a duplicated packet sometimes reaches a guest twice').toBeGreaterThan(0);
  expect(seen.fcs, 'a corrupted packet is sometimes discarded by the FCS check').toBeGreaterThan(0);
  expect(seen.delayed, 'a packet is sometimes delayed past later ones').toBeGreaterThan(0);
  expect(seen.overflows, 'a full NIC receive queue sometimes drops a packet').toBeGreaterThan(0);
});
