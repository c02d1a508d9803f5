/**
 * The seeded random fault model (model/faults.ts `WireFaults.random`): loss, duplication,
 * reordering and corruption probabilities per packet, drawn from the `wire.faults` component's
 * stream of model/random.ts.
 *
 * - On every Ethernet configuration, with generated probabilities and workloads, the system
 *   invariants hold (conservation, isolation; model/system-invariants.ts) and the totals balance;
 *   a ttcp UDP stream (model/ttcp.ts) under random faults breaks none while it runs.
 * - Same seed, same faults: two runs with one seed and one set of probabilities count the same
 *   faults and report the same totals (and another seed, on enough packets, does not always).
 * - Bad probabilities and schedules are refused with an error naming the field and the range.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { builtConfigurations, configuration, type BuiltConfiguration } from '../model/configurations.js';
import { FaultInputError, WireFaults, type FaultAction, type FaultProbabilities } from '../model/faults.js';
import { systemRuns } from './harness.js';
import { probabilitiesArb, runTtcpUnderFaults, runUnderFaults, workloadsArb, type Workload } from './model-under-faults-harness.js';

const sum = (r: Readonly<Record<string, number>>) => Object.values(r).reduce((a, b) => a + b, 0);

describe.each(builtConfigurations().map((c) => [c.id, c] as const))('%s', (_id, config) => {
  test('under random faults every frame is delivered once or dropped with a counted reason', () => {
    fc.assert(
      fc.property(fc.constantFrom(...config.mtus), probabilitiesArb, workloadsArb, fc.integer({ min: 0, max: 2 ** 31 - 1 }), (mtu, p, workloads, seed) => {
        const faults = WireFaults.random(p);
        const { report } = runUnderFaults({ config, mtu, faults, workloads, seed });
        expect(report.sent + report.extraCopies).toBe(report.delivered + sum(report.frameDrops));
        expect(report.packetDrops['wire:wire-loss'] ?? 0).toBe(faults.counts.drop);
        expect(report.packetDrops['wire:fcs'] ?? 0).toBe(faults.counts.corrupt);
      }),
      { numRuns: systemRuns(5) },
    );
  });

  test('a ttcp UDP stream under random faults breaks no invariant while it runs', () => {
    fc.assert(
      fc.property(fc.constantFrom(...config.mtus), probabilitiesArb, fc.integer({ min: 0, max: 2 ** 31 - 1 }), (mtu, p, seed) => {
        const faults = WireFaults.random(p);
        const report = runTtcpUnderFaults({ config, mtu, faults, seed, windowNs: 150_000 });
        // While frames are in flight the totals are bounds, not an equation.
        expect(report.delivered + sum(report.frameDrops)).toBeLessThanOrEqual(report.sent + report.extraCopies);
        expect(report.sent).toBeGreaterThan(0);
      }),
      { numRuns: systemRuns(2) },
    );
  });
});

describe('the random fault model', () => {
  const config = configuration('vnetp-10g') as BuiltConfiguration;
  const workloads: Workload[] = [
    { kind: 'burst', from: 'A', datagramBytes: [6000, 6000, 6000], startNs: 100_000 },
    { kind: 'burst', from: 'B', datagramBytes: [3000, 3000], startNs: 150_000 },
  ];
  const run = (p: FaultProbabilities, seed: number) => {
    const faults = WireFaults.random(p);
    const { report } = runUnderFaults({ config, mtu: 1500, faults, workloads, seed });
    return { counts: { ...faults.counts }, report };
  };

  test('same seed and probabilities, same faults and same totals', () => {
    fc.assert(
      fc.property(probabilitiesArb, fc.integer({ min: 0, max: 2 ** 31 - 1 }), (p, seed) => {
        expect(run(p, seed)).toEqual(run(p, seed));
      }),
      { numRuns: systemRuns(6) },
    );
  });

  test('the faults depend on the seed', () => {
    const p: FaultProbabilities = { loss: 0.1, duplicate: 0.1, reorder: 0.1, corrupt: 0.1 };
    const outcomes = new Set([1, 2, 3, 4, 5].map((seed) => JSON.stringify(run(p, seed).counts)));
    expect(outcomes.size).toBeGreaterThan(1);
  });

  test('bad probabilities are refused, naming the field and the allowed range', () => {
    const ok: FaultProbabilities = { loss: 0, duplicate: 0, reorder: 0, corrupt: 0 };
    for (const [field, bad] of [
      ['loss', { ...ok, loss: -0.1 }],
      ['duplicate', { ...ok, duplicate: 1.5 }],
      ['reorder', { ...ok, reorder: Number.NaN }],
      ['corrupt', { ...ok, corrupt: '0.1' as unknown as number }],
      ['loss + duplicate + reorder + corrupt', { loss: 0.5, duplicate: 0.5, reorder: 0.5, corrupt: 0 }],
      ['maxDelayNs', { ...ok, maxDelayNs: 0 }],
    ] as const) {
      expect(() => WireFaults.random(bad), field).toThrow(FaultInputError);
      expect(() => WireFaults.random(bad), field).toThrow(new RegExp(`faults: ${field.replace(/[+]/g, '\\+')} = .* expected`));
    }
  });

  test('bad schedule actions are refused, naming the entry and the allowed range', () => {
    const cases: [string, unknown][] = [
      ['schedule[1].kind', [{ kind: 'deliver' }, { kind: 'explode' }]],
      ['schedule[0].ns', [{ kind: 'delay', ns: 0 }]],
      ['schedule[0].ns', [{ kind: 'delay', ns: 1.5 }]],
      ['schedule[0].byte', [{ kind: 'corrupt', byte: -1 }]],
      ['schedule', 'drop'],
    ];
    for (const [field, schedule] of cases) {
      expect(() => WireFaults.scheduled(schedule as FaultAction[]), field).toThrow(new RegExp(`faults: ${field.replace(/[[\]]/g, '\\$&')} = `));
    }
  });

  test('a fault model must be attached to the system before packets flow (else its faults would miss the stream)', () => {
    for (const faults of [WireFaults.random({ loss: 0.5, duplicate: 0, reorder: 0, corrupt: 0 }), WireFaults.scheduled([{ kind: 'drop' }])]) {
      expect(() => faults.hook({ from: 'A', to: 'B', packet: new Uint8Array(60), index: 0, arriveNs: 1 }, () => {})).toThrow(/attached/);
    }
  });
});
