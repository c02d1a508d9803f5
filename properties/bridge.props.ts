/**
 * Properties of the VNET/P bridge, stated from the outside: two bridges talk through the bytes they
 * emit, and what goes on the wire is checked by a checker written here from RFC 791 (IPv4), RFC 768
 * (UDP) and RFC 1071 (the Internet checksum), sharing no code with `machines/packet.ts`.
 *
 * - decapsulate(encapsulate(frame)) = frame, for frames of 14..9018 bytes and MTUs of 576..9000;
 * - any permutation of a datagram's fragments, with duplicates, delivers its frame exactly once;
 * - whatever bytes reach the receive path, the machine never fails and each packet is delivered,
 *   dropped with a reason, or held as a fragment;
 * - every packet on the wire has correct lengths and checksums, and its fragments reassemble (by
 *   the RFC) to a UDP datagram to the link's port carrying exactly the frame;
 * - reassembly behaves like a map from datagram to received byte ranges (model-based, `fc.commands`).
 */
import fc from 'fast-check';
import type { AnyStateMachine } from 'xstate';
import { dropReasons, type Context } from '../machines/bridge.js';
import { reassemblyMatchesReferenceModel, startBridge } from './bridge-reassembly-model.js';
import type { MachineProperty } from './harness.js';

// ---- an independent checker, from the RFCs -----------------------------------------------------

/** RFC 1071: the 16-bit one's-complement sum of big-endian words (odd byte padded with zero). */
function rfcSum16(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const bytes of parts) {
    const words = Math.ceil(bytes.length / 2);
    for (let w = 0; w < words; w++) {
      const hi = bytes[2 * w];
      const lo = 2 * w + 1 < bytes.length ? bytes[2 * w + 1] : 0;
      sum += hi * 256 + lo;
      sum = (sum % 65536) + Math.floor(sum / 65536); // end-around carry
    }
  }
  return sum;
}

const be16 = (b: Uint8Array, i: number) => b[i] * 256 + b[i + 1];
const be32 = (b: Uint8Array, i: number) => be16(b, i) * 65536 + be16(b, i + 2);
const mac48 = (b: Uint8Array, i: number) => be16(b, i) * 2 ** 32 + be32(b, i + 2);

interface CheckedFragment {
  id: number;
  src: number;
  dst: number;
  more: boolean;
  offsetBytes: number;
  data: Uint8Array;
}

/** Checks one wire packet as an Ethernet II frame carrying an IPv4 datagram (RFC 894, RFC 791 §3.1). */
function checkWirePacket(packet: Uint8Array, want: { srcMac: number; dstMac: number; mtu: number }): CheckedFragment | string {
  if (packet.length < 14 + 20) return `packet of ${packet.length} bytes is too short for Ethernet + IPv4`;
  if (packet.length - 14 > want.mtu) return `IP datagram of ${packet.length - 14} bytes exceeds the MTU ${want.mtu}`;
  if (mac48(packet, 0) !== want.dstMac) return `destination MAC ${mac48(packet, 0).toString(16)} is not the next hop`;
  if (mac48(packet, 6) !== want.srcMac) return `source MAC ${mac48(packet, 6).toString(16)} is not the host's`;
  if (be16(packet, 12) !== 0x0800) return `EtherType ${be16(packet, 12).toString(16)} is not IPv4`;
  const ip = packet.subarray(14);
  if (ip[0] >> 4 !== 4) return `IP version ${ip[0] >> 4}`;
  const ihl = (ip[0] & 15) * 4;
  if (ihl !== 20) return `IHL ${ihl} bytes (expected a 20-byte header)`;
  if (be16(ip, 2) !== ip.length) return `Total Length ${be16(ip, 2)} but the datagram has ${ip.length} bytes`;
  if (rfcSum16(ip.subarray(0, ihl)) !== 0xffff) return `IPv4 header checksum ${be16(ip, 10).toString(16)} does not verify`;
  const flags = ip[6] >> 5;
  if (flags & 4) return 'reserved flag set';
  if (flags & 2) return 'DF set on a datagram the bridge fragments itself';
  if (ip[8] === 0) return 'TTL 0';
  if (ip[9] !== 17) return `protocol ${ip[9]} is not UDP`;
  const more = (flags & 1) === 1;
  const data = ip.subarray(ihl);
  if (more && data.length % 8 !== 0) return `a fragment with MF set carries ${data.length} bytes, not a multiple of 8`;
  return { id: be16(ip, 4), src: be32(ip, 12), dst: be32(ip, 16), more, offsetBytes: (be16(ip, 6) & 0x1fff) * 8, data };
}

/** Reassembles a sender's fragments by RFC 791 and checks the UDP datagram (RFC 768). */
function checkDatagram(
  fragments: CheckedFragment[],
  want: { srcIp: number; dstIp: number; srcPort: number; dstPort: number; checksum: boolean; frame: Uint8Array },
): string | undefined {
  if (fragments.length === 0) return 'nothing was sent';
  const ids = new Set(fragments.map((f) => f.id));
  if (ids.size !== 1) return `fragments of one datagram carry identifications ${[...ids]}`;
  const sorted = [...fragments].sort((a, b) => a.offsetBytes - b.offsetBytes);
  let next = 0;
  for (const [i, f] of sorted.entries()) {
    if (f.src !== want.srcIp || f.dst !== want.dstIp) return `fragment ${i} goes from ${f.src} to ${f.dst}`;
    if (f.offsetBytes !== next) return `fragment at byte ${f.offsetBytes}, expected ${next} (gap or overlap)`;
    if (f.more !== (i < sorted.length - 1)) return `fragment ${i} of ${sorted.length} has MF=${f.more}`;
    next += f.data.length;
  }
  const udp = new Uint8Array(next);
  for (const f of sorted) udp.set(f.data, f.offsetBytes);
  if (udp.length < 8) return `UDP datagram of ${udp.length} bytes`;
  if (be16(udp, 4) !== udp.length) return `UDP Length ${be16(udp, 4)} but the datagram has ${udp.length} bytes`;
  if (be16(udp, 0) !== want.srcPort || be16(udp, 2) !== want.dstPort) return `UDP ports ${be16(udp, 0)} -> ${be16(udp, 2)}`;
  const pseudo = new Uint8Array(12);
  pseudo.set([want.srcIp >>> 24, (want.srcIp >>> 16) & 255, (want.srcIp >>> 8) & 255, want.srcIp & 255], 0);
  pseudo.set([want.dstIp >>> 24, (want.dstIp >>> 16) & 255, (want.dstIp >>> 8) & 255, want.dstIp & 255], 4);
  pseudo[9] = 17;
  pseudo[10] = udp.length >> 8;
  pseudo[11] = udp.length & 255;
  const field = be16(udp, 6);
  if (want.checksum) {
    if (field === 0) return 'UDP checksum not computed (0)';
    if (rfcSum16(pseudo, udp) !== 0xffff) return `UDP checksum ${field.toString(16)} does not verify`;
  } else if (field !== 0) return `UDP checksum ${field.toString(16)} although checksums are off`;
  const payload = udp.subarray(8);
  if (payload.length !== want.frame.length || payload.some((b, i) => b !== want.frame[i])) return 'the UDP payload is not exactly the frame';
  return undefined;
}

// ---- driving bridges ---------------------------------------------------------------------------

const HOST_A = { ip: '10.0.0.1', ipNum: 0x0a000001, mac: 0x020000000001, macText: '02:00:00:00:00:01' };
const HOST_B = { ip: '10.0.0.2', ipNum: 0x0a000002, mac: 0x020000000002, macText: '02:00:00:00:00:02' };

/** Host A sends `frames` on a UDP link to host B; returns the wire packets of each frame. */
function sendFrames(machine: AnyStateMachine, frames: Uint8Array[], opts: { mtu: number; udpChecksum?: boolean; port?: number }) {
  const a = startBridge(machine, { mtu: opts.mtu, hostIp: HOST_A.ipNum, hostMac: HOST_A.mac, udpChecksum: opts.udpChecksum ?? true });
  a.send({ type: 'link.add', id: 1, ip: HOST_B.ip, port: opts.port ?? 9000, proto: 'udp', mac: HOST_B.macText });
  return frames.map((frame) => a.send({ type: 'send', link: 1, frame }).filter((e) => e.type === 'wire.send').map((e) => e.packet));
}

function receiver(machine: AnyStateMachine, mtu: number, extra: object = {}) {
  const b = startBridge(machine, { mtu, hostIp: HOST_B.ipNum, hostMac: HOST_B.mac, ...extra });
  b.send({ type: 'link.add', id: 5, ip: HOST_A.ip, port: 9000, proto: 'udp' });
  return b;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const heldFragments = (c: Context) => c.reassemblies.reduce((n, r) => n + r.fragments.length, 0);

/** Bytes of a length drawn uniformly from [min, max] (fast-check's default size would keep arrays near `min`). */
const bytesArb = (min: number, max: number) => fc.integer({ min, max }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
const frameArb = bytesArb;
const mtuArb = fc.integer({ min: 576, max: 9000 });

// ---- the properties ----------------------------------------------------------------------------

export const properties: readonly MachineProperty[] = [
  {
    name: 'bridge/decapsulate-encapsulate-is-identity',
    description:
      'A frame of 14..9018 bytes sent on a UDP link at any MTU of 576..9000 comes out of the peer bridge exactly once, byte for byte, tagged with the link of the sender.',
    runs: 100,
    property: (machine) =>
      fc.property(frameArb(14, 9018), mtuArb, fc.boolean(), (frame, mtu, udpChecksum) => {
        const [packets] = sendFrames(machine, [frame], { mtu, udpChecksum });
        const b = receiver(machine, mtu);
        const out = packets.flatMap((packet) => b.send({ type: 'receive', packet, now: 0 }));
        const delivered = out.filter((e) => e.type === 'core.deliver');
        if (out.length !== 1 || delivered.length !== 1) throw new Error(`expected one delivery, got ${JSON.stringify(out.map((e) => [e.type, 'reason' in e ? e.reason : '']))}`);
        if (delivered[0].linkId !== 5) throw new Error(`delivered as link ${delivered[0].linkId}, not the sender's link 5`);
        if (!sameBytes(delivered[0].frame, frame)) throw new Error(`delivered ${delivered[0].frame.length} bytes differing from the ${frame.length}-byte frame`);
      }),
  },
  {
    name: 'bridge/reassembly-delivers-each-datagram-once',
    description:
      'The fragments of up to three datagrams, shuffled together with duplicates, deliver each frame exactly once; every duplicate is dropped as such.',
    runs: 100,
    property: (machine) =>
      fc.property(
        // Longer than any MTU here allows unfragmented: every frame is fragmented.
        fc.array(frameArb(1500, 4000), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 576, max: 1500 }),
        fc.array(fc.nat(), { maxLength: 12, size: 'max' }),
        // Sort keys: the arrival order is the packets sorted by these (a shrinkable permutation).
        fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
        (frames, mtu, dups, keys) => {
          const sent = sendFrames(machine, frames, { mtu });
          const all = sent.flat();
          const withDups = [...all, ...dups.map((d) => all[d % all.length])];
          const order = withDups.map((p, i) => ({ p, k: keys[i % keys.length] * 64 + i })).sort((x, y) => x.k - y.k);
          const b = receiver(machine, mtu);
          const out = order.flatMap(({ p }) => b.send({ type: 'receive', packet: p, now: 0 }));
          const delivered = out.filter((e) => e.type === 'core.deliver');
          const seen = frames.map((f) => delivered.filter((d) => sameBytes(d.frame, f)).length);
          if (seen.some((n) => n !== 1) || delivered.length !== frames.length)
            throw new Error(`frames delivered ${JSON.stringify(seen)} times, ${delivered.length} deliveries in all`);
          const reasons = out.flatMap((e) => (e.type === 'drop' ? [e.reason] : []));
          if (reasons.length !== dups.length || reasons.some((r) => r !== 'duplicate-fragment'))
            throw new Error(`${dups.length} duplicates but drops ${JSON.stringify(reasons)}`);
          if (b.context().reassemblies.length !== 0) throw new Error('a reassembly is left behind after every datagram completed');
        },
      ),
  },
  {
    name: 'bridge/receive-accounts-for-every-byte-string',
    description:
      'Whatever bytes reach the receive path (noise, truncated, bit-flipped, padded or re-headed packets, valid fragments), the bridge never fails, and each packet is delivered as a frame of at least 14 bytes, dropped with a known reason, or held as a fragment.',
    runs: 150,
    property: (machine) => {
      const mtu = 1500;
      const valid = sendFrames(machine, [new Uint8Array(60).fill(7), new Uint8Array(3000).fill(9), new Uint8Array(1000).fill(3)], { mtu: 576 }).flat();
      const guest = new Uint8Array([2, 0, 0, 0, 0, 0xaa]);
      const packetArb = fc.oneof(
        bytesArb(0, 120),
        bytesArb(1400, 1600),
        fc.constantFrom(...valid),
        fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([p, i, x]) => {
          const q = p.slice();
          q[i % q.length] ^= x;
          return q;
        }),
        fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([p, n]) => p.slice(0, n % (p.length + 1))),
        fc.tuple(fc.constantFrom(...valid), bytesArb(1, 40)).map(([p, junk]) => {
          const q = new Uint8Array(p.length + junk.length);
          q.set(p);
          q.set(junk, p.length);
          return q;
        }),
        fc.tuple(fc.constantFrom(...valid), fc.nat(65535), fc.integer({ min: 14, max: 40 })).map(([p, v, at]) => reheader(p, at, v)),
        bytesArb(0, 80).map((rest) => {
          const q = new Uint8Array(6 + rest.length);
          q.set(guest);
          q.set(rest, 6);
          return q;
        }),
      );
      const stepArb = fc.oneof(
        { weight: 6, arbitrary: packetArb.map((packet) => ({ kind: 'receive' as const, packet })) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 40e9 }).map((dt) => ({ kind: 'tick' as const, dt })) },
      );
      return fc.property(fc.array(stepArb, { minLength: 1, maxLength: 30, size: 'max' }), (steps) => {
        const b = receiver(machine, mtu);
        b.send({ type: 'mac.register', mac: '02:00:00:00:00:aa' });
        let now = 0;
        for (const step of steps) {
          if (step.kind === 'tick') {
            now += step.dt;
            b.send({ type: 'tick', now });
            continue;
          }
          const before = heldFragments(b.context());
          const out = b.send({ type: 'receive', packet: step.packet, now });
          let expired = 0;
          let answered = 0;
          for (const e of out) {
            if (e.type === 'core.deliver') {
              if (e.frame.length < 14) throw new Error(`delivered a ${e.frame.length}-byte frame`);
              answered++;
            } else if (e.type === 'drop') {
              if (!(dropReasons as readonly string[]).includes(e.reason)) throw new Error(`drop with unknown reason ${e.reason}`);
              if (e.reason === 'reassembly-timeout') expired += e.fragments ?? 0;
              else answered++;
            } else throw new Error(`receive emitted ${e.type}`);
          }
          const held = heldFragments(b.context()) - (before - expired);
          if (answered === 0 && held !== 1) throw new Error(`a ${step.packet.length}-byte packet was neither delivered, dropped nor held`);
          if (answered > 0 && held > 0) throw new Error('a packet was both answered and held');
        }
      });
    },
  },
  {
    name: 'bridge/wire-packets-verify-by-rfc',
    description:
      'Every packet an encapsulated send puts on the wire is a well-formed Ethernet/IPv4 frame within the MTU, its header checksum verifies, and its fragments reassemble by RFC 791 to a UDP datagram (RFC 768) with correct length, ports and checksum that carries exactly the frame.',
    runs: 100,
    property: (machine) =>
      fc.property(frameArb(14, 9018), mtuArb, fc.boolean(), fc.integer({ min: 1, max: 65535 }), (frame, mtu, udpChecksum, port) => {
        const [packets] = sendFrames(machine, [frame], { mtu, udpChecksum, port });
        const fragments: CheckedFragment[] = [];
        for (const [i, p] of packets.entries()) {
          const f = checkWirePacket(p, { srcMac: HOST_A.mac, dstMac: HOST_B.mac, mtu });
          if (typeof f === 'string') throw new Error(`packet ${i} of ${packets.length}: ${f}`);
          fragments.push(f);
        }
        if (20 + 8 + frame.length <= mtu && packets.length !== 1) throw new Error(`a datagram within the MTU was sent in ${packets.length} packets`);
        const problem = checkDatagram(fragments, {
          srcIp: HOST_A.ipNum,
          dstIp: HOST_B.ipNum,
          srcPort: 9000,
          dstPort: port,
          checksum: udpChecksum,
          frame,
        });
        if (problem) throw new Error(problem);
      }),
  },
  reassemblyMatchesReferenceModel,
];

/**
 * A valid packet with the 16-bit word at byte `at` (within the IPv4 header) replaced by `value`
 * and the header checksum recomputed, so that the change reaches the checks behind the checksum.
 */
function reheader(packet: Uint8Array, at: number, value: number): Uint8Array {
  const q = packet.slice();
  const i = at - (at % 2);
  if (i + 1 >= q.length || i === 24) return q;
  q[i] = value >> 8;
  q[i + 1] = value & 255;
  if (q.length >= 34) {
    q[24] = 0;
    q[25] = 0;
    const c = ~rfcSum16(q.subarray(14, 34)) & 0xffff;
    q[24] = c >> 8;
    q[25] = c & 255;
  }
  return q;
}
