/**
 * Bounds on guest TCP throughput (model/tcp.ts, ttcp over TCP), from mechanism and physics:
 *
 * - no stream beats its wire: goodput is at most the link rate times a full segment's payload over
 *   the Ethernet wire bytes of its frame (IEEE 802.3 framing from costs.ts; an overlay only adds
 *   bytes), in the uni- and the bi-stream test (full duplex: each direction has its own wire);
 * - flow control: the bytes in flight never exceed the smaller of the send buffer and the
 *   receiver's window, so the bytes acknowledged over any span T are at most that window per
 *   shortest round trip seen (window x ceil(T / RTTmin));
 * - a stream of the bi-stream test is never faster than the uni-stream on the same path (it
 *   shares each host's cores with the other direction's data and ACKs); compared on the paths
 *   without host noise (`quietBuild`), whose rare millisecond events would otherwise fall
 *   differently in the two runs.
 *
 * Each bound fails on a deliberately broken variant: a path with free stacks on a wire that ignores
 * the link rate; a sender overcommitting its window and send buffer; a bi-stream run given half the
 * per-packet costs.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts, calibrationRecord } from '../model/calibrated-costs.js';
import { configuration, EXPERIMENT_NIC, type BuildOptions, type BuiltConfiguration } from '../model/configurations.js';
import { checkCosts, ethernetWireBytes, type Costs } from '../model/costs.js';
import { buildTwoHostPath, type TwoHostPath } from '../model/overlay-path.js';
import { measureTcpThroughput, tcpSegmentPayload, type TcpBreakage } from '../model/tcp.js';
import { systemRuns } from './harness.js';
import { ackedAndRttMin, maxInFlight, quietBuild, runStream } from './model-tcp-checks.js';

type Build = (o: BuildOptions) => TwoHostPath;
const built = (id: string) => configuration(id) as BuiltConfiguration;
const storedCosts = () => ({ ...calibrationRecord.values, ...(calibrationRecord.throughput?.values ?? {}) });

/** Most goodput the wire allows (bit/s) for full segments at `mtu`: payload over wire bytes of the frame. */
function wireBoundBps(mtu: number, bitRate: number, c: Costs): number {
  const frameBytes = 14 + mtu;
  return (bitRate * tcpSegmentPayload(mtu)) / ethernetWireBytes(frameBytes, c);
}

const DURATION_NS = 1_500_000;
const WARMUP_NS = 500_000;

function rates(
  build: Build,
  id: string,
  mtu: number,
  seed: number,
  costsFor: (streams: 1 | 2) => Costs = () => calibratedCosts,
  durationNs = DURATION_NS,
): { uni: number; bi: readonly number[] } {
  const c = built(id);
  const run = (streams: 1 | 2) =>
    measureTcpThroughput(build, { mtu, linkBitRate: costsFor(streams)[c.link], costs: costsFor(streams), seed, streams, durationNs, warmupNs: WARMUP_NS });
  return { uni: run(1).bitsPerSecond, bi: run(2).perStream };
}

const caseArb = fc.record({
  id: fc.constantFrom('native-1g', 'vnetp-1g', 'native-10g', 'vnetp-10g', 'passthrough-10g'),
  mtuPick: fc.constantFrom(0, 1),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
});

function wireViolations(id: string, mtu: number, uni: number, bi: readonly number[]): string[] {
  const bound = wireBoundBps(mtu, calibratedCosts[built(id).link], calibratedCosts);
  const out: string[] = [];
  for (const [what, bps] of [['uni', uni], ...bi.map((b, i) => [`bi[${i}]`, b] as const)] as const) {
    if (!(bps > 0)) out.push(`${id} at MTU ${mtu}: ${what} stream carried nothing`);
    if (bps > bound * (1 + 1e-9)) out.push(`${id} at MTU ${mtu}: ${what} ${bps} bit/s > wire bound ${bound}`);
  }
  return out;
}

// Send buffers of whole segments: a buffer ending in a short tail would hold it back (Nagle)
// until a delayed ACK, longer than these runs.
const windowCase = fc
  .record({ id: fc.constantFrom('native-10g', 'vnetp-10g'), mtu: fc.constantFrom(1500, 9000), segments: fc.integer({ min: 2, max: 8 }) })
  .map((k) => ({ id: k.id, mtu: k.mtu, sndbufBytes: k.segments * tcpSegmentPayload(k.mtu) }));

function windowViolations(k: { id: string; mtu: number; sndbufBytes: number }, breakage?: TcpBreakage): string[] {
  const untilNs = 2_000_000;
  const run = runStream({ id: k.id, mtu: k.mtu, streams: 1, totalBytes: Number.POSITIVE_INFINITY, sndbufBytes: k.sndbufBytes, untilNs, breakage });
  const out: string[] = [];
  const flight = maxInFlight(run, 'A>B', 'A');
  if (flight > k.sndbufBytes) out.push(`${flight} bytes in flight > send buffer ${k.sndbufBytes}`);
  const fromNs = 600_000;
  const { rttMinNs, ackedBytes } = ackedAndRttMin(run, 'A>B', 'A', fromNs, untilNs);
  if (!(ackedBytes > 0)) out.push('nothing acknowledged');
  const bound = k.sndbufBytes * Math.ceil((untilNs - fromNs) / rttMinNs);
  if (ackedBytes > bound) out.push(`${ackedBytes} bytes acknowledged in ${untilNs - fromNs} ns > window ${k.sndbufBytes} x ceil(span / RTTmin ${rttMinNs} ns) = ${bound}`);
  return out;
}

describe('TCP throughput bounds', () => {
  test('no stream beats its wire, and a bi-stream stream is never faster than the uni-stream', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const c = built(k.id);
        const mtu = c.mtus[k.mtuPick % c.mtus.length];
        const r = rates(quietBuild(k.id), k.id, mtu, k.seed);
        expect(wireViolations(k.id, mtu, r.uni, r.bi)).toEqual([]);
        for (const b of r.bi) expect(b).toBeLessThanOrEqual(r.uni * (1 + 1e-9));
      }),
      { numRuns: systemRuns(4) },
    );
  });

  test('bytes in flight stay within the window, so throughput stays within window / RTT', () => {
    fc.assert(
      fc.property(windowCase, (k) => {
        expect(windowViolations(k)).toEqual([]);
      }),
      { numRuns: systemRuns(5) },
    );
  });
});

describe('broken variants fail these bounds', () => {
  test('free stacks on a wire that ignores the link rate break the wire bound', () => {
    const free = checkCosts({ ...storedCosts(), guestStackCyclesPerPacket: 0, guestStackCyclesPerMessage: 0, copyCyclesPerByte: 0, hostIrqToPollCycles: 0 });
    const fast: Build = (o) => buildTwoHostPath({ kind: 'native', mtu: o.mtu, linkBitRate: 1e12, nic: EXPERIMENT_NIC, costs: free, seed: o.seed, system: o.system });
    // A short window: free stacks move a great many segments.
    const r = rates(fast, 'native-1g', 1500, 1, undefined, 200_000);
    expect(wireViolations('native-1g', 1500, r.uni, r.bi).length).toBeGreaterThan(0);
  });

  test('a sender overcommitting its window and send buffer four times breaks the flow-control bound', () => {
    expect(windowViolations({ id: 'native-10g', mtu: 9000, sndbufBytes: 2 * tcpSegmentPayload(9000) }, { overcommit: 4 }).length).toBeGreaterThan(0);
  });

  test('a bi-stream run given half the per-packet cost breaks the bi <= uni bound', () => {
    const half = checkCosts({ ...storedCosts(), guestStackCyclesPerPacket: Math.round(storedCosts().guestStackCyclesPerPacket! / 4) });
    const r = rates(quietBuild('native-10g'), 'native-10g', 1500, 1, (streams) => (streams === 2 ? half : calibratedCosts));
    expect(r.bi.some((b) => b > r.uni * (1 + 1e-9))).toBe(true);
  });
});
