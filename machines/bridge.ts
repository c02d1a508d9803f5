/**
 * The VNET/P bridge: between the VNET/P core and the physical network, through the host NIC.
 *
 * Sources: dissertation §5.1.4 (direct and encapsulated send and receive), §5.1.3 (MTU:
 * fragmentation and reassembly are VNET/P's and transparent to the guest); the original bridge
 * (palacios-notes.md §4: plain MAC-in-UDP to port 9000, the Ethernet frame is the entire UDP
 * payload, the receive side identifies the link by source IP only); RFC 791 (IPv4, §3.2
 * fragmentation and reassembly), RFC 768 (UDP), RFC 894 (IPv4 over Ethernet).
 *
 * - **Encapsulated send**: the frame becomes the payload of a UDP datagram from the host's IP and
 *   the bridge port to the link's IP and port, in an IPv4 datagram fragmented for the physical MTU,
 *   each piece behind an outer Ethernet header from the host MAC to the link's next-hop MAC. The
 *   host MAC and IP, the port and the MTU are inputs; a link names its next-hop MAC, else the
 *   input's `gatewayMac` is used (ARP is not modelled). Identification counts datagrams.
 * - **TCP links** carry each frame as a record on the link's byte stream: a 32-bit big-endian length,
 *   then the frame. The machine emits the record bytes to append to the stream and parses arriving
 *   stream bytes back into records with a per-link buffer; the TCP state machine is the host's.
 * - **Direct send** hands the raw frame to the local network (at most MTU + 14 bytes).
 * - **Encapsulated receive** validates the outer headers, identifies the link by source IP (UDP
 *   links, newest first), reassembles fragments in bounded buffers with a timeout, checks the UDP
 *   header and port, and hands the inner frame to the core.
 * - **Direct receive** (promiscuous NIC) hands over frames whose destination MAC the core registered.
 *
 * Everything else is dropped, counted by reason and reported as a `drop` effect; no input throws.
 * Time enters as `now` (integer ns) on `receive` and `tick`; reassemblies older than the timeout are
 * expired (and counted) as soon as an event shows that their time has passed.
 *
 * The receive region's states say how full the reassembly buffer is: `empty`, `partial`, `full`
 * (as many datagrams in reassembly as allowed).
 */
import { and, assign, enqueueActions, not, raise, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import {
  ETHERNET_HEADER_BYTES,
  ETHERTYPE_IPV4,
  IPPROTO_UDP,
  IPV4_HEADER_BYTES,
  MAX_ENCAPSULATED_FRAME,
  MAX_IPV4_DATAGRAM,
  MIN_IPV4_MTU,
  UDP_HEADER_BYTES,
  concatBytes,
  decodeEthernet,
  decodeIpv4,
  decodeUdp,
  encapsulateUdp,
  encodeRecord,
  formatIpv4Address,
  formatMac,
  isUnicastMac,
  parseIpv4Address,
  parseMac,
  parseRecords,
} from './packet.js';
import { InputError, checkParams, type ParamsOf } from './params.js';

/** Largest frame the core may hand over: a 64 KB MTU plus the Ethernet header (§5.1.3). */
export const MAX_FRAME_BYTES = 65536 + ETHERNET_HEADER_BYTES;
/** TTL of encapsulated datagrams (Linux default). */
export const ENCAPSULATION_TTL = 64;

export const params = {
  mtu: {
    kind: 'number',
    default: 1500,
    min: MIN_IPV4_MTU,
    max: MAX_IPV4_DATAGRAM,
    integer: true,
    unit: 'bytes',
    description:
      'Physical MTU: the largest IPv4 datagram (header included) the host NIC carries. Larger encapsulated datagrams are fragmented; larger direct frames are dropped.',
    source: '§5.1.3 (MTU); RFC 791 §3.2; RFC 894',
  },
  port: {
    kind: 'number',
    default: 9000,
    min: 1,
    max: 65535,
    integer: true,
    description: 'UDP port the bridge listens on and sends from (VNET_SERVER_PORT, as VNET/U).',
    source: 'palacios-notes.md §4',
  },
  udpChecksum: {
    kind: 'boolean',
    default: true,
    description: 'Compute UDP checksums on send (false sends 0, "no checksum", as the original bridge does). Received non-zero checksums are always verified.',
    source: 'RFC 768; palacios-notes.md §4',
  },
  hostIp: {
    kind: 'number',
    default: 0x0a000001,
    min: 1,
    max: 0xdfffffff,
    integer: true,
    description: "The host's IPv4 address as a 32-bit integer (10.0.0.1 = 167772161): source of encapsulated datagrams, the destination the bridge accepts.",
    source: '§5.1.4',
  },
  hostMac: {
    kind: 'number',
    default: 0x020000000001,
    min: 0,
    max: 2 ** 48 - 1,
    integer: true,
    rule: { test: isUnicastMac, says: 'a unicast MAC (group bit clear)' },
    description: "The host NIC's MAC as a 48-bit integer (02:00:00:00:00:01 = 2199023255553): source of outer Ethernet headers, the destination the bridge accepts.",
    source: '§5.1.4; RFC 894',
  },
  gatewayMac: {
    kind: 'number',
    default: 0x0200000000fe,
    min: 0,
    max: 2 ** 48 - 1,
    integer: true,
    rule: { test: isUnicastMac, says: 'a unicast MAC (group bit clear)' },
    description: 'Next-hop MAC for links added without their own `mac` (a router, or the peer on one segment).',
    source: 'RFC 894; RFC 826 (resolution not modelled)',
  },
  maxReassemblies: {
    kind: 'number',
    default: 64,
    min: 1,
    max: 4096,
    integer: true,
    unit: 'datagrams',
    description: 'Datagrams that may be in reassembly at once; a fragment of a further one is dropped.',
    source: 'RFC 791 §3.2 (reassembly resources)',
  },
  maxReassemblyBytes: {
    kind: 'number',
    default: 4 * 1024 * 1024,
    min: MIN_IPV4_MTU - IPV4_HEADER_BYTES,
    max: 2 ** 30,
    integer: true,
    unit: 'bytes',
    description: 'Fragment data held for reassembly, over all datagrams; a fragment that would exceed it is dropped. Linux ipfrag_high_thresh is 4 MiB.',
    source: 'RFC 791 §3.2; Linux ipfrag_high_thresh',
  },
  reassemblyTimeoutNs: {
    kind: 'number',
    default: 30e9,
    min: 1,
    max: 255e9,
    integer: true,
    unit: 'ns',
    description: 'A datagram not complete this long after its first fragment arrived is dropped. Linux ipfrag_time is 30 s; RFC 791 bounds it by the TTL (255 s).',
    source: 'RFC 791 §3.2 (reassembly timer); Linux ipfrag_time',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

/** Returns complete parameters or throws an `InputError` naming the field. */
export function checkInput(input: unknown): Params {
  const p = checkParams('bridge', params, input);
  // A buffer that cannot hold one full-size fragment could never start a reassembly.
  if (p.maxReassemblyBytes < p.mtu - IPV4_HEADER_BYTES) {
    throw new InputError('bridge', 'maxReassemblyBytes', p.maxReassemblyBytes, `at least mtu - 20 = ${p.mtu - IPV4_HEADER_BYTES} bytes`);
  }
  return p;
}

export const dropReasons = [
  'truncated',
  'malformed',
  'bad-checksum',
  'oversized',
  'unknown-link',
  'not-for-bridge',
  'duplicate-fragment',
  'overlapping-fragment',
  'reassembly-full',
  'reassembly-timeout',
] as const;
export type DropReason = (typeof dropReasons)[number];

export type LinkProto = 'udp' | 'tcp';

export interface Link {
  readonly id: number;
  /** Remote IPv4 address, dotted quad (normalized). */
  readonly ip: string;
  readonly port: number;
  readonly proto: LinkProto;
  /** Next-hop MAC for this link, or null for the input's gateway. */
  readonly mac: string | null;
}

/** Fragment data held for reassembly; offsets are bytes into the datagram's payload (the UDP datagram). */
export interface HeldFragment {
  readonly start: number;
  readonly end: number;
  readonly data: Uint8Array;
}

/** One datagram in reassembly, keyed by (source, identification); destination and protocol are fixed. */
export interface Reassembly {
  readonly src: string;
  readonly id: number;
  /** Arrival time of its first fragment (ns). */
  readonly started: number;
  /** Held fragments, disjoint, by start offset. */
  readonly fragments: readonly HeldFragment[];
  /** Payload length, known once the last fragment (MF clear) arrived. */
  readonly total: number | null;
  /** Data bytes held. */
  readonly bytes: number;
}

/** A datagram completed less than a timeout ago: its late fragments are duplicates (RFC 791: ids do not repeat within a datagram's lifetime). */
export interface Completed {
  readonly src: string;
  readonly id: number;
  readonly at: number;
}

export interface Stats {
  /** Frames handed over by the core. */
  sends: number;
  sentDirect: number;
  /** Encapsulated UDP datagrams sent, and the wire packets (fragments) they took. */
  sentDatagrams: number;
  sentPackets: number;
  sentRecords: number;
  sendDrops: number;
  /** Packets from the host NIC. */
  received: number;
  deliveredDirect: number;
  /** Unfragmented encapsulated datagrams delivered. */
  deliveredWhole: number;
  /** Packets dropped on arrival (not counting datagrams dropped after reassembly or by timeout). */
  packetDrops: number;
  /** Fragments that left the buffer as part of a completed datagram, or by timeout. */
  fragmentsAssembled: number;
  fragmentsExpired: number;
  datagramsAssembled: number;
  deliveredAssembled: number;
  assembledDrops: number;
  /** Frames delivered from TCP link streams. */
  deliveredRecords: number;
  /** Every drop effect, by reason. */
  drops: Record<DropReason, number>;
}

export interface Context {
  /** Complete, checked parameters. */
  readonly p: Params;
  /** The link table, oldest first (a receive matches the newest UDP link with the source IP). */
  links: Link[];
  /** Destination MACs the core asked for (direct receive). */
  macs: string[];
  reassemblies: Reassembly[];
  /** Recently completed datagrams, oldest first, at most maxReassemblies. */
  completed: Completed[];
  /** Per TCP link: received stream bytes not yet forming a whole record. */
  streams: { linkId: number; buffered: Uint8Array }[];
  /** Identification of the next encapsulated datagram (16 bits). */
  nextIpId: number;
  /** The latest time any event carried (ns). */
  now: number;
  stats: Stats;
}

export type Event =
  /** Configure (or replace) a link. */
  | { type: 'link.add'; id: number; ip: string; port: number; proto: LinkProto; mac?: string }
  | { type: 'link.del'; id: number }
  /** The core asks for frames to a MAC from the local network (direct receive). */
  | { type: 'mac.register'; mac: string }
  | { type: 'mac.unregister'; mac: string }
  /** The core hands a frame over, with its routing decision: a link id, or `local` (direct send). */
  | { type: 'send'; link: number | 'local'; frame: Uint8Array }
  /** The host NIC received a packet (an Ethernet frame without FCS). */
  | { type: 'receive'; packet: Uint8Array; now: number }
  /** Bytes arrived on a TCP link's stream. */
  | { type: 'stream.receive'; linkId: number; bytes: Uint8Array }
  /** Time passes. */
  | { type: 'tick'; now: number };

export type Emitted =
  /** A packet for the host NIC: one per fragment. */
  | { type: 'wire.send'; packet: Uint8Array }
  /** Bytes to append to a TCP link's stream. */
  | { type: 'stream.send'; linkId: number; bytes: Uint8Array }
  /** A frame for the VNET/P core, from a link or from the local network (`local`). */
  | { type: 'core.deliver'; linkId: number | 'local'; frame: Uint8Array }
  | { type: 'drop'; reason: DropReason; direction: 'send' | 'receive'; linkId?: number; fragments?: number };

const zeroDrops = (): Record<DropReason, number> =>
  Object.fromEntries(dropReasons.map((r) => [r, 0])) as Record<DropReason, number>;

export function initialContext(p: Params): Context {
  return {
    p,
    links: [],
    macs: [],
    reassemblies: [],
    completed: [],
    streams: [],
    nextIpId: 0,
    now: 0,
    stats: {
      sends: 0,
      sentDirect: 0,
      sentDatagrams: 0,
      sentPackets: 0,
      sentRecords: 0,
      sendDrops: 0,
      received: 0,
      deliveredDirect: 0,
      deliveredWhole: 0,
      packetDrops: 0,
      fragmentsAssembled: 0,
      fragmentsExpired: 0,
      datagramsAssembled: 0,
      deliveredAssembled: 0,
      assembledDrops: 0,
      deliveredRecords: 0,
      drops: zeroDrops(),
    },
  };
}

// ---- pure protocol steps -----------------------------------------------------------------------

const isBytes = (x: unknown): x is Uint8Array => x instanceof Uint8Array;

/** The time an event shows: its `now` if later than anything seen (time never runs backwards). */
function timeOf(c: Context, e: Event): number {
  const now = 'now' in e && Number.isSafeInteger(e.now) ? e.now : c.now;
  return Math.max(c.now, now);
}

const linkById = (c: Context, id: unknown) => c.links.find((l) => l.id === id);

/** The newest UDP link with this remote address (the original keys its receive table on source IP only). */
function linkBySource(c: Context, ip: string): Link | undefined {
  for (let i = c.links.length - 1; i >= 0; i--) if (c.links[i].ip === ip && c.links[i].proto === 'udp') return c.links[i];
  return undefined;
}

/** The outer packets for `frame` on UDP link `link`, with identification `id`. */
export function encapsulateFor(c: Context, link: Link, frame: Uint8Array, id: number): Uint8Array[] {
  return encapsulateUdp(
    frame,
    {
      srcMac: c.p.hostMac,
      dstMac: link.mac !== null ? parseMac(link.mac)! : c.p.gatewayMac,
      srcIp: c.p.hostIp,
      dstIp: parseIpv4Address(link.ip)!,
      srcPort: c.p.port,
      dstPort: link.port,
      id,
      ttl: ENCAPSULATION_TTL,
      udpChecksum: c.p.udpChecksum,
    },
    c.p.mtu,
  );
}

/** Why a `send` is dropped, or undefined if it is not. */
function sendDropReason(c: Context, e: Event): DropReason | undefined {
  if (e.type !== 'send') return undefined;
  if (!isBytes(e.frame) || e.frame.length < ETHERNET_HEADER_BYTES) return 'truncated';
  if (e.frame.length > MAX_FRAME_BYTES) return 'oversized';
  if (e.link === 'local') return e.frame.length - ETHERNET_HEADER_BYTES > c.p.mtu ? 'oversized' : undefined;
  const link = linkById(c, e.link);
  if (!link) return 'unknown-link';
  if (link.proto === 'udp' && e.frame.length > MAX_ENCAPSULATED_FRAME) return 'oversized';
  return undefined;
}

/** What an arriving packet is, before reassembly. */
export type Verdict =
  | { readonly kind: 'drop'; readonly reason: DropReason; readonly linkId?: number }
  | { readonly kind: 'direct'; readonly frame: Uint8Array }
  | { readonly kind: 'whole'; readonly linkId: number; readonly frame: Uint8Array }
  | {
      readonly kind: 'fragment';
      readonly linkId: number;
      readonly src: string;
      readonly id: number;
      readonly start: number;
      readonly end: number;
      readonly last: boolean;
      readonly data: Uint8Array;
    };

/** The UDP datagram (an IP payload, whole or reassembled) from `src`: the inner frame, or why not. */
function openDatagram(c: Context, srcIp: number, udp: Uint8Array): { frame: Uint8Array } | { reason: DropReason } {
  const u = decodeUdp(srcIp, c.p.hostIp, udp);
  if (!u.ok) return { reason: u.reason };
  if (u.dstPort !== c.p.port) return { reason: 'not-for-bridge' };
  if (u.payload.length < ETHERNET_HEADER_BYTES) return { reason: 'truncated' };
  return { frame: u.payload.slice() };
}

function classify(c: Context, packet: unknown): Verdict {
  if (!isBytes(packet) || packet.length < ETHERNET_HEADER_BYTES) return { kind: 'drop', reason: 'truncated' };
  if (packet.length - ETHERNET_HEADER_BYTES > c.p.mtu) return { kind: 'drop', reason: 'oversized' };
  const eth = decodeEthernet(packet);
  if (!eth.ok) return { kind: 'drop', reason: eth.reason };
  if (c.macs.includes(formatMac(eth.dst))) return { kind: 'direct', frame: packet.slice() };
  if (eth.dst !== c.p.hostMac || eth.etherType !== ETHERTYPE_IPV4) return { kind: 'drop', reason: 'not-for-bridge' };
  const ip = decodeIpv4(eth.payload);
  if (!ip.ok) return { kind: 'drop', reason: ip.reason };
  if (ip.dst !== c.p.hostIp || ip.protocol !== IPPROTO_UDP) return { kind: 'drop', reason: 'not-for-bridge' };
  const src = formatIpv4Address(ip.src);
  const link = linkBySource(c, src);
  if (!link) return { kind: 'drop', reason: 'unknown-link' };
  if (!ip.moreFragments && ip.fragmentOffset === 0) {
    const opened = openDatagram(c, ip.src, ip.payload);
    return 'frame' in opened ? { kind: 'whole', linkId: link.id, frame: opened.frame } : { kind: 'drop', reason: opened.reason, linkId: link.id };
  }
  const start = ip.fragmentOffset * 8;
  const end = start + ip.payload.length;
  if (ip.payload.length === 0 || (ip.moreFragments && ip.payload.length % 8 !== 0)) {
    return { kind: 'drop', reason: 'malformed', linkId: link.id };
  }
  if (end + IPV4_HEADER_BYTES > MAX_IPV4_DATAGRAM) return { kind: 'drop', reason: 'oversized', linkId: link.id };
  return { kind: 'fragment', linkId: link.id, src, id: ip.id, start, end, last: !ip.moreFragments, data: ip.payload.slice() };
}

// Guards ask about the same packet several times per event: classify it once per (context, event).
const verdicts = new WeakMap<object, { c: Context; v: Verdict }>();
export function verdictOf(c: Context, e: Event): Verdict | undefined {
  if (e.type !== 'receive') return undefined;
  const hit = verdicts.get(e);
  if (hit && hit.c === c) return hit.v;
  const v = classify(c, e.packet);
  verdicts.set(e, { c, v });
  return v;
}

type FragmentVerdict = Extract<Verdict, { kind: 'fragment' }>;
const fragmentOf = (c: Context, e: Event): FragmentVerdict | undefined => {
  const v = verdictOf(c, e);
  return v?.kind === 'fragment' ? v : undefined;
};

const reassemblyFor = (c: Context, f: { src: string; id: number }) => c.reassemblies.find((r) => r.src === f.src && r.id === f.id);
const heldBytes = (c: Context) => c.reassemblies.reduce((a, r) => a + r.bytes, 0);
const overdue = (c: Context, r: Reassembly, now: number) => now - r.started >= c.p.reassemblyTimeoutNs;
const completedLive = (c: Context, now: number) => c.completed.filter((d) => now - d.at < c.p.reassemblyTimeoutNs);

/**
 * Why a fragment cannot join its datagram: its bytes are already held (or the datagram was just
 * completed), it overlaps held bytes, or its end contradicts the datagram's known length.
 */
export function fragmentConflict(c: Context, f: FragmentVerdict, now: number): DropReason | undefined {
  if (completedLive(c, now).some((d) => d.src === f.src && d.id === f.id)) return 'duplicate-fragment';
  const r = reassemblyFor(c, f);
  if (!r) return undefined;
  let covered = 0;
  for (const h of r.fragments) covered += Math.max(0, Math.min(h.end, f.end) - Math.max(h.start, f.start));
  if (covered === f.end - f.start) return 'duplicate-fragment';
  if (covered > 0) return 'overlapping-fragment';
  const maxEnd = r.fragments.reduce((a, h) => Math.max(a, h.end), 0);
  if (f.last && ((r.total !== null && r.total !== f.end) || maxEnd > f.end)) return 'malformed';
  if (!f.last && r.total !== null && f.end > r.total) return 'malformed';
  return undefined;
}

/** Whether this fragment's bytes complete its datagram (held bytes are disjoint, so counting suffices). */
function completes(c: Context, f: FragmentVerdict): boolean {
  const r = reassemblyFor(c, f);
  if (!r) return false;
  const total = f.last ? f.end : r.total;
  return total !== null && r.bytes + (f.end - f.start) === total;
}

function withFragment(r: Reassembly, f: FragmentVerdict): Reassembly {
  const fragments = [...r.fragments, { start: f.start, end: f.end, data: f.data }].sort((a, b) => a.start - b.start);
  return { ...r, fragments, total: f.last ? f.end : r.total, bytes: r.bytes + f.data.length };
}

/** The datagram payload from disjoint fragments covering [0, total). */
function assemble(r: Reassembly, total: number): Uint8Array {
  const out = new Uint8Array(total);
  for (const h of r.fragments) out.set(h.data.subarray(0, Math.max(0, Math.min(h.data.length, total - h.start))), Math.min(h.start, total));
  return out;
}

const count = (stats: Stats, reason: DropReason): Stats => ({ ...stats, drops: { ...stats.drops, [reason]: stats.drops[reason] + 1 } });

const src = (source: string) => ({ source });

export const bridgeMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    // -- configuration
    validLink: ({ event }) =>
      event.type === 'link.add' &&
      Number.isSafeInteger(event.id) &&
      event.id > 0 &&
      parseIpv4Address(event.ip) !== undefined &&
      Number.isInteger(event.port) &&
      event.port >= 1 &&
      event.port <= 65535 &&
      (event.proto === 'udp' || event.proto === 'tcp') &&
      (event.mac === undefined || (parseMac(event.mac) !== undefined && isUnicastMac(parseMac(event.mac)!))),
    knownLink: ({ context, event }) => event.type === 'link.del' && linkById(context, event.id) !== undefined,
    /** A well-formed MAC not yet registered, and not the host's own (which encapsulated receive needs). */
    registrableMac: ({ context, event }) => {
      if (event.type !== 'mac.register') return false;
      const mac = parseMac(event.mac);
      return mac !== undefined && mac !== context.p.hostMac && !context.macs.includes(formatMac(mac));
    },
    registeredMac: ({ context, event }) => {
      if (event.type !== 'mac.unregister') return false;
      const mac = parseMac(event.mac);
      return mac !== undefined && context.macs.includes(formatMac(mac));
    },
    // -- transmit
    sendRejected: ({ context, event }) => {
      if (event.type !== 'send') return false;
      if (!isBytes(event.frame) || event.frame.length < ETHERNET_HEADER_BYTES) return true;
      return event.frame.length > MAX_FRAME_BYTES;
    },
    toLocal: ({ event }) => event.type === 'send' && event.link === 'local',
    frameFitsPhysicalMtu: ({ context, event }) =>
      event.type === 'send' && isBytes(event.frame) && event.frame.length - ETHERNET_HEADER_BYTES <= context.p.mtu,
    linkUnknown: ({ context, event }) => event.type === 'send' && linkById(context, event.link) === undefined,
    tcpLink: ({ context, event }) => event.type === 'send' && linkById(context, event.link)?.proto === 'tcp',
    datagramTooLarge: ({ event }) => event.type === 'send' && isBytes(event.frame) && event.frame.length > MAX_ENCAPSULATED_FRAME,
    datagramFitsMtu: ({ context, event }) =>
      event.type === 'send' && isBytes(event.frame) && IPV4_HEADER_BYTES + UDP_HEADER_BYTES + event.frame.length <= context.p.mtu,
    // -- receive
    packetRejected: ({ context, event }) => verdictOf(context, event)?.kind === 'drop',
    forRegisteredMac: ({ context, event }) => verdictOf(context, event)?.kind === 'direct',
    wholeDatagram: ({ context, event }) => verdictOf(context, event)?.kind === 'whole',
    isFragment: ({ context, event }) => fragmentOf(context, event) !== undefined,
    /** The fragment's bytes are held already, overlap held bytes, or contradict the datagram's length. */
    fragmentOverlapsHeld: ({ context, event }) => {
      const f = fragmentOf(context, event);
      return f !== undefined && fragmentConflict(context, f, timeOf(context, event)) !== undefined;
    },
    fragmentCompletesDatagram: ({ context, event }) => {
      const f = fragmentOf(context, event);
      return f !== undefined && completes(context, f);
    },
    fragmentJoinsReassembly: ({ context, event }) => {
      const f = fragmentOf(context, event);
      return f !== undefined && reassemblyFor(context, f) !== undefined;
    },
    fragmentFitsBuffer: ({ context, event }) => {
      const f = fragmentOf(context, event);
      return f !== undefined && heldBytes(context) + f.data.length <= context.p.maxReassemblyBytes;
    },
    /** Starting one more reassembly fills the last slot. */
    lastFreeSlot: ({ context }) => context.reassemblies.length === context.p.maxReassemblies - 1,
    /** Only one datagram is in reassembly. */
    lastReassembly: ({ context }) => context.reassemblies.length === 1,
    /** Some reassembly has outlived the timeout by the event's time. */
    reassemblyOverdue: ({ context, event }) => {
      const now = timeOf(context, event);
      return context.reassemblies.some((r) => overdue(context, r, now));
    },
    allReassembliesOverdue: ({ context, event }) => {
      const now = timeOf(context, event);
      return context.reassemblies.every((r) => overdue(context, r, now));
    },
    streamLinkUnknown: ({ context, event }) =>
      event.type === 'stream.receive' && isBytes(event.bytes) && linkById(context, event.linkId)?.proto !== 'tcp',
    streamLinkKnown: ({ context, event }) =>
      event.type === 'stream.receive' && isBytes(event.bytes) && linkById(context, event.linkId)?.proto === 'tcp',
  },
  actions: {
    addLink: assign(({ context, event }) => {
      if (event.type !== 'link.add') return {};
      const link: Link = {
        id: event.id,
        ip: formatIpv4Address(parseIpv4Address(event.ip)!),
        port: event.port,
        proto: event.proto,
        mac: event.mac === undefined ? null : formatMac(parseMac(event.mac)!),
      };
      // Replacing a link resets its stream: a new link is a new connection.
      return {
        links: [...context.links.filter((l) => l.id !== event.id), link],
        streams: [
          ...context.streams.filter((s) => s.linkId !== event.id),
          ...(link.proto === 'tcp' ? [{ linkId: link.id, buffered: new Uint8Array(0) }] : []),
        ],
      };
    }),
    deleteLink: assign(({ context, event }) => {
      if (event.type !== 'link.del') return {};
      return {
        links: context.links.filter((l) => l.id !== event.id),
        streams: context.streams.filter((s) => s.linkId !== event.id),
      };
    }),
    registerMac: assign(({ context, event }) =>
      event.type === 'mac.register' ? { macs: [...context.macs, formatMac(parseMac(event.mac)!)] } : {},
    ),
    unregisterMac: assign(({ context, event }) => {
      if (event.type !== 'mac.unregister') return {};
      const mac = formatMac(parseMac(event.mac)!);
      return { macs: context.macs.filter((m) => m !== mac) };
    }),
    dropSend: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'send') return;
      const reason = sendDropReason(context, event) ?? 'oversized';
      enqueue.assign({ stats: { ...count(context.stats, reason), sends: context.stats.sends + 1, sendDrops: context.stats.sendDrops + 1 } });
      enqueue.emit({ type: 'drop', reason, direction: 'send', ...(typeof event.link === 'number' ? { linkId: event.link } : {}) });
    }),
    sendDirect: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'send') return;
      enqueue.assign({ stats: { ...context.stats, sends: context.stats.sends + 1, sentDirect: context.stats.sentDirect + 1 } });
      enqueue.emit({ type: 'wire.send', packet: event.frame.slice() });
    }),
    /** Encapsulate in UDP/IPv4/Ethernet, fragmenting for the MTU; one wire packet per fragment. */
    sendEncapsulated: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'send') return;
      const link = linkById(context, event.link)!;
      const packets = encapsulateFor(context, link, event.frame, context.nextIpId);
      enqueue.assign({
        nextIpId: (context.nextIpId + 1) & 0xffff,
        stats: {
          ...context.stats,
          sends: context.stats.sends + 1,
          sentDatagrams: context.stats.sentDatagrams + 1,
          sentPackets: context.stats.sentPackets + packets.length,
        },
      });
      for (const packet of packets) enqueue.emit({ type: 'wire.send', packet });
    }),
    sendRecord: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'send' || typeof event.link !== 'number') return;
      enqueue.assign({ stats: { ...context.stats, sends: context.stats.sends + 1, sentRecords: context.stats.sentRecords + 1 } });
      enqueue.emit({ type: 'stream.send', linkId: event.link, bytes: encodeRecord(event.frame) });
    }),
    advanceClock: assign(({ context, event }) => {
      const now = timeOf(context, event);
      return { now, completed: completedLive(context, now) };
    }),
    dropPacket: enqueueActions(({ context, event, enqueue }) => {
      const v = verdictOf(context, event);
      if (v?.kind !== 'drop') return;
      enqueue.assign({
        stats: { ...count(context.stats, v.reason), received: context.stats.received + 1, packetDrops: context.stats.packetDrops + 1 },
      });
      enqueue.emit({ type: 'drop', reason: v.reason, direction: 'receive', ...(v.linkId !== undefined ? { linkId: v.linkId } : {}) });
    }),
    deliverDirect: enqueueActions(({ context, event, enqueue }) => {
      const v = verdictOf(context, event);
      if (v?.kind !== 'direct') return;
      enqueue.assign({ stats: { ...context.stats, received: context.stats.received + 1, deliveredDirect: context.stats.deliveredDirect + 1 } });
      enqueue.emit({ type: 'core.deliver', linkId: 'local', frame: v.frame });
    }),
    deliverWhole: enqueueActions(({ context, event, enqueue }) => {
      const v = verdictOf(context, event);
      if (v?.kind !== 'whole') return;
      enqueue.assign({ stats: { ...context.stats, received: context.stats.received + 1, deliveredWhole: context.stats.deliveredWhole + 1 } });
      enqueue.emit({ type: 'core.deliver', linkId: v.linkId, frame: v.frame });
    }),
    dropFragment: enqueueActions(({ context, event, enqueue }) => {
      const f = fragmentOf(context, event);
      if (!f) return;
      const reason = fragmentConflict(context, f, timeOf(context, event)) ?? 'duplicate-fragment';
      enqueue.assign({
        stats: { ...count(context.stats, reason), received: context.stats.received + 1, packetDrops: context.stats.packetDrops + 1 },
      });
      enqueue.emit({ type: 'drop', reason, direction: 'receive', linkId: f.linkId });
    }),
    dropNoRoom: enqueueActions(({ context, event, enqueue }) => {
      const f = fragmentOf(context, event);
      if (!f) return;
      enqueue.assign({
        stats: { ...count(context.stats, 'reassembly-full'), received: context.stats.received + 1, packetDrops: context.stats.packetDrops + 1 },
      });
      enqueue.emit({ type: 'drop', reason: 'reassembly-full', direction: 'receive', linkId: f.linkId });
    }),
    startReassembly: assign(({ context, event }) => {
      const f = fragmentOf(context, event);
      if (!f) return {};
      const fresh: Reassembly = { src: f.src, id: f.id, started: timeOf(context, event), fragments: [], total: null, bytes: 0 };
      return { reassemblies: [...context.reassemblies, withFragment(fresh, f)], stats: { ...context.stats, received: context.stats.received + 1 } };
    }),
    addFragment: assign(({ context, event }) => {
      const f = fragmentOf(context, event);
      if (!f) return {};
      return {
        reassemblies: context.reassemblies.map((r) => (r.src === f.src && r.id === f.id ? withFragment(r, f) : r)),
        stats: { ...context.stats, received: context.stats.received + 1 },
      };
    }),
    /** The last missing fragment: assemble, free the buffer, open the UDP datagram and deliver its frame. */
    completeReassembly: enqueueActions(({ context, event, enqueue }) => {
      const f = fragmentOf(context, event);
      if (!f) return;
      const r = withFragment(reassemblyFor(context, f)!, f);
      const opened = openDatagram(context, parseIpv4Address(f.src)!, assemble(r, r.total ?? r.bytes));
      const now = timeOf(context, event);
      const completed = [...completedLive(context, now), { src: f.src, id: f.id, at: now }].slice(-context.p.maxReassemblies);
      const st = context.stats;
      const base: Stats = {
        ...st,
        received: st.received + 1,
        fragmentsAssembled: st.fragmentsAssembled + r.fragments.length,
        datagramsAssembled: st.datagramsAssembled + 1,
      };
      enqueue.assign({
        reassemblies: context.reassemblies.filter((x) => !(x.src === f.src && x.id === f.id)),
        completed,
        stats:
          'frame' in opened
            ? { ...base, deliveredAssembled: st.deliveredAssembled + 1 }
            : { ...count(base, opened.reason), assembledDrops: st.assembledDrops + 1 },
      });
      if ('frame' in opened) enqueue.emit({ type: 'core.deliver', linkId: f.linkId, frame: opened.frame });
      else enqueue.emit({ type: 'drop', reason: opened.reason, direction: 'receive', linkId: f.linkId, fragments: r.fragments.length });
    }),
    /** Drop every datagram whose reassembly outlived the timeout, and advance the clock. */
    expireOverdue: enqueueActions(({ context, event, enqueue }) => {
      const now = timeOf(context, event);
      const gone = context.reassemblies.filter((r) => overdue(context, r, now));
      let stats = context.stats;
      for (const r of gone) {
        stats = { ...count(stats, 'reassembly-timeout'), fragmentsExpired: stats.fragmentsExpired + r.fragments.length };
        const link = linkBySource(context, r.src);
        enqueue.emit({
          type: 'drop',
          reason: 'reassembly-timeout',
          direction: 'receive',
          fragments: r.fragments.length,
          ...(link ? { linkId: link.id } : {}),
        });
      }
      enqueue.assign({
        now,
        completed: completedLive(context, now),
        reassemblies: context.reassemblies.filter((r) => !overdue(context, r, now)),
        stats,
      });
    }),
    /** Handle the event again, now that overdue reassemblies are gone. */
    reprocess: raise(({ event }) => event),
    dropStreamBytes: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'stream.receive') return;
      enqueue.assign({ stats: { ...count(context.stats, 'unknown-link') } });
      enqueue.emit({ type: 'drop', reason: 'unknown-link', direction: 'receive', linkId: event.linkId });
    }),
    /** Append to the link's stream buffer and deliver every complete record; a bad length prefix desynchronizes the stream, which is discarded. */
    takeStreamBytes: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'stream.receive') return;
      const stream = context.streams.find((s) => s.linkId === event.linkId);
      const parsed = parseRecords(concatBytes(stream?.buffered ?? new Uint8Array(0), event.bytes), ETHERNET_HEADER_BYTES, MAX_FRAME_BYTES);
      let stats: Stats = { ...context.stats, deliveredRecords: context.stats.deliveredRecords + parsed.frames.length };
      for (const frame of parsed.frames) enqueue.emit({ type: 'core.deliver', linkId: event.linkId, frame });
      if (parsed.badLength !== undefined) {
        const reason: DropReason = parsed.badLength > MAX_FRAME_BYTES ? 'oversized' : 'truncated';
        stats = count(stats, reason);
        enqueue.emit({ type: 'drop', reason, direction: 'receive', linkId: event.linkId });
      }
      enqueue.assign({
        stats,
        streams: context.streams.map((s) => (s.linkId === event.linkId ? { linkId: s.linkId, buffered: parsed.rest } : s)),
      });
    }),
  },
}).createMachine({
  id: 'bridge',
  description: 'The VNET/P bridge on one host: direct and encapsulated send and receive between the VNET/P core and the host NIC.',
  meta: src('§5.1.4; palacios-notes.md §4'),
  context: ({ input }) => initialContext(checkInput(input)),
  type: 'parallel',
  on: {
    'link.add': {
      guard: 'validLink',
      actions: 'addLink',
      description: 'Configure a link (remote IP, port, UDP or TCP, optional next-hop MAC); an existing id is replaced and its stream reset.',
      meta: src('§5.1.5; palacios-notes.md §5.3'),
    },
    'link.del': {
      guard: 'knownLink',
      actions: 'deleteLink',
      description: 'Remove a link; frames routed to it are dropped from now on.',
      meta: src('palacios-notes.md §5.3'),
    },
    'mac.register': {
      guard: 'registrableMac',
      actions: 'registerMac',
      description: 'The core asks for frames to this MAC from the local network (direct receive).',
      meta: src('§5.1.4 (direct receive)'),
    },
    'mac.unregister': {
      guard: 'registeredMac',
      actions: 'unregisterMac',
      description: 'The core no longer wants frames to this MAC.',
      meta: src('§5.1.4 (direct receive)'),
    },
  },
  states: {
    transmit: {
      description: 'Frames from the VNET/P core to the host NIC or a TCP link stream.',
      meta: src('§5.1.4 (direct send, encapsulated send)'),
      initial: 'ready',
      states: {
        ready: {
          description: 'The bridge takes each frame with its routing decision and sends it at once (no queueing).',
          meta: src('§5.1.4; palacios-notes.md §4 (bridge_send_pkt)'),
          on: {
            send: [
              {
                guard: 'sendRejected',
                actions: 'dropSend',
                description: 'A frame shorter than an Ethernet header or longer than 64 KB + 14 is dropped.',
                meta: src('§5.1.3 (64 KB MTU); RFC 894'),
              },
              {
                guard: and(['toLocal', 'frameFitsPhysicalMtu']),
                actions: 'sendDirect',
                description: 'Direct send: the raw Ethernet frame goes to the local network.',
                meta: src('§5.1.4 (direct send)'),
              },
              {
                guard: 'toLocal',
                actions: 'dropSend',
                description: 'Direct send of a frame larger than the physical MTU: Ethernet cannot fragment it, so it is dropped.',
                meta: src('§5.1.4; RFC 894'),
              },
              {
                guard: 'linkUnknown',
                actions: 'dropSend',
                description: 'The routing decision names no configured link: drop and count.',
                meta: src('palacios-notes.md §4 (bridge_send_pkt: pkt_drop_vmm)'),
              },
              {
                guard: 'tcpLink',
                actions: 'sendRecord',
                description: "TCP link: append the frame as a length-prefixed record to the link's byte stream.",
                meta: src('palacios-notes.md §4 (TCP links); §5.1.4'),
              },
              {
                guard: 'datagramTooLarge',
                actions: 'dropSend',
                description: 'The frame does not fit one UDP datagram (over 65507 bytes): drop and count.',
                meta: src('RFC 791 (Total Length); palacios-notes.md §3.4'),
              },
              {
                guard: 'datagramFitsMtu',
                actions: 'sendEncapsulated',
                description: 'Encapsulated send: the frame is the whole UDP payload to the link IP:port, one IPv4 datagram within the MTU.',
                meta: src('§5.1.4 (encapsulated send); palacios-notes.md §4'),
              },
              {
                actions: 'sendEncapsulated',
                description: 'Encapsulated send of a datagram over the MTU: IPv4 fragments, each within the MTU with its own header and checksum.',
                meta: src('§5.1.3 (fragmentation by VNET/P); RFC 791 §3.2'),
              },
            ],
          },
        },
      },
    },
    receive: {
      description: 'Packets from the host NIC and bytes from TCP link streams, to the VNET/P core.',
      meta: src('§5.1.4 (direct receive, encapsulated receive)'),
      initial: 'empty',
      on: {
        receive: [
          {
            guard: 'packetRejected',
            actions: ['advanceClock', 'dropPacket'],
            description:
              'Truncated, malformed, bad checksum, oversized, not for the bridge (other MAC, IP, protocol or port) or from an unknown source IP: drop and count by reason.',
            meta: src('RFC 791 §3.1; RFC 768; palacios-notes.md §4 (_udp_server)'),
          },
          {
            guard: 'forRegisteredMac',
            actions: ['advanceClock', 'deliverDirect'],
            description: 'Direct receive: a frame to a MAC the core registered is handed over as it is.',
            meta: src('§5.1.4 (direct receive)'),
          },
          {
            guard: 'wholeDatagram',
            actions: ['advanceClock', 'deliverWhole'],
            description: 'Encapsulated receive: an unfragmented UDP datagram to the bridge port; its payload frame goes to the core, tagged with the link of its source IP.',
            meta: src('§5.1.4 (encapsulated receive); palacios-notes.md §4'),
          },
          {
            guard: 'fragmentOverlapsHeld',
            actions: ['advanceClock', 'dropFragment'],
            description:
              'A fragment whose bytes are already held (a duplicate, or of a just-completed datagram), that overlaps held bytes, or that contradicts the known length: dropped, never assembled twice.',
            meta: src('RFC 791 §3.2 (reassembly); RFC 1858'),
          },
        ],
        'stream.receive': [
          {
            guard: 'streamLinkUnknown',
            actions: 'dropStreamBytes',
            description: 'Stream bytes for no configured TCP link: drop and count.',
            meta: src('palacios-notes.md §4'),
          },
          {
            guard: 'streamLinkKnown',
            actions: 'takeStreamBytes',
            description: "Append to the link's stream buffer and deliver each complete record's frame; a bad length prefix is counted and the stream discarded.",
            meta: src('§5.1.4; palacios-notes.md §4 (TCP links)'),
          },
        ],
        tick: {
          actions: 'advanceClock',
          description: 'Time passes with no reassembly overdue.',
          meta: src('RFC 791 §3.2 (reassembly timer)'),
        },
      },
      states: {
        empty: {
          description: 'No datagram is in reassembly.',
          meta: src('RFC 791 §3.2'),
          on: {
            receive: [
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld'), 'lastFreeSlot']),
                target: 'full',
                actions: ['advanceClock', 'startReassembly'],
                description: 'The first fragment of a datagram starts its reassembly and takes the only slot.',
                meta: src('RFC 791 §3.2'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld')]),
                target: 'partial',
                actions: ['advanceClock', 'startReassembly'],
                description: 'The first fragment of a datagram (in any order) starts its reassembly buffer and timer.',
                meta: src('RFC 791 §3.2'),
              },
            ],
          },
        },
        partial: {
          description: 'Some datagrams are in reassembly, and there is a slot for another.',
          meta: src('RFC 791 §3.2'),
          on: {
            receive: [
              {
                guard: and(['reassemblyOverdue', 'allReassembliesOverdue']),
                target: 'empty',
                actions: ['expireOverdue', 'reprocess'],
                description: 'The packet arrives after every reassembly timed out: drop them all (counted), then handle the packet.',
                meta: src('RFC 791 §3.2 (reassembly timer)'),
              },
              {
                guard: 'reassemblyOverdue',
                target: 'partial',
                actions: ['expireOverdue', 'reprocess'],
                description: 'The packet arrives after some reassemblies timed out: drop those (counted), then handle the packet.',
                meta: src('RFC 791 §3.2 (reassembly timer)'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld'), 'fragmentCompletesDatagram', 'lastReassembly']),
                target: 'empty',
                actions: ['advanceClock', 'completeReassembly'],
                description: 'The last missing fragment of the only datagram in reassembly: assemble and deliver its frame.',
                meta: src('§5.1.3 (reassembly by VNET/P); RFC 791 §3.2'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld'), 'fragmentCompletesDatagram']),
                target: 'partial',
                actions: ['advanceClock', 'completeReassembly'],
                description: 'The last missing fragment of one datagram: assemble and deliver it; others stay in reassembly.',
                meta: src('§5.1.3; RFC 791 §3.2'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld'), 'fragmentJoinsReassembly', 'fragmentFitsBuffer']),
                actions: ['advanceClock', 'addFragment'],
                description: "A further fragment joins its datagram's buffer.",
                meta: src('RFC 791 §3.2'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld'), not('fragmentJoinsReassembly'), 'fragmentFitsBuffer', 'lastFreeSlot']),
                target: 'full',
                actions: ['advanceClock', 'startReassembly'],
                description: 'A fragment of a new datagram takes the last free slot.',
                meta: src('RFC 791 §3.2'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld'), not('fragmentJoinsReassembly'), 'fragmentFitsBuffer']),
                target: 'partial',
                actions: ['advanceClock', 'startReassembly'],
                description: 'A fragment of a new datagram starts another reassembly.',
                meta: src('RFC 791 §3.2'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld')]),
                actions: ['advanceClock', 'dropNoRoom'],
                description: 'The fragment would exceed the bytes allowed for reassembly: drop and count.',
                meta: src('RFC 791 §3.2 (reassembly resources)'),
              },
            ],
            tick: [
              {
                guard: and(['reassemblyOverdue', 'allReassembliesOverdue']),
                target: 'empty',
                actions: 'expireOverdue',
                description: 'Every reassembly timed out: drop them (counted).',
                meta: src('RFC 791 §3.2 (reassembly timer)'),
              },
              {
                guard: 'reassemblyOverdue',
                target: 'partial',
                actions: 'expireOverdue',
                description: 'Some reassemblies timed out: drop those (counted).',
                meta: src('RFC 791 §3.2 (reassembly timer)'),
              },
            ],
          },
        },
        full: {
          description: 'As many datagrams are in reassembly as allowed: a fragment of another is dropped.',
          meta: src('RFC 791 §3.2 (reassembly resources)'),
          on: {
            receive: [
              {
                guard: and(['reassemblyOverdue', 'allReassembliesOverdue']),
                target: 'empty',
                actions: ['expireOverdue', 'reprocess'],
                description: 'The packet arrives after every reassembly timed out: drop them all (counted), then handle the packet.',
                meta: src('RFC 791 §3.2 (reassembly timer)'),
              },
              {
                guard: 'reassemblyOverdue',
                target: 'partial',
                actions: ['expireOverdue', 'reprocess'],
                description: 'The packet arrives after some reassemblies timed out, freeing slots: drop those (counted), then handle the packet.',
                meta: src('RFC 791 §3.2 (reassembly timer)'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld'), 'fragmentCompletesDatagram', 'lastReassembly']),
                target: 'empty',
                actions: ['advanceClock', 'completeReassembly'],
                description: 'The last missing fragment of the only datagram allowed in reassembly: assemble and deliver.',
                meta: src('§5.1.3; RFC 791 §3.2'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld'), 'fragmentCompletesDatagram']),
                target: 'partial',
                actions: ['advanceClock', 'completeReassembly'],
                description: 'The last missing fragment of one datagram: assemble and deliver it, freeing a slot.',
                meta: src('§5.1.3; RFC 791 §3.2'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld'), 'fragmentJoinsReassembly', 'fragmentFitsBuffer']),
                actions: ['advanceClock', 'addFragment'],
                description: "A further fragment joins its datagram's buffer.",
                meta: src('RFC 791 §3.2'),
              },
              {
                guard: and(['isFragment', not('fragmentOverlapsHeld')]),
                actions: ['advanceClock', 'dropNoRoom'],
                description: 'A fragment of a new datagram (no slot), or one that would exceed the byte limit: drop and count.',
                meta: src('RFC 791 §3.2 (reassembly resources)'),
              },
            ],
            tick: [
              {
                guard: and(['reassemblyOverdue', 'allReassembliesOverdue']),
                target: 'empty',
                actions: 'expireOverdue',
                description: 'Every reassembly timed out: drop them (counted).',
                meta: src('RFC 791 §3.2 (reassembly timer)'),
              },
              {
                guard: 'reassemblyOverdue',
                target: 'partial',
                actions: 'expireOverdue',
                description: 'Some reassemblies timed out, freeing slots: drop those (counted).',
                meta: src('RFC 791 §3.2 (reassembly timer)'),
              },
            ],
          },
        },
      },
    },
  },
});

export type BridgeMachine = typeof bridgeMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<BridgeMachine>;

const bufferState = (s: Snap) => (s.value as { receive: 'empty' | 'partial' | 'full' }).receive;

/** Safety properties of the bridge alone. */
export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'reassembly-buffer-bounded',
    description:
      'At most maxReassemblies datagrams and maxReassemblyBytes bytes are held for reassembly, and the receive state says how full the buffer is (empty: none, full: as many as allowed).',
    source: 'RFC 791 §3.2 (reassembly resources)',
    check: (s) => {
      const c = s.context;
      const n = c.reassemblies.length;
      if (n > c.p.maxReassemblies) return `${n} datagrams in reassembly, more than ${c.p.maxReassemblies}`;
      const bytes = heldBytes(c);
      if (bytes > c.p.maxReassemblyBytes) return `${bytes} bytes held for reassembly, more than ${c.p.maxReassemblyBytes}`;
      const want = n === 0 ? 'empty' : n === c.p.maxReassemblies ? 'full' : 'partial';
      if (bufferState(s) !== want) return `receive state ${bufferState(s)} with ${n} of ${c.p.maxReassemblies} reassemblies (expected ${want})`;
      if (c.completed.length > c.p.maxReassemblies) return `${c.completed.length} completed datagrams remembered, more than ${c.p.maxReassemblies}`;
      return undefined;
    },
    witness: {
      name: 'reassembly-buffer-full',
      description: 'As many datagrams as allowed are sometimes in reassembly at once.',
      reached: (s) => s.context.reassemblies.length === s.context.p.maxReassemblies,
    },
  },
  {
    name: 'reassembly-within-timeout',
    description: 'No datagram stays in reassembly as long as the timeout: once time reaches its deadline it is dropped and counted.',
    source: 'RFC 791 §3.2 (reassembly timer)',
    check: (s) => {
      const c = s.context;
      for (const r of c.reassemblies) {
        if (c.now - r.started >= c.p.reassemblyTimeoutNs)
          return `datagram ${r.src}#${r.id} has been in reassembly ${c.now - r.started} ns, timeout ${c.p.reassemblyTimeoutNs} ns`;
      }
      return undefined;
    },
    witness: {
      name: 'reassembly-timed-out',
      description: 'A reassembly sometimes times out.',
      reached: (s) => s.context.stats.drops['reassembly-timeout'] > 0,
    },
  },
  {
    name: 'held-fragments-consistent',
    description:
      'The fragments held for one datagram are disjoint, start on 8-byte boundaries, lie within its length once known, and do not yet complete it: no byte is held twice and a complete datagram is never left waiting.',
    source: 'RFC 791 §3.2',
    check: (s) => {
      for (const r of s.context.reassemblies) {
        let end = 0;
        let bytes = 0;
        for (const h of r.fragments) {
          if (h.start < end) return `datagram ${r.src}#${r.id} holds overlapping fragments at byte ${h.start}`;
          if (h.start % 8 !== 0) return `datagram ${r.src}#${r.id} holds a fragment at byte ${h.start}, not a multiple of 8`;
          if (h.end - h.start !== h.data.length) return `datagram ${r.src}#${r.id} holds a fragment whose range and data disagree`;
          if (r.total !== null && h.end > r.total) return `datagram ${r.src}#${r.id} holds bytes past its length ${r.total}`;
          end = h.end;
          bytes += h.data.length;
        }
        if (bytes !== r.bytes) return `datagram ${r.src}#${r.id} counts ${r.bytes} bytes but holds ${bytes}`;
        if (r.fragments.length === 0) return `datagram ${r.src}#${r.id} is in reassembly with no fragment`;
        if (r.total !== null && bytes >= r.total) return `datagram ${r.src}#${r.id} is complete but still in reassembly`;
      }
      return undefined;
    },
    witness: {
      name: 'fragments-held-together',
      description: 'A datagram sometimes has several fragments held.',
      reached: (s) => s.context.reassemblies.some((r) => r.fragments.length >= 2),
    },
  },
  {
    name: 'every-packet-accounted',
    description:
      'Every frame from the core was sent directly, encapsulated, streamed or dropped; every packet from the NIC was delivered, dropped with a reason, or is a fragment held, assembled or expired; every assembled datagram was delivered or dropped.',
    source: '§5.1.4; ARCHITECTURE.md (conservation)',
    check: (s) => {
      const st = s.context.stats;
      const held = s.context.reassemblies.reduce((a, r) => a + r.fragments.length, 0);
      const out = st.sentDirect + st.sentDatagrams + st.sentRecords + st.sendDrops;
      if (st.sends !== out) return `${st.sends} frames from the core but ${out} sent or dropped`;
      const fate = st.deliveredDirect + st.deliveredWhole + st.packetDrops + held + st.fragmentsAssembled + st.fragmentsExpired;
      if (st.received !== fate) return `${st.received} packets received but ${fate} delivered, dropped, held, assembled or expired`;
      if (st.datagramsAssembled !== st.deliveredAssembled + st.assembledDrops)
        return `${st.datagramsAssembled} datagrams assembled but ${st.deliveredAssembled + st.assembledDrops} delivered or dropped`;
      const drops = Object.values(st.drops).reduce((a, b) => a + b, 0);
      if (drops < st.sendDrops + st.packetDrops + st.assembledDrops) return `${drops} drops counted by reason, fewer than dropped`;
      return undefined;
    },
    witness: {
      name: 'malformed-packet-dropped',
      description: 'A truncated or malformed packet sometimes arrives and is dropped.',
      reached: (s) => s.context.stats.drops.truncated + s.context.stats.drops.malformed > 0,
    },
  },
  {
    name: 'link-table-consistent',
    description: 'Link ids are unique, and exactly the TCP links have a stream buffer, holding less than one record beyond its length prefix.',
    source: 'palacios-notes.md §4, §5.3',
    check: (s) => {
      const c = s.context;
      const ids = c.links.map((l) => l.id);
      if (new Set(ids).size !== ids.length) return `duplicate link ids in ${JSON.stringify(ids)}`;
      const tcp = c.links.filter((l) => l.proto === 'tcp').map((l) => l.id).sort();
      const streams = c.streams.map((x) => x.linkId).sort();
      if (JSON.stringify(tcp) !== JSON.stringify(streams)) return `TCP links ${JSON.stringify(tcp)} but stream buffers for ${JSON.stringify(streams)}`;
      for (const x of c.streams) {
        if (parseRecords(x.buffered, ETHERNET_HEADER_BYTES, MAX_FRAME_BYTES).frames.length > 0)
          return `link ${x.linkId} buffers a complete record that was not delivered`;
      }
      return undefined;
    },
    witness: {
      name: 'record-split-across-segments',
      description: 'A TCP link sometimes holds part of a record, waiting for the rest of the stream.',
      reached: (s) => s.context.streams.some((x) => x.buffered.length > 0),
    },
  },
];

/** "Sometimes" conditions beyond the invariants' own. */
export const witnesses: readonly Witness<Snap>[] = [
  {
    name: 'frame-fragmented',
    description: 'An encapsulated frame sometimes exceeds the MTU and leaves as several fragments.',
    reached: (s) => s.context.stats.sentPackets > s.context.stats.sentDatagrams,
  },
  {
    name: 'datagram-reassembled',
    description: 'A fragmented datagram is sometimes reassembled and its frame delivered.',
    reached: (s) => s.context.stats.deliveredAssembled > 0,
  },
  {
    name: 'duplicate-fragment-dropped',
    description: 'A duplicate fragment sometimes arrives and is dropped rather than assembled twice.',
    reached: (s) => s.context.stats.drops['duplicate-fragment'] > 0,
  },
  {
    name: 'unknown-link-dropped',
    description: 'A datagram from an address of no link sometimes arrives and is dropped.',
    reached: (s) => s.context.stats.drops['unknown-link'] > 0,
  },
  {
    name: 'direct-delivery',
    description: 'A frame to a registered MAC is sometimes handed to the core by direct receive.',
    reached: (s) => s.context.stats.deliveredDirect > 0,
  },
  {
    name: 'record-delivered',
    description: 'A frame sometimes arrives over a TCP link stream.',
    reached: (s) => s.context.stats.deliveredRecords > 0,
  },
];

// ---- exploration alphabet ------------------------------------------------------------------------

/** Fixed addresses of the exploration alphabet (and of tests that want them). */
export const fixture = {
  udpPeer: '10.0.0.2',
  tcpPeer: '10.0.0.3',
  strangerIp: '10.0.0.9',
  peerMac: '02:00:00:00:00:02',
  guestMac: '02:00:00:00:00:aa',
} as const;

/** A test Ethernet frame of `bytes` bytes (at least 14) to the guest MAC, its payload a counting pattern. */
export function sampleFrame(bytes: number, seed = 0): Uint8Array {
  const f = new Uint8Array(bytes);
  const dst = parseMac(fixture.guestMac)!;
  const srcMac = 0x0200000000bb;
  for (let i = 0; i < 6; i++) {
    f[i] = Math.floor(dst / 2 ** (8 * (5 - i))) & 255;
    f[6 + i] = Math.floor(srcMac / 2 ** (8 * (5 - i))) & 255;
  }
  f[12] = 0x08;
  f[13] = 0x00;
  for (let i = 14; i < bytes; i++) f[i] = (i + seed) & 255;
  return f;
}

interface Fixtures {
  small: Uint8Array;
  big: Uint8Array;
  runt: Uint8Array;
  huge: Uint8Array;
  whole: Uint8Array;
  stranger: Uint8Array;
  truncated: Uint8Array;
  direct: Uint8Array;
  /** Fragments of a 3-fragment datagram A and a 2-fragment datagram B (at the samples' MTU). */
  a: Uint8Array[];
  b: Uint8Array[];
  /** A record of `small` split in two stream segments, and a segment with an impossible length. */
  record: [Uint8Array, Uint8Array];
  badRecord: Uint8Array;
}

const fixtureCache = new Map<string, Fixtures>();

/** Packets as the peer at `fixture.udpPeer` would send them to this host. */
function fixturesFor(p: Params): Fixtures {
  const key = JSON.stringify(p);
  let f = fixtureCache.get(key);
  if (f) return f;
  const fromPeer = (frame: Uint8Array, id: number, ip: string = fixture.udpPeer) =>
    encapsulateUdp(
      frame,
      {
        srcMac: parseMac(fixture.peerMac)!,
        dstMac: p.hostMac,
        srcIp: parseIpv4Address(ip)!,
        dstIp: p.hostIp,
        srcPort: p.port,
        dstPort: p.port,
        id,
        ttl: ENCAPSULATION_TTL,
        udpChecksum: true,
      },
      p.mtu,
    );
  const small = sampleFrame(30);
  const record = encodeRecord(small);
  f = {
    small,
    big: sampleFrame(100, 1),
    runt: new Uint8Array(5),
    huge: sampleFrame(MAX_ENCAPSULATED_FRAME + 1),
    whole: fromPeer(small, 1)[0],
    stranger: fromPeer(small, 1, fixture.strangerIp)[0],
    truncated: fromPeer(small, 1)[0].slice(0, 30),
    direct: sampleFrame(40, 2),
    a: fromPeer(sampleFrame(100, 3), 2),
    b: fromPeer(sampleFrame(50, 4), 3),
    record: [record.slice(0, 10), record.slice(10)],
    badRecord: new Uint8Array([0xff, 0xff, 0xff, 0xff]),
  };
  fixtureCache.set(key, f);
  return f;
}

/**
 * The exploration alphabet: two links (UDP and TCP), one guest MAC, frames below and above the MTU,
 * a whole datagram, the fragments of two datagrams (any order, duplicates), a truncated packet, one
 * from an unknown address, a direct frame, stream segments; time advances one nanosecond at a time.
 *
 * Concerns that do not interact are explored one at a time, or their product would swamp the
 * search: sends (which change nothing the key keeps), the TCP link, the guest MAC and the
 * stray packets are offered only while no datagram is in reassembly or remembered, and fragments
 * only while the TCP link and the MAC are unconfigured. The UDP link comes and goes at any time,
 * so fragments also arrive after their link is deleted.
 */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const f = fixturesFor(c.p);
  const ev: Event[] = [];
  const has = (id: number) => c.links.some((l) => l.id === id);
  const atRest = c.reassemblies.length === 0 && completedLive(c, c.now).length === 0;
  const plain = !has(2) && c.macs.length === 0;
  ev.push(
    has(1)
      ? { type: 'link.del', id: 1 }
      : { type: 'link.add', id: 1, ip: fixture.udpPeer, port: c.p.port, proto: 'udp', mac: fixture.peerMac },
    { type: 'receive', packet: f.whole, now: c.now },
    { type: 'receive', packet: f.whole, now: c.now + 1 },
    { type: 'tick', now: c.now + 1 },
  );
  if (plain) for (const packet of [...f.a, ...f.b]) ev.push({ type: 'receive', packet, now: c.now });
  if (atRest) {
    ev.push(
      has(2) ? { type: 'link.del', id: 2 } : { type: 'link.add', id: 2, ip: fixture.tcpPeer, port: c.p.port, proto: 'tcp' },
      c.macs.includes(fixture.guestMac) ? { type: 'mac.unregister', mac: fixture.guestMac } : { type: 'mac.register', mac: fixture.guestMac },
      { type: 'send', link: 1, frame: f.small },
      { type: 'send', link: 1, frame: f.big },
      { type: 'send', link: 1, frame: f.huge },
      { type: 'send', link: 2, frame: f.small },
      { type: 'send', link: 7, frame: f.small },
      { type: 'send', link: 'local', frame: f.small },
      { type: 'send', link: 'local', frame: f.big },
      { type: 'send', link: 'local', frame: f.runt },
    );
    for (const packet of [f.stranger, f.truncated, f.direct]) ev.push({ type: 'receive', packet, now: c.now });
    const buffered = c.streams.find((x) => x.linkId === 2)?.buffered.length ?? 0;
    ev.push({ type: 'stream.receive', linkId: 2, bytes: buffered === 0 ? f.record[0] : f.record[1] });
    ev.push({ type: 'stream.receive', linkId: 2, bytes: f.badRecord });
  }
  return ev;
}

/** A finite key: absolute times become ages, counters and the identification counter are dropped. */
export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([
    s.value,
    c.links.map((l) => [l.id, l.proto, l.ip, l.port, l.mac]),
    c.macs,
    c.reassemblies.map((r) => [r.src, r.id, r.fragments.map((h) => [h.start, h.end]), r.total, c.now - r.started]),
    completedLive(c, c.now).map((d) => [d.src, d.id, c.now - d.at]),
    c.streams.map((x) => [x.linkId, x.buffered.length]),
  ]);
}

export const entry = defineEntry({
  id: 'bridge',
  title: 'VNET/P bridge (direct and encapsulated send and receive, IPv4 fragmentation)',
  summary:
    'The bridge moves frames between the VNET/P core and the host NIC. An encapsulated send puts the Ethernet frame, ' +
    'with no extra header, as the whole payload of a UDP datagram from the host to the link\'s IP and port (9000, as ' +
    'VNET/U), with real outer Ethernet, IPv4 and UDP headers and checksums; a datagram over the physical MTU is ' +
    'split into IPv4 fragments. A TCP link carries each frame as a record on its byte stream: a 32-bit big-endian length, then the frame. A ' +
    'direct send hands the raw frame to the local network. On receive, the bridge validates the headers, identifies ' +
    'the link by source IP only, reassembles fragments (any order, duplicates dropped) in bounded buffers with a ' +
    'timeout, and hands the inner frame to the core; with the NIC in promiscuous mode it also hands over frames to ' +
    'MACs the core registered. Anything malformed, truncated, oversized, unexpected or from an unknown link is ' +
    'dropped and counted by reason.',
  source: ['§5.1.4', '§5.1.3', 'palacios-notes.md §4', 'RFC 791 §3.2', 'RFC 768', 'RFC 894'],
  machine: bridgeMachine,
  params,
  checkInput,
  samples: [
    // MTU 68 (RFC 791's minimum): a 30-byte frame fits one datagram, a 100-byte frame takes 3 fragments.
    { name: 'three-slots', input: { mtu: 68, maxReassemblies: 3, maxReassemblyBytes: 100, reassemblyTimeoutNs: 2 } },
    { name: 'two-slots', input: { mtu: 68, maxReassemblies: 2, reassemblyTimeoutNs: 2 } },
    { name: 'one-slot-no-checksum', input: { mtu: 68, maxReassemblies: 1, maxReassemblyBytes: 100, reassemblyTimeoutNs: 2, udpChecksum: false } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'link.add', description: 'Configure or replace a link: id, remote IP, port, `udp` or `tcp`, optional next-hop MAC.' },
    { type: 'link.del', description: 'Remove a link.' },
    { type: 'mac.register', description: 'The core asks for frames to this MAC from the local network (direct receive).' },
    { type: 'mac.unregister', description: 'The core withdraws a MAC registration.' },
    { type: 'send', description: 'The core hands a frame to the bridge for a link, or `local` for a direct send.' },
    { type: 'receive', description: 'The host NIC received a packet (an Ethernet frame), at time `now` (ns).' },
    { type: 'stream.receive', description: "Bytes arrived on a TCP link's stream." },
    { type: 'tick', description: 'Time passes to `now` (ns): overdue reassemblies are dropped.' },
  ],
  emits: [
    { type: 'wire.send', description: 'A packet for the host NIC: a direct frame, or one encapsulated datagram or fragment.' },
    { type: 'stream.send', description: "A length-prefixed record to append to a TCP link's stream." },
    { type: 'core.deliver', description: 'A frame for the VNET/P core, with the link it came from (`local` for direct receive).' },
    { type: 'drop', description: 'A frame, packet or datagram was dropped: the reason, the direction, the link if known.' },
  ],
});
