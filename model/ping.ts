/**
 * The ping workload: ICMP echo round trips between guest A and guest B (dissertation chapter 6,
 * ICMP round-trip latency by packet size; calibration.md "ICMP round trip").
 *
 * Guest A's application (`A.app`) sends an ICMP echo request of `sizeBytes` of data (ping's `-s`)
 * as real bytes: one IPv4 datagram, fragmented by A's stack to the guest MTU (RFC 791), each
 * fragment in an Ethernet frame. Guest B's kernel (`B.icmp`) reassembles it and answers with an
 * echo reply of the same size the same way; A's application reassembles the reply. The next ping
 * starts an interval after the previous reply, so pings never overlap.
 *
 * The round-trip time is computed by an observer of the recorded stream (`pingRtt`): from the
 * `ping.request` effect of `A.app` (the request leaves A's application) to the `ping.reply`
 * effect of `A.app` with the same sequence number (the whole reply has reached it).
 */
import type { Frame } from '../machines/virtio-ring.js';
import { encodeEthernet, ETHERTYPE_IPV4, fragmentIpv4, internetChecksum, parseIpv4Address, parseMac } from '../machines/packet.js';
import { field, latency, type LatencyResult, type Metric } from './metrics.js';
import type { Costs } from './costs.js';
import { GUEST_A_IP, GUEST_A_MAC, GUEST_B_IP, GUEST_B_MAC, type TwoHostPath } from './overlay-path.js';
import type { SystemOptions } from './wiring.js';

const IPPROTO_ICMP = 1;
const ICMP_ECHO_REQUEST = 8;
const ICMP_ECHO_REPLY = 0;
/** ICMP echo header: type, code, checksum, identifier, sequence number (RFC 792). */
const ICMP_HEADER_BYTES = 8;
/** Largest echo data in one IPv4 datagram: 65535 - 20 (IPv4) - 8 (ICMP), ping's upper bound for `-s`. */
export const MAX_PING_BYTES = 65535 - 20 - ICMP_HEADER_BYTES;
/** ICMP data sizes of the RTT experiment, 64 B to 64 KB (the last is the largest one datagram holds). */
export const PING_SIZES: readonly number[] = [64, 256, 1024, 4096, 8192, 16384, 32768, MAX_PING_BYTES];
/** The short list for `--quick`. */
export const PING_SIZES_QUICK: readonly number[] = [64, 1024, 8192, MAX_PING_BYTES];

/** An ICMP echo message (RFC 792) with a counting payload. */
function icmpEcho(type: number, seq: number, sizeBytes: number): Uint8Array {
  const m = new Uint8Array(ICMP_HEADER_BYTES + sizeBytes);
  m[0] = type;
  m[4] = 0x12; // identifier
  m[5] = 0x34;
  m[6] = (seq >> 8) & 0xff;
  m[7] = seq & 0xff;
  for (let i = 0; i < sizeBytes; i++) m[ICMP_HEADER_BYTES + i] = (seq + i) & 0xff;
  const sum = internetChecksum(m);
  m[2] = sum >> 8;
  m[3] = sum & 0xff;
  return m;
}

/** The frames of one echo datagram from `from` to the other guest, fragmented to `mtu`. */
export function echoFrames(from: 'A' | 'B', type: number, seq: number, sizeBytes: number, mtu: number, firstId: number): Frame[] {
  const [srcIp, dstIp, srcMac, dstMac] = from === 'A' ? [GUEST_A_IP, GUEST_B_IP, GUEST_A_MAC, GUEST_B_MAC] : [GUEST_B_IP, GUEST_A_IP, GUEST_B_MAC, GUEST_A_MAC];
  const packets = fragmentIpv4(
    { src: parseIpv4Address(srcIp)!, dst: parseIpv4Address(dstIp)!, protocol: IPPROTO_ICMP, id: seq & 0xffff, ttl: 64, dontFragment: false, moreFragments: false, fragmentOffset: 0 },
    icmpEcho(type, seq, sizeBytes),
    mtu,
  );
  return packets.map((p, i) => {
    const data = encodeEthernet({ dst: parseMac(dstMac)!, src: parseMac(srcMac)!, etherType: ETHERTYPE_IPV4 }, p);
    return { id: firstId + i, bytes: data.length, data };
  });
}

/**
 * IPv4 reassembly by datagram id, as far as the workload needs it: a datagram is complete when the
 * fragment without MF has arrived and the data bytes received add up to its end. Returns the
 * completed datagram's ICMP type and sequence number.
 */
function reassembler() {
  const open = new Map<number, { got: number; total: number | undefined; type: number }>();
  return (frame: Frame): { type: number; seq: number } | undefined => {
    const d = frame.data!;
    const ip = d.subarray(14);
    const ihl = (ip[0] & 0x0f) * 4;
    const total = (ip[2] << 8) | ip[3];
    const id = (ip[4] << 8) | ip[5];
    const flags = (ip[6] << 8) | ip[7];
    const offset = (flags & 0x1fff) * 8;
    const dataBytes = total - ihl;
    const s = open.get(id) ?? { got: 0, total: undefined, type: -1 };
    s.got += dataBytes;
    // The first fragment (offset 0) carries the ICMP header.
    if (offset === 0) s.type = ip[ihl];
    if ((flags & 0x2000) === 0) s.total = offset + dataBytes;
    open.set(id, s);
    if (s.total === undefined || s.got < s.total) return undefined;
    open.delete(id);
    // The workload uses the sequence number as the datagram id.
    return { type: s.type, seq: id };
  };
}

export interface PingOptions {
  /** ICMP data bytes per echo (ping `-s`), 0 to `MAX_PING_BYTES`. */
  readonly sizeBytes: number;
  /** Guest MTU: the stacks fragment datagrams to it. */
  readonly mtu: number;
  /** Echo requests to send (default 3). */
  readonly count?: number;
  /** Time from one reply to the next request, ns (default 1 ms). */
  readonly intervalNs?: number;
  /** When the first request is sent, ns (default 100 us, after the configuration at time 0). */
  readonly startNs?: number;
}

/** Adds the ping workload to a built path; `system.run()` then plays it. */
export function addPing(path: TwoHostPath, o: PingOptions): void {
  if (!Number.isInteger(o.sizeBytes) || o.sizeBytes < 0 || o.sizeBytes > MAX_PING_BYTES) {
    throw new RangeError(`ping size must be an integer from 0 to ${MAX_PING_BYTES} bytes, got ${o.sizeBytes}`);
  }
  const sys = path.system;
  const count = o.count ?? 3;
  const interval = o.intervalNs ?? 1_000_000;
  let frameId = 0;
  let seq = 0;
  const atA = reassembler();
  const atB = reassembler();

  sys.addComponent('A.app', (e, ctx) => {
    if (e.type === 'app.ping') {
      seq++;
      ctx.emit({ type: 'ping.request', seq, sizeBytes: o.sizeBytes });
      const frames = echoFrames('A', ICMP_ECHO_REQUEST, seq, o.sizeBytes, o.mtu, frameId + 1);
      frameId += frames.length;
      ctx.schedule(0, path.stack.A, { type: 'send', frames });
    } else if (e.type === 'frame') {
      const done = atA((e as unknown as { frame: Frame }).frame);
      if (done?.type !== ICMP_ECHO_REPLY) return;
      ctx.emit({ type: 'ping.reply', seq: done.seq, sizeBytes: o.sizeBytes });
      if (done.seq < count) ctx.schedule(interval, 'A.app', { type: 'app.ping' });
    }
  });
  // Guest B's kernel answers echo requests (no application involved).
  sys.addComponent('B.icmp', (e, ctx) => {
    if (e.type !== 'frame') return;
    const done = atB((e as unknown as { frame: Frame }).frame);
    if (done?.type !== ICMP_ECHO_REQUEST) return;
    ctx.emit({ type: 'echo', seq: done.seq });
    const frames = echoFrames('B', ICMP_ECHO_REPLY, done.seq, o.sizeBytes, o.mtu, frameId + 1);
    frameId += frames.length;
    ctx.schedule(0, path.stack.B, { type: 'send', frames });
  });
  sys.route(path.stack.A, 'deliver', (e: { type: 'deliver'; frame: Frame }, ctx) => ctx.schedule(0, 'A.app', { type: 'frame', frame: e.frame }));
  sys.route(path.stack.B, 'deliver', (e: { type: 'deliver'; frame: Frame }, ctx) => ctx.schedule(0, 'B.icmp', { type: 'frame', frame: e.frame }));
  sys.scheduleAt(o.startNs ?? 100_000, 'A.app', { type: 'app.ping' });
}

/** Round trips from the stream: `ping.request` to the `ping.reply` of the same sequence number at A's application. */
export function pingRtt(): Metric<LatencyResult> {
  return latency({
    start: { component: 'A.app', kind: 'effect', type: 'ping.request' },
    end: { component: 'A.app', kind: 'effect', type: 'ping.reply' },
    key: (r) => {
      const s = field(r, 'seq');
      return typeof s === 'number' ? s : undefined;
    },
  });
}

/**
 * The median round trip (us) of `count` pings of `sizeBytes` over a built configuration at `mtu`,
 * read from the recorded stream by `pingRtt`. Throws if a ping did not come back.
 */
export function measureRttUs(
  build: (o: { mtu: number; costs: Costs; seed?: number; system?: Omit<SystemOptions, 'seed'> }) => TwoHostPath,
  o: { readonly mtu: number; readonly sizeBytes: number; readonly costs: Costs; readonly seed?: number; readonly count?: number },
): number {
  // Only the metric reads the stream, so keep a short ring rather than the whole trace.
  const path = build({ mtu: o.mtu, costs: o.costs, seed: o.seed, system: { recorder: { mode: 'ring', capacity: 64 } } });
  const count = o.count ?? 3;
  addPing(path, { sizeBytes: o.sizeBytes, mtu: o.mtu, count });
  const rtt = pingRtt();
  path.system.recorder.observe(rtt.onRecord);
  path.system.run({ maxEvents: 5_000_000 });
  const r = rtt.result();
  if (r.samples.length !== count) throw new Error(`ping of ${o.sizeBytes} bytes at MTU ${o.mtu}: ${r.samples.length} of ${count} replies came back`);
  return r.distribution.p50 / 1000;
}
