/**
 * Shared pieces of the guest TCP tests (model/tcp.ts): a wire fault hook played from a schedule
 * (one action per wire packet index), a run of ttcp over TCP carrying a bounded byte stream to
 * the end, and an outside monitor of the recorded stream: what each application wrote and what
 * each receiving application read, with the bytes.
 */
import { calibratedCosts } from '../model/calibrated-costs.js';
import { configuration, EXPERIMENT_NIC, type BuildOptions, type BuiltConfiguration } from '../model/configurations.js';
import { buildTwoHostPath, type TwoHostPath, type WireFaultHook } from '../model/overlay-path.js';
import { summarize, type Summary, type TraceRecord } from '../model/recorder.js';
import { addTcpTtcp, type TcpBreakage, type TcpConnection } from '../model/tcp.js';

/**
 * Configuration `id` as its `build` assembles it, without host noise: the rare millisecond-long
 * noise events (model/costs.ts linux noise) would make comparisons between separate short runs
 * depend on where they happen to fall. Claims about mechanism are checked on the quiet path.
 */
export function quietBuild(id: string): (o: BuildOptions) => TwoHostPath {
  const c = configuration(id) as BuiltConfiguration;
  return (o) =>
    buildTwoHostPath({ kind: c.kind, plus: c.plus, mtu: o.mtu, linkBitRate: o.costs[c.link], nic: EXPERIMENT_NIC, costs: o.costs, seed: o.seed, system: o.system, wireFaults: o.wireFaults, noise: false });
}

/** What the wire does with one packet. */
export type WireAction =
  | { readonly kind: 'pass' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'dup'; readonly laterNs: number }
  | { readonly kind: 'delay'; readonly ns: number }
  | { readonly kind: 'corrupt' };

/** Plays `schedule[index]` on each packet (packets past its end pass). Corruption flips the last byte (never a header). */
export function scheduledFaults(schedule: readonly WireAction[]): WireFaultHook {
  return (p, deliver) => {
    const a = schedule[p.index] ?? { kind: 'pass' };
    switch (a.kind) {
      case 'pass':
        return deliver(p.arriveNs, p.packet);
      case 'drop':
        return;
      case 'dup':
        deliver(p.arriveNs, p.packet);
        return deliver(p.arriveNs + a.laterNs, p.packet);
      case 'delay':
        return deliver(p.arriveNs + a.ns, p.packet);
      case 'corrupt': {
        const bad = p.packet.slice();
        bad[bad.length - 1] ^= 0x5a;
        return deliver(p.arriveNs, bad);
      }
    }
  };
}

/** Drops the `n`-th packet (from 0) host A puts on the wire; passes everything else. */
export function dropNthFromA(n: number): WireFaultHook {
  let seen = 0;
  return (p, deliver) => {
    if (p.from === 'A' && seen++ === n) return;
    deliver(p.arriveNs, p.packet);
  };
}

/** Keeps the bytes of `data` fields (as hex) so the monitor can compare streams; the rest as usual. */
function keepData(payload: unknown): Summary {
  if (payload && typeof payload === 'object' && 'data' in payload && (payload as { data: unknown }).data instanceof Uint8Array) {
    const { data, ...rest } = payload as { data: Uint8Array };
    return { ...(summarize(rest) as Record<string, Summary>), data: Buffer.from(data).toString('hex') };
  }
  return summarize(payload);
}

export interface StreamRun {
  readonly connections: readonly TcpConnection[];
  readonly records: readonly TraceRecord[];
  /** Virtual time when the run went quiet. */
  readonly endNs: number;
}

/**
 * ttcp over TCP on configuration `id` at `mtu`, each sender writing `totalBytes`, with the wire
 * playing `schedule`; runs until nothing is left to do (or `untilNs`).
 */
export function runStream(o: {
  readonly id: string;
  readonly mtu: number;
  readonly streams: 1 | 2;
  readonly totalBytes: number;
  readonly schedule?: readonly WireAction[];
  /** A fault hook of the test's own (instead of `schedule`). */
  readonly faults?: WireFaultHook;
  readonly breakage?: TcpBreakage;
  readonly sndbufBytes?: number;
  readonly untilNs?: number;
  readonly seed?: number;
}): StreamRun {
  const c = configuration(o.id) as BuiltConfiguration;
  const path = c.build({
    mtu: o.mtu,
    costs: calibratedCosts,
    seed: o.seed ?? 1,
    system: { recorder: { mode: 'full', summarize: keepData } },
    wireFaults: o.faults ?? (o.schedule ? scheduledFaults(o.schedule) : undefined),
  });
  const t = addTcpTtcp(path, { mtu: o.mtu, costs: calibratedCosts, streams: o.streams, totalBytes: o.totalBytes, sndbufBytes: o.sndbufBytes, recordData: true, breakage: o.breakage });
  const records: TraceRecord[] = [];
  path.system.recorder.observe((r) => {
    if (r.kind === 'effect' && (r.type === 'tcp.app.write' || r.type === 'tcp.read' || r.type === 'tcp.tx' || r.type === 'tcp.acked')) records.push(r);
  });
  path.system.run({ until: o.untilNs ?? 600_000_000_000, maxEvents: 3_000_000 });
  return { connections: t.connections, records, endNs: path.system.now };
}

interface Piece {
  readonly offset: number;
  readonly hex: string;
}

const pieces = (records: readonly TraceRecord[], type: string, conn: string): Piece[] =>
  records
    .filter((r) => r.type === type && (r.payload as { conn: string }).conn === conn)
    .map((r) => ({ offset: (r.payload as { offset: number }).offset, hex: (r.payload as { data: string }).data }));

/**
 * Problems with the stream of connection `conn` as the applications saw it: each read must start
 * where the previous one ended (in order, no byte twice, none skipped), and the bytes read must be
 * the bytes written, all of them. Empty when the stream is exact.
 */
export function streamProblems(run: StreamRun, conn: string): string[] {
  const out: string[] = [];
  const written = pieces(run.records, 'tcp.app.write', conn);
  const read = pieces(run.records, 'tcp.read', conn);
  let at = 0;
  for (const p of read) {
    if (p.offset !== at) out.push(`${conn}: a read at offset ${p.offset} where the stream was at ${at}`);
    at = p.offset + p.hex.length / 2;
  }
  const w = written.map((p) => p.hex).join('');
  const r = read.map((p) => p.hex).join('');
  if (r.length !== w.length) out.push(`${conn}: ${r.length / 2} bytes read of ${w.length / 2} written`);
  const n = Math.min(r.length, w.length);
  for (let i = 0; i < n; i += 2) {
    if (r.slice(i, i + 2) !== w.slice(i, i + 2)) {
      out.push(`${conn}: byte ${i / 2} read differs from the byte written`);
      break;
    }
  }
  return out;
}

/**
 * Flow control as an outside monitor sees it on connection `conn` (sender `from`): after every
 * segment sent, the bytes sent and not yet acknowledged stay within `windowBytes`. Returns the
 * largest such amount seen.
 */
export function maxInFlight(run: StreamRun, conn: string, from: string): number {
  let una = 0;
  let highest = 0;
  let most = 0;
  for (const r of run.records) {
    if (r.component !== `${from}.tcp` || (r.payload as { conn?: string }).conn !== conn) continue;
    if (r.type === 'tcp.acked') una = Math.max(una, (r.payload as { una: number }).una);
    if (r.type === 'tcp.tx') {
      const p = r.payload as { offset: number; bytes: number };
      highest = Math.max(highest, p.offset + p.bytes);
      most = Math.max(most, highest - una);
    }
  }
  return most;
}

/**
 * The shortest round trip of a segment on `conn`: from its first transmission to the first
 * acknowledgment covering it (segments never retransmitted only), and the bytes acknowledged in
 * [fromNs, toNs].
 */
export function ackedAndRttMin(run: StreamRun, conn: string, from: string, fromNs: number, toNs: number): { rttMinNs: number; ackedBytes: number } {
  const open: { end: number; t: number }[] = [];
  const retransmitted = new Set<number>();
  let rttMin = Number.POSITIVE_INFINITY;
  let unaAtFrom: number | undefined;
  let una = 0;
  for (const r of run.records) {
    if (r.component !== `${from}.tcp` || (r.payload as { conn?: string }).conn !== conn) continue;
    if (r.t > toNs) break;
    if (r.type === 'tcp.tx') {
      const p = r.payload as { offset: number; bytes: number; retransmit: boolean };
      if (p.retransmit) retransmitted.add(p.offset + p.bytes);
      else open.push({ end: p.offset + p.bytes, t: r.t });
    } else if (r.type === 'tcp.acked') {
      if (unaAtFrom === undefined && r.t >= fromNs) unaAtFrom = una;
      una = (r.payload as { una: number }).una;
      while (open.length > 0 && open[0].end <= una) {
        const s = open.shift()!;
        if (!retransmitted.has(s.end)) rttMin = Math.min(rttMin, r.t - s.t);
      }
    }
  }
  return { rttMinNs: rttMin, ackedBytes: una - (unaAtFrom ?? una) };
}
