/**
 * The report is a pure function of its arguments: the same seed gives the same document, byte for
 * byte. It has the vnet-model/report@1 shape; every run it plans (configuration x MTU x workload the
 * configuration has) gives its row or is listed as failed; interrupt rows only for the VNET/P
 * family; and the RTT it reports is what an observer of the recorded stream computes, live or from
 * a replayed full trace.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { buildReport, type Report } from '../cli/commands/report.js';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { configuration, configurations, type BuiltConfiguration } from '../model/configurations.js';
import { runnersFor } from '../model/experiments.js';
import { addPing, measureRttUs, pingRtt } from '../model/ping.js';
import { replay } from '../model/recorder.js';
import { systemRuns } from './harness.js';

// Each test runs whole experiments, so the reports here are small: a native and a plain VNET/P
// configuration, a narrow scope, and no calibration (model-calibration-*.test.ts covers it).
const CONFIGS = ['native-1g', 'vnetp-1g'] as const;
const SCOPE = { pingSizes: [64, 1024], pingTrain: 20, mpiSizes: [8] } as const;
const small = (): Report => buildReport({ quick: true, seed: 1, configs: [...CONFIGS], scope: SCOPE, sections: ['rtt', 'throughput', 'variability'] });

describe('model report', () => {
  test('the same seed gives the same report', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        // The ping train is where host noise (seeded) shows; an optimized path has the most machines.
        const once = () => JSON.stringify(buildReport({ quick: true, seed, configs: ['native-1g', 'vnetp-10g+oi'], scope: { pingSizes: [64], pingTrain: 20 }, sections: ['rtt', 'variability'] }));
        expect(once()).toBe(once());
      }),
      { numRuns: systemRuns(1) },
    );
  });

  test('every planned run has its row or is listed as failed; interrupts only for the VNET/P family', () => {
    const r = small();
    expect(r.schema).toBe('vnet-model/report@1');
    expect(r.quick).toBe(true);
    const failed = new Set(r.failures.map((f) => f.run));
    const covered = (run: string, hasRow: boolean) => expect(hasRow || failed.has(run), run).toBe(true);
    for (const id of CONFIGS) {
      const c = runnersFor(id)!;
      for (const mtu of c.mtus) {
        for (const s of SCOPE.pingSizes) covered(`${id} MTU ${mtu} ping ${s} B`, r.rtt.some((x) => x.config === id && x.mtu === mtu && x.sizeBytes === s));
        for (const [p, runner] of [['udp', c.runners.udpGoodput], ['tcp', c.runners.tcpThroughput]] as const) {
          if (!runner) continue;
          covered(`${id} MTU ${mtu} ${p.toUpperCase()}`, r.throughput.some((x) => x.config === id && x.mtu === mtu && x.protocol === p));
        }
        if (c.runners.tcpThroughput && r.throughput.some((x) => x.config === id && x.mtu === mtu && x.protocol === 'tcp')) {
          expect(r.cpu.filter((x) => x.config === id && x.mtu === mtu).map((x) => x.side).sort()).toEqual(['rx', 'tx']);
        }
        const udpRow = r.throughput.some((x) => x.config === id && x.mtu === mtu && x.protocol === 'udp');
        expect(r.interrupts.some((x) => x.config === id && x.mtu === mtu && x.workload === 'udp')).toBe(c.vnetpFamily && udpRow);
      }
      const train = r.variability.filter((x) => x.config === id);
      if (train.length) {
        expect(train).toHaveLength(1);
        expect(train[0].pings).toBe(SCOPE.pingTrain);
        expect(train[0].p50Us).toBeLessThanOrEqual(train[0].p99Us);
        expect(train[0].p99Us).toBeLessThanOrEqual(train[0].maxUs);
        expect(r.interrupts.some((x) => x.config === id && x.workload === 'ping')).toBe(c.vnetpFamily);
      } else covered(`${id} ${SCOPE.pingTrain} pings of 64 B`, false);
    }
    // Nothing but the configurations asked for.
    for (const rows of [r.rtt, r.throughput, r.mpi, r.interrupts, r.variability, r.cpu]) for (const x of rows) expect(CONFIGS).toContain(x.config);
    for (const x of r.rtt) expect(x.rttUs).toBeGreaterThan(0);
    for (const x of r.throughput) {
      // Native on the same link and MTU is 100% of itself.
      if (x.config === 'native-1g') expect(x.fractionOfNative).toBe(1);
    }
    for (const f of r.calibration) {
      if (!Number.isFinite(f.model)) continue;
      expect(f.error).toBeCloseTo((f.model - f.measured) / f.measured, 2);
    }
    // Sections not asked for are empty.
    expect(r.calibration).toEqual([]);
    expect(r.mpi).toEqual([]);
  });

  test('every configuration of the comparison is listed, and each has runners the report can run', () => {
    const ids = ['native-1g', 'native-10g', 'passthrough-1g', 'passthrough-10g', 'vnetu-1g', 'vnetp-1g', 'vnetp-10g', 'vnetp-10g+oi', 'vnetp-10g+ct', 'vnetp-10g+oi+ct', 'vnetp+-10g', 'native-uverbs', 'native-sdp', 'native-ipoib', 'vnet-ipoib', 'vnet-vtoe'];
    expect(configurations.map((c) => c.id)).toEqual(ids);
    for (const c of configurations) expect(Object.keys(runnersFor(c.id)?.runners ?? {}).length, c.id).toBeGreaterThan(0);
    for (const id of ['native-1g', 'native-10g', 'vnetp-1g', 'vnetp-10g']) expect(configuration(id).status).toBe('built');
  });

  test('MPI rows: both IMB modes at the largest MTU, for the configurations with an MPI runner only', () => {
    const r = buildReport({ quick: true, seed: 1, configs: ['vnetp-1g', 'vnetp-10g'], scope: { mpiSizes: [8] }, sections: ['mpi'] });
    expect(runnersFor('vnetp-1g')!.runners.mpi).toBeUndefined();
    const failed = r.failures.map((f) => f.run);
    for (const mode of ['pingpong', 'sendrecv'] as const) {
      const row = r.mpi.find((x) => x.config === 'vnetp-10g' && x.mode === mode);
      expect(row !== undefined || failed.includes(`vnetp-10g MTU 9000 IMB ${mode}`), mode).toBe(true);
      if (row) {
        expect(row.mtu).toBe(9000);
        expect(row.sizeBytes).toBe(8);
        expect(row.latencyUs).toBeGreaterThan(0);
      }
    }
    expect(r.mpi.every((x) => x.config === 'vnetp-10g')).toBe(true);
    expect(r.rtt).toEqual([]);
  });

  test('a configuration that runs nothing, an unknown one or an unknown section is refused by name', () => {
    expect(() => buildReport({ quick: true, seed: 1, configs: ['no-such-config'] })).toThrow(/no-such-config/);
    expect(() => buildReport({ quick: true, seed: 1, configs: ['native-1g'], sections: ['nope' as 'rtt'] })).toThrow(/nope/);
  });

  test("the RTT is the stream observer's: live and from a replayed full trace agree", () => {
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
