/**
 * The report is a pure function of its arguments: the same seed gives the same document, byte for
 * byte. It has the vnet-model/report@1 shape, a round trip for every built configuration, MTU and
 * size, and the RTT it reports is what an observer of the recorded stream computes, live or from a
 * replayed full trace.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { buildReport } from '../cli/commands/report.js';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { builtConfigurations, configuration, configurations, type BuiltConfiguration } from '../model/configurations.js';
import { addPing, measureRttUs, pingRtt, PING_SIZES_QUICK } from '../model/ping.js';
import { replay } from '../model/recorder.js';
import { systemRuns } from './harness.js';

describe('model report', () => {
  test('the same seed gives the same report', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const a = JSON.stringify(buildReport({ quick: true, seed }));
        const b = JSON.stringify(buildReport({ quick: true, seed }));
        expect(a).toBe(b);
      }),
      { numRuns: systemRuns(2) },
    );
  });

  test('the document has every section and a round trip per built configuration, MTU and size', () => {
    const r = buildReport({ quick: true, seed: 1 });
    expect(r.schema).toBe('vnet-model/report@1');
    for (const k of ['mpi', 'interrupts', 'variability', 'cpu'] as const) expect(r[k]).toEqual([]);
    expect(r.throughput.map((x) => `${x.config}@${x.mtu}`)).toEqual(builtConfigurations().flatMap((c) => c.mtus.map((mtu) => `${c.id}@${mtu}`)));
    const expected = builtConfigurations().flatMap((c) => c.mtus.flatMap((mtu) => PING_SIZES_QUICK.map((s) => `${c.id}@${mtu}:${s}`)));
    expect(r.rtt.map((x) => `${x.config}@${x.mtu}:${x.sizeBytes}`)).toEqual(expected);
    for (const x of r.rtt) expect(x.rttUs).toBeGreaterThan(0);
    for (const f of r.calibration) {
      expect(Number.isFinite(f.model)).toBe(true);
      expect(f.error).toBeCloseTo((f.model - f.measured) / f.measured, 2);
    }
  });

  test('every configuration of the comparison is listed; the planned ones say what is missing', () => {
    const ids = ['native-1g', 'native-10g', 'passthrough-1g', 'passthrough-10g', 'vnetu-1g', 'vnetp-1g', 'vnetp-10g', 'vnetp-10g+oi', 'vnetp-10g+ct', 'vnetp-10g+oi+ct', 'vnetp+-10g', 'native-uverbs', 'native-sdp', 'native-ipoib', 'vnet-ipoib', 'vnet-vtoe'];
    expect(configurations.map((c) => c.id)).toEqual(ids);
    for (const c of configurations) if (c.status === 'planned') expect(c.missing.length).toBeGreaterThan(10);
    for (const id of ['native-1g', 'native-10g', 'vnetp-1g', 'vnetp-10g']) expect(configuration(id).status).toBe('built');
  });

  test('the RTT is the stream observer\'s: live and from a replayed full trace agree', () => {
    const c = configuration('vnetp-10g') as BuiltConfiguration;
    const path = c.build({ mtu: 1500, costs: calibratedCosts });
    addPing(path, { sizeBytes: 4096, mtu: 1500, count: 3 });
    const live = pingRtt();
    path.system.recorder.observe(live.onRecord);
    path.system.run({ maxEvents: 1_000_000 });
    const replayed = pingRtt();
    replay(path.system.recorder.records(), replayed.onRecord);
    expect(replayed.result()).toEqual(live.result());
    expect(live.result().samples.length).toBe(3);
    expect(measureRttUs(c.build, { mtu: 1500, sizeBytes: 4096, costs: calibratedCosts })).toBe(live.result().distribution.p50 / 1000);
  });
});
