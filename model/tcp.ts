/**
 * Guest TCP over a built path (dissertation chapter 6, "TCP and UDP throughput"; §3.3: the guest
 * does its own reliability -- checksums, ACKs, congestion and flow control -- whatever carries its
 * Ethernet frames). Each guest kernel's TCP is one plain component, `X.tcp`, above the path's
 * guest stack: segments go down as `{ type: 'send', frames }` to `stack[X]` (the stack charges its
 * per-packet cost), and frames the stack delivers come up to it. Segments are real bytes: Ethernet,
 * IPv4 (DF set, as Linux sends TCP), TCP with the 12-byte Timestamps option Linux 2.6.30 puts on
 * every segment, correct checksums (machines/packet.ts `encodeTcp`, RFC 9293 §3.1).
 *
 * What is modelled (RFC 9293 §3.10, RFC 5681, RFC 6582, RFC 6298, with Linux 2.6.30's constants):
 * - Connections are established at start: the three-way handshake is not played. Its outcome is
 *   assumed: MSS = MTU - 40 advertised both ways, Timestamps and window scale 7 negotiated (Linux's
 *   shift for its 4 MB tcp_rmem maximum), initial sequence numbers near 2^32 so sequence numbers
 *   wrap within the first tens of kilobytes. No FIN either: a connection lives for the run.
 * - Sender: a send buffer of `sndbufBytes` of data (written, not yet acknowledged); a blocking
 *   `tcp.write` completes (`tcp.written` to the app) once all its bytes are in it. It sends while
 *   the bytes in flight stay within min(cwnd, the peer's advertised window). Nagle (RFC 896) unless
 *   `nodelay`. Initial window as Linux 2.6.30 (`tcp_init_cwnd`: 2 segments above an MSS of 1460,
 *   3 above 1095, else 4; RFC 3390). Slow start and congestion avoidance (RFC 5681 §3.1), fast
 *   retransmit on the third duplicate ACK and NewReno fast recovery (RFC 6582; Linux uses SACK,
 *   not modelled), a retransmission timeout (RFC 6298) with Linux's 200 ms floor on the variance
 *   term and 3 s initial value, doubled on each expiry, go-back-N from the oldest unacknowledged
 *   byte. RTT samples from the echoed timestamp (RFC 7323 §4), millisecond clock (Linux HZ=1000).
 * - Receiver: cumulative ACKs; out-of-order segments kept and acknowledged at once (a duplicate
 *   ACK), as are duplicates and segments that fill a hole (RFC 5681 §4.2); otherwise delayed: an
 *   ACK once more than one full segment is unacknowledged (Linux's `__tcp_ack_snd_check`), else a
 *   40 ms timer (Linux's TCP_ATO_MIN). Any data segment carries the ACK (piggybacking), which
 *   cancels a pending delayed ACK. The advertised window is the receive buffer: the application
 *   reads everything at once (ttcp, MPI), so it never fills with in-order data.
 * - A segment failing its IPv4 header or TCP checksum is dropped and counted.
 * - Segments go to the stack as they are made; the stack holds them while the virtio transmit ring
 *   is full (overlay-path.ts), as the guest's qdisc does.
 *
 * Time, all on the guest's core: the stack's per-packet cost for every segment each way (ACKs
 * included, so ACK traffic takes guest CPU as in the real stack) and its copy of each frame sent;
 * each application write is one system call (`guestStackCyclesPerMessage`); each read is one
 * system call plus the copy of what it takes. A read starts when data arrives and the reader is
 * idle, and takes everything that arrived meanwhile, so a busy reader takes many segments per
 * call. It ends when the guest core has run it if the path offers `cpu.use`; otherwise its end is
 * estimated from its own cost.
 *
 * Counters of the guest-level reliability work, per connection endpoint (`TcpStats`): pure ACKs
 * sent, retransmissions, checksums computed -- what the InfiniBand configurations compare against.
 */
import type { Frame } from '../machines/virtio-ring.js';
import {
  decodeEthernet,
  decodeIpv4,
  decodeTcp,
  encodeEthernet,
  encodeIpv4,
  encodeTcp,
  ETHERNET_HEADER_BYTES,
  ETHERTYPE_IPV4,
  IPPROTO_TCP,
  IPV4_HEADER_BYTES,
  parseIpv4Address,
  parseMac,
  TCP_ACK,
  TCP_HEADER_BYTES,
  TCP_PSH,
  TCP_TIMESTAMP_OPTION_BYTES,
} from '../machines/packet.js';
import { cycles, type Costs } from './costs.js';
import { guestAddress, type HostName, type TwoHostPath } from './overlay-path.js';
import type { ComponentContext, SystemOptions } from './wiring.js';

// ---- constants ------------------------------------------------------------------------------------

/** Linux's delayed-ACK timer, its minimum (TCP_ATO_MIN = HZ/25). */
export const DELAYED_ACK_NS = 40_000_000;
/** Linux's floor of the retransmission timeout (TCP_RTO_MIN = HZ/5). */
export const RTO_MIN_NS = 200_000_000;
/** The retransmission timeout before any RTT sample (Linux 2.6.30 TCP_TIMEOUT_INIT = 3 s). */
export const RTO_INITIAL_NS = 3_000_000_000;
/** Largest backed-off timeout (TCP_RTO_MAX = 120 s). */
export const RTO_MAX_NS = 120_000_000_000;
/** Window scale shift assumed negotiated in the handshake (RFC 7323 §2). */
export const WINDOW_SCALE = 7;
/** ttcp's socket buffers in the experiment (calibration.md: "TCP throughput (ttcp, 256 KB socket buffer)"). */
export const TTCP_SOCKET_BUFFER_BYTES = 262_144;
/**
 * ttcp's write size for TCP. Chapter 6 is not in the spec; calibration.md gives 64000-byte writes
 * for the UDP test and only the socket buffer for TCP. The same write size is assumed; with the
 * send buffer kept full, it only decides when the application is woken.
 */
export const TTCP_TCP_WRITE_BYTES = 64_000;
/**
 * Virtual durations: the measurement window (full, quick) and the warm-up before it. The warm-up
 * outlasts VNET/P's adaptive-mode window (omega = 5 ms, calibration.md "VNET/P tuning"), so the
 * dispatcher has left its start-up mode before the window opens; slow start is over by then too.
 */
export const TCP_DURATION_NS = 10_000_000;
export const TCP_DURATION_QUICK_NS = 3_000_000;
export const TCP_WARMUP_NS = 6_000_000;

const MOD = 2 ** 32;
const mod32 = (x: number) => ((x % MOD) + MOD) % MOD;

/** MSS the guest advertises for its MTU: MTU - IPv4 - TCP headers (RFC 9293 §3.7.1). */
export function tcpMss(mtu: number): number {
  return mtu - IPV4_HEADER_BYTES - TCP_HEADER_BYTES;
}

/** Payload bytes of a full segment: the MSS less the Timestamps option every segment carries. */
export function tcpSegmentPayload(mtu: number): number {
  return tcpMss(mtu) - TCP_TIMESTAMP_OPTION_BYTES;
}

/** Linux 2.6.30 `tcp_init_cwnd` (RFC 3390's bound): initial window in segments for an MSS. */
export function initialWindowSegments(mss: number): number {
  return mss > 1460 ? 2 : mss > 1095 ? 3 : 4;
}

// ---- stats and options ----------------------------------------------------------------------------

/** Reliability work of one endpoint of a connection. */
export interface TcpStats {
  /** Segments carrying data, first transmissions and retransmissions. */
  dataSegments: number;
  /** Data segments sent again (fast retransmit, NewReno partial ACKs, after a timeout). */
  retransmissions: number;
  fastRetransmits: number;
  timeouts: number;
  /** Segments carrying only an ACK. */
  ackSegments: number;
  /** Of those, ACKs sent by the delayed-ACK timer. */
  delayedAckTimeouts: number;
  duplicateAcksReceived: number;
  /** TCP checksums computed: one per segment sent, one per segment received and verified. */
  checksumsComputed: number;
  /** Bytes those checksums covered (TCP header and payload). */
  checksumBytes: number;
  /** Segments dropped for a bad IPv4 header or TCP checksum. */
  badChecksums: number;
  outOfOrderSegments: number;
  duplicateSegments: number;
  /** Bytes the application wrote, and bytes delivered to it in order. */
  bytesWritten: number;
  bytesDelivered: number;
}

const newStats = (): TcpStats => ({
  dataSegments: 0,
  retransmissions: 0,
  fastRetransmits: 0,
  timeouts: 0,
  ackSegments: 0,
  delayedAckTimeouts: 0,
  duplicateAcksReceived: 0,
  checksumsComputed: 0,
  checksumBytes: 0,
  badChecksums: 0,
  outOfOrderSegments: 0,
  duplicateSegments: 0,
  bytesWritten: 0,
  bytesDelivered: 0,
});

export interface TcpConnectionOptions {
  /** Connection name, used in events and effects (`conn`). */
  readonly name: string;
  /** The endpoint that opened the connection (its port is the ephemeral one) and the other. */
  readonly from: HostName;
  readonly to: HostName;
  /** Component notified on each host (`tcp.written`, `tcp.data`). */
  readonly apps: Readonly<Partial<Record<HostName, string>>>;
  /** Send buffer of each endpoint, data bytes (default `TTCP_SOCKET_BUFFER_BYTES`). */
  readonly sndbufBytes?: number;
  /** Receive buffer of each endpoint = the window advertised, bytes (default `TTCP_SOCKET_BUFFER_BYTES`). */
  readonly rcvbufBytes?: number;
  /** TCP_NODELAY: no Nagle (default false). */
  readonly nodelay?: boolean;
}

/**
 * Deliberately broken behaviours, for tests that must see a property fail. Never set in real runs.
 */
export interface TcpBreakage {
  /** Duplicate ACKs never trigger fast retransmit. */
  readonly ignoreDupAcks?: boolean;
  /** The retransmission timer never fires. */
  readonly noRetransmitTimer?: boolean;
  /** Out-of-order segments are delivered to the application as they arrive. */
  readonly deliverOutOfOrder?: boolean;
  /** The sender's send buffer and window are this many times what they should be (a unit slip). */
  readonly overcommit?: number;
}

export interface TcpOptions {
  /** Guest MTU: decides the MSS. */
  readonly mtu: number;
  /** Cost table: the per-message cost of a write or a read system call and the copy of what is read. */
  readonly costs: Costs;
  /** Include the bytes (`data`) in `tcp.deliver` and application effects (tests; default false). */
  readonly recordData?: boolean;
  readonly breakage?: TcpBreakage;
}

/** Events a workload's application sends to `X.tcp`, and receives from it. */
export type TcpWrite = { readonly type: 'tcp.write'; readonly conn: string; readonly data: Uint8Array };
export type TcpWritten = { readonly type: 'tcp.written'; readonly conn: string; readonly bytes: number };
export type TcpData = { readonly type: 'tcp.data'; readonly conn: string; readonly offset: number; readonly data: Uint8Array };

export interface TcpConnection {
  readonly name: string;
  readonly from: HostName;
  readonly to: HostName;
  /** Live counters of each endpoint: the opener's (`from`) and the other's (`to`). */
  readonly stats: { readonly from: TcpStats; readonly to: TcpStats };
}

export interface Tcp {
  /** The kernel TCP component of host `h` (send it `tcp.write`). */
  component(h: HostName): string;
  connect(o: TcpConnectionOptions): TcpConnection;
  readonly mss: number;
  readonly segmentPayload: number;
}

// ---- send buffer ----------------------------------------------------------------------------------

/** Bytes from stream offset `base` on, as chunks; slices copy. */
class ByteQueue {
  base = 0;
  end = 0;
  readonly #chunks: Uint8Array[] = [];

  push(b: Uint8Array): void {
    if (b.length === 0) return;
    this.#chunks.push(b);
    this.end += b.length;
  }

  /** Drops bytes before stream offset `to`. */
  trim(to: number): void {
    while (this.base < to && this.#chunks.length > 0) {
      const c = this.#chunks[0];
      const n = Math.min(c.length, to - this.base);
      if (n === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(n);
      this.base += n;
    }
  }

  slice(from: number, to: number): Uint8Array {
    const out = new Uint8Array(to - from);
    let at = this.base;
    let w = 0;
    for (const c of this.#chunks) {
      if (at >= to) break;
      const s = Math.max(from, at);
      const e = Math.min(to, at + c.length);
      if (e > s) {
        out.set(c.subarray(s - at, e - at), w);
        w += e - s;
      }
      at += c.length;
    }
    return out;
  }
}

// ---- endpoint -------------------------------------------------------------------------------------

interface Endpoint {
  readonly conn: string;
  readonly host: HostName;
  readonly peer: HostName;
  readonly localPort: number;
  readonly remotePort: number;
  readonly app: string | undefined;
  readonly iss: number;
  readonly peerIss: number;
  readonly sndbuf: number;
  readonly rcvbuf: number;
  readonly nodelay: boolean;
  readonly stats: TcpStats;
  // send side (stream offsets, not wire sequence numbers)
  readonly buf: ByteQueue;
  una: number;
  nxt: number;
  /** Highest offset ever sent (snd_max). */
  maxSent: number;
  cwnd: number;
  ssthresh: number;
  dupAcks: number;
  inRecovery: boolean;
  recover: number;
  peerWindow: number;
  readonly writes: { data: Uint8Array; taken: number }[];
  srtt: number | undefined;
  rttvar: number;
  rto: number;
  rtoTimer: number | undefined;
  // receive side
  rcvNxt: number;
  readonly ooo: Map<number, Uint8Array>;
  unackedBytes: number;
  delackTimer: number | undefined;
  tsRecent: number;
  // the application's reads
  readonly unread: Uint8Array[];
  reading: boolean;
  readOffset: number;
}

/** The stream offset a wire sequence number stands for, the one nearest `near` (modular, RFC 9293 §3.4). */
function unwrap(wire: number, iss: number, near: number): number {
  const d = mod32(wire - iss - 1);
  return near + mod32(d - near + 2 ** 31) - 2 ** 31;
}

const wireSeq = (iss: number, offset: number) => mod32(iss + 1 + offset);

/** The Timestamps clock: milliseconds (Linux's jiffies at HZ=1000), from 1 so that no timestamp is 0 ("no echo"). */
const tsClock = (nowNs: number) => (Math.floor(nowNs / 1e6) + 1) % MOD;

/**
 * Adds each guest kernel's TCP (`A.tcp`, `B.tcp`) to a built path and routes the stacks' frames
 * to it. Connect with `connect`; applications write with `{ type: 'tcp.write', conn, data }`.
 */
export function addTcp(path: TwoHostPath, o: TcpOptions): Tcp {
  if (!Number.isInteger(o.mtu) || o.mtu < 576 || o.mtu > 65535) throw new RangeError(`tcp: mtu must be an integer from 576 to 65535 bytes, got ${o.mtu}`);
  const sys = path.system;
  const mss = tcpMss(o.mtu);
  const smss = tcpSegmentPayload(o.mtu);
  const brk = o.breakage ?? {};
  const hosts = path.hosts;
  const messageNs = cycles(o.costs.guestStackCyclesPerMessage, o.costs.cpuHz);
  const copyNs = (bytes: number) => cycles(o.costs.copyCyclesPerByte * bytes, o.costs.cpuHz);
  // A core-use hook the path may offer (`cpu.use(h, kind, now, ns)` returning when the work ends).
  const cpuUse = (path.cpu as { use?: (h: HostName, kind: 'guest', now: number, ns: number) => number } | undefined)?.use;
  const coreUse = cpuUse ? cpuUse.bind(path.cpu) : undefined;
  const endpoints = new Map<HostName, Map<string, Endpoint>>();
  const byName = new Map<HostName, Map<string, Endpoint>>();
  let nextPort = 0;

  const stackOf = (h: HostName): string => {
    const s = path.stack[h];
    if (!s) throw new Error(`tcp: the path has no guest stack on host ${h}`);
    return s;
  };

  for (const h of hosts) {
    endpoints.set(h, new Map());
    byName.set(h, new Map());
    const me = guestAddress(h);
    const myIp = parseIpv4Address(me.guestIp)!;
    const myMac = parseMac(me.guestMac)!;
    let frameId = 0;
    let ipId = 0;

    /** Sends one segment of `e`: data [from, from + len) (len 0: a pure ACK). Every segment carries the ACK. */
    const sendSegment = (e: Endpoint, from: number, len: number, ctx: ComponentContext) => {
      const peer = guestAddress(e.peer);
      const peerIp = parseIpv4Address(peer.guestIp)!;
      const payload = len > 0 ? e.buf.slice(from, from + len) : new Uint8Array(0);
      const push = len > 0 && from + len === e.buf.end;
      const seg = encodeTcp(
        {
          srcIp: myIp,
          dstIp: peerIp,
          srcPort: e.localPort,
          dstPort: e.remotePort,
          seq: wireSeq(e.iss, from),
          ack: wireSeq(e.peerIss, e.rcvNxt),
          flags: TCP_ACK | (push ? TCP_PSH : 0),
          window: Math.min(0xffff, Math.floor(e.rcvbuf / 2 ** WINDOW_SCALE)),
          timestamps: { value: tsClock(ctx.now), echo: e.tsRecent },
        },
        payload,
      );
      e.stats.checksumsComputed++;
      e.stats.checksumBytes += seg.length;
      const ip = encodeIpv4({ src: myIp, dst: peerIp, protocol: IPPROTO_TCP, id: ++ipId & 0xffff, ttl: 64, dontFragment: true, moreFragments: false, fragmentOffset: 0 }, seg);
      const data = encodeEthernet({ dst: parseMac(peer.guestMac)!, src: myMac, etherType: ETHERTYPE_IPV4 }, ip);
      // The kernel sends it (the write system call is charged on its own, see `tcp.write`).
      ctx.schedule(0, stackOf(h), { type: 'send', frames: [{ id: ++frameId, bytes: data.length, data }], app: false });
      // The ACK goes with it: nothing left to acknowledge.
      e.unackedBytes = 0;
      if (e.delackTimer !== undefined) {
        ctx.cancel(e.delackTimer);
        e.delackTimer = undefined;
      }
      if (len > 0) {
        e.stats.dataSegments++;
        const retransmit = from < e.maxSent;
        if (retransmit) e.stats.retransmissions++;
        ctx.emit({ type: 'tcp.tx', conn: e.conn, offset: from, bytes: len, retransmit, cwnd: e.cwnd, window: e.peerWindow });
      } else {
        e.stats.ackSegments++;
      }
    };

    const armRto = (e: Endpoint, ctx: ComponentContext) => {
      if (e.rtoTimer !== undefined) ctx.cancel(e.rtoTimer);
      e.rtoTimer = undefined;
      if (e.una >= e.maxSent || brk.noRetransmitTimer) return;
      e.rtoTimer = ctx.schedule(e.rto, `${h}.tcp`, { type: 'rto', conn: e.conn });
    };

    /** Takes pending writes into the send buffer as space allows; tells the app of each completed write. */
    const acceptWrites = (e: Endpoint, ctx: ComponentContext) => {
      while (e.writes.length > 0) {
        const w = e.writes[0];
        const room = e.sndbuf * (brk.overcommit ?? 1) - (e.buf.end - e.una);
        const n = Math.min(room, w.data.length - w.taken);
        if (n <= 0 && w.taken < w.data.length) return;
        e.buf.push(w.data.subarray(w.taken, w.taken + n));
        w.taken += n;
        if (w.taken < w.data.length) return;
        e.writes.shift();
        if (e.app) ctx.schedule(0, e.app, { type: 'tcp.written', conn: e.conn, bytes: w.data.length });
      }
    };

    const trySend = (e: Endpoint, ctx: ComponentContext) => {
      for (;;) {
        const avail = e.buf.end - e.nxt;
        if (avail <= 0) return;
        const wnd = Math.min(e.cwnd, e.peerWindow) * (brk.overcommit ?? 1);
        const usable = e.una + wnd - e.nxt;
        if (usable <= 0) return;
        const len = Math.min(smss, avail, Math.floor(usable));
        if (len <= 0) return;
        if (len < smss) {
          // Sender-side silly window avoidance (RFC 9293 §3.8.6.2.1) and Nagle (RFC 896): a short
          // segment only when it carries all there is and nothing is unacknowledged (or NODELAY).
          if (len < avail) return;
          if (!e.nodelay && e.nxt > e.una) return;
        }
        sendSegment(e, e.nxt, len, ctx);
        e.nxt += len;
        e.maxSent = Math.max(e.maxSent, e.nxt);
        if (e.rtoTimer === undefined) armRto(e, ctx);
      }
    };

    const deliver = (e: Endpoint, offset: number, data: Uint8Array, ctx: ComponentContext) => {
      e.stats.bytesDelivered += data.length;
      ctx.emit({ type: 'tcp.deliver', conn: e.conn, offset, bytes: data.length, ...(o.recordData ? { data } : {}) });
      if (!e.app) return;
      e.unread.push(data);
      if (!e.reading) startRead(e, ctx);
    };

    /**
     * The application's read: woken by data, one system call (wakeup and call) and a copy of
     * everything queued, on the guest's core. Data arriving meanwhile waits for the next read, so
     * a busy reader takes many segments per call. The read's end is estimated from its own cost
     * (the core may be busier; the stack accounts the core's time).
     */
    const startRead = (e: Endpoint, ctx: ComponentContext) => {
      const bytes = e.unread.reduce((n, d) => n + d.length, 0);
      const data = new Uint8Array(bytes);
      let at = 0;
      for (const d of e.unread) {
        data.set(d, at);
        at += d.length;
      }
      e.unread.length = 0;
      e.reading = true;
      const ns = messageNs + copyNs(bytes);
      // With the path's core available, the read ends when the core has run it; otherwise it is
      // handed to the stack's core and its end estimated from its own cost.
      let end = ctx.now + ns;
      if (coreUse) end = coreUse(h, 'guest', ctx.now, ns);
      else ctx.schedule(0, stackOf(h), { type: 'busy', ns });
      ctx.scheduleAt(end, e.app!, { type: 'tcp.data', conn: e.conn, offset: e.readOffset, data });
      ctx.scheduleAt(end, `${h}.tcp`, { type: 'read.done', conn: e.conn });
      e.readOffset += bytes;
    };

    const onAck = (e: Endpoint, ack: number, window: number, hasData: boolean, tsecr: number | undefined, ctx: ComponentContext) => {
      const ackOff = unwrap(ack, e.iss, e.una);
      if (ackOff > e.maxSent || ackOff < e.una) return; // acknowledges nothing we sent, or old
      const peerWindow = window * 2 ** WINDOW_SCALE;
      if (ackOff > e.una) {
        const acked = ackOff - e.una;
        e.una = ackOff;
        e.buf.trim(ackOff);
        if (e.nxt < e.una) e.nxt = e.una;
        e.peerWindow = peerWindow;
        // RTT sample from the echoed timestamp (RFC 7323 §4.1), then RFC 6298 §2 with Linux's floor.
        if (tsecr !== undefined && tsecr !== 0) {
          const rtt = mod32(tsClock(ctx.now) - tsecr) * 1e6;
          if (e.srtt === undefined) {
            e.srtt = rtt;
            e.rttvar = rtt / 2;
          } else {
            e.rttvar = 0.75 * e.rttvar + 0.25 * Math.abs(e.srtt - rtt);
            e.srtt = 0.875 * e.srtt + 0.125 * rtt;
          }
        }
        e.rto = Math.min(RTO_MAX_NS, Math.round((e.srtt ?? 0) + Math.max(4 * e.rttvar, RTO_MIN_NS)));
        if (e.srtt === undefined) e.rto = RTO_INITIAL_NS;
        if (e.inRecovery) {
          if (ackOff >= e.recover) {
            // Full acknowledgment: leave fast recovery, deflate the window (RFC 6582 §3.2 step 3).
            e.inRecovery = false;
            e.cwnd = e.ssthresh;
          } else {
            // Partial acknowledgment: retransmit the next hole, deflate by what was acknowledged.
            sendSegment(e, e.una, Math.min(smss, e.maxSent - e.una), ctx);
            e.stats.fastRetransmits++;
            e.cwnd = Math.max(smss, e.cwnd - acked + smss);
          }
        } else if (e.cwnd < e.ssthresh) {
          e.cwnd += Math.min(acked, smss);
        } else {
          e.cwnd += (smss * smss) / e.cwnd;
        }
        e.dupAcks = 0;
        armRto(e, ctx);
        ctx.emit({ type: 'tcp.acked', conn: e.conn, una: e.una, window: e.peerWindow });
        acceptWrites(e, ctx);
      } else if (!hasData && e.una < e.maxSent && peerWindow === e.peerWindow) {
        // A duplicate ACK (RFC 5681 §2): no data, no new acknowledgment, same window, data outstanding.
        e.stats.duplicateAcksReceived++;
        e.dupAcks++;
        if (brk.ignoreDupAcks) return;
        if (e.dupAcks === 3 && !e.inRecovery && e.una >= e.recover) {
          const flight = e.maxSent - e.una;
          e.ssthresh = Math.max(flight / 2, 2 * smss);
          e.recover = e.maxSent;
          e.inRecovery = true;
          sendSegment(e, e.una, Math.min(smss, e.maxSent - e.una), ctx);
          e.stats.fastRetransmits++;
          e.cwnd = e.ssthresh + 3 * smss;
          armRto(e, ctx);
        } else if (e.inRecovery) {
          e.cwnd += smss;
        }
      } else {
        e.peerWindow = peerWindow;
      }
    };

    const onData = (e: Endpoint, seq: number, payload: Uint8Array, ctx: ComponentContext) => {
      const start = unwrap(seq, e.peerIss, e.rcvNxt);
      const end = start + payload.length;
      if (end <= e.rcvNxt) {
        // Old data (a duplicate or a needless retransmission): acknowledge at once.
        e.stats.duplicateSegments++;
        sendSegment(e, e.nxt, 0, ctx);
        return;
      }
      if (start > e.rcvNxt) {
        e.stats.outOfOrderSegments++;
        if (brk.deliverOutOfOrder) deliver(e, start, payload.slice(), ctx);
        const have = e.ooo.get(start);
        if (!have || have.length < payload.length) e.ooo.set(start, payload.slice());
        sendSegment(e, e.nxt, 0, ctx);
        return;
      }
      const hadHole = e.ooo.size > 0;
      deliver(e, e.rcvNxt, payload.slice(e.rcvNxt - start), ctx);
      e.unackedBytes += end - e.rcvNxt;
      e.rcvNxt = end;
      // Pull queued segments that are now in order.
      for (let moved = true; moved; ) {
        moved = false;
        for (const [s, d] of e.ooo) {
          if (s > e.rcvNxt) continue;
          e.ooo.delete(s);
          moved = true;
          if (s + d.length > e.rcvNxt) {
            if (!brk.deliverOutOfOrder) deliver(e, e.rcvNxt, d.slice(e.rcvNxt - s), ctx);
            e.rcvNxt = s + d.length;
          }
        }
      }
      if (hadHole || e.unackedBytes > mss) sendSegment(e, e.nxt, 0, ctx);
      else if (e.delackTimer === undefined) e.delackTimer = ctx.schedule(DELAYED_ACK_NS, `${h}.tcp`, { type: 'delack', conn: e.conn });
    };

    sys.addComponent(`${h}.tcp`, (ev, ctx) => {
      const msg = ev as unknown as { type: string; conn: string };
      if (ev.type === 'frame') {
        onFrame((ev as unknown as { frame: Frame }).frame, ctx);
        return;
      }
      const e = byName.get(h)!.get(msg.conn);
      if (!e) throw new Error(`${h}.tcp: ${ev.type} for unknown connection ${JSON.stringify(msg.conn)}`);
      if (ev.type === 'read.done') {
        e.reading = false;
        if (e.unread.length > 0) startRead(e, ctx);
      } else if (ev.type === 'tcp.write') {
        const data = (ev as unknown as TcpWrite).data;
        e.stats.bytesWritten += data.length;
        // The write system call (the stack charges the copy per frame).
        ctx.schedule(0, stackOf(h), { type: 'busy', ns: messageNs });
        e.writes.push({ data, taken: 0 });
        acceptWrites(e, ctx);
        trySend(e, ctx);
      } else if (ev.type === 'delack') {
        e.delackTimer = undefined;
        if (e.unackedBytes > 0) {
          e.stats.delayedAckTimeouts++;
          sendSegment(e, e.nxt, 0, ctx);
        }
      } else if (ev.type === 'rto') {
        e.rtoTimer = undefined;
        if (e.una >= e.maxSent) return;
        // RFC 5681 §3.1 (4), RFC 6298 §5.5-5.6: one segment, back off, resend from the oldest byte.
        e.stats.timeouts++;
        e.ssthresh = Math.max((e.maxSent - e.una) / 2, 2 * smss);
        e.cwnd = smss;
        e.nxt = e.una;
        e.inRecovery = false;
        e.recover = e.maxSent;
        e.dupAcks = 0;
        e.rto = Math.min(RTO_MAX_NS, e.rto * 2);
        trySend(e, ctx);
        armRto(e, ctx);
      }
    });

    const onFrame = (frame: Frame, ctx: ComponentContext) => {
      const eth = decodeEthernet(frame.data!);
      if (!eth.ok || eth.etherType !== ETHERTYPE_IPV4) return;
      const ip = decodeIpv4(eth.payload);
      // Raw ports, to charge a damaged segment to its connection.
      const raw = frame.data!.subarray(ETHERNET_HEADER_BYTES + ((frame.data![ETHERNET_HEADER_BYTES] ?? 0x45) & 15) * 4);
      const key = raw.length >= 4 ? `${(raw[2] << 8) | raw[3]}:${(raw[0] << 8) | raw[1]}` : '';
      const e = endpoints.get(h)!.get(key);
      if (!ip.ok) {
        if (e && ip.reason === 'bad-checksum') e.stats.badChecksums++;
        return;
      }
      if (ip.protocol !== IPPROTO_TCP || ip.moreFragments || ip.fragmentOffset !== 0 || !e) return;
      const tcp = decodeTcp(ip.src, ip.dst, ip.payload);
      e.stats.checksumsComputed++;
      e.stats.checksumBytes += ip.payload.length;
      if (!tcp.ok) {
        if (tcp.reason === 'bad-checksum') e.stats.badChecksums++;
        return;
      }
      if (tcp.timestamps) {
        // RFC 7323 §4.3: remember the peer's clock from segments at or before the ACK point.
        const start = unwrap(tcp.seq, e.peerIss, e.rcvNxt);
        if (start <= e.rcvNxt) e.tsRecent = tcp.timestamps.value;
      }
      if (tcp.flags & TCP_ACK) onAck(e, tcp.ack, tcp.window, tcp.payload.length > 0, tcp.timestamps?.echo, ctx);
      if (tcp.payload.length > 0) onData(e, tcp.seq, tcp.payload, ctx);
      trySend(e, ctx);
    };

    sys.route(stackOf(h), 'deliver', (ev: { type: 'deliver'; frame: Frame }, ctx) => {
      const d = ev.frame.data;
      // Only IPv4 TCP frames are ours (other workloads may share the stack).
      if (d && d.length > ETHERNET_HEADER_BYTES + 9 && d[12] === 0x08 && d[13] === 0x00 && d[ETHERNET_HEADER_BYTES + 9] === IPPROTO_TCP) {
        ctx.schedule(0, `${h}.tcp`, { type: 'frame', frame: ev.frame });
      }
    });
  }

  const connect = (c: TcpConnectionOptions): TcpConnection => {
    if (c.from === c.to || !hosts.includes(c.from) || !hosts.includes(c.to)) throw new RangeError(`tcp connection ${c.name}: from and to must be two different hosts of the path (${hosts.join(', ')}), got ${c.from} and ${c.to}`);
    for (const h of [c.from, c.to]) if (byName.get(h)!.has(c.name)) throw new Error(`tcp connection ${c.name} exists already on ${h}`);
    const sndbuf = c.sndbufBytes ?? TTCP_SOCKET_BUFFER_BYTES;
    const rcvbuf = c.rcvbufBytes ?? TTCP_SOCKET_BUFFER_BYTES;
    if (!Number.isInteger(sndbuf) || sndbuf < smss || sndbuf > 64 * 2 ** 20) throw new RangeError(`tcp connection ${c.name}: sndbufBytes must be an integer from ${smss} (one segment) to 64 MB, got ${sndbuf}`);
    const maxRcv = 0xffff * 2 ** WINDOW_SCALE;
    if (!Number.isInteger(rcvbuf) || rcvbuf < 2 * mss || rcvbuf > maxRcv) throw new RangeError(`tcp connection ${c.name}: rcvbufBytes must be an integer from ${2 * mss} to ${maxRcv}, got ${rcvbuf}`);
    const n = nextPort++;
    const ports = { [c.from]: 33_000 + n, [c.to]: 5001 + n } as Record<HostName, number>;
    // Initial sequence numbers near 2^32: the stream's sequence numbers wrap early.
    const iss = { [c.from]: MOD - 20_000 - 7919 * n, [c.to]: MOD - 50_000 - 104_729 * n } as Record<HostName, number>;
    const stats = {} as { from: TcpStats; to: TcpStats };
    for (const [h, peer] of [[c.from, c.to], [c.to, c.from]] as const) {
      const e: Endpoint = {
        conn: c.name,
        host: h,
        peer,
        localPort: ports[h],
        remotePort: ports[peer],
        app: c.apps[h],
        iss: iss[h],
        peerIss: iss[peer],
        sndbuf,
        rcvbuf: Math.floor(rcvbuf / 2 ** WINDOW_SCALE) * 2 ** WINDOW_SCALE,
        nodelay: c.nodelay ?? false,
        stats: newStats(),
        buf: new ByteQueue(),
        una: 0,
        nxt: 0,
        maxSent: 0,
        cwnd: initialWindowSegments(mss) * smss,
        ssthresh: Number.POSITIVE_INFINITY,
        dupAcks: 0,
        inRecovery: false,
        recover: 0,
        // The window the peer advertised in the handshake: its receive buffer.
        peerWindow: Math.floor(rcvbuf / 2 ** WINDOW_SCALE) * 2 ** WINDOW_SCALE,
        writes: [],
        srtt: undefined,
        rttvar: 0,
        rto: RTO_INITIAL_NS,
        rtoTimer: undefined,
        rcvNxt: 0,
        ooo: new Map(),
        unackedBytes: 0,
        delackTimer: undefined,
        tsRecent: 0,
        unread: [],
        reading: false,
        readOffset: 0,
      };
      stats[h === c.from ? 'from' : 'to'] = e.stats;
      endpoints.get(h)!.set(`${e.localPort}:${e.remotePort}`, e);
      byName.get(h)!.set(c.name, e);
    }
    return { name: c.name, from: c.from, to: c.to, stats };
  };

  return { component: (h) => `${h}.tcp`, connect, mss, segmentPayload: smss };
}

// ---- ttcp over TCP --------------------------------------------------------------------------------

/** The bytes ttcp writes at stream offset `offset` of connection number `k`: a pattern that shows a misplaced byte. */
export function streamPattern(k: number, offset: number, bytes: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) b[i] = ((offset + i) * 7 + k * 31 + ((offset + i) >>> 8)) & 0xff;
  return b;
}

export interface TcpTtcpOptions {
  readonly mtu: number;
  readonly costs: Costs;
  /** 1: A sends to B; 2: the bi-stream test, one connection each way at once. */
  readonly streams: 1 | 2;
  readonly sndbufBytes?: number;
  readonly rcvbufBytes?: number;
  readonly writeBytes?: number;
  /** Bytes each sender writes in all (default: unbounded, for a run bounded by time). */
  readonly totalBytes?: number;
  /** When the senders start, ns (default 100 us). */
  readonly startNs?: number;
  readonly recordData?: boolean;
  readonly breakage?: TcpBreakage;
}

export interface TcpTtcp {
  readonly tcp: Tcp;
  /** 'A>B', and for two streams 'B>A'. */
  readonly connections: readonly TcpConnection[];
}

/**
 * Adds ttcp over TCP: the application of each sending host (`X.app`) writes `writeBytes` at a time
 * as fast as its send buffer takes them; each receiving application reads everything and emits
 * `tcp.read` { conn, offset, bytes } (and `data` with `recordData`). Each write is recorded as
 * `tcp.app.write` { conn, offset, bytes }.
 */
export function addTcpTtcp(path: TwoHostPath, o: TcpTtcpOptions): TcpTtcp {
  if (o.streams !== 1 && o.streams !== 2) throw new RangeError(`ttcp streams must be 1 or 2, got ${String(o.streams)}`);
  const writeBytes = o.writeBytes ?? TTCP_TCP_WRITE_BYTES;
  if (!Number.isInteger(writeBytes) || writeBytes < 1 || writeBytes > 16 * 2 ** 20) throw new RangeError(`ttcp writeBytes must be an integer from 1 to 16 MB, got ${writeBytes}`);
  const total = o.totalBytes ?? Number.POSITIVE_INFINITY;
  if (!(total > 0)) throw new RangeError(`ttcp totalBytes must be positive, got ${total}`);
  const sys = path.system;
  const tcp = addTcp(path, { mtu: o.mtu, costs: o.costs, recordData: o.recordData, breakage: o.breakage });
  const pairs: [HostName, HostName][] = o.streams === 1 ? [['A', 'B']] : [['A', 'B'], ['B', 'A']];
  const connections = pairs.map(([from, to]) =>
    tcp.connect({ name: `${from}>${to}`, from, to, apps: { A: 'A.app', B: 'B.app' }, sndbufBytes: o.sndbufBytes, rcvbufBytes: o.rcvbufBytes }),
  );
  for (const h of ['A', 'B'] as const) {
    const mine = connections.map((c, k) => ({ c, k })).filter(({ c }) => c.from === h);
    const written = new Map<string, number>();
    const write = (conn: string, k: number, ctx: ComponentContext) => {
      const at = written.get(conn) ?? 0;
      const n = Math.min(writeBytes, total - at);
      if (n <= 0) return;
      const data = streamPattern(k, at, n);
      written.set(conn, at + n);
      ctx.emit({ type: 'tcp.app.write', conn, offset: at, bytes: n, ...(o.recordData ? { data } : {}) });
      ctx.schedule(0, tcp.component(h), { type: 'tcp.write', conn, data });
    };
    sys.addComponent(`${h}.app`, (ev, ctx) => {
      if (ev.type === 'app.start') {
        for (const { c, k } of mine) write(c.name, k, ctx);
      } else if (ev.type === 'tcp.written') {
        const conn = (ev as unknown as TcpWritten).conn;
        write(conn, connections.findIndex((c) => c.name === conn), ctx);
      } else if (ev.type === 'tcp.data') {
        const d = ev as unknown as TcpData;
        ctx.emit({ type: 'tcp.read', conn: d.conn, offset: d.offset, bytes: d.data.length, ...(o.recordData ? { data: d.data } : {}) });
      }
    });
    if (mine.length > 0) sys.scheduleAt(o.startNs ?? 100_000, `${h}.app`, { type: 'app.start' });
  }
  return { tcp, connections };
}

// ---- measurement ----------------------------------------------------------------------------------

type Build = (o: { mtu: number; costs: Costs; seed?: number; system?: Omit<SystemOptions, 'seed'> }) => TwoHostPath;

export interface TcpThroughputOptions {
  readonly mtu: number;
  /** Link rate (bit/s); informative (the path's build decides the wire). */
  readonly linkBitRate: number;
  readonly costs: Costs;
  readonly seed?: number;
  readonly durationNs?: number;
  readonly warmupNs?: number;
  readonly streams: 1 | 2;
  readonly sndbufBytes?: number;
  readonly rcvbufBytes?: number;
  readonly writeBytes?: number;
  readonly breakage?: TcpBreakage;
}

export interface TcpThroughputResult {
  /** Per-stream goodput at the receiving application, mean over the streams, bit/s. */
  readonly bitsPerSecond: number;
  readonly perStream: readonly number[];
  readonly windowNs: number;
  /** Reliability counters of each connection's two endpoints at the end of the run. */
  readonly connections: readonly { readonly name: string; readonly stats: { readonly from: TcpStats; readonly to: TcpStats } }[];
  /** Busy share of each host's cores (guest, VMM, host kernel) over the window, from `path.cpu`: A sends, B receives (both do both in the bi-stream test). */
  readonly cpu: { readonly tx: number; readonly rx: number };
}

/**
 * ttcp TCP throughput over a built configuration: the senders start at 100 us; each stream's
 * goodput is read from the recorded `tcp.read` effects of its receiving application over the
 * `durationNs` after the warm-up, from the first read in the window to the last, not counting
 * the first read's bytes (they crossed before the span began).
 */
export function measureTcpThroughput(build: Build, o: TcpThroughputOptions): TcpThroughputResult {
  const windowNs = o.durationNs ?? TCP_DURATION_NS;
  const warmupNs = o.warmupNs ?? TCP_WARMUP_NS;
  if (!Number.isInteger(windowNs) || windowNs < 100_000 || windowNs > 10_000_000_000) throw new RangeError(`tcp throughput durationNs must be an integer from 100000 to 1e10 ns, got ${windowNs}`);
  if (!Number.isInteger(warmupNs) || warmupNs < 0 || warmupNs > 10_000_000_000) throw new RangeError(`tcp throughput warmupNs must be an integer from 0 to 1e10 ns, got ${warmupNs}`);
  if (!(o.linkBitRate > 0)) throw new RangeError(`tcp throughput linkBitRate must be positive bit/s, got ${o.linkBitRate}`);
  const path = build({ mtu: o.mtu, costs: o.costs, seed: o.seed, system: { recorder: { mode: 'ring', capacity: 64 } } });
  const startNs = 100_000;
  const from = startNs + warmupNs;
  const until = from + windowNs;
  const t = addTcpTtcp(path, { mtu: o.mtu, costs: o.costs, streams: o.streams, sndbufBytes: o.sndbufBytes, rcvbufBytes: o.rcvbufBytes, writeBytes: o.writeBytes, startNs, breakage: o.breakage });
  const perConn = new Map<string, { first: number; last: number; firstBytes: number; bytes: number; n: number }>();
  path.system.recorder.observe((r) => {
    if (r.kind !== 'effect' || r.type !== 'tcp.read' || r.t < from) return;
    const p = r.payload as { conn: string; bytes: number };
    const s = perConn.get(p.conn) ?? { first: r.t, last: r.t, firstBytes: p.bytes, bytes: 0, n: 0 };
    s.last = r.t;
    s.bytes += p.bytes;
    s.n++;
    perConn.set(p.conn, s);
  });
  const cpu = path.cpu;
  let busyAtFrom = { A: 0, B: 0 };
  path.system.addComponent('tcp.cpu-probe', () => {
    busyAtFrom = { A: cpu.busyNs('A'), B: cpu.busyNs('B') };
  });
  path.system.scheduleAt(from, 'tcp.cpu-probe', { type: 'probe' });
  path.system.run({ until: until - 1 });
  const perStream = t.connections.map((c) => {
    const s = perConn.get(c.name);
    if (!s || s.n < 2 || s.last === s.first) return 0;
    return ((s.bytes - s.firstBytes) * 8 * 1e9) / (s.last - s.first);
  });
  const bitsPerSecond = perStream.reduce((a, b) => a + b, 0) / perStream.length;
  const connections = t.connections.map((c) => ({ name: c.name, stats: { from: { ...c.stats.from }, to: { ...c.stats.to } } }));
  // Work handed to the cores (busyNs counts it when handed over, possibly a little ahead).
  const span = until - 1 - from;
  return { bitsPerSecond, perStream, windowNs, connections, cpu: { tx: (cpu.busyNs('A') - busyAtFrom.A) / span, rx: (cpu.busyNs('B') - busyAtFrom.B) / span } };
}

/** The `tcpThroughput` runner of a configuration (the `WorkloadRunners` contract, model/experiments.ts). */
export function tcpThroughputRunner(
  build: Build,
  linkBitRate: (costs: Costs) => number,
): (o: { readonly mtu: number; readonly costs: Costs; readonly seed: number; readonly quick: boolean; readonly streams: 1 | 2 }) => { bitsPerSecond: number; cpu: { tx: number; rx: number } } {
  return (o) => {
    const r = measureTcpThroughput(build, {
      mtu: o.mtu,
      linkBitRate: linkBitRate(o.costs),
      costs: o.costs,
      seed: o.seed,
      streams: o.streams,
      durationNs: o.quick ? TCP_DURATION_QUICK_NS : TCP_DURATION_NS,
    });
    return { bitsPerSecond: r.bitsPerSecond, cpu: r.cpu };
  };
}
