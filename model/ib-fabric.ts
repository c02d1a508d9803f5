/**
 * An InfiniBand fabric for the System of model/wiring.ts: n HCA ports through one switch, with the
 * reliable connected (RC) and unreliable datagram (UD) transports the HCAs implement in hardware.
 * The queue-pair machine (machines/queue-pair.ts) keeps each QP's verbs state (states, work
 * requests, completions, RNR retries, the flush on error); this file is the hardware under it:
 * segmentation, packet sequence numbers, acknowledgements, credits, timers, links and DMA.
 *
 * The testbed's link (calibration.md: MT26428 HCA, MTS3600 "20/40 Gbps" switch) runs 4x QDR: the
 * MT26428 is a QDR part (Linux pci.ids 15b3:673c "ConnectX VPI PCIe 2.0 5GT/s - IB QDR / 10GigE")
 * and the MTS3600 an InfiniScale IV QDR switch whose ports also train at DDR; so 40 Gb/s signalling,
 * 32 Gb/s of data. One stream is bounded lower, by the HCA's PCIe link: the hosts' MCP55 chipset has
 * PCIe 1.0a, 16 Gb/s per direction before TLP overhead (costs.ts ibPcieDataBitRate), full duplex --
 * which is the shape calibration.md reports for SDP (the same rate uni-stream and per bi-stream).
 *
 * Timing (all integer ns):
 * - send side of a port: a message is eligible `ibHcaTxNs` after its work request reaches the HCA
 *   (doorbell, WQE fetch); then each packet is read from host memory over PCIe (payload in
 *   `ibPcieTlpPayloadBytes` TLPs of `ibPcieTlpOverheadBytes` more at `ibPcieDataBitRate`) and put on
 *   the link at `ibDataBitRate` (4x QDR after 8b/10b); the read of the next packet overlaps the
 *   transmission of this one. The port serves its control packets (ACK/NAK) first, then its QPs
 *   round robin, one packet at a time.
 * - switch: cut-through, `ibSwitchLatencyNs` after the packet's head arrives, the output link
 *   serialized at the same rate (served in order of transmission start); `ibLinkPropagationNs` per cable.
 * - receive side: each packet is written to host memory over PCIe (same DMA cost, FIFO per port),
 *   then handled in PSN order; a message's completion is written `ibHcaRxNs` after its last packet.
 *   Link-level flow control (VL credits) is not modelled: end-to-end credits bound what is in flight.
 *
 * Packet sizes (IBTA Vol. 1 ch. 7 and 9): LRH 8, BTH 12, RETH 16 (first packet of an RDMA WRITE,
 * READ request), AETH 4 (ACK/NAK, first and last READ response), DETH 8 (UD), payload padded to 4,
 * ICRC 4, VCRC 2. No GRH (one subnet). Physical delimiters and idles are not counted.
 *
 * RC transport (IBTA Vol. 1 §9.7): each message is cut into path-MTU packets with consecutive
 * PSNs (no 24-bit wrap: runs are short). The responder takes packets in PSN order only: a PSN
 * beyond the expected one gets one sequence-error NAK and is dropped; a duplicate is dropped and,
 * if it ends a message, acknowledged again (a duplicate READ request is re-executed). ACKs are
 * coalesced: one per message, cumulative, carrying the responder's credit count (receive WQEs
 * available). The requester starts a SEND only within its credits, except one probe when nothing
 * is outstanding (IBA end-to-end flow control). A SEND whose first packet finds no receive WQE gets
 * an RNR NAK; the QP machine waits its RNR timer and resends from that message (go-back-N). Lost
 * packets (port down, corruption) are recovered by the transport timer: resend from the oldest
 * unacknowledged PSN, up to `retryCount` times, then `hw.send-error` puts the QP in ERR. RDMA WRITE
 * consumes no receive WQE and completes only at the requester; RDMA READ responses carry the data
 * back and acknowledge the request.
 *
 * UD: one packet per message of at most `ibUdMtuBytes`; the send completes on transmission (the
 * QP machine does that); a datagram that finds no receive posted is dropped.
 *
 * Faults: a port going down loses every packet through it from then on (QPs with outstanding
 * sends run out of retries and go to ERR); device removal moves every QP of the host to ERR (its
 * work requests flush) and loses its packets, so the peers' QPs time out into ERR too.
 */
import type { EventObject } from 'xstate';
import { QP_ATTR, queuePairMachine, requiredMask, type CompletionStatus, type QpState } from '../machines/queue-pair.js';
import type { Costs } from './costs.js';
import type { System, WiringContext } from './wiring.js';

/** IBTA header and CRC sizes (bytes). */
export const IB_HEADER_BYTES = { lrh: 8, bth: 12, reth: 16, aeth: 4, deth: 8, icrc: 4, vcrc: 2 } as const;

export type WireKind = 'send' | 'write-first' | 'write' | 'read-request' | 'read-response-edge' | 'read-response' | 'ack' | 'ud';

/** Bytes one packet occupies on the link: headers, payload padded to 4 bytes, ICRC, VCRC. */
export function ibWireBytes(kind: WireKind, payloadBytes: number): number {
  if (!Number.isSafeInteger(payloadBytes) || payloadBytes < 0) throw new RangeError(`ibWireBytes: payloadBytes must be a non-negative integer, got ${payloadBytes}`);
  const h = IB_HEADER_BYTES;
  const ext = { send: 0, 'write-first': h.reth, write: 0, 'read-request': h.reth, 'read-response-edge': h.aeth, 'read-response': 0, ack: h.aeth, ud: h.deth }[kind];
  if (ext === undefined) throw new RangeError(`ibWireBytes: unknown packet kind ${String(kind)}`);
  return h.lrh + h.bth + ext + payloadBytes + ((4 - (payloadBytes % 4)) % 4) + h.icrc + h.vcrc;
}

export type IbOp = 'send' | 'rdma-write' | 'rdma-read';

export interface QpRef {
  readonly host: string;
  /** Component name of the queue-pair machine. */
  readonly name: string;
  readonly id: number;
  readonly transport: 'RC' | 'UD';
}

export interface IbCompletion {
  readonly qp: QpRef;
  readonly queue: 'send' | 'recv';
  readonly wrId: number;
  readonly bytes: number;
  readonly status: CompletionStatus;
  /** The message identity the sender gave (receive completions of SEND / UD messages; send completions). */
  readonly tag?: unknown;
}

export interface IbFabricOptions {
  readonly hosts: readonly string[];
  readonly costs: Costs;
  /** Component name prefix (default 'ib'). */
  readonly prefix?: string;
  /** RC path MTU, a power of 2 from 256 to 4096 (default 2048, the port's active MTU = the UD MTU of calibration.md). */
  readonly rcMtuBytes?: number;
  /** Probability that a packet is corrupted on a link (dropped by the ICRC/VCRC check); default 0. */
  readonly corruptionRate?: number;
  /** Deliberately broken hardware, for mutation tests. */
  readonly broken?: { readonly ignoreCredits?: boolean; readonly acceptOutOfOrder?: boolean; readonly ignoreLinkRate?: boolean; readonly ignoreUdMtu?: boolean };
}

export interface RcOptions {
  readonly rnrRetry?: number;
  readonly minRnrTimerNs?: number;
  /** Transport retries after a timeout (IB_QP_RETRY_CNT, 0..7; default 7). */
  readonly retryCount?: number;
  /** Local ACK timeout (ns; default 100 us, short so that fault runs end soon). */
  readonly ackTimeoutNs?: number;
  readonly sqDepth?: number;
  readonly rqDepth?: number;
}

export type IbFault = { readonly kind: 'port-down' | 'device-removal'; readonly host: string; readonly atNs: number };

export interface DirectionLog {
  /** Tags of SEND and RDMA WRITE messages the application posted, in order. */
  readonly posted: unknown[];
  /** Tags of those messages in the order the responder accepted their last packet (the data is then in host memory). */
  readonly delivered: unknown[];
}

export interface RcConnection {
  readonly index: number;
  readonly a: QpRef;
  readonly b: QpRef;
  /** [a->b, b->a] */
  readonly dir: readonly [DirectionLog, DirectionLog];
}

export interface RnrRecord {
  readonly atNs: number;
  readonly qp: string;
  /** Unacknowledged messages ahead of the NAKed one when it was first transmitted (0: a credit probe). */
  readonly outstandingAtStart: number;
}

export interface IbStats {
  packets: number;
  dataPackets: number;
  acks: number;
  rnrNaks: number;
  seqNaks: number;
  timeouts: number;
  retransmittedPackets: number;
  lost: number;
  udDropped: number;
  postFailed: number;
  illegalModifies: number;
  /** Bytes put on each host's uplink (host -> switch) and downlink (switch -> host). */
  readonly wireBytesUp: Record<string, number>;
  readonly wireBytesDown: Record<string, number>;
}

interface Msg {
  readonly wrId: number;
  readonly op: IbOp;
  readonly bytes: number;
  readonly tag: unknown;
  readonly firstPsn: number;
  readonly npkts: number;
  /** Ordinal among this QP's SEND messages (1-based), 0 for RDMA. */
  readonly sendOrd: number;
  readyAt: number;
  started: boolean;
  outstandingAtStart: number;
  respGot: number;
}

interface Delivery {
  readonly tag: unknown;
  readonly lastPsn: number;
}

interface Qp {
  readonly ref: QpRef;
  readonly port: Port;
  peer?: Qp;
  conn?: RcConnection;
  side: 0 | 1;
  readonly ackTimeoutNs: number;
  readonly retryCount: number;
  listener?: (c: IbCompletion, ctx: WiringContext) => void;
  readonly pendingOps: Map<number, { op: IbOp; tag: unknown; udTo?: Qp }>;
  readonly sendTags: Map<number, unknown>;
  // requester
  msgs: Msg[];
  readonly known: Set<number>;
  nextPsn: number;
  sendPsn: number;
  /** One past the highest PSN ever transmitted. */
  highestSent: number;
  ackedPsn: number;
  hold: boolean;
  sendOrd: number;
  ackedSends: number;
  creditLimit: number;
  retries: number;
  timerGen: number;
  timerArmed: boolean;
  failed: boolean;
  /** No longer driven by this fabric (destroyed by its owner). */
  detached: boolean;
  /** Created by this fabric (connectRc, createUd), not attached. */
  owned: boolean;
  readonly udQueue: Pkt[];
  // responder
  expected: number;
  seqNakFor: number;
  asmTag: unknown;
  readonly deliveries: Delivery[];
  pendingDeliveries: number;
  ackPsn: number;
  readonly reads: { firstPsn: number; n: number; bytes: number; next: number }[];
  readonly udTags: unknown[];
}

interface Pkt {
  readonly kind: 'data' | 'read-resp' | 'ack' | 'nak-seq' | 'nak-rnr' | 'ud';
  readonly wire: WireKind;
  readonly from: number;
  readonly to: number;
  readonly psn: number;
  readonly payload: number;
  readonly first: boolean;
  readonly last: boolean;
  readonly op?: IbOp;
  readonly msgBytes?: number;
  readonly npkts?: number;
  readonly tag?: unknown;
  readonly credits?: number;
  readonly dma: boolean;
}

interface Port {
  readonly host: string;
  readonly name: string;
  up: boolean;
  removed: boolean;
  wireFree: number;
  rxDmaFree: number;
  /** The switch's output link towards this host. */
  swOutFree: number;
  busy: boolean;
  readonly ctrl: Pkt[];
  readonly qps: Qp[];
  rr: number;
}

const LIVE: readonly QpState[] = ['RTR', 'RTS', 'SQD', 'SQE'];

export class IbFabric {
  readonly sys: System;
  readonly prefix: string;
  readonly rcMtuBytes: number;
  readonly udMtuBytes: number;
  readonly linkDataBitRate: number;
  /** Effective DMA rate of an HCA per direction for full-MTU packets (bit/s), for information. */
  readonly hostBusBitRate: number;
  readonly connections: RcConnection[] = [];
  readonly rnr: RnrRecord[] = [];
  readonly stats: IbStats;
  readonly #c: Costs;
  readonly #opts: IbFabricOptions;
  readonly #ports = new Map<string, Port>();
  readonly #qps: Qp[] = [];

  constructor(sys: System, opts: IbFabricOptions) {
    if (!opts || !Array.isArray(opts.hosts) || opts.hosts.length < 2) throw new RangeError('IbFabric: hosts must list at least 2 host names');
    if (new Set(opts.hosts).size !== opts.hosts.length || opts.hosts.some((h) => typeof h !== 'string' || h === '')) {
      throw new RangeError(`IbFabric: hosts must be distinct non-empty names, got ${JSON.stringify(opts.hosts)}`);
    }
    const mtu = opts.rcMtuBytes ?? 2048;
    if (![256, 512, 1024, 2048, 4096].includes(mtu)) throw new RangeError(`IbFabric: rcMtuBytes must be 256, 512, 1024, 2048 or 4096, got ${mtu}`);
    const rate = opts.corruptionRate ?? 0;
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new RangeError(`IbFabric: corruptionRate must be in [0, 1), got ${rate}`);
    this.sys = sys;
    this.#c = opts.costs;
    this.#opts = opts;
    this.prefix = opts.prefix ?? 'ib';
    this.rcMtuBytes = mtu;
    this.udMtuBytes = opts.costs.ibUdMtuBytes;
    this.linkDataBitRate = opts.costs.ibDataBitRate;
    this.hostBusBitRate = Math.floor((mtu * 8e9) / this.#dmaNs(mtu));
    this.stats = {
      packets: 0,
      dataPackets: 0,
      acks: 0,
      rnrNaks: 0,
      seqNaks: 0,
      timeouts: 0,
      retransmittedPackets: 0,
      lost: 0,
      udDropped: 0,
      postFailed: 0,
      illegalModifies: 0,
      wireBytesUp: Object.fromEntries(opts.hosts.map((h) => [h, 0])),
      wireBytesDown: Object.fromEntries(opts.hosts.map((h) => [h, 0])),
    };
    for (const h of opts.hosts) {
      const port: Port = { host: h, name: `${this.prefix}.port.${h}`, up: true, removed: false, wireFree: 0, rxDmaFree: 0, swOutFree: 0, busy: false, ctrl: [], qps: [], rr: 0 };
      this.#ports.set(h, port);
      sys.addComponent(port.name, (ev, ctx) => this.#onPortEvent(port, ev, ctx));
    }
  }

  // ---- set-up ------------------------------------------------------------------------------------

  /** An RC connection between a QP on `a` and one on `b`, moved RESET -> INIT -> RTR -> RTS (scheduled now). */
  connectRc(a: string, b: string, o: RcOptions = {}): RcConnection {
    if (a === b) throw new RangeError(`connectRc: the two ends must be different hosts, got ${a} twice`);
    const retryCount = o.retryCount ?? 7;
    if (!Number.isInteger(retryCount) || retryCount < 0 || retryCount > 7) throw new RangeError(`connectRc: retryCount must be an integer 0..7, got ${retryCount}`);
    const ackTimeoutNs = o.ackTimeoutNs ?? 100_000;
    if (!Number.isSafeInteger(ackTimeoutNs) || ackTimeoutNs < 1) throw new RangeError(`connectRc: ackTimeoutNs must be a positive integer, got ${ackTimeoutNs}`);
    const input = { transport: 'RC' as const, rnrRetry: o.rnrRetry ?? 7, minRnrTimerNs: o.minRnrTimerNs ?? 10_000, sqDepth: o.sqDepth ?? 128, rqDepth: o.rqDepth ?? 128 };
    const qa = this.#newQp(a, 'RC', input, ackTimeoutNs, retryCount);
    const qb = this.#newQp(b, 'RC', input, ackTimeoutNs, retryCount);
    const conn = this.#pair(qa, qb);
    for (const q of [qa, qb]) {
      for (const [from, to] of [['RESET', 'INIT'], ['INIT', 'RTR'], ['RTR', 'RTS']] as const) {
        this.sys.schedule(0, q.ref.name, { type: 'modify', to, mask: requiredMask(from, to, 'RC') });
      }
    }
    return conn;
  }

  /**
   * Carries the packets of a queue-pair machine someone else added and drives (its modifies, posts
   * and completions stay with its owner): the fabric routes its `wire.*` and `rnr.wait` effects and
   * delivers `wire.receive`, `wire.ack`, `wire.rnr-nak`, `rnr.timer` and `hw.send-error` to it. A work
   * request the owner posts directly (not through `postSend`) travels as a SEND whose tag is its
   * work request id. Pair two attached RC QPs with `pairRc` before the first send. May be called
   * during a run.
   */
  attachQp(host: string, name: string, o: { ackTimeoutNs?: number; retryCount?: number } = {}): QpRef {
    const retryCount = o.retryCount ?? 7;
    if (!Number.isInteger(retryCount) || retryCount < 0 || retryCount > 7) throw new RangeError(`attachQp: retryCount must be an integer 0..7, got ${retryCount}`);
    const ackTimeoutNs = o.ackTimeoutNs ?? 100_000;
    if (!Number.isSafeInteger(ackTimeoutNs) || ackTimeoutNs < 1) throw new RangeError(`attachQp: ackTimeoutNs must be a positive integer, got ${ackTimeoutNs}`);
    if (this.#qps.some((q) => q.ref.name === name && !q.detached)) throw new RangeError(`attachQp: ${name} is already attached`);
    const snap = this.sys.snapshot(name);
    const transport = (snap.context as { p?: { transport?: string } }).p?.transport;
    if (transport !== 'RC' && transport !== 'UD') throw new RangeError(`attachQp: ${name} is not a queue-pair machine with an RC or UD transport`);
    return this.#register(host, name, transport, ackTimeoutNs, retryCount).ref;
  }

  /** Connects two attached RC QPs on different hosts (the CM's REQ/REP exchange made them peers). */
  pairRc(a: QpRef, b: QpRef): RcConnection {
    const qa = this.#qp(a);
    const qb = this.#qp(b);
    if (qa.ref.transport !== 'RC' || qb.ref.transport !== 'RC') throw new RangeError('pairRc: both QPs must be RC');
    if (qa.ref.host === qb.ref.host) throw new RangeError(`pairRc: the QPs must be on different hosts, both are on ${qa.ref.host}`);
    if (qa.peer || qb.peer) throw new RangeError('pairRc: a QP is already paired');
    return this.#pair(qa, qb);
  }

  /** Stops carrying a QP's packets (its owner destroyed it); packets still in flight to it are dropped. */
  detach(qp: QpRef): void {
    const q = this.#qp(qp);
    q.detached = true;
    q.failed = true;
    this.#disarm(q);
    const i = q.port.qps.indexOf(q);
    if (i >= 0) q.port.qps.splice(i, 1);
  }

  #pair(qa: Qp, qb: Qp): RcConnection {
    qa.peer = qb;
    qb.peer = qa;
    qb.side = 1;
    const conn: RcConnection = { index: this.connections.length, a: qa.ref, b: qb.ref, dir: [{ posted: [], delivered: [] }, { posted: [], delivered: [] }] };
    qa.conn = conn;
    qb.conn = conn;
    this.connections.push(conn);
    return conn;
  }

  /** A UD queue pair on `host`, moved to RTS (scheduled now). */
  createUd(host: string, o: { rqDepth?: number; sqDepth?: number } = {}): QpRef {
    const q = this.#newQp(host, 'UD', { transport: 'UD', sqDepth: o.sqDepth ?? 128, rqDepth: o.rqDepth ?? 128 }, 1, 0);
    for (const [from, to] of [['RESET', 'INIT'], ['INIT', 'RTR'], ['RTR', 'RTS']] as const) {
      this.sys.schedule(0, q.ref.name, { type: 'modify', to, mask: requiredMask(from, to, 'UD') });
    }
    return q.ref;
  }

  onCompletion(qp: QpRef, fn: (c: IbCompletion, ctx: WiringContext) => void): void {
    this.#qp(qp).listener = fn;
  }

  // ---- verbs -------------------------------------------------------------------------------------

  postSend(qp: QpRef, wr: { id: number; bytes: number; op?: IbOp; tag?: unknown }, delayNs = 0): void {
    const q = this.#qp(qp);
    if (q.ref.transport !== 'RC') throw new RangeError(`postSend: ${qp.name} is a UD QP; use udSend`);
    this.#checkWr('postSend', wr);
    const op = wr.op ?? 'send';
    if (!['send', 'rdma-write', 'rdma-read'].includes(op)) throw new RangeError(`postSend: op must be send, rdma-write or rdma-read, got ${String(op)}`);
    if (q.pendingOps.has(wr.id) || q.known.has(wr.id)) throw new RangeError(`postSend: work request id ${wr.id} is already in use on ${qp.name}`);
    q.pendingOps.set(wr.id, { op, tag: wr.tag });
    if (op !== 'rdma-read' && q.conn) q.conn.dir[q.side].posted.push(wr.tag);
    this.sys.schedule(delayNs, q.ref.name, { type: 'post.send', wr: { id: wr.id, bytes: wr.bytes } });
  }

  postRecv(qp: QpRef, wr: { id: number; bytes: number }, delayNs = 0): void {
    const q = this.#qp(qp);
    this.#checkWr('postRecv', wr);
    this.sys.schedule(delayNs, q.ref.name, { type: 'post.recv', wr: { id: wr.id, bytes: wr.bytes } });
  }

  udSend(qp: QpRef, to: QpRef, wr: { id: number; bytes: number; tag?: unknown }, delayNs = 0): void {
    const q = this.#qp(qp);
    const d = this.#qp(to);
    if (q.ref.transport !== 'UD' || d.ref.transport !== 'UD') throw new RangeError('udSend: both QPs must be UD QPs');
    this.#checkWr('udSend', wr);
    if (wr.bytes > this.udMtuBytes && !this.#opts.broken?.ignoreUdMtu) throw new RangeError(`udSend: bytes must be at most the UD MTU ${this.udMtuBytes}, got ${wr.bytes}`);
    if (q.pendingOps.has(wr.id)) throw new RangeError(`udSend: work request id ${wr.id} is already in use on ${qp.name}`);
    q.pendingOps.set(wr.id, { op: 'send', tag: wr.tag, udTo: d });
    this.sys.schedule(delayNs, q.ref.name, { type: 'post.send', wr: { id: wr.id, bytes: wr.bytes } });
  }

  fault(f: IbFault): void {
    const port = this.#ports.get(f?.host);
    if (!port) throw new RangeError(`fault: host must be one of ${[...this.#ports.keys()].join(', ')}, got ${String(f?.host)}`);
    if (f.kind !== 'port-down' && f.kind !== 'device-removal') throw new RangeError(`fault: kind must be port-down or device-removal, got ${String(f.kind)}`);
    if (!Number.isSafeInteger(f.atNs) || f.atNs < 0) throw new RangeError(`fault: atNs must be a non-negative integer, got ${f.atNs}`);
    this.sys.scheduleAt(f.atNs, port.name, { type: `fault.${f.kind}` });
  }

  /** State of a QP machine. */
  state(qp: QpRef): QpState {
    return this.sys.snapshot(qp.name).value as QpState;
  }

  /** Time (ns) to carry `bytes` of payload over PCIe in Max_Payload_Size TLPs. */
  dmaNs(bytes: number): number {
    return this.#dmaNs(bytes);
  }

  // ---- internals ---------------------------------------------------------------------------------

  #checkWr(what: string, wr: { id: number; bytes: number }): void {
    if (!wr || !Number.isSafeInteger(wr.id) || wr.id < 0) throw new RangeError(`${what}: wr.id must be a non-negative integer, got ${String(wr?.id)}`);
    if (!Number.isSafeInteger(wr.bytes) || wr.bytes < 0 || wr.bytes > 2 ** 31) throw new RangeError(`${what}: wr.bytes must be an integer 0..2^31, got ${String(wr.bytes)}`);
  }

  #qp(ref: QpRef): Qp {
    const q = this.#qps[ref?.id];
    if (!q || q.ref.name !== ref.name) throw new RangeError(`unknown QP ${JSON.stringify(ref?.name)} for this fabric`);
    if (q.detached) throw new RangeError(`QP ${ref.name} was detached from this fabric`);
    return q;
  }

  #dmaNs(bytes: number): number {
    if (bytes === 0) return 0;
    const c = this.#c;
    const tlps = Math.ceil(bytes / c.ibPcieTlpPayloadBytes);
    return Math.ceil(((bytes + tlps * c.ibPcieTlpOverheadBytes) * 8e9) / c.ibPcieDataBitRate);
  }

  #serNs(wireBytes: number): number {
    if (this.#opts.broken?.ignoreLinkRate) return 0;
    return Math.ceil((wireBytes * 8e9) / this.linkDataBitRate);
  }

  #newQp(host: string, transport: 'RC' | 'UD', input: object, ackTimeoutNs: number, retryCount: number): Qp {
    const name = `${this.prefix}.${host}.qp${this.#qps.length}`;
    if (!this.#ports.has(host)) throw new RangeError(`host must be one of ${[...this.#ports.keys()].join(', ')}, got ${String(host)}`);
    this.sys.addMachine(name, queuePairMachine, input);
    const q = this.#register(host, name, transport, ackTimeoutNs, retryCount);
    q.owned = true;
    return q;
  }

  #register(host: string, name: string, transport: 'RC' | 'UD', ackTimeoutNs: number, retryCount: number): Qp {
    const port = this.#ports.get(host);
    if (!port) throw new RangeError(`host must be one of ${[...this.#ports.keys()].join(', ')}, got ${String(host)}`);
    const id = this.#qps.length;
    const ref: QpRef = { host, name, id, transport };
    const q: Qp = {
      ref, port, side: 0, ackTimeoutNs, retryCount, pendingOps: new Map(), sendTags: new Map(),
      msgs: [], known: new Set(), nextPsn: 0, sendPsn: 0, highestSent: 0, ackedPsn: 0, hold: false, sendOrd: 0, ackedSends: 0, creditLimit: 0,
      retries: 0, timerGen: 0, timerArmed: false, failed: false, detached: false, owned: false, udQueue: [],
      expected: 0, seqNakFor: -1, asmTag: undefined, deliveries: [], pendingDeliveries: 0, ackPsn: -1, reads: [], udTags: [],
    };
    this.#qps.push(q);
    port.qps.push(q);
    type E<T> = T & { type: string };
    const m = {
      route: <T extends object>(type: string, fn: (e: E<T>, ctx: WiringContext) => void) =>
        this.sys.route(name, type, (e, ctx) => {
          if (!q.detached) fn(e as unknown as E<T>, ctx);
        }),
    };
    m.route<{ wr: { id: number; bytes: number } }>('wire.send', (e, ctx) => this.#onWireSend(q, e.wr.id, e.wr.bytes, ctx));
    m.route('wire.ack', (_e, ctx) => this.#ctrl(q, { kind: 'ack', wire: 'ack', psn: q.ackPsn, credits: this.#credits(q) }, ctx));
    m.route('wire.rnr-nak', () => {
      // The responder checks for a receive WQE itself (at the first packet), so the machine never
      // meets an empty receive queue here; if it does, the message was delivered with no buffer.
      throw new Error(`${ref.name}: the QP machine answered a delivered message with an RNR NAK`);
    });
    m.route<{ delayNs: number }>('rnr.wait', (e, ctx) => ctx.schedule(e.delayNs, ref.name, { type: 'rnr.timer' }));
    m.route<{ wrId: number; status: CompletionStatus }>('cq.send', (e, ctx) => {
      const tag = q.sendTags.get(e.wrId);
      q.sendTags.delete(e.wrId);
      q.listener?.({ qp: ref, queue: 'send', wrId: e.wrId, bytes: 0, status: e.status, tag }, ctx);
    });
    m.route<{ wrId: number; bytes: number; status: CompletionStatus }>('cq.recv', (e, ctx) => {
      let tag: unknown;
      if (e.status === 'success' || e.status === 'local-length-error') {
        if (transport === 'UD') {
          tag = q.udTags.shift();
          q.pendingDeliveries--;
        } else {
          const d = q.deliveries.shift();
          q.pendingDeliveries--;
          tag = d?.tag;
          q.ackPsn = d?.lastPsn ?? q.ackPsn;
        }
      }
      q.listener?.({ qp: ref, queue: 'recv', wrId: e.wrId, bytes: e.bytes, status: e.status, tag }, ctx);
    });
    m.route('post.failed', () => this.stats.postFailed++);
    m.route('modify.failed', () => this.stats.illegalModifies++);
    return q;
  }

  #state(q: Qp): QpState {
    return this.sys.snapshot(q.ref.name).value as QpState;
  }

  /** Receive WQEs the responder can still give to new messages. */
  #credits(q: Qp): number {
    const rq = (this.sys.snapshot(q.ref.name).context as { rq: unknown[] }).rq.length;
    return Math.max(0, rq - q.pendingDeliveries);
  }

  #kick(port: Port, ctx: WiringContext, atNs = ctx.now): void {
    if (port.busy || port.removed) return;
    port.busy = true;
    ctx.scheduleAt(Math.max(atNs, ctx.now), port.name, { type: 'tx.pick' });
  }

  #ctrl(q: Qp, p: Omit<Pkt, 'from' | 'to' | 'payload' | 'first' | 'last' | 'dma'>, ctx: WiringContext): void {
    if (!q.peer || q.port.removed) return;
    q.port.ctrl.push({ ...p, from: q.ref.id, to: q.peer.ref.id, payload: 0, first: true, last: true, dma: false });
    this.#kick(q.port, ctx);
  }

  #onWireSend(q: Qp, wrId: number, bytes: number, ctx: WiringContext): void {
    if (q.port.removed) return;
    const pend = q.pendingOps.get(wrId);
    if (q.ref.transport === 'UD') {
      if (!pend?.udTo) return;
      q.pendingOps.delete(wrId);
      q.udQueue.push({ kind: 'ud', wire: 'ud', from: q.ref.id, to: pend.udTo.ref.id, psn: 0, payload: bytes, first: true, last: true, tag: pend.tag, dma: true });
      this.#kick(q.port, ctx, ctx.now + this.#c.ibHcaTxNs);
      return;
    }
    if (!pend && !q.known.has(wrId)) {
      // Posted by the QP's owner directly: a SEND, identified by its work request id.
      q.pendingOps.set(wrId, { op: 'send', tag: wrId });
      if (q.conn) q.conn.dir[q.side].posted.push(wrId);
      return this.#onWireSend(q, wrId, bytes, ctx);
    }
    if (pend) {
      q.pendingOps.delete(wrId);
      q.known.add(wrId);
      q.sendTags.set(wrId, pend.tag);
      const npkts = Math.max(1, Math.ceil(bytes / this.rcMtuBytes));
      const m: Msg = {
        wrId, op: pend.op, bytes, tag: pend.tag, firstPsn: q.nextPsn, npkts, sendOrd: pend.op === 'send' ? ++q.sendOrd : 0,
        readyAt: ctx.now + this.#c.ibHcaTxNs, started: false, outstandingAtStart: 0, respGot: 0,
      };
      q.nextPsn += npkts;
      q.msgs.push(m);
    } else if (q.known.has(wrId)) {
      // The QP machine resends after its RNR timer: transmission resumes from the NAKed message.
      q.hold = false;
    }
    this.#kick(q.port, ctx);
  }

  /** The next packet a QP's requester or responder side may send now, or the time it may. */
  #nextFrom(q: Qp, now: number): Pkt | number | undefined {
    if (q.udQueue.length > 0) return q.udQueue.shift();
    const peer = q.peer;
    if (!peer) return undefined;
    const st = this.#state(q);
    if (q.reads.length > 0 && LIVE.includes(st)) {
      const r = q.reads[0];
      const i = r.next++;
      if (r.next >= r.n) q.reads.shift();
      const payload = Math.min(this.rcMtuBytes, r.bytes - i * this.rcMtuBytes);
      const edge = i === 0 || i === r.n - 1;
      return { kind: 'read-resp', wire: edge ? 'read-response-edge' : 'read-response', from: q.ref.id, to: peer.ref.id, psn: r.firstPsn + i, payload: Math.max(0, payload), first: i === 0, last: i === r.n - 1, dma: true };
    }
    if (q.hold || q.failed || (st !== 'RTS' && st !== 'SQD') || q.sendPsn >= q.nextPsn) return undefined;
    const m = q.msgs.find((x) => q.sendPsn >= x.firstPsn && q.sendPsn < x.firstPsn + x.npkts);
    if (!m) return undefined;
    if (m.readyAt > now) return m.readyAt;
    const i = q.sendPsn - m.firstPsn;
    if (!m.started) {
      const probe = q.msgs[0] === m;
      if (m.op === 'send' && !this.#opts.broken?.ignoreCredits && m.sendOrd > q.creditLimit && !probe) return undefined;
      m.started = true;
      m.outstandingAtStart = q.msgs.indexOf(m);
    }
    // A PSN sent before is a retransmission (go-back-N after a NAK, an RNR wait or a timeout).
    if (q.sendPsn < q.highestSent) this.stats.retransmittedPackets++;
    q.highestSent = Math.max(q.highestSent, q.sendPsn + (m.op === 'rdma-read' ? m.npkts : 1));
    if (m.op === 'rdma-read') {
      q.sendPsn = m.firstPsn + m.npkts;
      m.respGot = 0;
      return { kind: 'data', wire: 'read-request', from: q.ref.id, to: peer.ref.id, psn: m.firstPsn, payload: 0, first: true, last: true, op: m.op, msgBytes: m.bytes, npkts: m.npkts, tag: m.tag, dma: false };
    }
    q.sendPsn++;
    const payload = Math.max(0, Math.min(this.rcMtuBytes, m.bytes - i * this.rcMtuBytes));
    const wire: WireKind = m.op === 'send' ? 'send' : i === 0 ? 'write-first' : 'write';
    return { kind: 'data', wire, from: q.ref.id, to: peer.ref.id, psn: m.firstPsn + i, payload, first: i === 0, last: i === m.npkts - 1, op: m.op, msgBytes: m.bytes, npkts: m.npkts, tag: m.tag, dma: true };
  }

  #pick(port: Port, ctx: WiringContext): void {
    port.busy = false;
    if (port.removed) return;
    let pkt: Pkt | undefined = port.ctrl.shift();
    let wakeAt = Infinity;
    for (let k = 0; !pkt && k < port.qps.length; k++) {
      const q = port.qps[(port.rr + k) % port.qps.length];
      const r = this.#nextFrom(q, ctx.now);
      if (typeof r === 'number') wakeAt = Math.min(wakeAt, r);
      else if (r) {
        pkt = r;
        port.rr = (port.rr + k + 1) % port.qps.length;
      }
    }
    if (!pkt) {
      if (wakeAt < Infinity) this.#kick(port, ctx, wakeAt);
      return;
    }
    const c = this.#c;
    const bytes = ibWireBytes(pkt.wire, pkt.payload);
    const ser = this.#serNs(bytes);
    const dma = pkt.dma ? this.#dmaNs(pkt.payload) : 0;
    const dmaEnd = ctx.now + dma;
    const wireStart = Math.max(dmaEnd, port.wireFree);
    port.wireFree = wireStart + ser;
    const dst = this.#qps[pkt.to].port;
    const swStart = Math.max(wireStart + c.ibLinkPropagationNs + c.ibSwitchLatencyNs, dst.swOutFree);
    dst.swOutFree = swStart + ser;
    const arrive = dst.swOutFree + c.ibLinkPropagationNs;
    const rxStart = Math.max(arrive, dst.rxDmaFree);
    dst.rxDmaFree = rxStart + (pkt.dma ? this.#dmaNs(pkt.payload) : 0);
    this.stats.packets++;
    this.stats.wireBytesUp[port.host] += bytes;
    this.stats.wireBytesDown[dst.host] += bytes;
    if (pkt.kind === 'data') this.stats.dataPackets++;
    if (pkt.kind === 'ack') this.stats.acks++;
    const lost = this.#opts.corruptionRate ? ctx.random.chance(this.#opts.corruptionRate) : false;
    ctx.scheduleAt(dst.rxDmaFree, dst.name, { type: 'rx.packet', pkt, lost });
    // The last packet of a request asks for an acknowledgement (BTH AckReq): the transport timer runs from it.
    if (pkt.kind === 'data' && pkt.last) this.#armTimer(this.#qps[pkt.from], ctx);
    this.#kick(port, ctx, Math.max(dmaEnd, wireStart));
  }

  #armTimer(q: Qp, ctx: WiringContext): void {
    if (q.timerArmed) return;
    q.timerArmed = true;
    ctx.schedule(q.ackTimeoutNs, q.port.name, { type: 'qp.timeout', qp: q.ref.id, gen: q.timerGen });
  }

  #disarm(q: Qp): void {
    q.timerGen++;
    q.timerArmed = false;
  }

  #onPortEvent(port: Port, ev: EventObject, ctx: WiringContext): void {
    switch (ev.type) {
      case 'tx.pick':
        this.#pick(port, ctx);
        return;
      case 'rx.packet': {
        const { pkt, lost } = ev as unknown as { pkt: Pkt; lost: boolean };
        const src = this.#qps[pkt.from];
        if (lost || port.removed || !port.up || !src.port.up || src.port.removed || this.#qps[pkt.to].detached) {
          this.stats.lost++;
          return;
        }
        this.#receive(this.#qps[pkt.to], pkt, ctx);
        return;
      }
      case 'qp.timeout': {
        const { qp, gen } = ev as unknown as { qp: number; gen: number };
        const q = this.#qps[qp];
        if (gen !== q.timerGen || port.removed) return;
        q.timerArmed = false;
        if (q.msgs.length === 0 || q.hold || q.failed) return;
        const st = this.#state(q);
        if (st !== 'RTS' && st !== 'SQD') return;
        this.stats.timeouts++;
        if (++q.retries > q.retryCount) {
          q.failed = true;
          ctx.schedule(0, q.ref.name, { type: 'hw.send-error' });
          return;
        }
        this.#goBack(q, q.ackedPsn);
        this.#armTimer(q, ctx);
        this.#kick(port, ctx);
        return;
      }
      case 'fault.port-down':
        port.up = false;
        return;
      case 'fault.device-removal':
        port.removed = true;
        port.up = false;
        port.ctrl.length = 0;
        for (const q of port.qps) {
          this.#disarm(q);
          q.failed = true;
          // The driver moves the QPs it made to ERR (their work requests flush); attached QPs are their owner's business.
          if (q.owned) ctx.schedule(0, q.ref.name, { type: 'modify', to: 'ERR', mask: QP_ATTR.STATE });
        }
        return;
    }
  }

  #goBack(q: Qp, psn: number): void {
    if (psn < q.sendPsn) q.sendPsn = psn;
    for (const m of q.msgs) if (m.op === 'rdma-read' && m.firstPsn >= psn) m.respGot = 0;
  }

  /** The requester learns that every PSN up to `psn` is acknowledged. */
  #ackUpTo(q: Qp, psn: number, ctx: WiringContext): boolean {
    let progressed = false;
    while (q.msgs.length > 0 && q.msgs[0].firstPsn + q.msgs[0].npkts - 1 <= psn) {
      const m = q.msgs.shift()!;
      if (m.op === 'send') q.ackedSends++;
      ctx.schedule(this.#c.ibHcaRxNs, q.ref.name, { type: 'wire.ack' });
      progressed = true;
    }
    if (psn + 1 > q.ackedPsn) {
      q.ackedPsn = psn + 1;
      progressed = true;
    }
    if (q.sendPsn < q.ackedPsn) q.sendPsn = q.ackedPsn;
    if (progressed) {
      q.retries = 0;
      this.#disarm(q);
      if (q.msgs.some((m) => m.firstPsn + m.npkts <= q.highestSent)) this.#armTimer(q, ctx);
    }
    return progressed;
  }

  #receive(q: Qp, p: Pkt, ctx: WiringContext): void {
    const st = this.#state(q);
    if (p.kind === 'ud') {
      if (st !== 'RTS' && st !== 'RTR' && st !== 'SQD' && st !== 'SQE') return;
      if (this.#credits(q) <= 0) {
        this.stats.udDropped++;
        return;
      }
      q.udTags.push(p.tag);
      q.pendingDeliveries++;
      ctx.schedule(this.#c.ibHcaRxNs, q.ref.name, { type: 'wire.receive', bytes: p.payload });
      return;
    }
    if (p.kind === 'ack' || p.kind === 'nak-seq' || p.kind === 'nak-rnr' || p.kind === 'read-resp') {
      if (q.failed || (st !== 'RTS' && st !== 'SQD')) return;
      if (p.kind === 'ack') {
        if (p.psn + 1 < q.ackedPsn) return;
        this.#ackUpTo(q, p.psn, ctx);
        q.creditLimit = q.ackedSends + (p.credits ?? 0);
      } else if (p.kind === 'nak-seq') {
        this.stats.seqNaks++;
        this.#ackUpTo(q, p.psn - 1, ctx);
        this.#goBack(q, p.psn);
      } else if (p.kind === 'nak-rnr') {
        if (q.hold) return;
        this.stats.rnrNaks++;
        this.#ackUpTo(q, p.psn - 1, ctx);
        const m = q.msgs.find((x) => x.firstPsn === p.psn);
        this.rnr.push({ atNs: ctx.now, qp: q.ref.name, outstandingAtStart: m?.outstandingAtStart ?? -1 });
        q.hold = true;
        this.#goBack(q, p.psn);
        this.#disarm(q);
        ctx.schedule(this.#c.ibHcaRxNs, q.ref.name, { type: 'wire.rnr-nak' });
      } else {
        const m = q.msgs.find((x) => x.op === 'rdma-read' && p.psn >= x.firstPsn && p.psn < x.firstPsn + x.npkts);
        if (!m || p.psn !== m.firstPsn + m.respGot) return;
        if (m.respGot === 0) this.#ackUpTo(q, m.firstPsn - 1, ctx);
        m.respGot++;
        if (m.respGot === m.npkts) this.#ackUpTo(q, m.firstPsn + m.npkts - 1, ctx);
        else {
          // Each response packet is progress: the transport timer starts again.
          q.retries = 0;
          this.#disarm(q);
          this.#armTimer(q, ctx);
        }
      }
      this.#kick(q.port, ctx);
      return;
    }
    // A request packet at the responder.
    if (!LIVE.includes(st)) return;
    let psn = p.psn;
    if (psn < q.expected) {
      if (p.wire === 'read-request') q.reads.push({ firstPsn: psn, n: p.npkts!, bytes: p.msgBytes!, next: 0 });
      else if (p.last) this.#ctrl(q, { kind: 'ack', wire: 'ack', psn: q.expected - 1, credits: this.#credits(q) }, ctx);
      this.#kick(q.port, ctx);
      return;
    }
    if (psn > q.expected) {
      if (!this.#opts.broken?.acceptOutOfOrder) {
        if (q.seqNakFor !== q.expected) {
          q.seqNakFor = q.expected;
          this.#ctrl(q, { kind: 'nak-seq', wire: 'ack', psn: q.expected }, ctx);
        }
        return;
      }
      psn = q.expected = p.psn;
    }
    if (p.op === 'send') {
      if (p.first) {
        if (this.#credits(q) <= 0) {
          // Receiver not ready: no receive WQE for this message. Its other packets are dropped (PSN beyond).
          q.seqNakFor = q.expected;
          this.#ctrl(q, { kind: 'nak-rnr', wire: 'ack', psn }, ctx);
          return;
        }
        q.asmTag = p.tag;
      }
      q.expected = psn + 1;
      q.seqNakFor = -1;
      if (p.last) {
        q.pendingDeliveries++;
        q.deliveries.push({ tag: p.tag, lastPsn: psn });
        // Delivered in PSN order, the moment the transport accepts the last packet (the CQE follows).
        if (q.conn && q.peer) q.conn.dir[q.peer.side].delivered.push(p.tag);
        ctx.schedule(this.#c.ibHcaRxNs, q.ref.name, { type: 'wire.receive', bytes: p.msgBytes! });
      }
      return;
    }
    if (p.op === 'rdma-write') {
      q.expected = psn + 1;
      q.seqNakFor = -1;
      if (p.last) {
        if (q.conn && q.peer) q.conn.dir[q.peer.side].delivered.push(p.tag);
        this.#ctrl(q, { kind: 'ack', wire: 'ack', psn, credits: this.#credits(q) }, ctx);
      }
      return;
    }
    // RDMA READ request: the responder's HCA reads the memory and streams the responses back.
    q.expected = psn + p.npkts!;
    q.seqNakFor = -1;
    q.reads.push({ firstPsn: psn, n: p.npkts!, bytes: p.msgBytes!, next: 0 });
    this.#kick(q.port, ctx);
  }
}
