/**
 * HPCC over n hosts (model/hpcc.ts) never beats the wire: the ping-pong bandwidth of a pair is at
 * most one direction's share of full TCP segments' payload at the link rate, and the natural
 * ring's bandwidth per rank (two messages out, two in, at once) at most twice that (each host's
 * link is full duplex and the switch gives every host its own port). Checked over 2 to 4 hosts on
 * native-10g at MTU 9000 without host noise (HPCC's 2 MB messages make smaller MTUs slow to simulate); fails on free stacks behind a wire that ignores
 * the link rate.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts, calibrationRecord } from '../model/calibrated-costs.js';
import { configuration, EXPERIMENT_NIC, type BuiltConfiguration } from '../model/configurations.js';
import { checkCosts, ethernetWireBytes, type Costs } from '../model/costs.js';
import { measureHpcc, type HpccPlan } from '../model/hpcc.js';
import { buildHostsPath, type TwoHostPath } from '../model/overlay-path.js';
import { tcpSegmentPayload } from '../model/tcp.js';
import type { SystemOptions } from '../model/wiring.js';
import { systemRuns } from './harness.js';

type HostsBuild = (o: { mtu: number; costs: Costs; seed?: number; system?: Omit<SystemOptions, 'seed'>; hosts: number }) => TwoHostPath;
// HPCC's 2,000,000-byte messages make each run long: one timed repetition, no warm-up.
const PLAN: HpccPlan = { latencyReps: 2, bandwidthReps: 1, warmup: 0, pairs: 'first' };

function quietHosts(id: string, linkBitRate?: number, costs?: Costs): HostsBuild {
  const c = configuration(id) as BuiltConfiguration;
  return (o) =>
    buildHostsPath({ kind: c.kind, plus: c.plus, mtu: o.mtu, linkBitRate: linkBitRate ?? o.costs[c.link], nic: EXPERIMENT_NIC, costs: costs ?? o.costs, seed: o.seed, system: o.system, hosts: o.hosts, noise: false });
}

/** One direction's TCP payload rate at the link rate, MB/s (10^6). */
function wireMBs(id: string, mtu: number): number {
  const c = configuration(id) as BuiltConfiguration;
  return ((calibratedCosts[c.link] / 8) * tcpSegmentPayload(mtu)) / ethernetWireBytes(mtu + 14, calibratedCosts) / 1e6;
}

function problems(id: string, mtu: number, hosts: number, build: HostsBuild, costs: Costs = calibratedCosts): string[] {
  const r = measureHpcc(build, { hosts, mtu, costs, seed: 1, plan: PLAN });
  const w = wireMBs(id, mtu);
  const out: string[] = [];
  if (!(r.pingPongBandwidthMBs > 0 && r.ringBandwidthMBs > 0)) out.push(`no bandwidth: ${JSON.stringify(r)}`);
  if (r.pingPongBandwidthMBs > w * (1 + 1e-9)) out.push(`ping-pong ${r.pingPongBandwidthMBs} MB/s > wire ${w}`);
  if (r.ringBandwidthMBs > 2 * w * (1 + 1e-9)) out.push(`ring ${r.ringBandwidthMBs} MB/s per rank > twice the wire ${2 * w}`);
  return out;
}

describe('HPCC never beats the wire', () => {
  test('ping-pong and ring bandwidths stay within the links, 2 to 4 hosts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), (hosts) => {
        expect(problems('native-10g', 9000, hosts, quietHosts('native-10g'))).toEqual([]);
      }),
      { numRuns: systemRuns(2) },
    );
  });

  test('free stacks behind a wire that ignores the link rate break the bound', () => {
    const stored = { ...calibrationRecord.values, ...(calibrationRecord.throughput?.values ?? {}) };
    const free = checkCosts({ ...stored, guestStackCyclesPerPacket: 0, guestStackCyclesPerMessage: 0, copyCyclesPerByte: 0, hostIrqToPollCycles: 0 });
    // Free for the guest TCP layer too (its write and read system calls and copies), not only the path.
    expect(problems('native-10g', 9000, 2, quietHosts('native-10g', 1e12, free), free)).not.toEqual([]);
  });
});
