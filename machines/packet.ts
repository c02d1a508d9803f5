/**
 * Byte-level codecs the VNET/P bridge needs: Ethernet II (RFC 894), IPv4 (RFC 791) with
 * fragmentation, UDP (RFC 768), the Internet checksum (RFC 1071), and the length-prefixed record
 * framing used for TCP links; and TCP segments (RFC 9293) for the guest TCP workloads (model/tcp.ts). Pure functions over `Uint8Array`; no machine state.
 *
 * Decoders never throw on bad input: they return `{ ok: false, reason }`, with the reason one of
 * the drop reasons the bridge counts (`truncated`, `malformed`, `bad-checksum`).
 */

export const ETHERNET_HEADER_BYTES = 14;
export const IPV4_HEADER_BYTES = 20;
export const UDP_HEADER_BYTES = 8;
export const ETHERTYPE_IPV4 = 0x0800;
export const IPPROTO_UDP = 17;
/** Largest IPv4 datagram, header included (the 16-bit Total Length field). */
export const MAX_IPV4_DATAGRAM = 65535;
/** Largest Ethernet frame a UDP datagram can carry unfragmented at the IP layer: 65535 - 20 - 8. */
export const MAX_ENCAPSULATED_FRAME = MAX_IPV4_DATAGRAM - IPV4_HEADER_BYTES - UDP_HEADER_BYTES;
/** Length prefix of a record on a TCP link's byte stream (32-bit big-endian). */
export const RECORD_PREFIX_BYTES = 4;
/** RFC 791: every host must accept a 68-byte datagram without further fragmentation. */
export const MIN_IPV4_MTU = 68;

export type DecodeFailure = { readonly ok: false; readonly reason: 'truncated' | 'malformed' | 'bad-checksum' };

// ---- addresses ---------------------------------------------------------------------------------

/** A dotted-quad IPv4 address as a 32-bit unsigned integer, or undefined if it is not one. */
export function parseIpv4Address(text: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const v = Number(part);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIpv4Address(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** A colon-separated MAC address (`02:00:00:00:00:01`) as a 48-bit integer, or undefined. */
export function parseMac(text: string): number | undefined {
  if (typeof text !== 'string' || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) return undefined;
  return parseInt(text.replaceAll(':', ''), 16);
}

export function formatMac(n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(':');
}

/** A 48-bit MAC whose first octet has the group bit clear. */
export function isUnicastMac(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < 2 ** 48 && Math.floor(n / 2 ** 40) % 2 === 0;
}

const readU16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
const readU32 = (b: Uint8Array, at: number): number => ((b[at] << 24) >>> 0) + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
const writeU16 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = (v >>> 8) & 255;
  b[at + 1] = v & 255;
};
const writeU32 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = (v >>> 24) & 255;
  b[at + 1] = (v >>> 16) & 255;
  b[at + 2] = (v >>> 8) & 255;
  b[at + 3] = v & 255;
};
const readMac = (b: Uint8Array, at: number): number => readU16(b, at) * 2 ** 32 + readU32(b, at + 2);
const writeMac = (b: Uint8Array, at: number, mac: number): void => {
  writeU16(b, at, Math.floor(mac / 2 ** 32));
  writeU32(b, at + 2, mac % 2 ** 32);
};

// ---- Internet checksum (RFC 1071) --------------------------------------------------------------

/** 16-bit one's-complement sum of `bytes[start, end)` (odd length padded with a zero byte), folded. */
export function onesComplementSum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (i < end) sum += bytes[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The Internet checksum: the one's complement of the one's-complement sum. */
export function internetChecksum(bytes: Uint8Array, start = 0, end = bytes.length, initial = 0): number {
  return ~onesComplementSum(bytes, start, end, initial) & 0xffff;
}

// ---- Ethernet II -------------------------------------------------------------------------------

export interface EthernetHeader {
  readonly dst: number;
  readonly src: number;
  readonly etherType: number;
}

export function encodeEthernet(h: EthernetHeader, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(ETHERNET_HEADER_BYTES + payload.length);
  writeMac(out, 0, h.dst);
  writeMac(out, 6, h.src);
  writeU16(out, 12, h.etherType);
  out.set(payload, ETHERNET_HEADER_BYTES);
  return out;
}

/** The Ethernet header of a frame of at least 14 bytes (no FCS: frames are carried without it). */
export function decodeEthernet(frame: Uint8Array): ({ readonly ok: true; readonly payload: Uint8Array } & EthernetHeader) | DecodeFailure {
  if (frame.length < ETHERNET_HEADER_BYTES) return { ok: false, reason: 'truncated' };
  return {
    ok: true,
    dst: readMac(frame, 0),
    src: readMac(frame, 6),
    etherType: readU16(frame, 12),
    payload: frame.subarray(ETHERNET_HEADER_BYTES),
  };
}

// ---- IPv4 --------------------------------------------------------------------------------------

export interface Ipv4Header {
  readonly src: number;
  readonly dst: number;
  readonly protocol: number;
  /** Identification: equal on every fragment of one datagram. */
  readonly id: number;
  readonly ttl: number;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  /** Fragment Offset, in 8-byte units. */
  readonly fragmentOffset: number;
}

/** A 20-byte IPv4 header (no options) with its checksum, followed by `payload`. */
export function encodeIpv4(h: Ipv4Header, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(IPV4_HEADER_BYTES + payload.length);
  out[0] = 0x45; // version 4, IHL 5
  out[1] = 0; // DSCP/ECN
  writeU16(out, 2, out.length);
  writeU16(out, 4, h.id & 0xffff);
  writeU16(out, 6, (h.dontFragment ? 0x4000 : 0) | (h.moreFragments ? 0x2000 : 0) | (h.fragmentOffset & 0x1fff));
  out[8] = h.ttl & 255;
  out[9] = h.protocol & 255;
  writeU32(out, 12, h.src);
  writeU32(out, 16, h.dst);
  writeU16(out, 10, internetChecksum(out, 0, IPV4_HEADER_BYTES));
  out.set(payload, IPV4_HEADER_BYTES);
  return out;
}

export interface DecodedIpv4 extends Ipv4Header {
  readonly ok: true;
  readonly headerBytes: number;
  /** The data bytes the Total Length covers (link-layer padding after it is cut off). */
  readonly payload: Uint8Array;
}

/** Parses and validates an IPv4 header: version, IHL, Total Length, reserved flag, header checksum. */
export function decodeIpv4(bytes: Uint8Array): DecodedIpv4 | DecodeFailure {
  if (bytes.length < IPV4_HEADER_BYTES) return { ok: false, reason: 'truncated' };
  const version = bytes[0] >> 4;
  const ihl = (bytes[0] & 15) * 4;
  if (version !== 4 || ihl < IPV4_HEADER_BYTES) return { ok: false, reason: 'malformed' };
  if (bytes.length < ihl) return { ok: false, reason: 'truncated' };
  const total = readU16(bytes, 2);
  if (total < ihl) return { ok: false, reason: 'malformed' };
  if (bytes.length < total) return { ok: false, reason: 'truncated' };
  if (internetChecksum(bytes, 0, ihl) !== 0) return { ok: false, reason: 'bad-checksum' };
  const flags = readU16(bytes, 6);
  if (flags & 0x8000) return { ok: false, reason: 'malformed' };
  return {
    ok: true,
    headerBytes: ihl,
    src: readU32(bytes, 12),
    dst: readU32(bytes, 16),
    protocol: bytes[9],
    id: readU16(bytes, 4),
    ttl: bytes[8],
    dontFragment: (flags & 0x4000) !== 0,
    moreFragments: (flags & 0x2000) !== 0,
    fragmentOffset: flags & 0x1fff,
    payload: bytes.subarray(ihl, total),
  };
}

/**
 * RFC 791 §3.2 fragmentation of one datagram's `payload` for a path MTU of `mtu` bytes (IP header
 * included). Each fragment repeats the header with its own Total Length, MF flag, offset in 8-byte
 * units and checksum; all but the last carry a multiple of 8 data bytes.
 */
export function fragmentIpv4(h: Ipv4Header, payload: Uint8Array, mtu: number): Uint8Array[] {
  if (IPV4_HEADER_BYTES + payload.length <= mtu) return [encodeIpv4(h, payload)];
  const chunk = Math.floor((mtu - IPV4_HEADER_BYTES) / 8) * 8;
  if (chunk <= 0) throw new RangeError(`MTU ${mtu} leaves no room for fragment data`);
  const out: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += chunk) {
    const end = Math.min(payload.length, at + chunk);
    const last = end === payload.length;
    out.push(
      encodeIpv4(
        { ...h, moreFragments: h.moreFragments || !last, fragmentOffset: h.fragmentOffset + at / 8 },
        payload.subarray(at, end),
      ),
    );
  }
  return out;
}

// ---- UDP ---------------------------------------------------------------------------------------

/** The Internet checksum over the IPv4 pseudo-header (src, dst, zero, protocol, length) and `bytes` (RFC 768, RFC 9293 §3.1). */
function pseudoHeaderChecksum(srcIp: number, dstIp: number, protocol: number, bytes: Uint8Array): number {
  const pseudo = new Uint8Array(12);
  writeU32(pseudo, 0, srcIp);
  writeU32(pseudo, 4, dstIp);
  pseudo[9] = protocol;
  writeU16(pseudo, 10, bytes.length);
  return internetChecksum(bytes, 0, bytes.length, onesComplementSum(pseudo));
}

/** RFC 768 checksum over the pseudo-header (src, dst, zero, protocol, UDP length) and the datagram. */
export function udpChecksum(srcIp: number, dstIp: number, udp: Uint8Array): number {
  return pseudoHeaderChecksum(srcIp, dstIp, IPPROTO_UDP, udp);
}

export interface UdpHeader {
  readonly srcIp: number;
  readonly dstIp: number;
  readonly srcPort: number;
  readonly dstPort: number;
  /** Compute the checksum (false: transmit 0, "no checksum", as the original bridge does). */
  readonly checksum: boolean;
}

export function encodeUdp(h: UdpHeader, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(UDP_HEADER_BYTES + payload.length);
  writeU16(out, 0, h.srcPort);
  writeU16(out, 2, h.dstPort);
  writeU16(out, 4, out.length);
  out.set(payload, UDP_HEADER_BYTES);
  if (h.checksum) {
    const c = udpChecksum(h.srcIp, h.dstIp, out);
    // RFC 768: a computed zero is transmitted as all ones; zero means "no checksum".
    writeU16(out, 6, c === 0 ? 0xffff : c);
  }
  return out;
}

export interface DecodedUdp {
  readonly ok: true;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
}

/**
 * Parses a UDP datagram (the whole IP payload): its Length must be at least 8 and fit the IP
 * payload (bytes past it are ignored); a non-zero checksum must verify over the pseudo-header.
 */
export function decodeUdp(srcIp: number, dstIp: number, bytes: Uint8Array): DecodedUdp | DecodeFailure {
  if (bytes.length < UDP_HEADER_BYTES) return { ok: false, reason: 'truncated' };
  const len = readU16(bytes, 4);
  if (len < UDP_HEADER_BYTES) return { ok: false, reason: 'malformed' };
  if (len > bytes.length) return { ok: false, reason: 'truncated' };
  const udp = bytes.subarray(0, len);
  if (readU16(udp, 6) !== 0 && udpChecksum(srcIp, dstIp, udp) !== 0) return { ok: false, reason: 'bad-checksum' };
  return { ok: true, srcPort: readU16(udp, 0), dstPort: readU16(udp, 2), payload: udp.subarray(UDP_HEADER_BYTES) };
}

// ---- TCP (RFC 9293 §3.1) -----------------------------------------------------------------------

export const IPPROTO_TCP = 6;
/** TCP header without options (RFC 9293 §3.1: Data Offset 5). */
export const TCP_HEADER_BYTES = 20;
/** The Timestamps option as Linux sends it on every segment: NOP, NOP, kind 8, length 10, TSval, TSecr (RFC 7323 §3.2, Appendix A layout). */
export const TCP_TIMESTAMP_OPTION_BYTES = 12;
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/** RFC 9293 §3.1 checksum: the one's-complement sum over the pseudo-header (src, dst, zero, protocol 6, TCP length) and the segment. */
export function tcpChecksum(srcIp: number, dstIp: number, segment: Uint8Array): number {
  return pseudoHeaderChecksum(srcIp, dstIp, IPPROTO_TCP, segment);
}

export interface TcpHeader {
  readonly srcIp: number;
  readonly dstIp: number;
  readonly srcPort: number;
  readonly dstPort: number;
  /** Sequence and acknowledgment numbers, modulo 2^32. */
  readonly seq: number;
  readonly ack: number;
  /** Control bits (`TCP_ACK | TCP_PSH`, ...). */
  readonly flags: number;
  /** The 16-bit Window field as sent (already shifted right by the window scale, RFC 7323 §2.3). */
  readonly window: number;
  /** The Timestamps option (RFC 7323 §3), if sent. */
  readonly timestamps?: { readonly value: number; readonly echo: number };
}

/** A TCP segment (header, the Timestamps option if given, payload) with its checksum. */
export function encodeTcp(h: TcpHeader, payload: Uint8Array): Uint8Array {
  const optBytes = h.timestamps ? TCP_TIMESTAMP_OPTION_BYTES : 0;
  const hdr = TCP_HEADER_BYTES + optBytes;
  const out = new Uint8Array(hdr + payload.length);
  writeU16(out, 0, h.srcPort);
  writeU16(out, 2, h.dstPort);
  writeU32(out, 4, h.seq >>> 0);
  writeU32(out, 8, h.ack >>> 0);
  out[12] = (hdr / 4) << 4; // Data Offset in 32-bit words
  out[13] = h.flags & 0xff;
  writeU16(out, 14, h.window & 0xffff);
  if (h.timestamps) {
    out[20] = 1; // NOP
    out[21] = 1; // NOP
    out[22] = 8; // kind: Timestamps
    out[23] = 10;
    writeU32(out, 24, h.timestamps.value >>> 0);
    writeU32(out, 28, h.timestamps.echo >>> 0);
  }
  out.set(payload, hdr);
  writeU16(out, 16, tcpChecksum(h.srcIp, h.dstIp, out));
  return out;
}

export interface DecodedTcp {
  readonly ok: true;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly timestamps: { readonly value: number; readonly echo: number } | undefined;
  readonly payload: Uint8Array;
}

/**
 * Parses a TCP segment (the whole IP payload) and verifies its checksum (RFC 9293 §3.1, §3.10.7.4:
 * a segment failing it is dropped). Options other than Timestamps are skipped by their length.
 */
export function decodeTcp(srcIp: number, dstIp: number, bytes: Uint8Array): DecodedTcp | DecodeFailure {
  if (bytes.length < TCP_HEADER_BYTES) return { ok: false, reason: 'truncated' };
  const hdr = (bytes[12] >> 4) * 4;
  if (hdr < TCP_HEADER_BYTES) return { ok: false, reason: 'malformed' };
  if (bytes.length < hdr) return { ok: false, reason: 'truncated' };
  if (tcpChecksum(srcIp, dstIp, bytes) !== 0) return { ok: false, reason: 'bad-checksum' };
  let timestamps: DecodedTcp['timestamps'];
  for (let at = TCP_HEADER_BYTES; at < hdr; ) {
    const kind = bytes[at];
    if (kind === 0) break; // End of Option List
    if (kind === 1) {
      at++;
      continue;
    }
    const len = bytes[at + 1];
    if (at + 1 >= hdr || len < 2 || at + len > hdr) return { ok: false, reason: 'malformed' };
    if (kind === 8 && len === 10) timestamps = { value: readU32(bytes, at + 2), echo: readU32(bytes, at + 6) };
    at += len;
  }
  return {
    ok: true,
    srcPort: readU16(bytes, 0),
    dstPort: readU16(bytes, 2),
    seq: readU32(bytes, 4),
    ack: readU32(bytes, 8),
    flags: bytes[13],
    window: readU16(bytes, 14),
    timestamps,
    payload: bytes.subarray(hdr),
  };
}

// ---- MAC-in-UDP encapsulation ------------------------------------------------------------------

export interface EncapsulationHeaders {
  readonly srcMac: number;
  /** Next hop on the physical network: the peer itself or a gateway. */
  readonly dstMac: number;
  readonly srcIp: number;
  readonly dstIp: number;
  readonly srcPort: number;
  readonly dstPort: number;
  /** IPv4 Identification of this datagram. */
  readonly id: number;
  readonly ttl: number;
  readonly udpChecksum: boolean;
}

/**
 * The Ethernet frame as the entire payload of a UDP datagram (no extra header, as the original
 * bridge and VNET/U), in an IPv4 datagram fragmented for `mtu`, each piece in an outer Ethernet
 * frame: the packets to put on the wire, in offset order.
 */
export function encapsulateUdp(frame: Uint8Array, h: EncapsulationHeaders, mtu: number): Uint8Array[] {
  const udp = encodeUdp({ srcIp: h.srcIp, dstIp: h.dstIp, srcPort: h.srcPort, dstPort: h.dstPort, checksum: h.udpChecksum }, frame);
  const ip: Ipv4Header = {
    src: h.srcIp,
    dst: h.dstIp,
    protocol: IPPROTO_UDP,
    id: h.id,
    ttl: h.ttl,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
  };
  return fragmentIpv4(ip, udp, mtu).map((d) => encodeEthernet({ dst: h.dstMac, src: h.srcMac, etherType: ETHERTYPE_IPV4 }, d));
}

// ---- records on a TCP byte stream --------------------------------------------------------------

/** One Ethernet frame as a record on a TCP link's stream: a 32-bit big-endian length, then the frame. */
export function encodeRecord(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_PREFIX_BYTES + frame.length);
  writeU32(out, 0, frame.length);
  out.set(frame, RECORD_PREFIX_BYTES);
  return out;
}

export interface ParsedRecords {
  /** Complete records, in stream order. */
  readonly frames: Uint8Array[];
  /** Bytes of an incomplete record left at the end of the buffer. */
  readonly rest: Uint8Array;
  /** A length prefix outside [minLength, maxLength]: the stream cannot be resynchronized. */
  readonly badLength?: number;
}

/** Splits a stream buffer into complete records. Stops at a length prefix outside the allowed range. */
export function parseRecords(buffer: Uint8Array, minLength: number, maxLength: number): ParsedRecords {
  const frames: Uint8Array[] = [];
  let at = 0;
  while (buffer.length - at >= RECORD_PREFIX_BYTES) {
    const len = readU32(buffer, at);
    if (len < minLength || len > maxLength) return { frames, rest: new Uint8Array(0), badLength: len };
    if (buffer.length - at - RECORD_PREFIX_BYTES < len) break;
    frames.push(buffer.slice(at + RECORD_PREFIX_BYTES, at + RECORD_PREFIX_BYTES + len));
    at += RECORD_PREFIX_BYTES + len;
  }
  return { frames, rest: buffer.slice(at) };
}

export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
