/**
 * IMB PingPong and SendRecv over the guest TCP model (model/mpi.ts), claims from mechanism:
 *
 * - PingPong latency never falls as the message grows (more bytes never cross faster), across the
 *   eager/rendezvous boundary too;
 * - the rendezvous protocol adds a round trip: t just above the eager limit exceeds t just below it
 *   by at least a small message's t (the ACK crosses back, then the bulk crosses);
 * - bandwidth never exceeds the wire: PingPong size / t at most the link rate's share of full
 *   segments' payload; SendRecv 2 size / t at most twice that (one wire each way);
 * - SendRecv's t is never shorter than PingPong's (both messages cross at once on shared cores),
 *   so its bandwidth is at most twice PingPong's.
 *
 * Compared on paths without host noise (`quietBuild`): separate runs must not differ by where a
 * rare millisecond noise event falls. Each claim fails on a deliberately broken variant: the
 * eager/rendezvous choice inverted, a sender that skips the rendezvous ACK, free stacks on a wire
 * that ignores the link rate, SendRecv ranks that do not wait for their receive.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { calibratedCosts, calibrationRecord } from '../model/calibrated-costs.js';
import { configuration, EXPERIMENT_NIC, type BuildOptions, type BuiltConfiguration } from '../model/configurations.js';
import { checkCosts, ethernetWireBytes } from '../model/costs.js';
import { buildTwoHostPath, type TwoHostPath } from '../model/overlay-path.js';
import { measureImb, OMPI_TCP_EAGER_LIMIT, MATCH_HEADER_BYTES, type ImbMode, type ImbRow, type MpiBreakage } from '../model/mpi.js';
import { tcpSegmentPayload } from '../model/tcp.js';
import { systemRuns } from './harness.js';
import { quietBuild } from './model-tcp-checks.js';

type Build = (o: BuildOptions) => TwoHostPath;
const storedCosts = () => ({ ...calibrationRecord.values, ...(calibrationRecord.throughput?.values ?? {}) });

const BELOW = OMPI_TCP_EAGER_LIMIT - MATCH_HEADER_BYTES; // the largest eager message
const ABOVE = BELOW + 1;
const SIZES = [0, 1, 1024, 16_384, BELOW, ABOVE];

function run(id: string, mtu: number, mode: ImbMode, seed: number, mpiBreakage?: MpiBreakage, build: Build = quietBuild(id)): ImbRow[] {
  return measureImb(build, { mode, sizes: SIZES, mtu, costs: calibratedCosts, seed, repetitions: () => 2, warmup: 1, mpiBreakage });
}

/** Most bytes per second one direction of the wire carries as TCP payload of full segments, in MB/s (2^20). */
function wireMBs(id: string, mtu: number): number {
  const c = configuration(id) as BuiltConfiguration;
  return (calibratedCosts[c.link] / 8) * (tcpSegmentPayload(mtu) / ethernetWireBytes(mtu + 14, calibratedCosts)) / 2 ** 20;
}

function monotoneProblems(rows: readonly ImbRow[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < rows.length; i++) {
    if (rows[i].latencyUs < rows[i - 1].latencyUs) out.push(`t(${rows[i].sizeBytes}) = ${rows[i].latencyUs} us < t(${rows[i - 1].sizeBytes}) = ${rows[i - 1].latencyUs} us`);
  }
  return out;
}

function rendezvousProblems(rows: readonly ImbRow[]): string[] {
  const t = (s: number) => rows.find((r) => r.sizeBytes === s)!.latencyUs;
  const jump = t(ABOVE) - t(BELOW);
  return jump >= t(0) ? [] : [`crossing the eager limit adds ${jump} us, less than a small message's ${t(0)} us`];
}

function wireProblems(id: string, mtu: number, rows: readonly ImbRow[], mode: ImbMode): string[] {
  const bound = wireMBs(id, mtu) * (mode === 'pingpong' ? 1 : 2);
  return rows.filter((r) => r.bandwidthMBs > bound * (1 + 1e-9)).map((r) => `${mode} ${r.sizeBytes} bytes: ${r.bandwidthMBs} MB/s > wire ${bound}`);
}

// VNET/P only at MTU 9000: at 1500 its runs take several times longer to simulate.
const caseArb = fc.record({
  id: fc.constantFrom('native-10g', 'vnetp-10g', 'native-1g', 'passthrough-10g'),
  big: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
});
const mtuOf = (id: string, big: boolean): number => {
  const c = configuration(id) as BuiltConfiguration;
  return big || id.startsWith('vnetp') ? c.mtus[c.mtus.length - 1] : c.mtus[0];
};

describe('IMB over guest TCP', () => {
  test('PingPong latency grows with size, rendezvous adds a round trip, nothing beats the wire, SendRecv is no faster than PingPong', () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const mtu = mtuOf(k.id, k.big);
        const pp = run(k.id, mtu, 'pingpong', k.seed);
        const sr = run(k.id, mtu, 'sendrecv', k.seed);
        expect(monotoneProblems(pp)).toEqual([]);
        expect(rendezvousProblems(pp)).toEqual([]);
        expect(wireProblems(k.id, mtu, pp, 'pingpong')).toEqual([]);
        expect(wireProblems(k.id, mtu, sr, 'sendrecv')).toEqual([]);
        for (let i = 0; i < pp.length; i++) expect(sr[i].latencyUs).toBeGreaterThanOrEqual(pp[i].latencyUs * (1 - 1e-9));
      }),
      { numRuns: systemRuns(3) },
    );
  });
});

describe('broken MPI layers fail these claims', () => {
  test('the eager/rendezvous choice inverted makes a larger message faster', () => {
    expect(monotoneProblems(run('native-10g', 9000, 'pingpong', 1, { eagerInverted: true }))).not.toEqual([]);
  });

  test('a sender that skips the rendezvous ACK loses the extra round trip', () => {
    expect(rendezvousProblems(run('native-10g', 9000, 'pingpong', 1, { skipRendezvousAck: true }))).not.toEqual([]);
  });

  test('SendRecv ranks that do not wait for their receive finish before PingPong', () => {
    const pp = run('native-10g', 9000, 'pingpong', 1);
    const sr = run('native-10g', 9000, 'sendrecv', 1, { sendrecvIgnoresReceive: true });
    expect(sr.some((r, i) => r.latencyUs < pp[i].latencyUs)).toBe(true);
  });

  test('free stacks on a wire that ignores the link rate beat the wire bound', () => {
    const free = checkCosts({ ...storedCosts(), guestStackCyclesPerPacket: 0, guestStackCyclesPerMessage: 0, copyCyclesPerByte: 0, hostIrqToPollCycles: 0 });
    const fast: Build = (o) => buildTwoHostPath({ kind: 'native', mtu: o.mtu, linkBitRate: 1e12, nic: EXPERIMENT_NIC, costs: free, seed: o.seed, system: o.system, noise: false });
    expect(wireProblems('native-10g', 9000, run('native-10g', 9000, 'pingpong', 1, undefined, fast), 'pingpong')).not.toEqual([]);
  });
});
