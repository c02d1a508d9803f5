/**
 * The two native InfiniBand configurations that use verbs directly, on model/ib-fabric.ts:
 *
 * - `native-uverbs`: MPI on verbs (OpenMPI 1.3's openib BTL, calibration.md MPI rows). A message
 *   up to `mpiOpenibEagerLimitBytes` goes eagerly: copied into a pre-registered buffer, sent with
 *   one RC SEND (with the BTL/PML header), copied out by the receiver after it polls the
 *   completion. A larger one goes by rendezvous: a header-only RTS, the receiver's CTS once it has
 *   matched the message, an RDMA WRITE of the user buffer straight into the receiver's (zero copy,
 *   no kernel), and a FIN. Both sides busy-poll their completion queues (no interrupts).
 *   Simplifications: eager RDMA (polling a ring instead of the CQ) is charged like a SEND with a
 *   poll; memory registration is taken as cached (IMB reuses its buffers); one connection per pair.
 * - `native-sdp`: ttcp over TCP sockets offloaded onto RC by the Sockets Direct Protocol (OFED
 *   ib_sdp). A send() below `sdpZcopyThresholdBytes` is copied (bcopy) into private buffers of
 *   `sdpBufferBytes`, each sent as one RC SEND with its 16-byte BSDH; the receiver copies it out of
 *   its private receive buffer and reposts that buffer. The sender may send only while it holds SDP
 *   credits (the peer's posted receive buffers, SDP_RX_SIZE = 64 at the start, advertised back in
 *   BSDHs: piggybacked on data, or in a header-only update after every quarter of the ring). A
 *   send() at or above the threshold goes zero copy: a SrcAvail header, the sink RDMA-reads the
 *   user buffer into the application's, and an RdmaRdCompl header. Receive completions raise an
 *   interrupt when the receiving core is idle (otherwise the handler finds them while polling).
 *   Credit update messages are taken to use a reserved buffer and consume no credit.
 *
 * CPU accounting: every host-side step charges its core (cycles at `cpuHz`): verbs post and poll
 * (`ibVerbsPostCycles`, `ibVerbsPollCycles`), MPI per-message work (`mpiMessageCycles`), SDP per
 * buffer work (`sdpMessageCycles`), copies (`copyCyclesPerByte`) and interrupts
 * (`hostIrqToPollCycles`). A core does one thing at a time; busy time over wall time is the busy
 * fraction reported for ttcp. MPI over SDP is not offered: the dissertation runs MPI over IPoIB and
 * verbs only (calibration.md MPI and HPCC InfiniBand rows).
 */
import { cycles, type Costs } from './costs.js';
import { IbFabric, type IbCompletion, type QpRef } from './ib-fabric.js';
import { TTCP_WRITE_BYTES } from './ttcp.js';
import { System, type WiringContext } from './wiring.js';

/** The runner contract of /work/notes/interfaces.md (structurally the same as model/experiments.ts's). */
export interface IbRunOptions {
  readonly mtu: number;
  readonly costs: Costs;
  readonly seed: number;
  readonly quick: boolean;
}
export interface MpiRow {
  readonly sizeBytes: number;
  readonly latencyUs: number;
  readonly bandwidthMBs: number;
}
export interface IbWorkloadRunners {
  tcpThroughput?(o: IbRunOptions & { streams: 1 | 2 }): { bitsPerSecond: number; cpu: { tx: number; rx: number } };
  mpi?(o: IbRunOptions & { mode: 'pingpong' | 'sendrecv'; sizes: readonly number[] }): readonly MpiRow[];
  hpcc?(o: IbRunOptions & { hosts: number }): { pingPongLatencyUs: number; pingPongBandwidthMBs: number; ringLatencyUs: number; ringBandwidthMBs: number };
}

/** ob1 match header plus openib BTL header on every MPI fragment (bytes; OpenMPI 1.3 mca_pml_ob1_match_hdr_t 14-16 + BTL header 4, rounded up). */
export const MPI_HEADER_BYTES = 24;
/** Rendezvous control messages (RTS with the RDMA address, CTS, FIN), bytes. */
export const MPI_CONTROL_BYTES = 64;
/** SDP Base Sockets Direct Header (IBTA Vol. 1 Annex A4; ib_sdp struct sdp_bsdh). */
export const SDP_BSDH_BYTES = 16;
/** SDP receive ring (private buffers per connection), ib_sdp SDP_RX_SIZE; also the send ring SDP_TX_SIZE. */
export const SDP_RING = 64;
/** A SrcAvail header carries the buffer address and key after the BSDH (ib_sdp struct sdp_srcah). */
export const SDP_SRCAVAIL_BYTES = 32;

/** Checks the common options; errors name the field. */
function checkRun(o: IbRunOptions, what: string): void {
  if (!o || typeof o !== 'object') throw new RangeError(`${what}: options must be an object`);
  if (!o.costs || typeof o.costs.cpuHz !== 'number') throw new RangeError(`${what}: costs must be a Costs table (checkCosts)`);
  if (!Number.isSafeInteger(o.seed)) throw new RangeError(`${what}: seed must be an integer, got ${String(o.seed)}`);
}

/** One host core: busy-until and busy total. */
class Core {
  free = 0;
  /** Busy ns inside the measurement window [from, to). */
  busy = 0;
  constructor(
    private readonly hz: number,
    private readonly from = 0,
    private readonly to = Number.MAX_SAFE_INTEGER,
  ) {}
  /** Runs `cyc` cycles from `now` (after whatever the core is doing); returns the finish time. */
  run(now: number, cyc: number): number {
    const ns = cycles(cyc, this.hz);
    const start = Math.max(now, this.free);
    this.free = start + ns;
    this.busy += Math.max(0, Math.min(this.free, this.to) - Math.max(start, this.from));
    return this.free;
  }
  idleAt(now: number): boolean {
    return this.free <= now;
  }
}

/** A system with an IB fabric and a component that runs closures at given times. */
function world(hosts: readonly string[], costs: Costs, seed: number, fabricOpts: { broken?: BrokenFabric } = {}) {
  const sys = new System({ seed, recorder: { mode: 'ring', capacity: 64 }, checkInvariants: false });
  const fabric = new IbFabric(sys, { hosts, costs, ...fabricOpts });
  sys.addComponent('host.run', (ev, ctx) => (ev as unknown as { fn: (c: WiringContext) => void }).fn(ctx));
  const at = (ctx: WiringContext | undefined, t: number, fn: (c: WiringContext) => void) =>
    ctx ? ctx.scheduleAt(Math.max(t, ctx.now), 'host.run', { type: 'run', fn }) : sys.scheduleAt(t, 'host.run', { type: 'run', fn });
  return { sys, fabric, at };
}

// ---- native-uverbs: MPI over the openib BTL ----------------------------------------------------

type MpiTag = { kind: 'eager' | 'rts' | 'cts' | 'fin'; seq: number; bytes: number };

interface Rank {
  readonly host: string;
  readonly core: Core;
  /** QP towards each peer rank. */
  readonly qp: Map<number, QpRef>;
  nextWr: number;
}

/**
 * Point-to-point MPI engine over the fabric: `send(from, to, bytes, done)` runs the eager or
 * rendezvous protocol and calls `onRecv(to, from, seq)` when the receiver has the message whole and
 * `done` when the sender's buffer is free again.
 */
/** Deliberately broken fabric hardware (mutation tests only). */
export type BrokenFabric = { ignoreCredits?: boolean; acceptOutOfOrder?: boolean; ignoreLinkRate?: boolean };

function mpiEngine(n: number, costs: Costs, seed: number, broken?: BrokenFabric) {
  const hosts = Array.from({ length: n }, (_, i) => String.fromCharCode(65 + i));
  const { sys, fabric, at } = world(hosts, costs, seed, { broken });
  const c = costs;
  const ranks: Rank[] = hosts.map((h) => ({ host: h, core: new Core(c.cpuHz), qp: new Map(), nextWr: 1 }));
  const eagerBuf = c.mpiOpenibEagerLimitBytes + MPI_HEADER_BYTES;
  const handlers = { onRecv: (_r: number, _from: number, _seq: number, _ctx: WiringContext) => {}, onSent: (_r: number, _to: number, _seq: number, _ctx: WiringContext) => {} };
  const peerOf = new Map<string, number>();
  const pairs = n === 2 ? [[0, 1]] : hosts.map((_, i) => [i, (i + 1) % n]);
  for (const [i, j] of pairs) {
    const conn = fabric.connectRc(hosts[i], hosts[j], { rqDepth: 512, sqDepth: 512 });
    ranks[i].qp.set(j, conn.a);
    ranks[j].qp.set(i, conn.b);
    peerOf.set(conn.a.name, j);
    peerOf.set(conn.b.name, i);
    for (const [r, q] of [[i, conn.a], [j, conn.b]] as const) {
      for (let k = 0; k < 256; k++) fabric.postRecv(q, { id: ranks[r].nextWr++, bytes: eagerBuf });
      fabric.onCompletion(q, (e, ctx) => onCompletion(r, peerOf.get(q.name)!, q, e, ctx));
    }
  }
  const post = (r: number, to: number, bytes: number, tag: MpiTag | { kind: 'write'; seq: number }, t: number, op: 'send' | 'rdma-write' = 'send') =>
    fabric.postSend(ranks[r].qp.get(to)!, { id: ranks[r].nextWr++, bytes, op, tag }, t - sys.now);

  function send(ctx: WiringContext | undefined, r: number, to: number, seq: number, bytes: number): void {
    const now = ctx?.now ?? sys.now;
    const core = ranks[r].core;
    if (bytes <= c.mpiOpenibEagerLimitBytes) {
      const t = core.run(now, c.mpiMessageCycles + c.copyCyclesPerByte * bytes + c.ibVerbsPostCycles);
      post(r, to, bytes + MPI_HEADER_BYTES, { kind: 'eager', seq, bytes }, t);
    } else {
      const t = core.run(now, c.mpiMessageCycles + c.ibVerbsPostCycles);
      post(r, to, MPI_CONTROL_BYTES, { kind: 'rts', seq, bytes }, t);
    }
  }

  function onCompletion(r: number, from: number, q: QpRef, e: IbCompletion, ctx: WiringContext): void {
    if (e.status !== 'success') return;
    const core = ranks[r].core;
    if (e.queue === 'send') {
      const tag = e.tag as MpiTag | { kind: 'write'; seq: number };
      const t = core.run(ctx.now, c.ibVerbsPollCycles);
      if (tag.kind === 'eager') at(ctx, t, (x) => handlers.onSent(r, from, tag.seq, x));
      else if (tag.kind === 'write') {
        // The RDMA WRITE is in the peer's memory: tell it (FIN); the send buffer is free.
        const t2 = core.run(t, c.ibVerbsPostCycles);
        post(r, from, MPI_CONTROL_BYTES, { kind: 'fin', seq: tag.seq, bytes: 0 }, t2);
        at(ctx, t2, (x) => handlers.onSent(r, from, tag.seq, x));
      }
      return;
    }
    const tag = e.tag as MpiTag;
    // Repost the receive buffer, poll the completion, match.
    let t = core.run(ctx.now, c.ibVerbsPollCycles + c.mpiMessageCycles + c.ibVerbsPostCycles);
    fabric.postRecv(q, { id: ranks[r].nextWr++, bytes: eagerBuf }, t - ctx.now);
    if (tag.kind === 'eager') {
      t = core.run(t, c.copyCyclesPerByte * tag.bytes);
      at(ctx, t, (x) => handlers.onRecv(r, from, tag.seq, x));
    } else if (tag.kind === 'rts') {
      t = core.run(t, c.ibVerbsPostCycles);
      post(r, from, MPI_CONTROL_BYTES, { kind: 'cts', seq: tag.seq, bytes: tag.bytes }, t);
    } else if (tag.kind === 'cts') {
      t = core.run(t, c.ibVerbsPostCycles);
      post(r, from, tag.bytes, { kind: 'write', seq: tag.seq }, t, 'rdma-write');
    } else if (tag.kind === 'fin') {
      at(ctx, t, (x) => handlers.onRecv(r, from, tag.seq, x));
    }
  }
  return { sys, fabric, at, ranks, send, handlers };
}

function checkSizes(sizes: readonly number[], what: string): void {
  if (!Array.isArray(sizes) || sizes.length === 0) throw new RangeError(`${what}: sizes must be a non-empty array of byte counts`);
  for (const s of sizes) if (!Number.isSafeInteger(s) || s < 0 || s > 1 << 26) throw new RangeError(`${what}: each size must be an integer 0..${1 << 26}, got ${s}`);
}

/** IMB PingPong: half the mean round trip over `reps` iterations after `warm`. */
export function uverbsPingPong(costs: Costs, sizeBytes: number, o: { seed?: number; reps?: number; warm?: number; broken?: BrokenFabric } = {}): MpiRow {
  const reps = o.reps ?? 20;
  const warm = o.warm ?? 2;
  const e = mpiEngine(2, costs, o.seed ?? 1, o.broken);
  let iter = 0;
  let t0 = 0;
  let t1 = 0;
  e.handlers.onRecv = (r, from, seq, ctx) => {
    if (r === 1) e.send(ctx, 1, 0, seq, sizeBytes);
    else {
      iter++;
      if (iter === warm) t0 = ctx.now;
      if (iter === warm + reps) {
        t1 = ctx.now;
        ctx.stop('done');
        return;
      }
      e.send(ctx, 0, 1, iter, sizeBytes);
    }
  };
  e.at(undefined, 0, (ctx) => e.send(ctx, 0, 1, 0, sizeBytes));
  e.sys.run({ maxEvents: 5_000_000 });
  if (t1 === 0) throw new Error(`uverbsPingPong(${sizeBytes}): the run did not finish`);
  const half = (t1 - t0) / reps / 2;
  return { sizeBytes, latencyUs: half / 1000, bandwidthMBs: sizeBytes / 1048576 / (half / 1e9) };
}

/** IMB SendRecv on a ring of `n` ranks (2: the IMB pair): time per iteration; bandwidth counts both directions. */
export function uverbsSendRecv(costs: Costs, sizeBytes: number, o: { seed?: number; reps?: number; warm?: number; ranks?: number; broken?: BrokenFabric } = {}): MpiRow {
  const n = o.ranks ?? 2;
  const reps = o.reps ?? 20;
  const warm = o.warm ?? 2;
  if (!Number.isInteger(n) || n < 2 || n > 6) throw new RangeError(`uverbsSendRecv: ranks must be an integer 2..6, got ${String(n)}`);
  const e = mpiEngine(n, costs, o.seed ?? 1, o.broken);
  const got = new Array<number>(n).fill(0);
  const sent = new Array<number>(n).fill(0);
  const iter = new Array<number>(n).fill(0);
  let t0 = 0;
  let t1 = 0;
  let finished = 0;
  const right = (r: number) => (r + 1) % n;
  const maybeNext = (r: number, ctx: WiringContext) => {
    if (got[r] <= iter[r] || sent[r] <= iter[r]) return;
    iter[r]++;
    if (r === 0 && iter[r] === warm) t0 = ctx.now;
    if (iter[r] === warm + reps) {
      if (++finished === n) {
        t1 = ctx.now;
        ctx.stop('done');
      }
      return;
    }
    e.send(ctx, r, right(r), iter[r], sizeBytes);
  };
  e.handlers.onRecv = (r, _from, _seq, ctx) => {
    got[r]++;
    maybeNext(r, ctx);
  };
  e.handlers.onSent = (r, _to, _seq, ctx) => {
    sent[r]++;
    maybeNext(r, ctx);
  };
  // A rendezvous send is done when its FIN goes; an eager one when its SEND completes.
  for (let r = 0; r < n; r++) e.at(undefined, 0, (ctx) => e.send(ctx, r, right(r), 0, sizeBytes));
  e.sys.run({ maxEvents: 10_000_000 });
  if (t1 === 0) throw new Error(`uverbsSendRecv(${sizeBytes}): the run did not finish`);
  const per = (t1 - t0) / reps;
  return { sizeBytes, latencyUs: per / 1000, bandwidthMBs: (2 * sizeBytes) / 1048576 / (per / 1e9) };
}

export const nativeUverbsRunners: IbWorkloadRunners = {
  mpi(o) {
    checkRun(o, 'native-uverbs mpi');
    checkSizes(o.sizes, 'native-uverbs mpi');
    if (o.mode !== 'pingpong' && o.mode !== 'sendrecv') throw new RangeError(`native-uverbs mpi: mode must be pingpong or sendrecv, got ${String(o.mode)}`);
    const reps = o.quick ? 5 : 20;
    return o.sizes.map((s) => (o.mode === 'pingpong' ? uverbsPingPong(o.costs, s, { seed: o.seed, reps }) : uverbsSendRecv(o.costs, s, { seed: o.seed, reps })));
  },
  hpcc(o) {
    checkRun(o, 'native-uverbs hpcc');
    if (!Number.isInteger(o.hosts) || o.hosts < 2 || o.hosts > 6) throw new RangeError(`native-uverbs hpcc: hosts must be an integer 2..6 (the testbed has 6 nodes), got ${String(o.hosts)}`);
    const reps = o.quick ? 5 : 20;
    // HPCC b_eff: 8-byte messages for latency, 2,000,000-byte messages for bandwidth.
    const lat = uverbsPingPong(o.costs, 8, { seed: o.seed, reps });
    const bw = uverbsPingPong(o.costs, 2_000_000, { seed: o.seed, reps: Math.min(reps, 5) });
    const ringLat = uverbsSendRecv(o.costs, 8, { seed: o.seed, reps, ranks: o.hosts });
    const ringBw = uverbsSendRecv(o.costs, 2_000_000, { seed: o.seed, reps: Math.min(reps, 5), ranks: o.hosts });
    return { pingPongLatencyUs: lat.latencyUs, pingPongBandwidthMBs: bw.bandwidthMBs, ringLatencyUs: ringLat.latencyUs, ringBandwidthMBs: ringBw.bandwidthMBs / 2 };
  },
};

// ---- native-sdp: ttcp over SDP ----------------------------------------------------------------------

type SdpTag = { kind: 'data'; bytes: number; credits: number } | { kind: 'update'; credits: number } | { kind: 'srcavail'; bytes: number; credits: number } | { kind: 'rdmardcompl'; credits: number } | { kind: 'read'; bytes: number };

export interface SdpResult {
  readonly bitsPerSecond: number;
  /** Per stream, bit/s. */
  readonly perStream: readonly number[];
  readonly cpu: { readonly tx: number; readonly rx: number };
  readonly elapsedNs: number;
}

/**
 * ttcp over SDP for `durationNs` of virtual time: `streams` 1 (A -> B) or 2 (A -> B and B -> A).
 * Goodput is what the receiving applications got after `warmupNs`, per second of the rest.
 */
export function runSdpTtcp(
  costs: Costs,
  o: {
    streams: 1 | 2;
    durationNs?: number;
    warmupNs?: number;
    writeBytes?: number;
    seed?: number;
    broken?: BrokenFabric;
    /** Deliberately broken SDP or ttcp accounting (mutation tests only). */
    brokenSdp?: { readonly noCreditUpdates?: boolean; readonly totalAsPerStream?: boolean };
  },
): SdpResult {
  const c = costs;
  const duration = o.durationNs ?? 4_000_000;
  const warm = o.warmupNs ?? 400_000;
  const W = o.writeBytes ?? TTCP_WRITE_BYTES;
  if (!Number.isSafeInteger(duration) || duration < 100_000) throw new RangeError(`runSdpTtcp: durationNs must be an integer >= 100000, got ${duration}`);
  if (!Number.isSafeInteger(warm) || warm < 0 || warm >= duration) throw new RangeError(`runSdpTtcp: warmupNs must be an integer in [0, durationNs), got ${warm}`);
  if (!Number.isSafeInteger(W) || W < 1 || W > 1 << 24) throw new RangeError(`runSdpTtcp: writeBytes must be an integer 1..${1 << 24}, got ${W}`);
  if (o.streams !== 1 && o.streams !== 2) throw new RangeError(`runSdpTtcp: streams must be 1 or 2, got ${String(o.streams)}`);
  const { sys, fabric, at } = world(['A', 'B'], c, o.seed ?? 1, { broken: o.broken });
  const hostCores: Record<string, Core[]> = { A: [], B: [] };
  const received = [0, 0];
  const bufBytes = c.sdpBufferBytes + SDP_BSDH_BYTES;
  const zcopy = c.sdpZcopyThresholdBytes > 0 && W >= c.sdpZcopyThresholdBytes;

  const streams = o.streams === 1 ? [['A', 'B']] : [['A', 'B'], ['B', 'A']];
  streams.forEach(([src, dst], s) => {
    // One SDP socket per stream: its own RC connection; a sender core and a receiver core.
    const conn = fabric.connectRc(src, dst, { rqDepth: SDP_RING + 8, sqDepth: SDP_RING * 2 + 8 });
    const txCore = new Core(c.cpuHz, warm, duration);
    const rxCore = new Core(c.cpuHz, warm, duration);
    hostCores[src].push(txCore);
    hostCores[dst].push(rxCore);
    let wr = 1;
    let credits = SDP_RING; // the peer's posted buffers, from the SDP Hello
    let txSlots = SDP_RING;
    let pendingAdvert = 0; // buffers the receiver reposted and has not advertised yet
    let blocked = false;
    let writeLeft = 0; // bytes of the current write still to send (bcopy)
    for (let k = 0; k < SDP_RING + 8; k++) fabric.postRecv(conn.b, { id: wr++, bytes: bufBytes });
    for (let k = 0; k < 8; k++) fabric.postRecv(conn.a, { id: wr++, bytes: bufBytes });

    // Sender: write() W bytes, in private buffers while it holds credits and send slots.
    const pump = (ctx: WiringContext) => {
      blocked = false;
      if (ctx.now >= duration) return;
      if (zcopy) {
        if (writeLeft > 0) return; // a zero-copy write() waits for RdmaRdCompl
        if (txSlots === 0 || (credits === 0 && !o.broken?.ignoreCredits)) return void (blocked = true);
        writeLeft = W;
        txSlots--;
        credits--;
        const t = txCore.run(ctx.now, c.sdpMessageCycles + c.ibVerbsPostCycles);
        fabric.postSend(conn.a, { id: wr++, bytes: SDP_BSDH_BYTES + SDP_SRCAVAIL_BYTES, tag: { kind: 'srcavail', bytes: W, credits: 0 } satisfies SdpTag }, t - ctx.now);
        return;
      }
      if (writeLeft === 0) writeLeft = W;
      if (txSlots === 0 || (credits === 0 && !o.broken?.ignoreCredits)) return void (blocked = true);
      const bytes = Math.min(writeLeft, c.sdpBufferBytes);
      writeLeft -= bytes;
      txSlots--;
      credits--;
      const t = txCore.run(ctx.now, c.sdpMessageCycles + c.copyCyclesPerByte * bytes + c.ibVerbsPostCycles);
      fabric.postSend(conn.a, { id: wr++, bytes: bytes + SDP_BSDH_BYTES, tag: { kind: 'data', bytes, credits: 0 } satisfies SdpTag }, t - ctx.now);
      at(ctx, t, pump);
    };
    const wake = (ctx: WiringContext, t: number) => {
      if (blocked) {
        blocked = false;
        at(ctx, t, pump);
      }
    };

    fabric.onCompletion(conn.a, (e, ctx) => {
      if (e.status !== 'success') return;
      if (e.queue === 'send') {
        const t = txCore.run(ctx.now, c.ibVerbsPollCycles);
        txSlots++;
        wake(ctx, t);
        return;
      }
      // Receive at the sender: a credit update or RdmaRdCompl from the sink.
      const tag = e.tag as SdpTag;
      const t = txCore.run(ctx.now, c.ibVerbsPollCycles + c.ibVerbsPostCycles);
      fabric.postRecv(conn.a, { id: wr++, bytes: bufBytes }, t - ctx.now);
      if (tag.kind === 'update' || tag.kind === 'rdmardcompl') credits += tag.credits;
      if (tag.kind === 'rdmardcompl') {
        writeLeft = 0;
        blocked = true;
      }
      wake(ctx, t);
    });

    fabric.onCompletion(conn.b, (e, ctx) => {
      if (e.status !== 'success') return;
      const tag = e.tag as SdpTag | undefined;
      if (e.queue === 'send') {
        if (tag?.kind !== 'read') return void rxCore.run(ctx.now, c.ibVerbsPollCycles);
        // The zero-copy RDMA READ landed in the application's buffer: count it, send RdmaRdCompl.
        const t = rxCore.run(ctx.now, c.ibVerbsPollCycles + c.sdpMessageCycles + c.ibVerbsPostCycles);
        if (t >= warm && ctx.now < duration) received[s] += tag.bytes;
        fabric.postSend(conn.b, { id: wr++, bytes: SDP_BSDH_BYTES, tag: { kind: 'rdmardcompl', credits: 1 } satisfies SdpTag }, t - ctx.now);
        return;
      }
      // An interrupt when the receiving core was idle; otherwise its poll loop finds the completion.
      const irq = rxCore.idleAt(ctx.now) ? c.hostIrqToPollCycles : 0;
      if (tag?.kind === 'srcavail') {
        // Zero copy: RDMA-read the source buffer into the application's buffer.
        const t = rxCore.run(ctx.now, irq + c.ibVerbsPollCycles + c.sdpMessageCycles + c.ibVerbsPostCycles * 2);
        fabric.postRecv(conn.b, { id: wr++, bytes: bufBytes }, t - ctx.now);
        fabric.postSend(conn.b, { id: wr++, bytes: tag.bytes, op: 'rdma-read', tag: { kind: 'read', bytes: tag.bytes } satisfies SdpTag }, t - ctx.now);
        return;
      }
      if (tag?.kind !== 'data') return;
      // recv(): copy out of the private buffer, repost it, advertise credits every quarter ring.
      const t = rxCore.run(ctx.now, irq + c.ibVerbsPollCycles + c.sdpMessageCycles + c.copyCyclesPerByte * tag.bytes + c.ibVerbsPostCycles);
      if (t >= warm && ctx.now < duration) received[s] += tag.bytes;
      fabric.postRecv(conn.b, { id: wr++, bytes: bufBytes }, t - ctx.now);
      pendingAdvert++;
      if (pendingAdvert >= SDP_RING / 4 && !o.brokenSdp?.noCreditUpdates) {
        const n = pendingAdvert;
        pendingAdvert = 0;
        const t2 = rxCore.run(t, c.ibVerbsPostCycles);
        fabric.postSend(conn.b, { id: wr++, bytes: SDP_BSDH_BYTES, tag: { kind: 'update', credits: n } satisfies SdpTag }, t2 - ctx.now);
      }
    });
    at(undefined, 0, pump);
  });
  sys.run({ until: duration + 200_000, maxEvents: 20_000_000 });
  const window = (duration - warm) / 1e9;
  const total = received.reduce((a, b) => a + b, 0);
  const perStream = received.slice(0, o.streams).map((b) => ((o.brokenSdp?.totalAsPerStream ? total : b) * 8) / window);
  const busy = (h: string) => hostCores[h].reduce((n, k) => n + k.busy, 0) / (duration - warm);
  return { bitsPerSecond: perStream.reduce((a, b) => a + b, 0) / perStream.length, perStream, cpu: { tx: busy('A'), rx: busy('B') }, elapsedNs: duration };
}

export const nativeSdpRunners: IbWorkloadRunners = {
  tcpThroughput(o) {
    checkRun(o, 'native-sdp tcpThroughput');
    // The warm-up lets the sender fill its credit window (64 buffers of 32 KiB), so that the CPU
    // shares are those of the steady state.
    const r = runSdpTtcp(o.costs, { streams: o.streams, durationNs: o.quick ? 8_000_000 : 16_000_000, warmupNs: o.quick ? 6_000_000 : 8_000_000, seed: o.seed });
    return { bitsPerSecond: r.bitsPerSecond, cpu: r.cpu };
  },
};
