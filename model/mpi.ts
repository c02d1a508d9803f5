/**
 * MPI over the guest TCP model (dissertation chapter 6: IMB 3.2.2 PingPong and SendRecv under
 * OpenMPI 1.3; calibration.md "MPI PingPong (IMB 3.2.2, OpenMPI 1.3), 10 Gbps").
 *
 * Two ranks, one on each guest (`A.mpi` rank 0, `B.mpi` rank 1), joined by one TCP connection of
 * model/tcp.ts, as OpenMPI's TCP BTL does (one socket per peer pair, TCP_NODELAY, 128 KB socket
 * buffers: btl_tcp_sndbuf/rcvbuf). What of OpenMPI 1.3 matters for time is the bytes on the
 * stream and the round trips:
 *
 * - every fragment carries the TCP BTL header (8 bytes: tag, type, count, size) and an ob1 PML
 *   header: match 16 bytes, rendezvous 32, rendezvous ACK 32, fragment 32 (the sizes of
 *   ompi/mca/pml/ob1/pml_ob1_hdr.h on a 64-bit host; the type codes here are the model's own);
 * - eager protocol for messages whose match header and data fit the eager limit (btl_tcp_eager_limit
 *   64 KB): one fragment, the send completes when the socket has taken it;
 * - rendezvous above it: a rendezvous fragment carrying the first eager-limit's worth of data, the
 *   receiver's ACK (an extra round trip before the bulk), then the rest in fragments of at most
 *   btl_tcp_max_send_size (128 KB) each; the send completes when the socket has taken the last.
 *
 * Each fragment is one blocking write to the socket (one system call, charged by tcp.ts); the
 * receiving rank reads what arrives (tcp.ts charges each read) and parses fragments from the byte
 * stream. Messages carry a checkable pattern; a rank that receives wrong bytes fails the run.
 *
 * IMB's definitions: PingPong, rank 0 sends `size` bytes, rank 1 receives them and sends them back;
 * t = the time of n repetitions / (2n), bandwidth = size / t. SendRecv (two ranks): each rank
 * sends to and receives from the other at once in each repetition (MPI_Sendrecv), t = the time of n
 * repetitions / n (the larger of the two ranks'), bandwidth = 2 size / t. MB = 2^20 bytes, as IMB
 * reports. Repetitions: IMB 3.2's n = min(1000, max(1, 40 MB / size)) (1000 for size 0), after
 * warm-up repetitions (IMB warms up with two transfers); sizes run in increasing order over the same
 * connection, as IMB runs them. Times are read from the recorded stream (`imb.start`, `imb.end`).
 */
import type { Costs } from './costs.js';
import type { TwoHostPath } from './overlay-path.js';
import { addTcp, type TcpBreakage, type TcpData } from './tcp.js';
import type { ComponentContext, SystemOptions } from './wiring.js';

/** OpenMPI 1.3 TCP BTL defaults. */
export const OMPI_TCP_EAGER_LIMIT = 65_536;
export const OMPI_TCP_MAX_SEND_SIZE = 131_072;
export const OMPI_TCP_SOCKET_BUFFER = 131_072;
/** Header sizes: the TCP BTL header, and ob1's match, rendezvous, ACK and fragment headers. */
export const BTL_HEADER_BYTES = 8;
export const MATCH_HEADER_BYTES = 16;
export const RNDV_HEADER_BYTES = 32;
export const ACK_HEADER_BYTES = 32;
export const FRAG_HEADER_BYTES = 32;

/** IMB's message sizes: 0, then 1 B to 4 MB by powers of two. */
export const IMB_SIZES: readonly number[] = [0, ...Array.from({ length: 23 }, (_, i) => 2 ** i)];
export const IMB_MAX_SIZE = 4 * 2 ** 20;
/** IMB 3.2 settings: MSGSPERSAMPLE and OVERALL_VOL. */
const IMB_MSGS_PER_SAMPLE = 1000;
const IMB_OVERALL_VOL = 40 * 2 ** 20;

/** Repetitions of one size: IMB 3.2's, or for `quick` at most 10 and about 512 KB a size. */
export function imbRepetitions(sizeBytes: number, quick: boolean): number {
  const imb = sizeBytes === 0 ? IMB_MSGS_PER_SAMPLE : Math.max(1, Math.min(IMB_MSGS_PER_SAMPLE, Math.floor(IMB_OVERALL_VOL / sizeBytes)));
  if (!quick) return imb;
  return Math.min(imb, 10, Math.max(1, Math.floor(512 * 1024 / Math.max(1, sizeBytes))));
}

/** Warm-up repetitions before the timed ones of each size. */
export const imbWarmup = (quick: boolean): number => (quick ? 1 : 2);

const enum Kind {
  Match = 1,
  Rndv = 2,
  Ack = 3,
  Frag = 4,
}

const u32 = (b: Uint8Array, at: number) => ((b[at] << 24) >>> 0) + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
const put32 = (b: Uint8Array, at: number, v: number) => {
  b[at] = (v >>> 24) & 255;
  b[at + 1] = (v >>> 16) & 255;
  b[at + 2] = (v >>> 8) & 255;
  b[at + 3] = v & 255;
};
/** 64-bit fields hold values below 2^32 here; the high word is written as zero. */
const put64 = (b: Uint8Array, at: number, v: number) => put32(b, at + 4, v);
const get64 = (b: Uint8Array, at: number) => u32(b, at + 4);

/** The payload byte `i` of message `seq`: a pattern the receiver checks. */
const patternByte = (seq: number, i: number) => (seq * 13 + i + (i >>> 10)) & 0xff;

function payload(seq: number, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  for (let i = from; i < to; i++) out[i - from] = patternByte(seq, i);
  return out;
}

/** One BTL fragment: BTL header, ob1 header `hdr`, data. */
function fragment(hdr: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(BTL_HEADER_BYTES + hdr.length + data.length);
  out[0] = 0x41; // BTL tag of the PML
  out[1] = 1; // BTL fragment type: send
  put32(out, 4, hdr.length + data.length);
  out.set(hdr, BTL_HEADER_BYTES);
  out.set(data, BTL_HEADER_BYTES + hdr.length);
  return out;
}

function matchHeader(seq: number, kind: Kind.Match | Kind.Rndv, total: number, req: number): Uint8Array {
  const h = new Uint8Array(kind === Kind.Match ? MATCH_HEADER_BYTES : RNDV_HEADER_BYTES);
  h[0] = kind;
  put32(h, 8, 1); // tag
  h[12] = (seq >>> 8) & 255;
  h[13] = seq & 255;
  put32(h, 4, seq); // the model keeps the full sequence number in the source field's place
  if (kind === Kind.Rndv) {
    put64(h, 16, total);
    put64(h, 24, req);
  }
  return h;
}

function ctlHeader(kind: Kind.Ack | Kind.Frag, a: number, b: number, c: number): Uint8Array {
  const h = new Uint8Array(kind === Kind.Ack ? ACK_HEADER_BYTES : FRAG_HEADER_BYTES);
  h[0] = kind;
  put64(h, 8, a);
  put64(h, 16, b);
  put64(h, 24, c);
  return h;
}

export type ImbMode = 'pingpong' | 'sendrecv';

export interface ImbRow {
  readonly sizeBytes: number;
  readonly repetitions: number;
  /** IMB's t: PingPong half the round trip, SendRecv one exchange; us. */
  readonly latencyUs: number;
  /** MB/s, MB = 2^20 bytes. */
  readonly bandwidthMBs: number;
}

export interface ImbOptions {
  readonly mode: ImbMode;
  readonly sizes: readonly number[];
  readonly mtu: number;
  readonly costs: Costs;
  readonly seed?: number;
  readonly quick?: boolean;
  /** Repetitions per size instead of IMB's (tests). */
  readonly repetitions?: (sizeBytes: number) => number;
  readonly warmup?: number;
  readonly breakage?: TcpBreakage;
  /** Deliberately broken MPI layers, for tests that must see a property fail. Never set in real runs. */
  readonly mpiBreakage?: MpiBreakage;
}

export interface MpiBreakage {
  /** The sender goes on with the bulk as if the rendezvous ACK had come (no round trip). */
  readonly skipRendezvousAck?: boolean;
  /** The eager/rendezvous choice inverted: small messages rendezvous, large ones eager. */
  readonly eagerInverted?: boolean;
  /** SendRecv: a rank's repetition ends when its send completes, without waiting for its receive. */
  readonly sendrecvIgnoresReceive?: boolean;
}

/**
 * One rank's end of the TCP BTL connection `conn` to one peer: sends messages (eager or
 * rendezvous, as fragments written to the socket in order), parses the fragments arriving on the
 * byte stream, answers rendezvous requests, and reports each message received whole. The rank's
 * component hands it the `tcp.data` and `tcp.written` events of its connection.
 */
export class BtlChannel {
  #pending = new Uint8Array(0);
  /** Writes in order, with what to do when the socket has taken each. */
  readonly #writes: (((ctx: ComponentContext) => void) | undefined)[] = [];
  #nextSeq: number;
  readonly #rndvSends = new Map<number, { seq: number; total: number; done: (ctx: ComponentContext) => void }>();
  readonly #rndvRecvs = new Map<number, { seq: number; total: number; got: number }>();

  constructor(
    readonly name: string,
    readonly conn: string,
    readonly tcpComponent: string,
    /** The peer rank's component (the broken shortcut only). */
    readonly peerComponent: string,
    firstSeq: number,
    readonly onMessage: (ctx: ComponentContext, seq: number, bytes: number) => void,
    readonly breakage: MpiBreakage = {},
  ) {
    this.#nextSeq = firstSeq;
  }

  #write(ctx: ComponentContext, bytes: Uint8Array, done?: (ctx: ComponentContext) => void): void {
    this.#writes.push(done);
    ctx.schedule(0, this.tcpComponent, { type: 'tcp.write', conn: this.conn, data: bytes });
  }

  /** Sends a message of `size` bytes; `done` when the socket has taken all of it. */
  send(ctx: ComponentContext, size: number, done: (ctx: ComponentContext) => void): void {
    const seq = this.#nextSeq++;
    ctx.emit({ type: 'mpi.send', conn: this.conn, seq, bytes: size });
    if ((MATCH_HEADER_BYTES + size <= OMPI_TCP_EAGER_LIMIT) !== (this.breakage.eagerInverted ?? false)) {
      this.#write(ctx, fragment(matchHeader(seq, Kind.Match, size, 0), payload(seq, 0, size)), done);
      return;
    }
    const first = Math.min(size, OMPI_TCP_EAGER_LIMIT - RNDV_HEADER_BYTES);
    this.#rndvSends.set(seq, { seq, total: size, done });
    this.#write(ctx, fragment(matchHeader(seq, Kind.Rndv, size, seq), payload(seq, 0, first)));
  }

  /** The rendezvous ACK: the bulk goes in fragments of at most the BTL's max send size. */
  ack(ctx: ComponentContext, srcReq: number, dstReq: number, offset: number): void {
    const s = this.#rndvSends.get(srcReq);
    if (!s) throw new Error(`${this.name}: rendezvous ACK for unknown request ${srcReq}`);
    this.#rndvSends.delete(srcReq);
    const chunk = OMPI_TCP_MAX_SEND_SIZE - FRAG_HEADER_BYTES;
    // All the data went with the rendezvous fragment: the ACK completes the send.
    if (offset >= s.total) s.done(ctx);
    for (let at = offset; at < s.total; at += chunk) {
      const end = Math.min(s.total, at + chunk);
      this.#write(ctx, fragment(ctlHeader(Kind.Frag, at, srcReq, dstReq), payload(s.seq, at, end)), end === s.total ? s.done : undefined);
    }
  }

  written(ctx: ComponentContext): void {
    if (this.#writes.length === 0) throw new Error(`${this.name}: a write completed that was never made`);
    this.#writes.shift()?.(ctx);
  }

  data(ctx: ComponentContext, d: Uint8Array): void {
    const joined = new Uint8Array(this.#pending.length + d.length);
    joined.set(this.#pending);
    joined.set(d, this.#pending.length);
    let at = 0;
    while (joined.length - at >= BTL_HEADER_BYTES) {
      const size = u32(joined, at + 4);
      if (joined.length - at - BTL_HEADER_BYTES < size) break;
      this.#fragment(ctx, joined.subarray(at + BTL_HEADER_BYTES, at + BTL_HEADER_BYTES + size));
      at += BTL_HEADER_BYTES + size;
    }
    this.#pending = joined.slice(at);
  }

  #check(seq: number, at: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      if (data[i] !== patternByte(seq, at + i)) throw new Error(`${this.name}: message ${seq} byte ${at + i} is wrong`);
    }
  }

  #received(ctx: ComponentContext, seq: number, bytes: number): void {
    ctx.emit({ type: 'mpi.recv', conn: this.conn, seq, bytes });
    this.onMessage(ctx, seq, bytes);
  }

  #fragment(ctx: ComponentContext, f: Uint8Array): void {
    const kind = f[0] as Kind;
    if (kind === Kind.Match) {
      const seq = u32(f, 4);
      const data = f.subarray(MATCH_HEADER_BYTES);
      this.#check(seq, 0, data);
      this.#received(ctx, seq, data.length);
    } else if (kind === Kind.Rndv) {
      const seq = u32(f, 4);
      const total = get64(f, 16);
      const srcReq = get64(f, 24);
      const data = f.subarray(RNDV_HEADER_BYTES);
      this.#check(seq, 0, data);
      // The receive is posted (the benchmarks' ranks are always in their receive): ACK at once.
      if (!this.breakage.skipRendezvousAck) this.#write(ctx, fragment(ctlHeader(Kind.Ack, srcReq, seq, data.length), new Uint8Array(0)));
      // The broken shortcut: the sender goes on as if the ACK had come, with no round trip.
      else ctx.schedule(0, this.peerComponent, { type: 'mpi.shortcut', conn: this.conn, srcReq, dstReq: seq, offset: data.length });
      if (data.length === total) this.#received(ctx, seq, total);
      else this.#rndvRecvs.set(seq, { seq, total, got: data.length });
    } else if (kind === Kind.Ack) {
      this.ack(ctx, get64(f, 8), get64(f, 16), get64(f, 24));
    } else if (kind === Kind.Frag) {
      const at = get64(f, 8);
      const r = this.#rndvRecvs.get(get64(f, 24));
      if (!r) throw new Error(`${this.name}: fragment for unknown receive ${get64(f, 24)}`);
      const data = f.subarray(FRAG_HEADER_BYTES);
      this.#check(r.seq, at, data);
      r.got += data.length;
      if (r.got === r.total) {
        this.#rndvRecvs.delete(r.seq);
        this.#received(ctx, r.seq, r.total);
      }
    } else {
      throw new Error(`${this.name}: unknown fragment kind ${kind}`);
    }
  }

  /** Routes one of the rank's events for this channel; false if it is not one. */
  handle(ev: { readonly type: string }, ctx: ComponentContext): boolean {
    const conn = (ev as { conn?: string }).conn;
    if (conn !== this.conn) return false;
    if (ev.type === 'tcp.written') this.written(ctx);
    else if (ev.type === 'tcp.data') this.data(ctx, (ev as unknown as TcpData).data);
    else if (ev.type === 'mpi.shortcut') {
      const s = ev as unknown as { srcReq: number; dstReq: number; offset: number };
      this.ack(ctx, s.srcReq, s.dstReq, s.offset);
    } else return false;
    return true;
  }
}

interface Plan {
  readonly sizes: readonly number[];
  readonly reps: readonly number[];
  readonly warmup: number;
}

/**
 * Adds the two MPI ranks running IMB `mode` over `plan` to a built path (over a fresh TCP connection).
 * Effects of `X.mpi`: `mpi.send` / `mpi.recv` { conn, seq, bytes } per message, `imb.start` /
 * `imb.end` { size } around each size's timed repetitions, and `imb.done` when the rank is through.
 */
export function addImb(path: TwoHostPath, mode: ImbMode, plan: Plan, o: { readonly mtu: number; readonly costs: Costs; readonly breakage?: TcpBreakage; readonly mpiBreakage?: MpiBreakage }): void {
  const sys = path.system;
  const tcp = addTcp(path, { mtu: o.mtu, costs: o.costs, breakage: o.breakage });
  tcp.connect({ name: 'mpi', from: 'A', to: 'B', apps: { A: 'A.mpi', B: 'B.mpi' }, sndbufBytes: OMPI_TCP_SOCKET_BUFFER, rcvbufBytes: OMPI_TCP_SOCKET_BUFFER, nodelay: true });

  for (const h of ['A', 'B'] as const) {
    const rank = h === 'A' ? 0 : 1;
    let received = 0;
    // The rank's loop: the size index and the repetition within it (warm-ups first).
    let sizeIdx = 0;
    let rep = 0;
    let sendDone = false;
    let recvTarget = 0;

    const channel = new BtlChannel(
      `${h}.mpi`,
      'mpi',
      tcp.component(h),
      `${h === 'A' ? 'B' : 'A'}.mpi`,
      rank === 0 ? 0 : 1_000_000,
      (ctx, _seq, bytes) => {
        received++;
        // PingPong's rank 1 echoes each message with its size.
        if (mode === 'pingpong' && rank === 1) channel.send(ctx, bytes, () => {});
        else step(ctx);
      },
      o.mpiBreakage,
    );

    const sizeNow = () => plan.sizes[sizeIdx];
    const repsNow = () => plan.warmup + plan.reps[sizeIdx];

    /** Starts repetition `rep` of the current size (rank 0 in PingPong, both ranks in SendRecv). */
    const startRep = (ctx: ComponentContext) => {
      if (rep === plan.warmup) ctx.emit({ type: 'imb.start', size: sizeNow(), reps: plan.reps[sizeIdx] });
      recvTarget++;
      if (mode === 'sendrecv') {
        sendDone = false;
        channel.send(ctx, sizeNow(), (c) => {
          sendDone = true;
          step(c);
        });
      } else {
        channel.send(ctx, sizeNow(), () => {});
      }
    };

    /** Advances the loop after a receive or a send completion. */
    const step = (ctx: ComponentContext) => {
      if (sizeIdx >= plan.sizes.length) return;
      if ((received < recvTarget && !o.mpiBreakage?.sendrecvIgnoresReceive) || (mode === 'sendrecv' && !sendDone)) return;
      rep++;
      if (rep === repsNow()) {
        ctx.emit({ type: 'imb.end', size: sizeNow() });
        rep = 0;
        sizeIdx++;
        if (sizeIdx >= plan.sizes.length) {
          ctx.emit({ type: 'imb.done' });
          return;
        }
      }
      startRep(ctx);
    };

    sys.addComponent(`${h}.mpi`, (ev, ctx) => {
      if (ev.type === 'mpi.start') {
        if (plan.sizes.length > 0) startRep(ctx);
      } else {
        channel.handle(ev, ctx);
      }
    });
    if (mode === 'sendrecv' || rank === 0) sys.scheduleAt(100_000, `${h}.mpi`, { type: 'mpi.start' });
  }
}

type Build = (o: { mtu: number; costs: Costs; seed?: number; system?: Omit<SystemOptions, 'seed'> }) => TwoHostPath;

function checkSizes(sizes: readonly number[]): void {
  if (!Array.isArray(sizes) || sizes.length === 0) throw new RangeError('imb sizes must be a non-empty list of message sizes in bytes');
  for (const s of sizes) {
    if (!Number.isInteger(s) || s < 0 || s > IMB_MAX_SIZE) throw new RangeError(`imb sizes must be integers from 0 to ${IMB_MAX_SIZE} bytes, got ${s}`);
  }
}

/**
 * IMB PingPong or SendRecv over a built configuration: the sizes in increasing order over one
 * connection; each row's t is read from the recorded `imb.start` / `imb.end` effects of the ranks.
 */
export function measureImb(build: Build, o: ImbOptions): ImbRow[] {
  if (o.mode !== 'pingpong' && o.mode !== 'sendrecv') throw new RangeError(`imb mode must be 'pingpong' or 'sendrecv', got ${String(o.mode)}`);
  checkSizes(o.sizes);
  const sizes = [...new Set(o.sizes)].sort((a, b) => a - b);
  const quick = o.quick ?? false;
  const reps = sizes.map((s) => o.repetitions?.(s) ?? imbRepetitions(s, quick));
  for (const r of reps) if (!Number.isInteger(r) || r < 1) throw new RangeError(`imb repetitions must be positive integers, got ${r}`);
  const warmup = o.warmup ?? imbWarmup(quick);
  if (!Number.isInteger(warmup) || warmup < 0) throw new RangeError(`imb warmup must be a non-negative integer, got ${warmup}`);
  const path = build({ mtu: o.mtu, costs: o.costs, seed: o.seed, system: { recorder: { mode: 'ring', capacity: 64 } } });
  addImb(path, o.mode, { sizes, reps, warmup }, { mtu: o.mtu, costs: o.costs, breakage: o.breakage, mpiBreakage: o.mpiBreakage });
  // Per rank and size: when the timed repetitions started and ended.
  const spans = new Map<string, { start?: number; end?: number }>();
  let done = 0;
  path.system.recorder.observe((r) => {
    if (r.kind !== 'effect') return;
    if (r.type === 'imb.done') done++;
    if (r.type !== 'imb.start' && r.type !== 'imb.end') return;
    const key = `${r.component} ${(r.payload as { size: number }).size}`;
    const s = spans.get(key) ?? {};
    if (r.type === 'imb.start') s.start = r.t;
    else s.end = r.t;
    spans.set(key, s);
  });
  path.system.run({ maxEvents: 200_000_000 });
  const ranks = o.mode === 'pingpong' ? ['A.mpi'] : ['A.mpi', 'B.mpi'];
  if (done !== ranks.length) throw new Error(`imb ${o.mode} at MTU ${o.mtu}: the ranks did not finish (${done} of ${ranks.length})`);
  return sizes.map((size, i) => {
    const t = Math.max(
      ...ranks.map((rk) => {
        const s = spans.get(`${rk} ${size}`);
        if (s?.start === undefined || s.end === undefined) throw new Error(`imb ${o.mode}: no timed span for ${size} bytes at ${rk}`);
        return s.end - s.start;
      }),
    );
    const tUs = t / 1000 / (o.mode === 'pingpong' ? 2 * reps[i] : reps[i]);
    const moved = o.mode === 'pingpong' ? size : 2 * size;
    return { sizeBytes: size, repetitions: reps[i], latencyUs: tUs, bandwidthMBs: moved / (tUs * 1e-6) / 2 ** 20 };
  });
}

/** The `mpi` runner of a configuration (the `WorkloadRunners` contract, model/experiments.ts). */
export function mpiRunner(
  build: Build,
): (o: { readonly mtu: number; readonly costs: Costs; readonly seed: number; readonly quick: boolean; readonly mode: ImbMode; readonly sizes: readonly number[] }) => readonly { sizeBytes: number; latencyUs: number; bandwidthMBs: number }[] {
  return (o) => measureImb(build, { mode: o.mode, sizes: o.sizes, mtu: o.mtu, costs: o.costs, seed: o.seed, quick: o.quick }).map(({ sizeBytes, latencyUs, bandwidthMBs }) => ({ sizeBytes, latencyUs, bandwidthMBs }));
}
