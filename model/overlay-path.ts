/**
 * Two hosts, A and B, joined by an Ethernet wire, composed from the machines; what sits between
 * each guest's stack and its host NIC depends on the configuration's `kind`:
 *
 * - `native`: no VMM. The (guest) stack hands frames straight to the host NIC driver, and the NIC
 *   driver's NAPI poll hands received frames straight back to it.
 * - `passthrough`: the same machines, with the NIC assigned to the guest. Transmit writes the
 *   device directly; a receive interrupt first exits the guest so the VMM can inject it (one VM
 *   exit/entry per receive interrupt).
 * - `vnetp`: the VNET/P overlay (dissertation §5.1.6, Figure 5.6). On each host a guest virtio NIC
 *   (transmit and receive rings), the packet dispatcher, the VNET/P core's routing, the bridge and
 *   the host NIC, in both directions:
 *
 *   X.tx ring --kick--> X.dispatcher --dispatch--> X.tx ring --tx.frame--> X.core (routing)
 *   --deliver(link)--> X.bridge (MAC-in-UDP, fragmented over the MTU) --wire.send--> X.nic
 *   --wire.tx--> wire --wire.rx--> Y.nic --irq, NAPI poll, host.rx--> Y.bridge (reassembly)
 *   --core.deliver--> Y.core (routing) --deliver(interface)--> Y.rx ring --irq, reap--> Y.stack
 *
 * - `vnetu`: VNET/U, the user-level overlay (§3.1), as the same chain of machines with the routing
 *   and encapsulation done by a user-level daemon: each frame crosses between kernel and user space
 *   twice on each host (VMM to TAP device to daemon, daemon to UDP socket on transmit; socket to
 *   daemon, daemon to TAP device to VMM on receive), each crossing one kernel/user transition pair.
 *
 * Each host has a plain `X.stack` component, the guest's network stack: `send` events from a
 * workload go down through it (one per-packet stack cost each, one core), frames coming up are
 * delivered after the same cost as a recorded `deliver` effect, which workloads route from.
 *
 * Delays come from the cost table (model/costs.ts): VM exits, the copy inside the VMM, per-packet
 * stack, core and host UDP work, serialization at the link rate, the interrupt-to-handler time.
 * `buildOverlayPath` is the one-way VNET/P path the demo runs (guest A sends frames to guest B).
 */
import type { Frame } from '../machines/virtio-ring.js';
import { virtioRingMachine } from '../machines/virtio-ring.js';
import { dispatcherMachine } from '../machines/dispatcher.js';
import { routingMachine, frameMacs, type RouteSpec } from '../machines/routing.js';
import { bridgeMachine, params as bridgeParams } from '../machines/bridge.js';
import { hostNicMachine } from '../machines/host-nic.js';
import { optimisticInterruptsMachine } from '../machines/optimistic-interrupts.js';
import { guestInterruptsMachine } from '../machines/guest-interrupts.js';
import { cutThroughMachine } from '../machines/cut-through.js';
import { adaptiveModeMachine } from '../machines/adaptive-mode.js';
import { encodeEthernet, encodeIpv4, encodeUdp, ETHERTYPE_IPV4, IPPROTO_UDP, parseMac, parseIpv4Address } from '../machines/packet.js';
import { cycles, defaultCosts, ethernetSerializationNs, type Costs } from './costs.js';
import type { Random } from './random.js';
import { System, type ComponentContext, type SystemOptions, type WiringContext } from './wiring.js';

/** The hosts of a path, in order: a two-host path has A and B; an n-host path A .. F. */
export const HOST_NAMES = ['A', 'B', 'C', 'D', 'E', 'F'] as const;
export type HostName = (typeof HOST_NAMES)[number];
/** How a guest reaches its host's NIC. */
export type PathKind = 'native' | 'passthrough' | 'vnetp' | 'vnetu';

/**
 * The VNET/P+ optimizations of chapter 4, on a `vnetp` path (ignored for the other kinds).
 *
 * - `optimisticInterrupts` (§4.3): each host NIC interrupt drives the `optimistic-interrupts`
 *   machine (`host.arrival`, with the guest line's mask bit read at that moment), whose early
 *   virtual interrupt (EVI) is raised on the guest's `guest-interrupts` line at once, so the
 *   guest's interrupt-handling delay overlaps the overlay's processing; the host NIC's `eoc`
 *   drives `host.eoc`. The plain VNET/P interrupt after the frame is placed in the vNIC ring is
 *   replaced by these.
 * - `cutThrough` (§4.4): the `cut-through` machine runs in mode `cut-through` instead of `copy`:
 *   no payload copy on transmit (headers as their own scatter/gather segment) or receive (DMA).
 * - `host` (§4.5): the host OS under the VMM, which decides the host noise on every core of the
 *   host (`linux`: the Linux noise parameters; `lwk`: the lightweight kernel's).
 */
export interface VnetpPlus {
  readonly optimisticInterrupts: boolean;
  readonly cutThrough: boolean;
  readonly host: 'linux' | 'lwk';
}

export const VNETP_PLAIN: VnetpPlus = { optimisticInterrupts: false, cutThrough: false, host: 'linux' };

/** Receive interrupt coalescing of the host NICs (ethtool rx-usecs / rx-frames). */
export interface NicCoalescing {
  readonly rxUsecs: number;
  readonly rxFrames: number;
  /** Receive descriptors (the host-nic machine's `queueFrames`; default the machine's). */
  readonly queueFrames?: number;
}

/**
 * A host link device other than the Ethernet host NIC and wire (for example IP over InfiniBand).
 * Called once per host while the path is built, it must add a component or machine named
 * `${h}.nic` that accepts `{ type: 'tx', now, frame }` (the host stack or the bridge sends a
 * packet: an Ethernet frame whose IPv4 packet the device carries to the host owning the
 * destination MAC) and emits `{ type: 'host.rx', frame }` once a packet has been received and the
 * host driver hands it up (after the device's own receive costs). `owner` maps a destination MAC
 * to the host it belongs to.
 */
export type HostDevice = (
  sys: System,
  h: HostName,
  hosts: readonly HostName[],
  owner: (mac: string) => HostName | undefined,
  /** The host's cores: a device charges its driver work here (serialized with the path's, counted in `path.cpu`). */
  cpu: { use(kind: CoreKind, now: number, ns: number): number },
) => void;

export interface TwoHostOptions {
  readonly kind: PathKind;
  /** MTU of the guest and of the physical network (bytes of IPv4 datagram). */
  readonly mtu: number;
  /** Link rate of the host NICs in bit/s. */
  readonly linkBitRate: number;
  /** Host NIC coalescing (default: the host-nic machine's defaults, rx-usecs 50, rx-frames 32). */
  readonly nic?: NicCoalescing;
  /** Cost values (default: `defaultCosts`). */
  readonly costs?: Costs;
  readonly seed?: number;
  readonly system?: Omit<SystemOptions, 'seed'>;
  /** VNET/P+ optimizations for a `vnetp` path (default none: plain VNET/P). */
  readonly plus?: VnetpPlus;
  /** Faults on the wire between the hosts (default none). */
  readonly wireFaults?: WireFaultHook;
  /** How many hosts, 2 (default) to 6, all on one switch. */
  readonly hosts?: number;
  /** A link device instead of the Ethernet host NIC and wire (default Ethernet). */
  readonly device?: HostDevice;
  /** MTU of the host network under the bridge, when it differs from the guest's `mtu` (IPoIB's 65520); default `mtu`. */
  readonly hostMtu?: number;
  /** Host OS noise on the cores (default true: Linux hosts noisy, a `lwk` VNET/P+ host quiet). */
  readonly noise?: boolean;
  /**
   * Transmit mode of the VNET/P dispatcher: `adaptive` (default, §5.1.7: the adaptive-mode
   * machine switches guest-driven and VMM-driven by the packet rate) or a fixed mode.
   */
  readonly txMode?: 'adaptive' | 'guest-driven' | 'vmm-driven';
  /** Replacement machines (deliberately broken variants, for tests that must see a property fail). */
  readonly machines?: {
    readonly optimisticInterrupts?: typeof optimisticInterruptsMachine;
    readonly guestInterrupts?: typeof guestInterruptsMachine;
    readonly cutThrough?: typeof cutThroughMachine;
  };
}

export const GUEST_A_MAC = '52:54:00:00:00:0a';
export const GUEST_B_MAC = '52:54:00:00:00:0b';
export const HOST_A = { ip: '10.0.0.1', mac: '02:00:00:00:00:01' };
export const HOST_B = { ip: '10.0.0.2', mac: '02:00:00:00:00:02' };
/** Inner (guest) addresses. */
export const GUEST_A_IP = '192.168.0.10';
export const GUEST_B_IP = '192.168.0.11';

/** Addresses of host i (0 = A): A and B keep the constants above, the rest follow the pattern. */
function addressesOf(i: number): { host: { ip: string; mac: string }; guestMac: string; guestIp: string } {
  const hex = (10 + i).toString(16).padStart(2, '0');
  return {
    host: { ip: `10.0.0.${i + 1}`, mac: `02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}` },
    guestMac: `52:54:00:00:00:${hex}`,
    guestIp: `192.168.0.${10 + i}`,
  };
}
const indexOf = (h: HostName) => HOST_NAMES.indexOf(h);

/** The guest and host addresses of host `h` (workloads build their frames from these). */
export function guestAddress(h: HostName): { readonly guestMac: string; readonly guestIp: string; readonly hostMac: string; readonly hostIp: string } {
  const i = indexOf(h);
  if (i < 0) throw new RangeError(`unknown host ${String(h)}: hosts are ${HOST_NAMES.join(', ')}`);
  const a = addressesOf(i);
  return { guestMac: a.guestMac, guestIp: a.guestIp, hostMac: a.host.mac, hostIp: a.host.ip };
}

/** One packet put on the wire, as a fault hook sees it. */
export interface WirePacket {
  readonly from: HostName;
  readonly to: HostName;
  /** The packet's bytes as the sending NIC sent them (do not modify; copy to corrupt). */
  readonly packet: Uint8Array;
  /** Position of the packet among all packets on this path's wire, from 0. */
  readonly index: number;
  /** When its last bit arrives at the receiving NIC, ns, without faults. */
  readonly arriveNs: number;
}

/**
 * A wire fault hook: decides what the receiving NIC gets for one packet by calling `deliver` zero
 * (loss), one or more (duplication) times, at `arriveNs` or later (reordering, delay), with the
 * packet or a modified copy (corruption). Without a hook every packet is delivered once, intact.
 */
export type WireFaultHook = (p: WirePacket, deliver: (atNs: number, packet: Uint8Array) => void) => void;

/** The bridge's reassembly timeout (its default; the paths do not change it). */
const reassemblyTimeoutNs = bridgeParams.reassemblyTimeoutNs.default;
/** Entries of the guest's virtio transmit ring: the stack holds frames back (netif_stop_queue) while it is full. */
const TX_RING_SIZE = 256;
/** Entries of the guest's virtio receive ring (Palacios' virtio NIC queue size), all posted by the driver. */
const RX_RING_SIZE = 256;

/** Largest guest frame the path accepts: the bridge's largest encapsulated frame. */
export const MAX_FRAME_BYTES = 65535 - 20 - 8;

/** What runs on a core: the guest (its stack, its driver, a VM exit it is stuck in), the VMM's dispatcher thread, the host kernel's receive path. */
export type CoreKind = 'guest' | 'vmm' | 'host';

/**
 * One CPU core: work is served in the order it is handed over, each piece starting when the core
 * is free; host noise events take the core for their duration whenever they come, delaying work
 * in progress (a preemption). Busy time is accounted by what ran, noise apart.
 */
class Core {
  #until = 0;
  #busy = 0;
  #nextNoise = Number.POSITIVE_INFINITY;
  readonly #noise: { readonly random: Random; readonly meanNs: number; readonly durationNs: number } | undefined;

  readonly #wakeupNs: number;

  /** `wakeupNs`: a thread that blocked when idle is scheduled this long after work arrives (latency, not busy time). */
  constructor(noise?: { readonly random: Random; readonly meanNs: number; readonly durationNs: number }, wakeupNs = 0) {
    this.#wakeupNs = wakeupNs;
    this.#noise = noise && noise.durationNs > 0 ? noise : undefined;
    if (this.#noise) this.#nextNoise = this.#noise.random.exponentialNs(this.#noise.meanNs);
  }

  /** Runs `ns` of work handed over at `now`; returns when it completes. */
  use(now: number, ns: number): number {
    let start = now >= this.#until ? now + this.#wakeupNs : this.#until;
    let remaining = ns;
    const n = this.#noise;
    // Noise events in time order: one that came while the core was idle holds it until it ends;
    // one that comes before the work is done preempts it for its duration.
    while (n && this.#nextNoise < start + remaining) {
      const at = this.#nextNoise;
      if (at <= start) {
        start = Math.max(start, at + n.durationNs);
      } else {
        remaining -= at - start;
        start = at + n.durationNs;
      }
      this.#nextNoise = at + Math.max(1, n.random.exponentialNs(n.meanNs));
    }
    this.#until = start + remaining;
    this.#busy += ns;
    return this.#until;
  }

  get busyNs(): number {
    return this.#busy;
  }
}

/** CPU time accounting of a path. */
export interface CpuAccount {
  /** ns of work handed to host `h`'s cores since time 0 (`kind`: one kind of core; default all). */
  busyNs(h: HostName, kind?: CoreKind): number;
  /** Runs `ns` of work handed over at `now` on host `h`'s core of `kind` (after what it already has); returns when it completes. */
  use(h: HostName, kind: CoreKind, now: number, ns: number): number;
}

export interface TwoHostPath {
  readonly system: System;
  readonly kind: PathKind;
  /** The VNET/P+ optimizations the path was built with (plain for every kind but an optimized vnetp). */
  readonly plus: VnetpPlus;
  /** Packets that crossed the wire, with the time they started, the host that sent them and the one it went to. */
  readonly wire: { timeNs: number; from: HostName; to: HostName; packet: Uint8Array }[];
  /** The hosts, in order. */
  readonly hosts: readonly HostName[];
  /** Component names a workload uses: each guest's stack (`send` events in, `deliver` effects out); only `hosts` have one. */
  readonly stack: Readonly<Record<HostName, string>>;
  /** CPU busy time per host and kind of core. */
  readonly cpu: CpuAccount;
  /** The hosts' link: the Ethernet host NIC and wire, or a `device` (whose `${h}.nic` emits `tx.complete` with `frameId` when a frame has left). */
  readonly link: 'ethernet' | 'device';
}

/** The send event of a guest stack: `app` false for a datagram the kernel itself sends (an ICMP echo reply). */
export interface StackSend {
  readonly type: 'send';
  readonly frames: readonly Frame[];
  readonly app?: boolean;
}

const IPPROTO_ICMP = 1;
const IPPROTO_UDP_ = 17;

/**
 * Whether a received frame completes a datagram an application reads (a UDP datagram, an ICMP
 * message other than an echo request, which the kernel answers itself): the stack charges the
 * per-message receive cost (wakeup, system call) on its last fragment. TCP segments are charged
 * per packet only: a streaming reader is woken once per many segments (the TCP workload charges its
 * reads itself). `echoRequests` remembers which datagram ids are echo requests (from their first fragment).
 */
function completesAppDatagram(frame: Frame, echoRequests: Set<number>): boolean {
  const d = frame.data;
  if (!d || d.length < 34 || ((d[12] << 8) | d[13]) !== 0x0800) return false;
  const ip = d.subarray(14);
  const ihl = (ip[0] & 0x0f) * 4;
  const id = (ip[4] << 8) | ip[5];
  const flags = (ip[6] << 8) | ip[7];
  const offset = flags & 0x1fff;
  const more = (flags & 0x2000) !== 0;
  if (ip[9] === IPPROTO_ICMP && offset === 0 && ip[ihl] === 8) echoRequests.add(id);
  if (more) return false;
  if (ip[9] === IPPROTO_UDP_) return true;
  if (ip[9] !== IPPROTO_ICMP) return false;
  if (echoRequests.delete(id)) return false;
  return offset !== 0 || ip[ihl] !== 8;
}

/**
 * Builds both hosts and the wire for `o.kind`; nothing is scheduled but the configuration at
 * time 0. A workload adds its components, routes `deliver` effects from `stack[h]`, schedules
 * `{ type: 'send', frames }` to `stack[h]`, and runs the system.
 */
export function buildTwoHostPath(o: TwoHostOptions): TwoHostPath {
  return buildHostsPath(o);
}

/**
 * Builds `o.hosts` hosts (default 2) on one switch. Each host has cores (`guest`, `vmm`, `host`)
 * whose work is serialized (model/overlay-path.ts `Core`): the guest stack, a VM exit and the
 * dispatch done in its context occupy the guest's core; the dispatcher thread of VMM-driven mode
 * occupies the VMM core; the host NIC's interrupt, NAPI poll, the bridge's receive, routing and the
 * copy into the guest's ring occupy the host kernel's core.
 */
export function buildHostsPath(o: TwoHostOptions): TwoHostPath {
  const c = o.costs ?? defaultCosts;
  const n = o.hosts ?? 2;
  if (!Number.isInteger(n) || n < 2 || n > HOST_NAMES.length) {
    throw new RangeError(`hosts must be an integer from 2 to ${HOST_NAMES.length}, got ${String(o.hosts)}`);
  }
  const hosts = HOST_NAMES.slice(0, n) as HostName[];
  const sys = new System({ seed: o.seed ?? 1, ...o.system });
  const wire: TwoHostPath['wire'] = [];
  const exitNs = cycles(c.vmExitEntryCycles, c.cpuHz);
  const irqNs = cycles(c.irqToHandlerCycles, c.cpuHz);
  // Of T0-T2, the guest's core is busy for the injection's interrupt-controller traps (§3.2.1).
  const virqBusyNs = cycles(c.virtualInterruptMinCycles, c.cpuHz);
  const stackNs = cycles(c.guestStackCyclesPerPacket, c.cpuHz);
  const messageNs = cycles(c.guestStackCyclesPerMessage, c.cpuHz);
  const coreNs = cycles(c.vnetCoreCyclesPerPacket, c.cpuHz);
  const hostUdpNs = cycles(c.hostUdpCyclesPerPacket, c.cpuHz);
  const irqToPollNs = cycles(c.hostIrqToPollCycles, c.cpuHz);
  const copyNs = (bytes: number) => cycles(c.copyCyclesPerByte * bytes, c.cpuHz);
  // The guest computes checksums itself behind a virtio NIC without checksum offload.
  const guestCsumNs = (bytes: number) => (o.kind === 'vnetp' || o.kind === 'vnetu' ? cycles(c.guestChecksumCyclesPerByte * bytes, c.cpuHz) : 0);
  const { queueFrames, ...coalescing } = o.nic ?? ({} as Partial<NicCoalescing>);
  const nicInput = { mtu: o.mtu, ...coalescing, ...(queueFrames !== undefined ? { rxQueueSize: queueFrames } : {}) };
  const vnetp = o.kind === 'vnetp' || o.kind === 'vnetu';
  // VNET/U runs the overlay's routing and encapsulation in a user-level daemon: same machines, plus crossings.
  const crossNs = o.kind === 'vnetu' ? cycles(c.vnetuContextSwitchCycles, c.cpuHz) : 0;
  const wakeupNs = o.kind === 'vnetu' ? c.vnetuWakeupNs : 0;
  const plus = o.kind === 'vnetp' ? (o.plus ?? VNETP_PLAIN) : VNETP_PLAIN;
  const oi = plus.optimisticInterrupts;
  if (oi && o.device) throw new RangeError('optimistic interrupts need the Ethernet host NIC (its interrupt and end of coalescing): a `device` path cannot have them');
  const txMode = o.txMode ?? 'adaptive';

  // Which host owns a MAC: the switch forwards by destination MAC, guest or host.
  const owners = new Map<string, HostName>();
  for (const h of hosts) {
    const a = guestAddress(h);
    owners.set(a.guestMac, h);
    owners.set(a.hostMac, h);
  }
  const owner = (mac: string) => owners.get(mac);
  const macOf = (d: Uint8Array) => Array.from(d.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');

  // Cores, each with host noise from its own random stream (Linux hosts; the LWK host of VNET/P+).
  const cores = new Map<string, Core>();
  const noisy = o.noise ?? true;
  const noiseMean = plus.host === 'lwk' ? c.lwkNoiseMeanIntervalNs : c.linuxNoiseMeanIntervalNs;
  const noiseDuration = plus.host === 'lwk' ? c.lwkNoiseDurationNs : c.linuxNoiseDurationNs;
  const coreOf = (h: HostName, k: CoreKind): Core => {
    const key = `${h}.${k}`;
    let core = cores.get(key);
    if (!core) {
      core = new Core(noisy ? { random: sys.random.split(`noise:${key}`), meanNs: noiseMean, durationNs: noiseDuration } : undefined);
      cores.set(key, core);
    }
    return core;
  };
  for (const h of hosts) for (const k of ['guest', 'vmm', 'host'] as const) coreOf(h, k);
  // VNET/U's user-level daemon: its own thread, woken (after a scheduling latency) when it was
  // blocked; each frame crosses between kernel and daemon on it (§3.1). Accounted as host time.
  const daemons = new Map<HostName, Core>();
  const cross = (h: HostName, at: number): number => {
    if (crossNs === 0) return at;
    let d = daemons.get(h);
    if (!d) {
      d = new Core(noisy ? { random: sys.random.split(`noise:${h}.daemon`), meanNs: noiseMean, durationNs: noiseDuration } : undefined, wakeupNs);
      daemons.set(h, d);
    }
    return d.use(at, crossNs);
  };
  const cpu: CpuAccount = {
    use: (h, kind, now, ns) => coreOf(h, kind).use(now, ns),
    busyNs: (h, kind) => {
      const kinds: readonly CoreKind[] = kind ? [kind] : ['guest', 'vmm', 'host'];
      const daemon = kinds.includes('host') ? (daemons.get(h)?.busyNs ?? 0) : 0;
      return kinds.reduce((t: number, k) => t + (cores.get(`${h}.${k}`)?.busyNs ?? 0), daemon);
    },
  };

  // The switch: one output port per host, serializing at the link rate (cut-through: a packet
  // leaves as soon as its input is done and the port is free; with two hosts it never waits).
  const portFree = new Map<HostName, number>();

  for (const h of hosts) {
    const me = addressesOf(indexOf(h));
    const guestCore = coreOf(h, 'guest');
    const vmmCore = coreOf(h, 'vmm');
    const hostCore = coreOf(h, 'host');
    const nic = o.device ? undefined : sys.addMachine(`${h}.nic`, hostNicMachine, nicInput);
    if (o.device) o.device(sys, h, hosts, owner, { use: (k, now, ns) => coreOf(h, k).use(now, ns) });
    const tx = vnetp ? sys.addMachine(`${h}.tx`, virtioRingMachine, { role: 'tx', queueSize: TX_RING_SIZE }) : undefined;
    const rx = vnetp ? sys.addMachine(`${h}.rx`, virtioRingMachine, { role: 'rx', queueSize: RX_RING_SIZE }) : undefined;
    const disp = vnetp
      ? sys.addMachine(`${h}.dispatcher`, dispatcherMachine, { nics: 1, initialMode: txMode === 'vmm-driven' ? 'vmm-driven' : 'guest-driven' })
      : undefined;
    const adaptive = vnetp && txMode === 'adaptive' ? sys.addMachine(`${h}.mode`, adaptiveModeMachine, { direction: 'tx', mode: 'adaptive' }) : undefined;
    const core = vnetp ? sys.addMachine(`${h}.core`, routingMachine, {}) : undefined;
    const bridge = vnetp
      ? sys.addMachine(`${h}.bridge`, bridgeMachine, { mtu: o.hostMtu ?? o.mtu, hostIp: parseIpv4Address(me.host.ip)!, hostMac: parseMac(me.host.mac)! })
      : undefined;
    // The VMM's data movement between guest buffers and host buffers: one copy (VNET/P) or none (cut-through).
    const ct = vnetp ? sys.addMachine(`${h}.ct`, o.machines?.cutThrough ?? cutThroughMachine, { mode: plus.cutThrough ? 'cut-through' : 'copy', headerBytes: c.vnetEncapBytes }) : undefined;
    const evi = vnetp && oi ? sys.addMachine(`${h}.oi`, o.machines?.optimisticInterrupts ?? optimisticInterruptsMachine, {}) : undefined;
    const line = vnetp && oi ? sys.addMachine(`${h}.virq`, o.machines?.guestInterrupts ?? guestInterruptsMachine, {}) : undefined;

    // The guest stack on the guest's core: per message (system call, wakeup) on an application's
    // send and on the last fragment of a datagram an application reads, per packet each way, and
    // one copy of the data between user and kernel.
    const echoRequests = new Set<number>();
    // Frames wait here and go down one at a time, so that what the last one caused on the same core
    // (the VM exit of its kick, §5.1.6) runs before the next one's stack work.
    const txQueue: { frame: Frame; ns: number }[] = [];
    let txBusy = false;
    // Descriptors of the transmit ring in use (added, not yet reaped): at TX_RING_SIZE the queue stops.
    let ringInUse = 0;
    // Linux 2.6.30 virtio-net transmit: each start_xmit first frees the buffers the device has
    // used (free_old_xmit_skbs), orphans the frame (its socket's send buffer is released as soon
    // as it is queued), and keeps the queue's interrupt off after the first one; only when the
    // ring is full does it stop the queue and re-enable the interrupt (enable_cb).
    const nextDown = (ctx: WiringContext) => {
      if (vnetp && ringInUse >= TX_RING_SIZE) {
        txBusy = false;
        ctx.schedule(0, `${h}.tx`, { type: 'driver.complete' });
        ctx.schedule(0, `${h}.tx`, { type: 'driver.reap', budget: TX_RING_SIZE });
        return;
      }
      const item = txQueue.shift();
      txBusy = item !== undefined;
      if (!item) return;
      if (vnetp) ringInUse++;
      const at = guestCore.use(ctx.now, item.ns);
      const frame = item.frame;
      if (vnetp) {
        ctx.scheduleAt(at, `${h}.tx`, { type: 'driver.reap', budget: TX_RING_SIZE });
        ctx.scheduleAt(at, `${h}.tx`, { type: 'driver.add', frames: [frame] });
        ctx.scheduleAt(at, `${h}.stack`, { type: 'orphaned', frame });
        ctx.scheduleAt(at, `${h}.dispatcher`, (now: number) => ({ type: 'tx.queued', nic: 0, packets: 1, now }));
      } else {
        ctx.scheduleAt(at, `${h}.nic`, (now: number) => ({ type: 'tx', now, frame }));
      }
      ctx.scheduleAt(at, `${h}.stack`, { type: 'down.next' });
    };
    sys.addComponent(`${h}.stack`, (e, ctx: ComponentContext) => {
      if (e.type === 'send') {
        const send = e as unknown as StackSend;
        let first = send.app !== false;
        for (const frame of send.frames) {
          txQueue.push({ frame, ns: stackNs + copyNs(frame.bytes) + guestCsumNs(frame.bytes) + (first ? messageNs : 0) });
          first = false;
        }
        if (!txBusy) nextDown(ctx);
      } else if (e.type === 'down.next') {
        nextDown(ctx);
      } else if (e.type === 'orphaned') {
        // The frame is in the transmit ring: its socket no longer holds it (skb_orphan).
        ctx.emit({ type: 'tx.orphaned', frame: (e as unknown as { frame: Frame }).frame });
      } else if (e.type === 'ring.room') {
        ringInUse -= (e as unknown as { n: number }).n;
        if (!txBusy) nextDown(ctx);
      } else if (e.type === 'rx') {
        const frame = (e as unknown as { frame: Frame }).frame;
        const app = completesAppDatagram(frame, echoRequests);
        ctx.scheduleAt(guestCore.use(ctx.now, stackNs + guestCsumNs(frame.bytes) + (app ? messageNs + copyNs(frame.bytes) : 0)), `${h}.stack`, { type: 'up', frame });
      } else if (e.type === 'up') {
        ctx.emit({ type: 'deliver', frame: (e as unknown as { frame: Frame }).frame });
      } else if (e.type === 'busy') {
        // Guest time spent elsewhere on the same core (a premature interrupt handler, §4.3.1 case 2).
        guestCore.use(ctx.now, (e as unknown as { ns: number }).ns);
      }
    });

    if (nic) {
      // The wire from this host: one packet after another at the link rate, through the switch, then propagation.
      let wireBusyUntil = 0;
      nic.route('wire.tx', (e, ctx) => {
        const start = Math.max(ctx.now, wireBusyUntil);
        const serNs = ethernetSerializationNs(e.bytes, o.linkBitRate, c);
        wireBusyUntil = start + serNs;
        const to = owner(macOf(e.frame.data!));
        if (!to || to === h) throw new Error(`${h}.nic sent a frame to ${macOf(e.frame.data!)}, which no other host on the switch owns`);
        wire.push({ timeNs: start, from: h, to, packet: e.frame.data! });
        const out = Math.max(wireBusyUntil, (portFree.get(to) ?? 0) + serNs);
        portFree.set(to, out);
        const arriveNs = out + c.wirePropagationNs;
        const deliver = (at: number, packet: Uint8Array) => {
          const when = Math.max(arriveNs, Math.round(at));
          const frame = packet === e.frame.data ? e.frame : { ...e.frame, data: packet, bytes: packet.length };
          ctx.scheduleAt(when, `${to}.nic`, (now: number) => ({ type: 'wire.rx', now, frame }));
          // The coalescing timer of the peer's NIC: a tick at the rx-usecs deadline of this completion.
          const usecs = nicInput.rxUsecs ?? 50;
          if (usecs > 0) ctx.scheduleAt(when + usecs * 1000, `${to}.nic`, (now: number) => ({ type: 'timer', now }));
        };
        if (o.wireFaults) o.wireFaults({ from: h, to, packet: e.frame.data!, index: wire.length - 1, arriveNs }, deliver);
        else deliver(arriveNs, e.frame.data!);
      });

      // Receive: interrupt (for passthrough, through the VMM), NAPI poll, frames up; the host kernel's core.
      const poll = (ctx: WiringContext, ns: number) => ctx.scheduleAt(hostCore.use(ctx.now, ns), `${h}.nic`, (now: number) => ({ type: 'driver.poll', now }));
      // Passthrough: the interrupt exits the guest, the VMM injects it, the guest's own driver polls.
      nic.route('irq', (_e, ctx) =>
        o.kind === 'passthrough'
          ? ctx.scheduleAt(guestCore.use(ctx.now, irqToPollNs + exitNs), `${h}.nic`, (now: number) => ({ type: 'driver.poll', now }))
          : poll(ctx, irqToPollNs),
      );
      if (evi && line) {
        // §4.3.1: the host driver identifies the arrival (its interrupt) and the EVI decision is made
        // at once, with the guest line's mask bit as the VMM reads it then.
        nic.route('irq', (_e, ctx) => {
          // Packets of earlier runs still in the pipeline are announced by this run's EoC too, and
          // an earlier run's EoC still waiting for them is superseded by this run's.
          if (rxInFlight === 0) runBytes = 0;
          eocPending = false;
          const bytes = (sys.snapshot(nic.name).context.queue as Frame[]).reduce((t, f) => t + f.bytes, 0);
          ctx.schedule(0, evi.name, (now: number) => ({ type: 'host.arrival', now, bytes, guestMasked: sys.snapshot(line.name).context.masked as boolean }));
        });
        // §4.3.2: the host NIC's poll emptied its queue. NAPI processes each packet to its end
        // (host UDP, bridge, routing, copy into the vNIC ring) within the poll, so the end of
        // coalescing is announced once the packets this host has taken are through that pipeline.
        nic.route('eoc', (e, ctx) => {
          runBytes += e.bytes;
          eocPending = true;
          if (rxInFlight === 0) announceEoc(ctx);
        });
      }
      nic.route('host.rx', (e, ctx) => {
        hostRx(e.frame, ctx);
        // NAPI polls again until the queue is empty (the poll that empties it completes with EoC).
        if (sys.snapshot(`${h}.nic`).context.queue?.length !== 0) poll(ctx, 0);
      });
    } else {
      sys.route(`${h}.nic`, 'host.rx', (e: { type: 'host.rx'; frame: Frame }, ctx) => hostRx(e.frame, ctx));
    }
    // Packets taken from the host NIC whose processing has not ended (held as a fragment, or landed
    // in the vNIC ring), and an end of coalescing waiting for them (optimistic interrupts only).
    let rxInFlight = 0;
    let eocPending = false;
    // Bytes the host took from its NIC since its receive pipeline was last empty (the EoC reports them for RD).
    let runBytes = 0;
    let bridgeDelivered = false;
    function announceEoc(ctx: WiringContext) {
      eocPending = false;
      const bytes = runBytes;
      ctx.schedule(0, `${h}.oi`, (now: number) => {
        // The VMM reads the guest's line and its own vNIC ring: frames waiting with the guest idle.
        const g = sys.snapshot(`${h}.virq`).context as { masked: boolean; ring: number; inService: unknown };
        return { type: 'host.eoc', now, bytes, guestMasked: g.masked, ringPending: g.ring > 0 && !g.masked && g.inService === null };
      });
    }
    function rxDone(ctx: WiringContext) {
      rxInFlight--;
      if (rxInFlight === 0 && eocPending) announceEoc(ctx);
    }
    // A packet the host driver hands up: to the bridge (host UDP receive on the host core), or to the native stack.
    function hostRx(frame: Frame, ctx: WiringContext) {
      if (!bridge) {
        ctx.schedule(0, `${h}.stack`, { type: 'rx', frame });
        return;
      }
      const at = hostCore.use(ctx.now, hostUdpNs);
      ctx.scheduleAt(at, bridge.name, (now: number) => {
        bridgeDelivered = false;
        return { type: 'receive', packet: frame.data!, now };
      });
      // The bridge's reassembly timer (RFC 791 §3.2): a fragment may start a reassembly only a later
      // event can expire; this tick is that event, at the latest time it can fall due.
      const d = frame.data!;
      if (d.length >= 34 && d[12] === 0x08 && d[13] === 0x00 && (((d[20] << 8) | d[21]) & 0x3fff) !== 0) {
        ctx.scheduleAt(at + reassemblyTimeoutNs, bridge.name, (now: number) => ({ type: 'tick', now }));
      }
      if (!oi) return;
      rxInFlight++;
      // Right after the bridge took it: a packet that completed no guest frame ends here.
      ctx.scheduleAt(at, `${h}.rxpipe`, { type: 'bridge.done' });
    }
    if (oi && bridge) {
      sys.addComponent(`${h}.rxpipe`, (e, ctx) => {
        if (e.type === 'bridge.done' && !bridgeDelivered) rxDone(ctx);
        else if (e.type === 'landed') rxDone(ctx);
      });
    }
    if (!vnetp || !tx || !rx || !disp || !core || !bridge || !ct) continue;

    // ---- VNET/P (and VNET/U) -------------------------------------------------------------------
    // A virtual interrupt: its handler runs T0-T2 after it is raised (§3.2.1), or later if the
    // guest's core is busy; the injection's traps take the guest's core.
    const virqHandlerAt = (now: number) => Math.max(now + irqNs, guestCore.use(now, virqBusyNs));
    // Transmit work runs where the dispatch happened: in a VM exit on the guest's core (guest-driven),
    // or on the dispatcher thread's core (VMM-driven). Frames are tagged with it when the ring hands them over.
    let dispatchCore: Core = guestCore;
    // The kick is a VM exit, on the guest's core; in guest-driven mode the dispatcher runs in the exit's context.
    tx.route('kick', (_e, ctx) => {
      const at = guestCore.use(ctx.now, exitNs);
      ctx.scheduleAt(at, disp.name, (now: number) => ({ type: 'kick', nic: 0, now }));
      if (adaptive) ctx.scheduleAt(at, adaptive.name, (now: number) => ({ type: 'packet', now }));
    });
    disp.route('dispatch', (e, ctx) => {
      const on = e.context === 'thread' ? vmmCore : guestCore;
      // Set when the ring is told, so the frames it hands over in that delivery are tagged with it.
      ctx.schedule(0, tx.name, () => {
        dispatchCore = on;
        return e.context === 'exit' ? { type: 'device.kick' } : { type: 'device.poll', quota: e.packets };
      });
    });
    // VMM-driven mode: the dispatcher thread polls; after a round with work it goes on when that
    // work is done, after a round without work it yields (immediate yield: back after one host
    // scheduling round, `dispatcherYieldNs`). It stops polling once no NIC is VMM-driven.
    let vmmDriven = txMode === 'vmm-driven';
    let threadRunning = false;
    let lastTick = 0;
    const yieldNs = c.dispatcherYieldNs;
    const round = (ctx: WiringContext, at: number) => {
      threadRunning = true;
      ctx.scheduleAt(at, disp.name, (now: number) => ({ type: 'thread.round', thread: 0, now }));
    };
    disp.route('thread.yield', (_e, ctx) => {
      // The adaptive mode's clock advances with the thread (at most every 100 us), so an idle
      // VMM-driven NIC falls back to guest-driven.
      if (adaptive && ctx.now - lastTick >= 100_000) {
        lastTick = ctx.now;
        ctx.schedule(0, adaptive.name, (now: number) => ({ type: 'tick', now }));
      }
      if (vmmDriven) round(ctx, vmmCore.use(ctx.now, yieldNs));
      else threadRunning = false;
    });
    disp.route('thread.sleep', (e, ctx) => {
      if (vmmDriven) ctx.scheduleAt(e.until, disp.name, (now: number) => ({ type: 'thread.wake', thread: 0, now }));
      else threadRunning = false;
    });
    disp.route('thread.woke', (_e, ctx) => round(ctx, ctx.now));
    // After a round with work the thread goes on once that work is done. The work is charged when
    // the frames pass the cut-through machine, two zero-delay hops after the dispatch: wait for them.
    disp.route('dispatch', (e, ctx) => {
      if (e.context === 'thread') ctx.schedule(0, `${h}.thread`, { type: 'after.poll' });
    });
    sys.addComponent(`${h}.thread`, (e, ctx) => {
      if (e.type === 'after.poll') ctx.schedule(0, `${h}.thread`, { type: 'after.work' });
      else if (e.type === 'after.work') round(ctx, vmmCore.use(ctx.now, 0));
    });
    if (adaptive) {
      adaptive.route('mode.changed', (e, ctx) => {
        vmmDriven = e.mode === 'vmm-driven';
        ctx.schedule(0, disp.name, (now: number) => ({ type: 'nic.mode', nic: 0, mode: e.mode, now }));
        // VMM-driven: the guest stops kicking (notifications suppressed), the thread polls the ring.
        ctx.schedule(0, tx.name, { type: 'device.suppress', on: vmmDriven });
        if (vmmDriven && !threadRunning) round(ctx, ctx.now);
      });
      sys.scheduleAt(0, adaptive.name, { type: 'configure', now: 0 });
    } else if (vmmDriven) {
      sys.scheduleAt(0, tx.name, { type: 'device.suppress', on: true });
      sys.scheduleAt(0, disp.name, (now: number) => ({ type: 'thread.round', thread: 0, now }));
      threadRunning = true;
    }

    // The one copy inside the VMM (§5.1.6), or none (cut-through, §4.4), then a routing lookup,
    // the bridge and the host's UDP send, all on the dispatching core.
    const txFrames = new Map<number, { frame: Frame; core: Core }>();
    let copied = 0;
    tx.route('tx.frame', (e, ctx) => {
      txFrames.set(e.frame.id, { frame: e.frame, core: dispatchCore });
      if (adaptive && dispatchCore === vmmCore) ctx.schedule(0, adaptive.name, (now: number) => ({ type: 'packet', now }));
      ctx.schedule(0, ct.name, { type: 'guest.tx', frame: { id: e.frame.id, bytes: e.frame.bytes } });
    });
    ct.route('copy', (e) => {
      copied += e.bytes;
    });
    const sendCore = new Map<Uint8Array, Core>();
    let lastTxAt = 0;
    let lastNicTxAt = 0;
    ct.route('nic.tx', (e, ctx) => {
      const { frame, core: on } = txFrames.get(e.frameId)!;
      txFrames.delete(e.frameId);
      const { dst, src } = frameMacs(frame.data!);
      // One ring is processed in order whoever holds it (exit handler or thread): never ahead of the previous frame.
      const at = Math.max(lastTxAt, cross(h, on.use(ctx.now, copyNs(copied) + coreNs)));
      lastTxAt = at;
      copied = 0;
      sendCore.set(frame.data!, on);
      ctx.scheduleAt(at, core.name, { type: 'frame', dst, src, frame });
    });
    tx.route('tx.complete', (e, ctx) => ctx.schedule(0, `${h}.stack`, { type: 'ring.room', n: e.ids.length }));
    tx.route('irq', (_e, ctx) => {
      // The handler (skb_xmit_done) disables further transmit interrupts and wakes the queue; the
      // stack frees the used buffers (the interrupt stays off until the ring fills again).
      const at = virqHandlerAt(ctx.now);
      ctx.scheduleAt(at, tx.name, { type: 'driver.interrupt' });
      ctx.scheduleAt(at, tx.name, { type: 'driver.reap', budget: TX_RING_SIZE });
    });
    let sendingCore: Core = hostCore;
    core.route('deliver', (e, ctx) => {
      if (e.dest.kind === 'link') {
        // From the guest: on the core that dispatched it; forwarded from another host: the host core.
        const on = sendCore.get(e.frame.data!) ?? hostCore;
        sendCore.delete(e.frame.data!);
        const send = { type: 'send' as const, link: e.dest.id === 0 ? ('local' as const) : e.dest.id, frame: e.frame.data! };
        // VNET/U: the daemon writes the encapsulated datagram to its UDP socket, one crossing per frame (the kernel fragments below it).
        ctx.scheduleAt(cross(h, ctx.now), bridge.name, () => {
          sendingCore = on;
          return send;
        });
      } else if (e.dest.kind === 'interface') {
        const id = ++rxId;
        rxFrames.set(id, e.frame);
        ctx.schedule(0, ct.name, { type: 'host.rx', frame: { id, bytes: e.frame.bytes } });
      }
    });
    // Receive: the frame lands in a guest buffer by a VMM copy (VNET/P) or by the NIC's DMA (cut-through).
    const rxFrames = new Map<number, Frame>();
    let rxId = 0;
    ct.route('rx.placed', (e, ctx) => {
      const frame = rxFrames.get(e.frameId)!;
      rxFrames.delete(e.frameId);
      const at = hostCore.use(cross(h, ctx.now), copyNs(copied));
      copied = 0;
      ctx.scheduleAt(at, rx.name, { type: 'device.deliver', frame });
      // The guest-interrupts line learns of the frame in the ring at the same moment.
      if (line) ctx.scheduleAt(at, line.name, (now: number) => ({ type: 'ring.filled', now, frames: 1 }));
      if (line) ctx.scheduleAt(at, `${h}.rxpipe`, { type: 'landed' });
    });
    ct.route('rx.drop', () => {
      throw new Error(`${h}: the cut-through machine had no posted guest buffer for a received frame`);
    });
    let fragment = 0;
    bridge.route('wire.send', (e, ctx) => {
      // Packets leave for the NIC in the order the bridge sent them, whichever core sent each.
      const at = Math.max(lastNicTxAt, sendingCore.use(ctx.now, hostUdpNs));
      lastNicTxAt = at;
      ctx.scheduleAt(at, `${h}.nic`, (now: number) => ({ type: 'tx', now, frame: { id: ++fragment, bytes: e.packet.length, data: e.packet } }));
    });
    bridge.route('core.deliver', (e, ctx) => {
      bridgeDelivered = true;
      const { dst, src } = frameMacs(e.frame);
      // VNET/U: the daemon reads the reassembled datagram from its socket, one crossing per frame.
      ctx.scheduleAt(hostCore.use(cross(h, ctx.now), coreNs), core.name, { type: 'frame', dst, src, frame: { id: 0, bytes: e.frame.length, data: e.frame } });
    });
    if (!line || !evi) {
      // VNET/P: one virtual interrupt once the frame is in the vNIC ring (§5.1.6), handled after T0-T2.
      rx.route('irq', (_e, ctx) => {
        const at = virqHandlerAt(ctx.now);
        ctx.scheduleAt(at, rx.name, { type: 'driver.interrupt' });
        ctx.scheduleAt(at, rx.name, { type: 'driver.reap', budget: 64 });
        ctx.scheduleAt(at, rx.name, { type: 'driver.complete' });
      });
    } else {
      // Optimistic interrupts: the ring's used-buffer notification no longer raises the guest's
      // interrupt; only its queue-level mask is kept (the driver masks the queue when notified).
      // When the guest polls is decided by the guest-interrupts line, raised by EVI and EoC.
      rx.route('irq', (_e, ctx) => ctx.schedule(0, rx.name, { type: 'driver.interrupt' }));
      evi.route('virq.inject', (e, ctx) =>
        ctx.schedule(0, line.name, (now: number) => ({ type: 'virq.raise', now, discardIfMasked: e.kind === 'evi', source: e.kind })),
      );
      // The handler runs after the T0-T2 trap-and-emulate delays (§3.2.1).
      line.route('virq.taken', (_e, ctx) => ctx.scheduleAt(virqHandlerAt(ctx.now), line.name, (now: number) => ({ type: 'handler.run', now })));
      // A premature handler (§4.3.1 case 2) finds nothing; its register accesses (one trap) cost guest time.
      // The VMM traps that read, so it learns the EVI was premature (optimistic-interrupts `prematureFeedback`).
      line.route('handler.premature', (_e, ctx) => {
        ctx.schedule(0, `${h}.stack`, { type: 'busy', ns: exitNs });
        ctx.schedule(0, evi.name, (now: number) => ({ type: 'guest.premature', now }));
      });
      const pollRing = (ctx: WiringContext) => {
        ctx.schedule(0, rx.name, { type: 'driver.reap', budget: 64 });
        ctx.schedule(0, line.name, (now: number) => ({ type: 'driver.process', now, budget: 64 }));
        ctx.schedule(0, rx.name, { type: 'driver.complete' });
        ctx.schedule(0, line.name, (now: number) => ({ type: 'driver.done', now }));
      };
      line.route('handler.valid', (_e, ctx) => pollRing(ctx));
      line.route('recheck.found', (_e, ctx) => pollRing(ctx));
    }
    rx.route('rx.frame', (e, ctx) => {
      ctx.schedule(0, `${h}.stack`, { type: 'rx', frame: e.frame });
      // The guest strips the encapsulation (cut-through) and hands the buffer back.
      ctx.schedule(0, ct.name, { type: 'guest.strip' });
      // The driver reposts the buffers once its stack has taken the frame.
      ctx.schedule(stackNs, rx.name, { type: 'driver.post', lengths: Array(e.buffers).fill(4096) });
      ctx.schedule(stackNs, ct.name, { type: 'guest.post' });
    });

    // Configuration, as the control daemon would apply it: each peer guest behind a link (its
    // host's index + 1), this host's guest behind interface 1.
    for (const peer of hosts) {
      if (peer === h) continue;
      const p = addressesOf(indexOf(peer));
      const link = indexOf(peer) + 1;
      const toPeer: RouteSpec = { srcMac: { kind: 'any' }, dstMac: { kind: 'addr', mac: p.guestMac }, dest: { kind: 'link', id: link }, from: { kind: 'any' } };
      sys.scheduleAt(0, core.name, { type: 'route.add', route: toPeer });
      sys.scheduleAt(0, bridge.name, { type: 'link.add', id: link, ip: p.host.ip, port: 9000, proto: 'udp', mac: p.host.mac });
    }
    const toGuest: RouteSpec = { srcMac: { kind: 'any' }, dstMac: { kind: 'addr', mac: me.guestMac }, dest: { kind: 'interface', id: 1 }, from: { kind: 'any' } };
    sys.scheduleAt(0, core.name, { type: 'vnic.register', id: 1 });
    sys.scheduleAt(0, core.name, { type: 'route.add', route: toGuest });
    // The guest driver fills its receive ring with buffers (mergeable, one page each), as Linux virtio-net does.
    sys.scheduleAt(0, rx.name, { type: 'driver.post', lengths: Array(RX_RING_SIZE).fill(4096) });
    for (let i = 0; i < RX_RING_SIZE; i++) sys.scheduleAt(0, ct.name, { type: 'guest.post' });
  }
  const stack = Object.fromEntries(hosts.map((h) => [h, `${h}.stack`])) as TwoHostPath['stack'];
  return { system: sys, kind: o.kind, plus, wire, hosts, stack, cpu, link: o.device ? 'device' : 'ethernet' };
}

// ---- The demo: guest A sends UDP frames to guest B over VNET/P --------------------------------

export interface OverlayPathOptions {
  /** Size of each guest Ethernet frame in bytes (header included), 42 to `MAX_FRAME_BYTES`. */
  readonly frameBytes: number;
  /** How many frames guest A sends. */
  readonly frames: number;
  /** Physical MTU of the host network (bytes of IPv4 datagram). */
  readonly mtu: number;
  /** Link rate of the host NICs in bit/s. */
  readonly linkBitRate: number;
  readonly costs?: Costs;
  readonly seed?: number;
  readonly system?: Omit<SystemOptions, 'seed'>;
}

/** A real guest frame: Ethernet + IPv4 + UDP (port 7, echo) + a counting payload. */
export function guestFrame(id: number, bytes: number): Frame {
  const payloadBytes = bytes - 14 - 20 - 8;
  if (!Number.isInteger(bytes) || payloadBytes < 0 || bytes > MAX_FRAME_BYTES) {
    throw new RangeError(`a guest frame must have from 42 to ${MAX_FRAME_BYTES} bytes, got ${bytes}`);
  }
  const payload = new Uint8Array(payloadBytes);
  for (let i = 0; i < payload.length; i++) payload[i] = (id + i) & 0xff;
  const src = parseIpv4Address(GUEST_A_IP)!;
  const dst = parseIpv4Address(GUEST_B_IP)!;
  const udp = encodeUdp({ srcPort: 40000, dstPort: 7, srcIp: src, dstIp: dst, checksum: true }, payload);
  const ip = encodeIpv4({ src, dst, protocol: IPPROTO_UDP, id: id & 0xffff, ttl: 64, dontFragment: false, moreFragments: false, fragmentOffset: 0 }, udp);
  const data = encodeEthernet({ dst: parseMac(GUEST_B_MAC)!, src: parseMac(GUEST_A_MAC)!, etherType: ETHERTYPE_IPV4 }, ip);
  return { id, bytes: data.length, data };
}

export interface OverlayPath {
  readonly system: System;
  /** Packets that crossed the wire, with the time they left host A's NIC. */
  readonly wire: { timeNs: number; packet: Uint8Array }[];
  /** Frames guest B's stack received. */
  readonly received: Frame[];
  /** Frames guest A's application sent. */
  readonly sent: Frame[];
}

/** The VNET/P path with guest A sending frames to guest B; call `system.run()` to play it. */
export function buildOverlayPath(o: OverlayPathOptions): OverlayPath {
  // Coalescing as the host-nic defaults: the demo shows the NIC holding its interrupt.
  const path = buildTwoHostPath({ kind: 'vnetp', mtu: o.mtu, linkBitRate: o.linkBitRate, costs: o.costs, seed: o.seed, system: o.system });
  const sys = path.system;
  const received: Frame[] = [];
  const sent: Frame[] = [];
  const c = o.costs ?? defaultCosts;
  sys.route(path.stack.B, 'deliver', (e: { type: 'deliver'; frame: Frame }) => {
    received.push(e.frame);
  });
  // Guest A's application writes one frame per serialization time.
  sys.addComponent('A.app', (e, ctx) => {
    if (e.type !== 'app.send') return;
    const frame = guestFrame(sent.length + 1, o.frameBytes);
    sent.push(frame);
    ctx.schedule(0, path.stack.A, { type: 'send', frames: [frame] });
    if (sent.length < o.frames) ctx.schedule(ethernetSerializationNs(o.frameBytes, o.linkBitRate, c), 'A.app', { type: 'app.send' });
  });
  sys.scheduleAt(1_000, 'A.app', { type: 'app.send' });
  return { system: sys, wire: path.wire, received, sent };
}
