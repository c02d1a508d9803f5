/**
 * Performance bounds on ICMP round trips, over ping sizes and seeds, with the calibrated costs:
 *
 * - no configuration beats its wire: a round trip carries the request's frames one way and the
 *   reply's back, so it takes at least the serialization of all those frames at the link rate
 *   (IEEE 802.3 framing, from costs.ts, computed here from the frames the workload sends);
 * - native is never slower than VNET/P on the same wire and MTU (VNET/P adds work to native's
 *   path and removes none).
 *
 * Each bound is shown to bite: a model whose wire ignores the link rate breaks the first, and a
 * native path charged ten times the stack cost breaks the second (and not the other way round).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts, calibrationRecord } from '../model/calibrated-costs.js';
import { configuration, EXPERIMENT_NIC, type BuildOptions, type BuiltConfiguration } from '../model/configurations.js';
import { checkCosts, ethernetSerializationNs, type Costs } from '../model/costs.js';
import { buildTwoHostPath, type TwoHostPath } from '../model/overlay-path.js';
import { echoFrames, MAX_PING_BYTES, measureRttUs } from '../model/ping.js';
import { systemRuns } from './harness.js';

type Build = (o: BuildOptions) => TwoHostPath;
const built = (id: string) => configuration(id) as BuiltConfiguration;

/** Least round trip the wire allows: request and reply frames serialized at `bitRate`, in us. */
function wireBoundUs(sizeBytes: number, mtu: number, bitRate: number, c: Costs): number {
  const frames = [...echoFrames('A', 8, 1, sizeBytes, mtu, 1), ...echoFrames('B', 0, 1, sizeBytes, mtu, 1)];
  return frames.reduce((ns, f) => ns + ethernetSerializationNs(f.bytes, bitRate, c), 0) / 1000;
}

interface Case {
  readonly link: '1g' | '10g';
  readonly mtu: number;
  readonly sizeBytes: number;
  readonly seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    link: fc.constantFrom('1g' as const, '10g' as const),
    jumbo: fc.boolean(),
    sizeBytes: fc.oneof(fc.integer({ min: 0, max: 2048 }), fc.integer({ min: 0, max: MAX_PING_BYTES })),
    seed: fc.integer({ min: 0, max: 1_000_000 }),
  })
  .map(({ link, jumbo, sizeBytes, seed }) => ({ link, mtu: link === '10g' && jumbo ? 9000 : 1500, sizeBytes, seed }));

/** Which bounds a model breaks for one case: a list of messages, empty when it keeps them. */
type Kind = 'native' | 'passthrough' | 'vnetp' | 'vnetu';

function violations(k: Case, models: Record<Kind, Build>, costs: Costs): { wire: string[]; order: string[] } {
  const rate = costs[k.link === '1g' ? 'link1GbpsBitRate' : 'link10GbpsBitRate'];
  const bound = wireBoundUs(k.sizeBytes, k.mtu, rate, costs);
  const rtt = Object.fromEntries(
    // VNET/U exists at 1 Gbps only.
    (['native', 'passthrough', 'vnetp', ...(k.link === '1g' ? (['vnetu'] as const) : [])] as const).map((kind) => [kind, measureRttUs(models[kind], { mtu: k.mtu, sizeBytes: k.sizeBytes, costs, seed: k.seed, count: 1 })]),
  ) as Record<Kind, number>;
  const wire = Object.entries(rtt)
    .filter(([, us]) => us < bound)
    .map(([kind, us]) => `${kind}-${k.link} ${k.sizeBytes} B at MTU ${k.mtu}: ${us} us < ${bound} us on the wire`);
  const order = rtt.native > rtt.vnetp ? [`native-${k.link} ${rtt.native} us > vnetp-${k.link} ${rtt.vnetp} us (${k.sizeBytes} B, MTU ${k.mtu})`] : [];
  return { wire, order };
}

const real = (k: Case) => ({
  native: built(`native-${k.link}`).build,
  passthrough: built(`passthrough-${k.link}`).build,
  vnetp: built(`vnetp-${k.link}`).build,
  vnetu: built('vnetu-1g').build,
});

describe('ICMP round-trip bounds', () => {
  test('no configuration beats its wire, and native is never slower than VNET/P on the same wire', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const v = violations(k, real(k), calibratedCosts);
        expect(v.wire).toEqual([]);
        expect(v.order).toEqual([]);
      }),
      { numRuns: systemRuns(30) },
    );
  });

  test('a wire that ignores the link rate breaks the wire bound (only)', () => {
    // The broken model: every path is built on a practically infinite link, whatever its configuration says.
    const ignoreRate = (kind: Kind): Build => (o) =>
      buildTwoHostPath({ kind, mtu: o.mtu, linkBitRate: 1e15, nic: EXPERIMENT_NIC, costs: o.costs, seed: o.seed, system: o.system });
    const broken = { native: ignoreRate('native'), passthrough: ignoreRate('passthrough'), vnetp: ignoreRate('vnetp'), vnetu: ignoreRate('vnetu') };
    const keepsBounds = (k: Case) => {
      const v = violations(k, broken, calibratedCosts);
      return v.wire.length === 0 && v.order.length === 0;
    };
    const found = fc.check(fc.property(caseArb, keepsBounds), { numRuns: 50, seed: 7 });
    expect(found.failed).toBe(true);
    const [k] = found.counterexample!;
    const v = violations(k, broken, calibratedCosts);
    expect(v.wire.length).toBeGreaterThan(0);
    expect(v.order).toEqual([]);
  });

  test('a native path charged ten times the stack cost breaks the native-vs-VNET/P bound', () => {
    const slowNative: Build = (o) =>
      built('native-10g').build({ ...o, costs: checkCosts({ ...calibrationRecord.values, guestStackCyclesPerPacket: o.costs.guestStackCyclesPerPacket * 10 }) });
    const k: Case = { link: '10g', mtu: 1500, sizeBytes: 64, seed: 1 };
    const v = violations(k, { ...real(k), native: slowNative }, calibratedCosts);
    expect(v.order.length).toBe(1);
    expect(v.wire).toEqual([]);
  });
});
