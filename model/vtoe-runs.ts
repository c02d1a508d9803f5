/**
 * Workloads on VNET+VTOE (`vnet-vtoe`): the composition of model/vtoe-path.ts with time and costs
 * (`timed`), driven by scripted applications over one offloaded connection (A active, B passive).
 *
 * - ttcp TCP (chapter 6, §6.2.1): A writes 64000-byte buffers (the experiment's write size) as fast
 *   as its socket lets it: the socket's 256 KB send buffer (calibration.md "256 KB socket buffer")
 *   bounds the bytes not yet acknowledged, i.e. `sendWindow` = 256 KiB / 64 KiB = 4 VWQEs of at most
 *   `VTOE_BUFFER_BYTES`; B keeps 4 receive buffers of that size posted (its 256 KB receive buffer).
 *   Bi-stream: both directions stream at once. The model carries both streams on one offloaded
 *   connection instead of two: a connection costs nothing per byte in the model (each VWQE, doorbell,
 *   completion and packet is charged the same on either), so the figure is the same; stated here as
 *   a simplification. Throughput is measured at the receiving application over the run after a
 *   warm-up, per stream; CPU is each host's busy time (guest kernel + VMM; ttcp's own user time is
 *   not modelled) over the same window, as a fraction of one core (it may exceed 1: the guest's core
 *   and the VMM's core work at once).
 * - IMB PingPong / SendRecv (IMB 3.2.2 over OpenMPI 1.3's TCP BTL, through the guest sockets): each
 *   MPI message carries `MPI_TCP_HEADER_BYTES`; up to `MPI_TCP_EAGER_LIMIT_BYTES` of data it is sent
 *   at once (eager); above, the sender sends a rendezvous request, the receiver answers, and then the
 *   data follows (one round trip more). Latency: PingPong half the round trip, SendRecv the time of
 *   one exchange; bandwidth in IMB's MB (2^20 bytes) per second (SendRecv counts both directions).
 * - HPCC over 2 hosts: ping-pong latency (8-byte messages) and bandwidth (2,000,000-byte messages),
 *   and the ring, which on two hosts is each process exchanging with its one neighbour (SendRecv).
 *
 * Guest MTU plays no part on VNET+VTOE: TCP is offloaded, the IB path MTU segments messages.
 */
import type { Costs } from './costs.js';
import type { MpiPoint, RunOptions, WorkloadRunners } from './experiments.js';
import { HOSTS, MAX_BUFFER_BYTES, runVtoePath, scriptedPlan, type AppOp, type Host, type VtoePath, type VtoePathOptions, type VtoeVariant, type VtoeWork } from './vtoe-path.js';

/** Size of each VNET socket buffer the guest posts (one VWQE): 64 KiB. An assumption: §5.3.1 does not give it. */
export const VTOE_BUFFER_BYTES = 65_536;
/** ttcp's write size in the experiment (as model/tcp.ts and model/ttcp.ts). */
export const VTOE_TTCP_WRITE_BYTES = 64_000;
/** The guest socket buffers (calibration.md, ttcp "256 KB socket buffer"). */
export const VTOE_SOCKET_BUFFER_BYTES = 262_144;
/** OpenMPI 1.3 TCP BTL: eager limit (btl_tcp_eager_limit, 64 KiB) and per-fragment header bytes (ob1 match/rendezvous header with the BTL header; about 32 bytes). */
export const MPI_TCP_EAGER_LIMIT_BYTES = 65_536;
export const MPI_TCP_HEADER_BYTES = 32;
/** OpenMPI TCP BTL largest fragment of a rendezvous transfer (btl_tcp_max_send_size, 128 KiB). */
export const MPI_TCP_MAX_SEND_BYTES = 131_072;
const MB = 1_048_576;

export interface VtoeRunOptions {
  readonly costs: Costs;
  readonly seed?: number;
  readonly quick?: boolean;
  /** A deliberately broken variant (tests only). */
  readonly variant?: VtoeVariant;
  /** Deliberately broken glue (tests only). */
  readonly broken?: VtoePathOptions['brokenGlue'];
}

export interface VtoeTcpResult {
  /** Goodput per stream (mean over streams), bit/s. */
  readonly bitsPerSecond: number;
  readonly perStream: readonly number[];
  /** CPU busy fraction of host A (tx) and B (rx) over the measurement window (fraction of one core). */
  readonly cpu: { readonly tx: number; readonly rx: number };
  readonly work: Readonly<Record<Host, VtoeWork>>;
  /** Payload bytes the receiving applications got. */
  readonly bytes: number;
  readonly stoppedBy: string;
}

function checkRun(o: VtoeRunOptions, where: string): void {
  if (!o || typeof o !== 'object') throw new RangeError(`${where}: options must be an object`);
  if (!o.costs || typeof o.costs !== 'object' || typeof o.costs.cpuHz !== 'number') throw new RangeError(`${where}: costs must be a complete cost table (checkCosts() or calibratedCosts)`);
  if (o.seed !== undefined && (!Number.isSafeInteger(o.seed) || o.seed < 0)) throw new RangeError(`${where}: seed must be a non-negative integer, got ${String(o.seed)}`);
  if (o.variant !== undefined && o.variant !== 'copies' && o.variant !== 'guest-acks') throw new RangeError(`${where}: variant must be 'copies' or 'guest-acks', got ${String(o.variant)}`);
}

/** Runs one scripted connection with the costs, to quiescence. */
export function runScript(
  o: VtoeRunOptions,
  script: Readonly<Record<Host, readonly AppOp[]>>,
  shape: { readonly processes: 1 | 2 } = { processes: 1 },
): VtoePath & { stoppedBy: string } {
  const window = VTOE_SOCKET_BUFFER_BYTES / VTOE_BUFFER_BYTES;
  return runVtoePath(
    {
      connections: [{ ...scriptedPlan(script, VTOE_BUFFER_BYTES), independent: shape.processes === 2 }],
      seed: o.seed ?? 1,
      brokenGlue: o.broken,
      recvBufferBytes: VTOE_BUFFER_BYTES,
      timed: { costs: o.costs, variant: o.variant, sendWindow: window, recvAhead: window, guestCores: shape.processes },
      system: { recorder: { mode: 'ring', capacity: 64 }, checkInvariants: false },
    },
    5_000_000,
  );
}

/** ttcp over VNET+VTOE: `streams` 1 (A to B) or 2 (both ways at once). */
export function vtoeTcpThroughput(
  o: VtoeRunOptions & {
    readonly streams: 1 | 2;
    readonly writes?: number;
    /** Deliberately broken measurement (tests only): report the streams' total as the per-stream figure. */
    readonly brokenTotalPerStream?: boolean;
  },
): VtoeTcpResult {
  checkRun(o, 'vtoeTcpThroughput');
  if (o.streams !== 1 && o.streams !== 2) throw new RangeError(`vtoeTcpThroughput: streams must be 1 or 2, got ${String(o.streams)}`);
  const writes = o.writes ?? (o.quick ? 60 : 240);
  if (!Number.isInteger(writes) || writes < 8 || writes > 100_000) throw new RangeError(`vtoeTcpThroughput: writes must be an integer 8..100000, got ${String(writes)}`);
  const sends: AppOp[] = Array.from({ length: writes }, () => ({ op: 'send', bytes: VTOE_TTCP_WRITE_BYTES }));
  const recvs: AppOp[] = Array.from({ length: writes }, () => ({ op: 'recv', bytes: VTOE_TTCP_WRITE_BYTES }));
  // Bi-stream: on each host a sending and a receiving ttcp process, each on its own vcore.
  const script: Record<Host, AppOp[]> = o.streams === 1 ? { A: sends, B: recvs } : { A: [...sends, ...recvs], B: [...sends, ...recvs] };
  const p = runScript(o, script, { processes: o.streams });
  // The receiving side's read completions: the window is from the end of the warm-up (a quarter of the reads) to the last read.
  const perStream: number[] = [];
  let cpu = { tx: 0, rx: 0 };
  let bytes = 0;
  const receivers: Host[] = o.streams === 1 ? ['B'] : ['B', 'A'];
  for (const h of receivers) {
    const side = p.log.conns[0].side[h];
    const reads = side.opDoneNs.map((t, i) => ({ t, busy: side.opBusyNs[i], op: script[h][side.opDoneIndex[i]] })).filter((x) => x.op.op === 'recv');
    bytes += reads.length * VTOE_TTCP_WRITE_BYTES;
    if (reads.length < 4) {
      perStream.push(0);
      continue;
    }
    const k1 = Math.floor(reads.length / 4);
    const k2 = reads.length - 1;
    const span = reads[k2].t - reads[k1].t;
    // The reads after the window's start: several reads may complete at one instant (one interrupt
    // for several completions), and those at the start crossed before the window began.
    const inWindow = reads.filter((x) => x.t > reads[k1].t).length;
    perStream.push(span > 0 ? (inWindow * VTOE_TTCP_WRITE_BYTES * 8 * 1e9) / span : 0);
    if (h === 'B' && span > 0) cpu = { tx: (reads[k2].busy.A - reads[k1].busy.A) / span, rx: (reads[k2].busy.B - reads[k1].busy.B) / span };
  }
  const total = perStream.reduce((a, b) => a + b, 0);
  return {
    bitsPerSecond: o.brokenTotalPerStream ? total : total / perStream.length,
    perStream,
    cpu,
    work: p.log.work,
    bytes,
    stoppedBy: p.stoppedBy,
  };
}

/** The socket operations of one MPI message of `size` bytes from `from` (OpenMPI TCP BTL: eager, or rendezvous). */
function mpiMessage(size: number, from: Host): Record<Host, AppOp[]> {
  const to: Host = from === 'A' ? 'B' : 'A';
  const out: Record<Host, AppOp[]> = { A: [], B: [] };
  const msg = (h: Host, bytes: number) => {
    out[h].push({ op: 'send', bytes });
    out[h === 'A' ? 'B' : 'A'].push({ op: 'recv', bytes });
  };
  if (size <= MPI_TCP_EAGER_LIMIT_BYTES) {
    msg(from, size + MPI_TCP_HEADER_BYTES);
  } else {
    msg(from, MPI_TCP_HEADER_BYTES); // rendezvous request
    msg(to, MPI_TCP_HEADER_BYTES); // the receiver's answer
    msg(from, size + Math.ceil(size / MPI_TCP_MAX_SEND_BYTES) * MPI_TCP_HEADER_BYTES);
  }
  return out;
}

function repetitions(size: number, quick: boolean): number {
  const r = Math.ceil((quick ? 1 : 4) * 2_000_000 / Math.max(size, 1));
  return Math.max(quick ? 3 : 5, Math.min(quick ? 10 : 40, r));
}

/** IMB PingPong (`pingpong`) or SendRecv (`sendrecv`) over VNET+VTOE, one point per size. */
export function vtoeMpi(o: VtoeRunOptions & { readonly mode: 'pingpong' | 'sendrecv'; readonly sizes: readonly number[] }): MpiPoint[] {
  checkRun(o, 'vtoeMpi');
  if (o.mode !== 'pingpong' && o.mode !== 'sendrecv') throw new RangeError(`vtoeMpi: mode must be 'pingpong' or 'sendrecv', got ${String(o.mode)}`);
  if (!Array.isArray(o.sizes) || o.sizes.length === 0) throw new RangeError('vtoeMpi: sizes must be a non-empty array');
  return o.sizes.map((size) => {
    if (!Number.isSafeInteger(size) || size < 0 || size > 64 * MB) throw new RangeError(`vtoeMpi: sizes must be integers 0..${64 * MB}, got ${String(size)}`);
    const reps = repetitions(size, o.quick ?? false) + 1;
    const script: Record<Host, AppOp[]> = { A: [], B: [] };
    const marks: number[] = [];
    for (let i = 0; i < reps; i++) {
      const parts = o.mode === 'pingpong' ? [mpiMessage(size, 'A'), mpiMessage(size, 'B')] : [exchange(size)];
      for (const part of parts) for (const h of HOSTS) script[h].push(...part[h]);
      marks.push(script.A.length - 1);
    }
    const p = runScript(o, script);
    const done = p.log.conns[0].side.A.opDoneNs;
    if (done.length < script.A.length) throw new Error(`vtoeMpi: the run ended after ${done.length} of ${script.A.length} operations (${p.stoppedBy})`);
    // The first repetition is the warm-up (as IMB's).
    const perRep = (done[marks[reps - 1]] - done[marks[0]]) / (reps - 1);
    const latencyNs = o.mode === 'pingpong' ? perRep / 2 : perRep;
    const bandwidthMBs = latencyNs > 0 ? ((o.mode === 'pingpong' ? size : 2 * size) / MB) / (latencyNs / 1e9) : 0;
    return { sizeBytes: size, latencyUs: latencyNs / 1000, bandwidthMBs };
  });
}

/** One SendRecv exchange: both ranks send `size` to each other at once, then receive. */
function exchange(size: number): Record<Host, AppOp[]> {
  const a = mpiMessage(size, 'A');
  const b = mpiMessage(size, 'B');
  if (size <= MPI_TCP_EAGER_LIMIT_BYTES) return { A: [...a.A, ...b.A], B: [...b.B, ...a.B] };
  // Rendezvous both ways: both requests, both answers, then both transfers.
  return {
    A: [a.A[0], b.A[0], b.A[1], a.A[1], a.A[2], b.A[2]],
    B: [b.B[0], a.B[0], a.B[1], b.B[1], b.B[2], a.B[2]],
  };
}

/** HPCC ping-pong and ring latency/bandwidth on 2 hosts (the composition builds two). */
export function vtoeHpcc(o: VtoeRunOptions & { readonly hosts: number }) {
  checkRun(o, 'vtoeHpcc');
  if (o.hosts !== 2) throw new RangeError(`vtoeHpcc: hosts must be 2 (the VNET+VTOE composition builds two hosts), got ${String(o.hosts)}`);
  const [pl] = vtoeMpi({ ...o, mode: 'pingpong', sizes: [8] });
  const [pb] = vtoeMpi({ ...o, mode: 'pingpong', sizes: [2_000_000] });
  const [rl] = vtoeMpi({ ...o, mode: 'sendrecv', sizes: [8] });
  const [rb] = vtoeMpi({ ...o, mode: 'sendrecv', sizes: [2_000_000] });
  return {
    pingPongLatencyUs: pl.latencyUs,
    pingPongBandwidthMBs: (2_000_000 / 1e6) / (pb.latencyUs / 1e6),
    ringLatencyUs: rl.latencyUs,
    ringBandwidthMBs: (2 * 2_000_000 / 1e6) / (rb.latencyUs / 1e6),
  };
}

const checkMtu = (mtu: number) => {
  if (!Number.isSafeInteger(mtu) || mtu < 68 || mtu > 65_535) throw new RangeError(`vnet-vtoe: mtu must be an integer 68..65535, got ${String(mtu)}`);
};

/** The `vnet-vtoe` configuration's workloads (contract: /work/notes/interfaces.md, model/experiments.ts). */
export const vtoeRunners: WorkloadRunners = {
  tcpThroughput(o: RunOptions & { streams: 1 | 2 }) {
    checkMtu(o.mtu);
    const r = vtoeTcpThroughput({ costs: o.costs, seed: o.seed, quick: o.quick, streams: o.streams });
    return { bitsPerSecond: r.bitsPerSecond, cpu: r.cpu };
  },
  mpi(o: RunOptions & { mode: 'pingpong' | 'sendrecv'; sizes: readonly number[] }) {
    checkMtu(o.mtu);
    return vtoeMpi({ costs: o.costs, seed: o.seed, quick: o.quick, mode: o.mode, sizes: o.sizes });
  },
  hpcc(o: RunOptions & { hosts: number }) {
    checkMtu(o.mtu);
    return vtoeHpcc({ costs: o.costs, seed: o.seed, quick: o.quick, hosts: o.hosts });
  },
};

export { MAX_BUFFER_BYTES };
