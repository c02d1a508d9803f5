/**
 * vnet-ipoib never beats native-ipoib on the same stream: the guest's TCP through VNET/P over the
 * host's IPoIB does all the host's IPoIB work for the same bytes (its UDP datagrams cross the same
 * device, fabric and driver) plus the guest stack, the VMM's copy and routing, and the bridge's
 * encapsulation, with a smaller guest MTU (more packets per byte). So per stream, for one stream
 * or two, with any IPoIB driver costs and seed, its throughput is at most native-ipoib's.
 *
 * Bites on: a device whose receive buffers are 16 KB instead of MTU + 4 (`broken.rxBufferBytes`):
 * every 65520-byte native packet fails with a local length error and native TCP stalls, while
 * the overlay's 9 KB datagrams still fit.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Costs } from '../model/costs.js';
import { buildIpoibPath, NATIVE_IPOIB_MTU, VNET_IPOIB_GUEST_MTU, type IpoibDeviceOptions } from '../model/ipoib.js';
import { measureTcpThroughput } from '../model/tcp.js';
import { systemRuns } from './harness.js';
import { ipoibCostsScaled } from './model-ipoib-harness.js';

const scaled = ipoibCostsScaled;

const tcp = (kind: 'native' | 'vnetp', costs: Costs, streams: 1 | 2, seed: number, broken?: IpoibDeviceOptions['broken']) =>
  measureTcpThroughput((o) => buildIpoibPath(kind, { ...o, device: { broken } }), {
    mtu: kind === 'native' ? NATIVE_IPOIB_MTU : VNET_IPOIB_GUEST_MTU,
    linkBitRate: costs.ibDataBitRate,
    costs,
    seed,
    streams,
    // 64 KB segments at a few Gbit/s: a window of tens of segments, so the first and last reads' edges matter little.
    durationNs: 5_000_000,
    warmupNs: 1_000_000,
  }).perStream;

const cases = fc.record({ k: fc.constantFrom(0.3, 1, 3), streams: fc.constantFrom(1 as const, 2 as const), seed: fc.integer({ min: 1, max: 10_000 }) });

const vnetAtMostNative = (broken?: IpoibDeviceOptions['broken'], arb = cases) =>
  fc.property(arb, ({ k, streams, seed }) => {
    const c = scaled(k);
    const native = tcp('native', c, streams, seed, broken);
    const vnet = tcp('vnetp', c, streams, seed, broken);
    for (let i = 0; i < streams; i++) expect(vnet[i]).toBeLessThanOrEqual(native[i]);
  });

describe('vnet-ipoib never beats native-ipoib on the same stream', () => {
  test('per stream, one stream or two, any IPoIB driver costs', () => {
    fc.assert(vnetAtMostNative(), { numRuns: systemRuns(3) });
  });

  test('bites: receive buffers shorter than the MTU stall native TCP and the property fails', () => {
    const one = fc.record({ k: fc.constant(1), streams: fc.constant(1 as const), seed: fc.constant(1) });
    expect(() => fc.assert(vnetAtMostNative({ rxBufferBytes: 16_384 }, one), { numRuns: 1, endOnFailure: true })).toThrow();
  });
});
