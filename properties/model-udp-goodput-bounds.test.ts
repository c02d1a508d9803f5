/**
 * Bounds on ttcp UDP goodput (model/ttcp.ts), over seeds and window lengths, with the calibrated
 * costs:
 *
 * - no configuration beats its wire: goodput is at most the link rate times the datagram's
 *   payload over the wire bytes of the frames that carry it (IEEE 802.3 framing from costs.ts,
 *   computed here from the frames the workload sends; the overlay only adds bytes);
 * - goodput does not fall when the MTU grows from 1500 to 9000 (fewer frames, same payload);
 * - native is never slower than VNET/P (or VNET/U) on the same wire and MTU.
 *
 * Each bound is shown to bite on a deliberately broken model: a wire that ignores the link rate,
 * a stack whose per-frame cost grows faster than the frame, and a native path charged ten times
 * the stack cost.
 *
 * Windows: an overlay path is measured after `OVERLAY_WARMUP_NS`, once its adaptive mode can have
 * switched to VMM-driven (omega = 5 ms windows, §5.1.2), and every window holds at least three
 * datagrams (two spans) at the slowest goodput a configuration of its kind is expected to reach
 * (`FLOOR_BPS`, from calibration.md, not from the model): a window that short could call a slow but
 * working path dead.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts, calibrationRecord } from '../model/calibrated-costs.js';
import { configuration, EXPERIMENT_NIC, type BuildOptions, type BuiltConfiguration } from '../model/configurations.js';
import { checkCosts, ethernetWireBytes, type Costs } from '../model/costs.js';
import { buildTwoHostPath, type TwoHostPath } from '../model/overlay-path.js';
import { measureUdpGoodput, TTCP_WARMUP_NS, TTCP_WRITE_BYTES, ttcpFrames } from '../model/ttcp.js';
import { systemRuns } from './harness.js';

type Build = (o: BuildOptions) => TwoHostPath;
type Kind = 'native' | 'passthrough' | 'vnetp' | 'vnetu';
const built = (id: string) => configuration(id) as BuiltConfiguration;
const storedCosts = () => ({ ...calibrationRecord.values, ...(calibrationRecord.throughput?.values ?? {}) });

/** Most goodput the wire allows (bit/s): the payload share of the wire bytes of one datagram's frames. */
function wireBoundBps(mtu: number, bitRate: number, c: Costs): number {
  const wireBytes = ttcpFrames(1, mtu, 1).reduce((n, f) => n + ethernetWireBytes(f.bytes, c), 0);
  return (bitRate * TTCP_WRITE_BYTES) / wireBytes;
}

/** Warm-up of a VMM path: past the first 5 ms omega window of the adaptive mode (§5.1.2), so it can have switched. */
const OVERLAY_WARMUP_NS = 5_500_000;

/**
 * Least goodput each kind should reach (bit/s), a floor well under calibration.md's rows: VNET/U is
 * about 1/8 of VNET/P at 1 Gbps (which is about native, ~940 Mbit/s): 100 Mbit/s; every other path
 * at least half a gigabit (VNET/P-10G at MTU 1500 is 74% of native-10G).
 */
const FLOOR_BPS: Record<Kind, number> = { native: 500e6, passthrough: 500e6, vnetp: 500e6, vnetu: 100e6 };
/** Datagrams a window must hold at the floor rate: three give two spans between first and last. */
const WINDOW_DATAGRAMS = 3;
const datagramBits = (TTCP_WRITE_BYTES + 8) * 8;

interface Case {
  readonly link: '1g' | '10g';
  readonly seed: number;
  /** Added to each kind's shortest window, so windows of several lengths are tried. */
  readonly extraNs: number;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  link: fc.constantFrom('1g' as const, '10g' as const),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  extraNs: fc.integer({ min: 0, max: 1_000_000 }),
});

/** Window of a kind: three datagrams at its floor rate, plus the case's extra. */
const windowNs = (kind: Kind, k: Case) => Math.ceil((WINDOW_DATAGRAMS * datagramBits * 1e9) / FLOOR_BPS[kind]) + k.extraNs;
const warmupNs = (kind: Kind) => (kind === 'native' || kind === 'passthrough' ? TTCP_WARMUP_NS : OVERLAY_WARMUP_NS);

const allKindsOn = (link: Case['link']): readonly Kind[] => (link === '1g' ? ['native', 'passthrough', 'vnetp', 'vnetu'] : ['native', 'passthrough', 'vnetp']);
const mtusOn = (link: Case['link']): readonly number[] => (link === '1g' ? [1500] : [1500, 9000]);

/**
 * The configurations without host noise: goodput is read from the first datagram in the window to
 * the last, and a noise event holding the first one back would let the rest catch up and read
 * above a wire the path never beat.
 */
function real(link: Case['link']): Record<Kind, Build> {
  const quiet = (id: string): Build => (o) => built(id).build({ ...o, noise: false });
  return { native: quiet(`native-${link}`), passthrough: quiet(`passthrough-${link}`), vnetp: quiet(`vnetp-${link}`), vnetu: quiet('vnetu-1g') };
}

/** Which bounds a model breaks for one case (over `kinds`, default all on the link): messages, empty when it keeps them. */
function violations(k: Case, models: Record<Kind, Build>, costs: Costs, kinds?: readonly Kind[]): { wire: string[]; mtu: string[]; order: string[] } {
  const rate = costs[k.link === '1g' ? 'link1GbpsBitRate' : 'link10GbpsBitRate'];
  const kindsOn = (link: Case['link']) => kinds ?? allKindsOn(link);
  const g = new Map<string, number>();
  for (const kind of kindsOn(k.link)) {
    for (const mtu of mtusOn(k.link)) {
      const o = { mtu, linkBitRate: rate, costs, seed: k.seed, durationNs: windowNs(kind, k), warmupNs: warmupNs(kind) };
      g.set(`${kind}@${mtu}`, measureUdpGoodput(models[kind], o).bitsPerSecond);
    }
  }
  const wire: string[] = [];
  const mtu: string[] = [];
  const order: string[] = [];
  for (const kind of kindsOn(k.link)) {
    for (const m of mtusOn(k.link)) {
      const bps = g.get(`${kind}@${m}`)!;
      const bound = wireBoundBps(m, rate, costs);
      if (!(bps > 0)) wire.push(`${kind}-${k.link} at MTU ${m}: no datagram came through`);
      // Goodput is read from the first datagram in the window to the last; the first one's delivery
      // can trail its last bit on the wire by up to the receiving stack's work on one frame more
      // than the last one's does (a busy core catching up), which shortens the span by that much.
      const span = windowNs(kind, k);
      const catchUpNs = ((costs.guestStackCyclesPerPacket + costs.guestStackCyclesPerMessage) * 1e9) / costs.cpuHz;
      if (bps > bound * (1 + catchUpNs / span + 1e-9)) wire.push(`${kind}-${k.link} at MTU ${m}: ${bps} bit/s > ${bound} on the wire`);
      if (kind !== 'native' && kind !== 'passthrough' && g.has(`native@${m}`) && g.get(`native@${m}`)! < bps) order.push(`native-${k.link} ${g.get(`native@${m}`)} < ${kind} ${bps} bit/s at MTU ${m}`);
    }
    if (k.link === '10g' && g.get(`${kind}@9000`)! < g.get(`${kind}@1500`)!) mtu.push(`${kind}-10g: ${g.get(`${kind}@9000`)} bit/s at MTU 9000 < ${g.get(`${kind}@1500`)} at 1500`);
  }
  return { wire, mtu, order };
}

describe('ttcp UDP goodput bounds', () => {
  test('no configuration beats its wire, a larger MTU never lowers goodput, and native is never slower than the overlays', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const v = violations(k, real(k.link), calibratedCosts);
        expect(v.wire).toEqual([]);
        expect(v.mtu).toEqual([]);
        expect(v.order).toEqual([]);
      }),
      { numRuns: systemRuns(3) },
    );
  });

  test('a wire that ignores the link rate breaks the wire bound', () => {
    const ignoreRate = (kind: Kind): Build => (o) =>
      buildTwoHostPath({ kind, mtu: o.mtu, linkBitRate: 1e15, nic: EXPERIMENT_NIC, costs: o.costs, seed: o.seed, system: o.system, noise: false });
    const broken = { native: ignoreRate('native'), passthrough: ignoreRate('passthrough'), vnetp: ignoreRate('vnetp'), vnetu: ignoreRate('vnetu') };
    const v = violations({ link: '1g', seed: 1, extraNs: 0 }, broken, calibratedCosts, ['native', 'vnetp']);
    expect(v.wire.length).toBeGreaterThan(0);
  });

  test('a stack whose per-frame cost grows faster than the frame breaks the MTU bound', () => {
    // Per-frame cost times (MTU / 1500)^2: a 9000-byte frame costs 36 times a 1500-byte one.
    const superlinear = (id: string): Build => (o) =>
      built(id).build({ ...o, costs: checkCosts({ ...storedCosts(), guestStackCyclesPerPacket: Math.round(o.costs.guestStackCyclesPerPacket * (o.mtu / 1500) ** 2) }) });
    const broken = { ...real('10g'), vnetp: superlinear('vnetp-10g') };
    const v = violations({ link: '10g', seed: 1, extraNs: 0 }, broken, calibratedCosts, ['vnetp']);
    expect(v.mtu.length).toBeGreaterThan(0);
  });

  test('a native path charged ten times the stack cost breaks the native-vs-overlay bound', () => {
    const slowNative: Build = (o) => built('native-10g').build({ ...o, costs: checkCosts({ ...storedCosts(), guestStackCyclesPerPacket: o.costs.guestStackCyclesPerPacket * 10 }) });
    // A window long enough for the slowed native to complete datagrams (one takes about 4 ms).
    const v = violations({ link: '10g', seed: 1, extraNs: 7_000_000 }, { ...real('10g'), native: slowNative }, calibratedCosts, ['native', 'vnetp']);
    expect(v.order.length).toBeGreaterThan(0);
    expect(v.wire).toEqual([]);
  });
});
