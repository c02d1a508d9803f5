/**
 * Bounds from physics on the InfiniBand configurations (model/ib-fabric.ts, model/ib-verbs-paths.ts):
 *
 * - no run beats the link: a stream of RC messages delivers at most the link data rate
 *   (`ibDataBitRate`, 4x QDR after 8b/10b) times the payload share of the IBTA packet bytes, even
 *   with a host bus far faster than the link (so that the link is the bottleneck);
 * - SDP bi-stream: each stream gets at most what the uni-stream gets;
 * - SDP uni-stream (ttcp, 64000-byte writes) lies in the capacity band of calibration.md ("Native+SDP
 *   uni-stream 10 Gbps"): at least 8 Gb/s, and at most the slower of the link's payload rate and
 *   the HCA's PCIe DMA rate for full buffers.
 *
 * - no RC message arrives sooner than its packets take on the link, plus the switch and the cables;
 * - MPI over verbs (native-uverbs): PingPong bandwidth never beats one link direction's payload
 *   rate, and SendRecv (both directions at once, full duplex) never beats twice that.
 *
 * The link bounds fail on a fabric that ignores the link rate; the SDP band's lower bound fails on an
 * SDP that never sends a standalone credit update (a one-way stream then stalls once the sender has
 * spent the 64 credits of the Hello), and bi <= uni fails on a ttcp that reports the total of both
 * streams as the per-stream rate.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts } from '../model/calibrated-costs.js';
import { checkCosts, defaultCosts, type Costs } from '../model/costs.js';
import { IbFabric, ibWireBytes, type IbFabricOptions } from '../model/ib-fabric.js';
import { MPI_HEADER_BYTES, runSdpTtcp, SDP_BSDH_BYTES, uverbsPingPong, uverbsSendRecv } from '../model/ib-verbs-paths.js';
import { System } from '../model/wiring.js';
import { systemRuns } from './harness.js';

/** Goodput (bit/s) of `n` back-to-back messages of `bytes` from A to B over RC. */
function rcStream(c: Costs, mtu: number, bytes: number, op: 'send' | 'rdma-write', n: number, broken?: IbFabricOptions['broken']): number {
  const sys = new System({ recorder: { mode: 'ring', capacity: 16 } });
  const f = new IbFabric(sys, { hosts: ['A', 'B'], costs: c, rcMtuBytes: mtu, broken });
  const conn = f.connectRc('A', 'B', { sqDepth: 256, rqDepth: 256 });
  let first = -1;
  let last = 0;
  for (let i = 0; i < n; i++) f.postRecv(conn.b, { id: i, bytes });
  f.onCompletion(conn.b, (e, ctx) => {
    if (e.queue === 'recv') last = ctx.now;
  });
  f.onCompletion(conn.a, (e, ctx) => {
    if (e.queue === 'send') {
      if (first < 0) first = ctx.now;
      last = Math.max(last, ctx.now);
    }
  });
  for (let i = 0; i < n; i++) f.postSend(conn.a, { id: 1000 + i, bytes, op });
  sys.run({ maxEvents: 2_000_000 });
  // Time from the first byte's earliest possible start (t = 0) to the last completion.
  return (n * bytes * 8 * 1e9) / last;
}

/** Most a link can carry of messages of `bytes` cut into `mtu` packets (bit/s of payload). */
function linkBound(c: Costs, mtu: number, bytes: number): number {
  const full = Math.floor(bytes / mtu);
  const rest = bytes - full * mtu;
  const wire = full * ibWireBytes('send', mtu) + (rest > 0 || bytes === 0 ? ibWireBytes('send', rest) : 0);
  return (c.ibDataBitRate * bytes) / wire;
}

const fastBus = checkCosts({ ibPcieDataBitRate: 1_000_000_000_000 });
/** The quick ttcp run of nativeSdpRunners: the 2 ms warm-up covers the sender spending its initial credits. */
const SDP_RUN = { durationNs: 4_000_000, warmupNs: 2_000_000 } as const;

describe('InfiniBand throughput bounds', () => {
  test('no RC stream beats the link data rate (host bus made faster than the link)', () => {
    fc.assert(
      fc.property(fc.constantFrom(256, 1024, 2048, 4096), fc.integer({ min: 1, max: 200_000 }), fc.constantFrom('send' as const, 'rdma-write' as const), (mtu, bytes, op) => {
        const g = rcStream(fastBus, mtu, bytes, op, 20);
        expect(g).toBeLessThanOrEqual(linkBound(fastBus, mtu, bytes));
      }),
      { numRuns: systemRuns(20) },
    );
  });

  test('a fabric that ignores the link rate breaks that bound', () => {
    const g = rcStream(fastBus, 2048, 65_536, 'send', 20, { ignoreLinkRate: true });
    expect(g).toBeGreaterThan(linkBound(fastBus, 2048, 65_536));
  });

  test('SDP: each bi-stream stream gets at most the uni-stream rate, and the uni-stream is in the calibration band', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
        const c = calibratedCosts;
        const uni = runSdpTtcp(c, { ...SDP_RUN, streams: 1, seed });
        const bi = runSdpTtcp(c, { ...SDP_RUN, streams: 2, seed });
        for (const s of bi.perStream) expect(s).toBeLessThanOrEqual(uni.bitsPerSecond * 1.01);
        const buf = c.sdpBufferBytes;
        const dmaBound = (buf * 8e9) / new IbFabric(new System(), { hosts: ['A', 'B'], costs: c }).dmaNs(buf + SDP_BSDH_BYTES);
        // Goodput counts whole buffers completed in the window: allow one buffer of quantization.
        const oneBuffer = (buf * 8e9) / (SDP_RUN.durationNs - SDP_RUN.warmupNs);
        expect(uni.bitsPerSecond).toBeLessThanOrEqual(Math.min(linkBound(c, 2048, buf + SDP_BSDH_BYTES), dmaBound) + oneBuffer);
        expect(uni.bitsPerSecond).toBeGreaterThanOrEqual(8e9);
        expect(uni.cpu.tx).toBeLessThanOrEqual(1.0001);
        expect(uni.cpu.rx).toBeLessThanOrEqual(1.0001);
      }),
      { numRuns: systemRuns(3) },
    );
  });

  test('MPI over verbs: PingPong and SendRecv bandwidth within the link (host bus made faster than the link)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4_000_000 }), (size) => {
        // Eager messages carry the MPI header in the same packets; count it as payload, generously.
        const bound = (linkBound(fastBus, 2048, size + MPI_HEADER_BYTES) * (size + MPI_HEADER_BYTES)) / size / 8 / 1048576;
        expect(uverbsPingPong(fastBus, size, { reps: 3 }).bandwidthMBs).toBeLessThanOrEqual(bound);
        expect(uverbsSendRecv(fastBus, size, { reps: 3 }).bandwidthMBs).toBeLessThanOrEqual(2 * bound);
      }),
      { numRuns: systemRuns(8) },
    );
  });

  test('a fabric that ignores the link rate breaks the MPI bound', () => {
    const size = 4_000_000;
    const bound = (linkBound(fastBus, 2048, size + MPI_HEADER_BYTES) * (size + MPI_HEADER_BYTES)) / size / 8 / 1048576;
    expect(uverbsPingPong(fastBus, size, { reps: 3, broken: { ignoreLinkRate: true } }).bandwidthMBs).toBeGreaterThan(bound);
  });

  test('the SDP band and bi <= uni fail on broken SDP variants', () => {
    const c = defaultCosts;
    expect(runSdpTtcp(c, { ...SDP_RUN, streams: 1, brokenSdp: { noCreditUpdates: true } }).bitsPerSecond).toBeLessThan(8e9);
    const uni = runSdpTtcp(c, { ...SDP_RUN, streams: 1 });
    const bi = runSdpTtcp(c, { ...SDP_RUN, streams: 2, brokenSdp: { totalAsPerStream: true } });
    expect(Math.max(...bi.perStream)).toBeGreaterThan(uni.bitsPerSecond * 1.01);
  });

  /** Time from posting one SEND of `bytes` on an idle fabric to its receive completion (ns). */
  function oneWayNs(c: Costs, mtu: number, bytes: number, broken?: IbFabricOptions['broken']): number {
    const sys = new System({ recorder: { mode: 'ring', capacity: 16 } });
    const f = new IbFabric(sys, { hosts: ['A', 'B'], costs: c, rcMtuBytes: mtu, broken });
    const conn = f.connectRc('A', 'B');
    let at = -1;
    f.postRecv(conn.b, { id: 1, bytes });
    f.onCompletion(conn.b, (e, ctx) => {
      if (e.queue === 'recv') at = ctx.now;
    });
    // Posted after the ACK-less probe rule lets the first SEND go at once.
    f.postSend(conn.a, { id: 2, bytes }, 1_000);
    sys.run({ maxEvents: 100_000 });
    return at - 1_000;
  }

  /**
   * Least one-way time physics allows: every packet serialized on the uplink, then the switch's
   * latency (it is cut-through: the last bit leaves it that long after it arrived, the downlink
   * having the same rate) and two cables.
   */
  function latencyFloorNs(c: Costs, mtu: number, bytes: number): number {
    const ser = (b: number) => (b * 8e9) / c.ibDataBitRate;
    const full = Math.floor(bytes / mtu);
    const rest = bytes - full * mtu;
    const sizes = [...Array<number>(full).fill(mtu), ...(rest > 0 || bytes === 0 ? [rest] : [])];
    const up = sizes.reduce((n, b) => n + ser(ibWireBytes('send', b)), 0);
    return up + c.ibSwitchLatencyNs + 2 * c.ibLinkPropagationNs;
  }

  test('no message arrives sooner than the link, the switch and the cables allow', () => {
    fc.assert(
      fc.property(fc.constantFrom(256, 1024, 2048, 4096), fc.integer({ min: 0, max: 100_000 }), (mtu, bytes) => {
        expect(oneWayNs(fastBus, mtu, bytes)).toBeGreaterThanOrEqual(latencyFloorNs(fastBus, mtu, bytes));
      }),
      { numRuns: systemRuns(30) },
    );
  });

  test('a fabric that ignores the link rate delivers sooner than physics allows', () => {
    const c = checkCosts({ ibPcieDataBitRate: 1_000_000_000_000, ibHcaTxNs: 0, ibHcaRxNs: 0 });
    expect(oneWayNs(c, 2048, 65_536, { ignoreLinkRate: true })).toBeLessThan(latencyFloorNs(c, 2048, 65_536));
  });
});
