/**
 * Over IPoIB, a stream of the bi-stream test (one connection each way at once) is never faster
 * than the uni-stream: the two streams share each host's IPoIB core (its completion interrupt
 * and NAPI poll handle receives and send completions of both), each host's cores, PCIe and HCA,
 * while each link direction carries one stream's data and the other's ACKs. So, for native-ipoib
 * and vnet-ipoib, any IPoIB driver costs and seed, each bi-stream stream's throughput is at most
 * the uni-stream's (1% slack for the measurement window's edges: the first and last reads).
 *
 * Bites on: a completion queue that interrupts only when two completions are pending, with no
 * timer (`broken.cqFrames` 2, ethtool rx-frames 2 / rx-usecs 0): a lone stream's last completion
 * waits for a retransmission timeout, while in the bi-stream test the other direction's
 * completions keep the interrupts coming.
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

const cases = fc.record({ kind: fc.constantFrom('native' as const, 'vnetp' as const), k: fc.constantFrom(0.3, 1, 3), seed: fc.integer({ min: 1, max: 10_000 }) });

const biAtMostUni = (broken?: IpoibDeviceOptions['broken'], arb = cases) =>
  fc.property(arb, ({ kind, k, seed }) => {
    const c = scaled(k);
    const [uni] = tcp(kind, c, 1, seed, broken);
    for (const s of tcp(kind, c, 2, seed, broken)) expect(s).toBeLessThanOrEqual(uni * 1.01);
  });

describe('IPoIB: a bi-stream stream is never faster than the uni-stream', () => {
  test('native-ipoib and vnet-ipoib, any IPoIB driver costs', () => {
    fc.assert(biAtMostUni(), { numRuns: systemRuns(3) });
  });

  test('bites: a completion interrupt that waits for two completions fails the property', () => {
    const one = fc.record({ kind: fc.constant('native' as const), k: fc.constant(1), seed: fc.constant(1) });
    expect(() => fc.assert(biAtMostUni({ cqFrames: 2 }, one), { numRuns: 1, endOnFailure: true })).toThrow();
  });
});
