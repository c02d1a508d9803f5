/**
 * VNET+VTOE with time and costs: the guest does no TCP reliability work on an offloaded connection
 * (dissertation §4.6.1: the overlay promises to run TCP itself or to use a network that obviates
 * it; §3.3.2: without offload the guest "unnecessarily" sends ACKs and checksums over the reliable
 * IB connection). The IB RC transport acknowledges and retransmits in the HCA, so the guests send
 * no TCP ACK, compute no checksum and retransmit nothing -- over arbitrary workloads with faults
 * and on ttcp streams -- and so never do more such work per byte than VNET+IPoIB's guest TCP
 * (model/tcp.ts counts it) on the same ttcp stream. Broken variant `guest-acks` (the guest still
 * checksums and acknowledges each message over the offloaded path) must fail.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { buildIpoibPath, VNET_IPOIB_GUEST_MTU } from '../model/ipoib.js';
import { measureTcpThroughput } from '../model/tcp.js';
import { HOSTS, runVtoePath, type VtoeVariant, type VtoeWork } from '../model/vtoe-path.js';
import { vtoeTcpThroughput } from '../model/vtoe-runs.js';
import { systemRuns } from './harness.js';
import { workloadArb } from './vtoe-path-checks.js';

const reliabilityWork = (w: Readonly<Record<'A' | 'B', VtoeWork>>) => HOSTS.reduce((n, h) => n + w[h].guestTcpAcks + w[h].guestChecksums + w[h].guestRetransmissions, 0);

const noGuestReliability = (variant?: VtoeVariant) =>
  fc.property(workloadArb(), (w) => {
    const p = runVtoePath({ connections: w.connections, fault: w.fault, seed: w.seed, timed: { costs: calibratedCosts, variant }, system: { recorder: { mode: 'ring', capacity: 20 }, checkInvariants: false } });
    const n = reliabilityWork(p.log.work);
    if (n !== 0) throw new Error(`the guests did ${n} pieces of TCP reliability work on offloaded connections: ${JSON.stringify(p.log.work)}`);
  });

describe('VNET+VTOE: no guest-level reliability work on the offloaded path', () => {
  test('no guest ACKs, checksums or retransmissions over arbitrary workloads and faults', () => {
    fc.assert(noGuestReliability(), { numRuns: systemRuns(60) });
  });

  test('on the same ttcp stream, never more per byte than VNET+IPoIB (whose guest TCP does do it)', () => {
    const vtoe = vtoeTcpThroughput({ costs: calibratedCosts, streams: 1, quick: true, writes: 24 });
    const ipoib = measureTcpThroughput((o) => buildIpoibPath('vnetp', o), {
      mtu: VNET_IPOIB_GUEST_MTU,
      linkBitRate: calibratedCosts.ibDataBitRate,
      costs: calibratedCosts,
      streams: 1,
      durationNs: 500_000,
      warmupNs: 100_000,
    });
    const s = ipoib.connections[0].stats;
    const ipoibWork = s.from.ackSegments + s.to.ackSegments + s.from.checksumsComputed + s.to.checksumsComputed + s.from.retransmissions + s.to.retransmissions;
    expect(s.to.bytesDelivered).toBeGreaterThan(0);
    expect(ipoibWork).toBeGreaterThan(0);
    expect(vtoe.bytes).toBeGreaterThan(0);
    expect(reliabilityWork(vtoe.work) / vtoe.bytes).toBeLessThanOrEqual(ipoibWork / s.to.bytesDelivered);
    expect(reliabilityWork(vtoe.work)).toBe(0);
  });

  test('fails on the broken variant: the guest still acknowledges over the offloaded path (guest-acks)', () => {
    expect(fc.check(noGuestReliability('guest-acks'), { numRuns: 100, seed: 1 }).failed).toBe(true);
    const r = vtoeTcpThroughput({ costs: calibratedCosts, streams: 1, quick: true, writes: 24, variant: 'guest-acks' });
    expect(reliabilityWork(r.work)).toBeGreaterThan(0);
  });
});
