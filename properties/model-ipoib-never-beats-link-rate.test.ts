/**
 * IPoIB never beats the InfiniBand link's data rate: the IP bytes a host's IPoIB device hands up
 * arrive at most at the link's data rate times the IP share of the link bytes that carry them
 * (the 4-byte IPoIB header, RFC 4391 §6, and the per-packet LRH/BTH/ICRC/VCRC of each path-MTU
 * packet of the RC SEND, IBTA Vol. 1 §5.2), whatever the host costs; and TCP over native-ipoib
 * never beats it either. The bound is computed here from the standards' byte counts, not from the
 * model's timing.
 *
 * Bites on: a device that posts each SEND as 4 bytes long (`broken.shortPost`), so the fabric
 * carries far fewer bytes than the device hands up.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Costs } from '../model/costs.js';
import { buildIpoibPath, NATIVE_IPOIB_MTU } from '../model/ipoib.js';
import { measureTcpThroughput } from '../model/tcp.js';
import { ipoibCostsScaled, runDevice } from './model-ipoib-harness.js';
import { systemRuns } from './harness.js';

/** Most IP bit/s an RC SEND of `ipBytes` (plus the IPoIB header) leaves at `rate`. */
function linkBound(ipBytes: number, c: Costs): number {
  const message = ipBytes + c.ipoibHeaderBytes;
  const packets = Math.ceil(message / c.ibUdMtuBytes);
  // LRH 8 + BTH 12 + ICRC 4 + VCRC 2 per packet (IBTA Vol. 1 §5.2); the ACKs go the other way.
  return (c.ibDataBitRate * ipBytes) / (message + packets * 26);
}

/** Host costs scaled by `k` (0 = free), everything else as calibrated. */
const scaled = ipoibCostsScaled;

const device = fc.record({
  ipBytes: fc.integer({ min: 68, max: NATIVE_IPOIB_MTU }),
  window: fc.integer({ min: 1, max: 64 }),
  k: fc.constantFrom(0, 0.1, 1, 3),
});

/** The device's IP goodput stays within its link; packets arrive intact. */
const withinLink = (broken?: { shortPost: boolean }, cases: fc.Arbitrary<{ ipBytes: number; window: number; k: number }> = device) =>
  fc.property(cases, ({ ipBytes, window, k }) => {
    const c = scaled(k);
    const r = runDevice({ costs: c, ipBytes, window, durationNs: 200_000, broken });
    expect(r.intact).toBe(true);
    expect(r.bitsPerSecond).toBeLessThanOrEqual(linkBound(ipBytes, c));
  });

describe('IPoIB never beats the link data rate', () => {
  test('the device alone, any packet size, window and host costs', () => {
    fc.assert(withinLink(), { numRuns: systemRuns(25) });
  });

  test('TCP over native-ipoib, one stream and two', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 1), fc.constantFrom(1 as const, 2 as const), fc.integer({ min: 1, max: 1000 }), (k, streams, seed) => {
        const c = scaled(k);
        const r = measureTcpThroughput((o) => buildIpoibPath('native', o), { mtu: NATIVE_IPOIB_MTU, linkBitRate: c.ibDataBitRate, costs: c, seed, streams, durationNs: 1_000_000, warmupNs: 500_000 });
        // A full segment: MSS less the 12-byte timestamps option of data; 40 bytes of IPv4 and TCP headers.
        const payload = NATIVE_IPOIB_MTU - 40 - c.tcpOptionsBytes;
        for (const s of r.perStream) expect(s).toBeLessThanOrEqual((linkBound(NATIVE_IPOIB_MTU, c) * payload) / NATIVE_IPOIB_MTU);
      }),
      { numRuns: systemRuns(4) },
    );
  });

  test('bites: a device that tells the HCA a 4-byte SEND length while handing over the whole packet fails the property', () => {
    const bulk = fc.record({ ipBytes: fc.constant(NATIVE_IPOIB_MTU), window: fc.integer({ min: 8, max: 64 }), k: fc.constant(0) });
    expect(() => fc.assert(withinLink({ shortPost: true }, bulk), { numRuns: 3, seed: 1, endOnFailure: true })).toThrow();
  });
});
