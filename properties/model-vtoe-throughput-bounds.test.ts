/**
 * VNET+VTOE with time and costs: bounds from physics and mechanism, over arbitrary values of the
 * costs nothing fixes (the fitted ones this path uses), never the model's current figures:
 * - no ttcp stream and no MPI bandwidth beats the IB link's data rate or the HCA's PCIe data rate
 *   (every payload byte crosses both: the HCA reads it from guest memory and puts it on the link);
 * - the bi-stream test carries at most twice the uni-stream's bytes (the two streams share the
 *   hosts' VMM cores and links; per stream it is no faster than one stream alone);
 * - CPU busy fractions lie between 0 and the cores that work (the guest's vcores and the VMM core);
 * - a small PingPong message takes at least a doorbell VM exit and a virtual interrupt one way
 *   (the guest's post traps to the VMM; the peer guest learns of the message by an interrupt, §4.6.3).
 * Broken variants: a fabric that ignores the link rate must fail the rate bound; a bi-stream test
 * that reports both streams' total per stream must fail the bi <= 2x uni bound.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibrationRecord } from '../model/calibrated-costs.js';
import { checkCosts, cycles, type Costs } from '../model/costs.js';
import { vtoeMpi, vtoeTcpThroughput, type VtoeRunOptions } from '../model/vtoe-runs.js';
import { systemRuns } from './harness.js';

const calibrated = { ...calibrationRecord.values, ...(calibrationRecord.throughput?.values ?? {}) };
const costsArb: fc.Arbitrary<Costs> = fc
  .record({
    vmExitEntryCycles: fc.integer({ min: 10_000, max: 200_000 }),
    copyCyclesPerByte: fc.double({ min: 0, max: 4, noNaN: true }),
    vtoeSocketCyclesPerOp: fc.integer({ min: 0, max: 30_000 }),
    vtoeAgentCyclesPerWqe: fc.integer({ min: 0, max: 30_000 }),
    vnetCoreCyclesPerPacket: fc.integer({ min: 0, max: 30_000 }),
    hostIrqToPollCycles: fc.integer({ min: 0, max: 30_000 }),
    ibPcieTlpPayloadBytes: fc.constantFrom(64, 128, 256, 512, 1024, 4096),
  })
  .map((o) => checkCosts({ ...calibrated, ...o }));

const WRITES = 40;
/**
 * A rate is read from the receiving application's reads over the last three quarters of the run,
 * so it is known to within one read of that window; the bounds allow that much (and no more).
 */
const RESOLUTION = 1 / (Math.floor((3 * WRITES) / 4) - 1);

/** Problems with one set of costs (empty: every bound holds). */
function bounds(costs: Costs, broken?: VtoeRunOptions['broken'], brokenTotalPerStream?: boolean): string[] {
  const out: string[] = [];
  const cap = Math.min(costs.ibDataBitRate, costs.ibPcieDataBitRate);
  const uni = vtoeTcpThroughput({ costs, streams: 1, quick: true, writes: WRITES, broken });
  const bi = vtoeTcpThroughput({ costs, streams: 2, quick: true, writes: WRITES, broken, brokenTotalPerStream });
  if (!(uni.bitsPerSecond > 0)) out.push('uni-stream carried nothing');
  for (const [name, r] of [['uni', uni], ['bi', bi]] as const) {
    for (const b of r.perStream) if (b > cap * (1 + RESOLUTION)) out.push(`${name}-stream ${(b / 1e9).toFixed(2)} Gbps beats the link/bus data rate ${(cap / 1e9).toFixed(2)} Gbps`);
  }
  if (2 * bi.bitsPerSecond > 2 * uni.bitsPerSecond * (1 + 2 * RESOLUTION)) out.push(`bi-stream ${(2 * bi.bitsPerSecond / 1e9).toFixed(2)} Gbps in all is more than twice uni-stream ${(uni.bitsPerSecond / 1e9).toFixed(2)}`);
  for (const [name, r, cores] of [['uni', uni, 2], ['bi', bi, 3]] as const) {
    for (const [side, f] of Object.entries(r.cpu)) if (!(f >= 0 && f <= cores * 1.05)) out.push(`${name}-stream CPU of ${side} is ${f.toFixed(3)} of a core; ${cores} cores work`);
  }
  const [small, large] = vtoeMpi({ costs, mode: 'pingpong', sizes: [8, 1 << 20], quick: true, broken });
  const floorUs = cycles(costs.vmExitEntryCycles + costs.irqToHandlerCycles, costs.cpuHz) / 1000;
  if (small.latencyUs < floorUs) out.push(`PingPong 8 B one-way ${small.latencyUs.toFixed(2)} us is below a VM exit and a virtual interrupt (${floorUs.toFixed(2)} us)`);
  if (large.bandwidthMBs * 1_048_576 * 8 > cap) out.push(`PingPong 1 MiB ${large.bandwidthMBs.toFixed(0)} MB/s beats the link/bus data rate`);
  return out;
}

const holds = (broken?: VtoeRunOptions['broken']) =>
  fc.property(costsArb, (costs) => {
    const p = bounds(costs, broken);
    if (p.length) throw new Error(p.join('\n'));
  });

describe('VNET+VTOE: throughput, CPU and latency bounds', () => {
  test('hold for arbitrary values of the unfixed costs', () => {
    fc.assert(holds(), { numRuns: systemRuns(6), endOnFailure: true });
  });

  test('fails on the broken variant: the fabric ignores the link rate', () => {
    // Cheap hosts and a fast host bus (an allowed override), so that only the link holds the rate down.
    const cheap = checkCosts({
      ...calibrated,
      vmExitEntryCycles: 10_000,
      copyCyclesPerByte: 0,
      vtoeSocketCyclesPerOp: 0,
      vtoeAgentCyclesPerWqe: 0,
      vnetCoreCyclesPerPacket: 0,
      hostIrqToPollCycles: 0,
      ibPcieDataBitRate: 1_000_000_000_000,
    });
    expect(bounds(cheap)).toEqual([]);
    expect(bounds(cheap, { ignoreLinkRate: true }).join('\n')).toMatch(/beats the link\/bus data rate/);
  });

  test('fails on the broken variant: the bi-stream test reports both streams together as one stream', () => {
    const costs = checkCosts(calibrated);
    expect(bounds(costs, undefined, true).join('\n')).toMatch(/more than twice uni-stream/);
  });
});
