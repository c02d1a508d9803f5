/**
 * The ttcp UDP throughput workload (dissertation chapter 6, "TCP and UDP throughput";
 * calibration.md: ttcp, 64000-byte writes, 60 s): guest A's application writes 64000-byte UDP
 * datagrams to guest B as fast as its socket lets it, for a bounded virtual duration; goodput is
 * the payload of the datagrams B's application receives whole, per second of virtual time.
 *
 * Sending is paced by the path, never by a rate: A's application may write while its socket's
 * send buffer holds less than `SNDBUF_BYTES` (Linux blocks a UDP sender on `sk_wmem_alloc`), and
 * bytes leave the send buffer when the driver lets go of them -- the guest's virtio driver orphans
 * each frame as it queues it in the transmit ring (`tx.orphaned` from the stack, VNET/P and VNET/U;
 * Linux 2.6.30 virtio-net), the host NIC driver when the frame's last bit has left on the wire
 * (native, passthrough), a link device on its own completion. So the slowest stage the model
 * serializes (a core, the transmit ring, the wire) decides goodput.
 *
 * Each write is one UDP datagram (8-byte header + 64000 bytes) fragmented by A's stack to the
 * guest MTU (RFC 791), each fragment one Ethernet frame through `stack.A`, as real bytes. B's
 * application reassembles by IP id and emits `ttcp.datagram` for each datagram it gets whole; a
 * datagram with a lost fragment never completes (UDP). Goodput is read by the `throughput`
 * observer of the recorded stream over the measurement window (after a warm-up).
 */
import type { Frame } from '../machines/virtio-ring.js';
import { encodeEthernet, encodeUdp, ETHERTYPE_IPV4, fragmentIpv4, IPPROTO_UDP, parseIpv4Address, parseMac } from '../machines/packet.js';
import { ethernetSerializationNs, type Costs } from './costs.js';
import { throughput, field, type Metric, type ThroughputResult } from './metrics.js';
import { GUEST_A_IP, GUEST_A_MAC, GUEST_B_IP, GUEST_B_MAC, type TwoHostPath } from './overlay-path.js';
import type { SystemOptions } from './wiring.js';

/** ttcp's write size in the experiment (calibration.md "UDP goodput (ttcp, 64000-byte writes, 60 s)"). */
export const TTCP_WRITE_BYTES = 64_000;
/**
 * Socket send buffer of guest A: Linux 2.6.30's default (net.core.wmem_default = SK_WMEM_MAX,
 * 256 packets of sk_buff overhead + 256 bytes, about 120 KB on x86-64); ttcp does not set SO_SNDBUF
 * for UDP. An assumption (the testbed's sysctls are not reported), charged in frame bytes.
 */
export const SNDBUF_BYTES = 124_928;

/** Virtual durations of one run: the full report and `--quick`. The measured 60 s is not needed for a deterministic model in steady state. */
export const TTCP_DURATION_NS = 10_000_000;
export const TTCP_DURATION_QUICK_NS = 1_500_000;
/** Time before the measurement window, for the pipeline to fill (the socket buffer's two datagrams at the slowest rate). */
export const TTCP_WARMUP_NS = 400_000;

/** The Ethernet frames of datagram `seq` from A to B, fragmented to `mtu`. */
export function ttcpFrames(seq: number, mtu: number, firstId: number, writeBytes = TTCP_WRITE_BYTES): Frame[] {
  const payload = new Uint8Array(writeBytes);
  for (let i = 0; i < payload.length; i++) payload[i] = (seq + i) & 0xff;
  const src = parseIpv4Address(GUEST_A_IP)!;
  const dst = parseIpv4Address(GUEST_B_IP)!;
  const udp = encodeUdp({ srcPort: 5001, dstPort: 5001, srcIp: src, dstIp: dst, checksum: false }, payload);
  const packets = fragmentIpv4({ src, dst, protocol: IPPROTO_UDP, id: seq & 0xffff, ttl: 64, dontFragment: false, moreFragments: false, fragmentOffset: 0 }, udp, mtu);
  return packets.map((p, i) => {
    const data = encodeEthernet({ dst: parseMac(GUEST_B_MAC)!, src: parseMac(GUEST_A_MAC)!, etherType: ETHERTYPE_IPV4 }, p);
    return { id: firstId + i, bytes: data.length, data };
  });
}

export interface TtcpOptions {
  /** Guest MTU: A's stack fragments datagrams to it. */
  readonly mtu: number;
  /** Link rate of the host NICs (bit/s): when a frame handed straight to the host NIC completes. */
  readonly linkBitRate: number;
  readonly costs: Costs;
  /** When A starts writing, ns (default 100 us, after the configuration at time 0). */
  readonly startNs?: number;
  /** Socket send buffer, bytes (default `SNDBUF_BYTES`). */
  readonly sndbufBytes?: number;
}

/** Adds the ttcp sender (`A.app`) and receiver (`B.app`) to a built path; run the system until the window's end. */
export function addTtcp(path: TwoHostPath, o: TtcpOptions): void {
  const sys = path.system;
  const sndbuf = o.sndbufBytes ?? SNDBUF_BYTES;
  let seq = 0;
  let frameId = 0;
  let inBuffer = 0;
  let blocked = false;
  // Frames in A's send buffer in the order the device completes them (both completions are in order).
  const pending: number[] = [];
  const viaRing = path.kind === 'vnetp' || path.kind === 'vnetu';

  sys.addComponent('A.app', (e, ctx) => {
    if (e.type === 'complete') {
      const n = (e as unknown as { frames: number }).frames;
      for (let i = 0; i < n && pending.length > 0; i++) inBuffer -= pending.shift()!;
      if (!blocked || inBuffer >= sndbuf) return;
      blocked = false;
    } else if (e.type !== 'app.write') return;
    // One write per delivery: the write's frames go to the stack, then the next write is tried.
    seq++;
    const frames = ttcpFrames(seq, o.mtu, frameId + 1);
    frameId += frames.length;
    for (const f of frames) {
      inBuffer += f.bytes;
      pending.push(f.bytes);
    }
    ctx.emit({ type: 'ttcp.write', seq, bytes: TTCP_WRITE_BYTES, frames: frames.length });
    ctx.schedule(0, path.stack.A, { type: 'send', frames });
    if (inBuffer < sndbuf) ctx.schedule(0, 'A.app', { type: 'app.write' });
    else blocked = true;
  });

  if (viaRing) {
    // The guest's virtio driver orphans each frame as it queues it (Linux 2.6.30 virtio-net).
    sys.route(path.stack.A, 'tx.orphaned', (_e: { type: 'tx.orphaned' }, ctx) => ctx.schedule(0, 'A.app', { type: 'complete', frames: 1 }));
  } else if (path.link === 'device') {
    // A link device reports its own transmit completion (for IPoIB, when the RC send completes).
    sys.route('A.nic', 'tx.complete', (_e: { type: 'tx.complete' }, ctx) => ctx.schedule(0, 'A.app', { type: 'complete', frames: 1 }));
  } else {
    // The host NIC's transmit completion: after the frame's serialization on the wire, which the
    // path's wire (routed before this) has just queued and recorded with its start time.
    sys.route('A.nic', 'wire.tx', (e: { type: 'wire.tx'; bytes: number }, ctx) => {
      const sent = path.wire[path.wire.length - 1];
      const end = sent.timeNs + ethernetSerializationNs(e.bytes, o.linkBitRate, o.costs);
      ctx.scheduleAt(Math.max(ctx.now, end), 'A.app', { type: 'complete', frames: 1 });
    });
  }

  // B's application: IPv4 reassembly by id, one `ttcp.datagram` per datagram received whole.
  const open = new Map<number, { got: number; total: number | undefined }>();
  sys.addComponent('B.app', (e, ctx) => {
    if (e.type !== 'frame') return;
    const d = (e as unknown as { frame: Frame }).frame.data!;
    const ip = d.subarray(14);
    const ihl = (ip[0] & 0x0f) * 4;
    const dataBytes = ((ip[2] << 8) | ip[3]) - ihl;
    const id = (ip[4] << 8) | ip[5];
    const flags = (ip[6] << 8) | ip[7];
    const s = open.get(id) ?? { got: 0, total: undefined };
    s.got += dataBytes;
    if ((flags & 0x2000) === 0) s.total = (flags & 0x1fff) * 8 + dataBytes;
    open.set(id, s);
    if (s.total === undefined || s.got < s.total) return;
    open.delete(id);
    ctx.emit({ type: 'ttcp.datagram', id, bytes: s.total - 8 });
  });
  sys.route(path.stack.B, 'deliver', (e: { type: 'deliver'; frame: Frame }, ctx) => ctx.schedule(0, 'B.app', { type: 'frame', frame: e.frame }));
  sys.scheduleAt(o.startNs ?? 100_000, 'A.app', { type: 'app.write' });
}

/**
 * Goodput from the stream: `ttcp.datagram` effects of B's application from `fromNs` on. Measured
 * from the first datagram received in the window to the last, counting the datagrams after the
 * first: so the window's edges do not count a datagram whose bytes crossed before it.
 */
export function ttcpGoodput(fromNs: number): Metric<ThroughputResult> {
  return throughput({
    match: (r) => r.t >= fromNs && r.component === 'B.app' && r.kind === 'effect' && r.type === 'ttcp.datagram',
    bytes: (r) => {
      const b = field(r, 'bytes');
      return typeof b === 'number' ? b : 0;
    },
  });
}

export interface GoodputResult {
  /** Payload bits per second received whole, from the first datagram in the window to the last (0 with fewer than two). */
  readonly bitsPerSecond: number;
  /** Datagrams received whole in the window. */
  readonly datagrams: number;
  readonly windowNs: number;
}

/**
 * UDP goodput of ttcp over a built configuration at `mtu`: A writes from 100 us on; the window is
 * the `durationNs` after a warm-up, read from the recorded stream by `ttcpGoodput`.
 */
export function measureUdpGoodput(
  build: (o: { mtu: number; costs: Costs; seed?: number; system?: Omit<SystemOptions, 'seed'> }) => TwoHostPath,
  o: {
    readonly mtu: number;
    readonly linkBitRate: number;
    readonly costs: Costs;
    readonly seed?: number;
    readonly durationNs?: number;
    readonly warmupNs?: number;
    readonly system?: Omit<SystemOptions, 'seed' | 'recorder'>;
  },
): GoodputResult {
  // Only the metric reads the stream, so keep a short ring rather than the whole trace.
  const path = build({ mtu: o.mtu, costs: o.costs, seed: o.seed, system: { ...o.system, recorder: { mode: 'ring', capacity: 64 } } });
  const startNs = 100_000;
  const from = startNs + (o.warmupNs ?? TTCP_WARMUP_NS);
  const windowNs = o.durationNs ?? TTCP_DURATION_NS;
  addTtcp(path, { mtu: o.mtu, linkBitRate: o.linkBitRate, costs: o.costs, startNs });
  const g = ttcpGoodput(from);
  path.system.recorder.observe(g.onRecord);
  // Up to but not including the window's end.
  path.system.run({ until: from + windowNs - 1 });
  const r = g.result();
  const span = r.records >= 2 ? r.lastNs! - r.firstNs! : 0;
  const bitsPerSecond = span > 0 ? ((r.bytes - r.bytes / r.records) * 8 * 1e9) / span : 0;
  return { bitsPerSecond, datagrams: r.records, windowNs };
}
