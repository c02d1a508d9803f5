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
import { bridgeMachine } from '../machines/bridge.js';
import { hostNicMachine } from '../machines/host-nic.js';
import { optimisticInterruptsMachine } from '../machines/optimistic-interrupts.js';
import { guestInterruptsMachine } from '../machines/guest-interrupts.js';
import { cutThroughMachine } from '../machines/cut-through.js';
import { encodeEthernet, encodeIpv4, encodeUdp, ETHERTYPE_IPV4, IPPROTO_UDP, parseMac, parseIpv4Address } from '../machines/packet.js';
import { cycles, defaultCosts, ethernetSerializationNs, type Costs } from './costs.js';
import { System, type ComponentContext, type SystemOptions, type WiringContext } from './wiring.js';

export type HostName = 'A' | 'B';
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
 * - `host` (§4.5): `lwk` for the lightweight-kernel host of VNET/P+. The paths model no host noise
 *   (the calibrated costs were fitted without it), so the LWK host changes nothing here yet.
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
}

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

const HOSTS = {
  A: { host: HOST_A, guestMac: GUEST_A_MAC, guestIp: GUEST_A_IP },
  B: { host: HOST_B, guestMac: GUEST_B_MAC, guestIp: GUEST_B_IP },
} as const;
const other = (h: HostName): HostName => (h === 'A' ? 'B' : 'A');

/** The guest and host addresses of host `h` (workloads build their frames from these). */
export function guestAddress(h: HostName): { readonly guestMac: string; readonly guestIp: string; readonly hostMac: string; readonly hostIp: string } {
  const a = HOSTS[h];
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

/** Largest guest frame the path accepts: the bridge's largest encapsulated frame. */
export const MAX_FRAME_BYTES = 65535 - 20 - 8;

export interface TwoHostPath {
  readonly system: System;
  readonly kind: PathKind;
  /** The VNET/P+ optimizations the path was built with (plain for every kind but an optimized vnetp). */
  readonly plus: VnetpPlus;
  /** Packets that crossed the wire, with the time they started and the host that sent them. */
  readonly wire: { timeNs: number; from: HostName; packet: Uint8Array }[];
  /** The hosts, in order. */
  readonly hosts: readonly HostName[];
  /** Component names a workload uses: each guest's stack (`send` events in, `deliver` effects out). */
  readonly stack: Readonly<Record<HostName, string>>;
}

/**
 * Builds both hosts and the wire for `o.kind`; nothing is scheduled but the configuration at
 * time 0. A workload adds its components, routes `deliver` effects from `stack[h]`, schedules
 * `{ type: 'send', frames }` to `stack[h]`, and runs the system.
 */
export function buildTwoHostPath(o: TwoHostOptions): TwoHostPath {
  const c = o.costs ?? defaultCosts;
  const sys = new System({ seed: o.seed ?? 1, ...o.system });
  const wire: TwoHostPath['wire'] = [];
  const exitNs = cycles(c.vmExitEntryCycles, c.cpuHz);
  const irqNs = cycles(c.irqToHandlerCycles, c.cpuHz);
  const stackNs = cycles(c.guestStackCyclesPerPacket, c.cpuHz);
  const coreNs = cycles(c.vnetCoreCyclesPerPacket, c.cpuHz);
  const hostUdpNs = cycles(c.hostUdpCyclesPerPacket, c.cpuHz);
  const irqToPollNs = cycles(c.hostIrqToPollCycles, c.cpuHz);
  const copyNs = (bytes: number) => cycles(c.copyCyclesPerByte * bytes, c.cpuHz);
  const nicInput = { mtu: o.mtu, ...(o.nic ?? {}) };
  // VNET/U runs the overlay's routing and encapsulation in a user-level daemon: same machines, plus crossings.
  const vnetp = o.kind === 'vnetp' || o.kind === 'vnetu';
  const crossNs = o.kind === 'vnetu' ? cycles(c.vnetuContextSwitchCycles, c.cpuHz) : 0;
  const plus = o.kind === 'vnetp' ? (o.plus ?? VNETP_PLAIN) : VNETP_PLAIN;
  const oi = plus.optimisticInterrupts;

  for (const h of ['A', 'B'] as const) {
    const peer = other(h);
    const me = HOSTS[h];
    const nic = sys.addMachine(`${h}.nic`, hostNicMachine, nicInput);
    const tx = vnetp ? sys.addMachine(`${h}.tx`, virtioRingMachine, { role: 'tx', queueSize: 256 }) : undefined;
    const rx = vnetp ? sys.addMachine(`${h}.rx`, virtioRingMachine, { role: 'rx', queueSize: 256 }) : undefined;
    const disp = vnetp ? sys.addMachine(`${h}.dispatcher`, dispatcherMachine, { nics: 1 }) : undefined;
    const core = vnetp ? sys.addMachine(`${h}.core`, routingMachine, {}) : undefined;
    const bridge = vnetp
      ? sys.addMachine(`${h}.bridge`, bridgeMachine, { mtu: o.mtu, hostIp: parseIpv4Address(me.host.ip)!, hostMac: parseMac(me.host.mac)! })
      : undefined;
    // The VMM's data movement between guest buffers and host buffers: one copy (VNET/P) or none (cut-through).
    const ct = vnetp ? sys.addMachine(`${h}.ct`, o.machines?.cutThrough ?? cutThroughMachine, { mode: plus.cutThrough ? 'cut-through' : 'copy', headerBytes: c.vnetEncapBytes }) : undefined;
    const evi = vnetp && oi ? sys.addMachine(`${h}.oi`, o.machines?.optimisticInterrupts ?? optimisticInterruptsMachine, {}) : undefined;
    const line = vnetp && oi ? sys.addMachine(`${h}.virq`, o.machines?.guestInterrupts ?? guestInterruptsMachine, {}) : undefined;

    // The guest stack: one core, one per-packet cost for each frame down or up.
    let busyUntil = 0;
    const stackSlot = (now: number) => (busyUntil = Math.max(now, busyUntil) + stackNs);
    sys.addComponent(`${h}.stack`, (e, ctx: ComponentContext) => {
      if (e.type === 'send') {
        for (const frame of (e as unknown as { frames: readonly Frame[] }).frames) {
          const at = stackSlot(ctx.now);
          if (vnetp) {
            ctx.scheduleAt(at, `${h}.tx`, { type: 'driver.add', frames: [frame] });
            ctx.scheduleAt(at, `${h}.dispatcher`, (now: number) => ({ type: 'tx.queued', nic: 0, packets: 1, now }));
          } else {
            ctx.scheduleAt(at, `${h}.nic`, (now: number) => ({ type: 'tx', now, frame }));
          }
        }
      } else if (e.type === 'rx') {
        ctx.scheduleAt(stackSlot(ctx.now), `${h}.stack`, { type: 'up', frame: (e as unknown as { frame: Frame }).frame });
      } else if (e.type === 'up') {
        ctx.emit({ type: 'deliver', frame: (e as unknown as { frame: Frame }).frame });
      } else if (e.type === 'busy') {
        // Guest time spent elsewhere on the same core (a premature interrupt handler, §4.3.1 case 2).
        busyUntil = Math.max(ctx.now, busyUntil) + (e as unknown as { ns: number }).ns;
      }
    });

    // The wire from this host: one packet after another at the link rate, then propagation.
    let wireBusyUntil = 0;
    nic.route('wire.tx', (e, ctx) => {
      const start = Math.max(ctx.now, wireBusyUntil);
      wireBusyUntil = start + ethernetSerializationNs(e.bytes, o.linkBitRate, c);
      wire.push({ timeNs: start, from: h, packet: e.frame.data! });
      const arriveNs = wireBusyUntil + c.wirePropagationNs;
      const deliver = (at: number, packet: Uint8Array) => {
        const when = Math.max(arriveNs, Math.round(at));
        const frame = packet === e.frame.data ? e.frame : { ...e.frame, data: packet, bytes: packet.length };
        ctx.scheduleAt(when, `${peer}.nic`, (now: number) => ({ type: 'wire.rx', now, frame }));
        // The coalescing timer of the peer's NIC: a tick at the rx-usecs deadline of this completion.
        const usecs = nicInput.rxUsecs ?? 50;
        if (usecs > 0) ctx.scheduleAt(when + usecs * 1000, `${peer}.nic`, (now: number) => ({ type: 'timer', now }));
      };
      if (o.wireFaults) o.wireFaults({ from: h, to: peer, packet: e.frame.data!, index: wire.length - 1, arriveNs }, deliver);
      else deliver(arriveNs, e.frame.data!);
    });

    // Receive: interrupt (for passthrough, through the VMM), NAPI poll, frames up.
    const poll = (delay: number, ctx: WiringContext) => ctx.schedule(delay, `${h}.nic`, (now: number) => ({ type: 'driver.poll', now }));
    nic.route('irq', (_e, ctx) => poll(irqToPollNs + (o.kind === 'passthrough' ? exitNs : 0), ctx));
    if (evi && line) {
      // §4.3.1: the host driver identifies the arrival (its interrupt) and the EVI decision is made
      // at once, with the guest line's mask bit as the VMM reads it then.
      nic.route('irq', (_e, ctx) => {
        const bytes = (sys.snapshot(nic.name).context.queue as Frame[]).reduce((n, f) => n + f.bytes, 0);
        ctx.schedule(0, evi.name, (now: number) => ({ type: 'host.arrival', now, bytes, guestMasked: sys.snapshot(line.name).context.masked as boolean }));
      });
      // §4.3.2: the host NIC emptied its queue.
      nic.route('eoc', (_e, ctx) => ctx.schedule(0, evi.name, (now: number) => ({ type: 'host.eoc', now, guestMasked: sys.snapshot(line.name).context.masked as boolean })));
    }
    nic.route('host.rx', (e, ctx) => {
      if (bridge) ctx.schedule(hostUdpNs + crossNs, bridge.name, (now: number) => ({ type: 'receive', packet: e.frame.data!, now }));
      else ctx.schedule(0, `${h}.stack`, { type: 'rx', frame: e.frame });
      // NAPI polls again until the queue is empty (the poll that empties it completes with EoC).
      if (sys.snapshot(`${h}.nic`).context.queue?.length !== 0) poll(0, ctx);
    });
    if (!vnetp || !tx || !rx || !disp || !core || !bridge || !ct) continue;

    // ---- VNET/P (and VNET/U) -------------------------------------------------------------------
    // The kick is a VM exit; in guest-driven mode the dispatcher runs in the exit's context.
    tx.route('kick', (_e, ctx) => ctx.schedule(exitNs, disp.name, (now: number) => ({ type: 'kick', nic: 0, now })));
    disp.route('dispatch', (e, ctx) => ctx.schedule(0, tx.name, e.context === 'exit' ? { type: 'device.kick' } : { type: 'device.poll', quota: e.packets }));
    // The one copy inside the VMM (§5.1.6), or none (cut-through, §4.4), then a routing lookup.
    // The time charged is that of the bytes the cut-through machine reports copied.
    const txFrames = new Map<number, Frame>();
    let copied = 0;
    tx.route('tx.frame', (e, ctx) => {
      txFrames.set(e.frame.id, e.frame);
      ctx.schedule(0, ct!.name, { type: 'guest.tx', frame: { id: e.frame.id, bytes: e.frame.bytes } });
    });
    ct!.route('copy', (e) => {
      copied += e.bytes;
    });
    ct!.route('nic.tx', (e, ctx) => {
      const frame = txFrames.get(e.frameId)!;
      txFrames.delete(e.frameId);
      const { dst, src } = frameMacs(frame.data!);
      ctx.schedule(copyNs(copied) + crossNs, core.name, { type: 'frame', dst, src, frame });
      copied = 0;
    });
    tx.route('irq', (_e, ctx) => {
      ctx.schedule(irqNs, tx.name, { type: 'driver.interrupt' });
      ctx.schedule(irqNs, tx.name, { type: 'driver.reap', budget: 64 });
      ctx.schedule(irqNs, tx.name, { type: 'driver.complete' });
    });
    core.route('deliver', (e, ctx) => {
      if (e.dest.kind === 'link') {
        ctx.schedule(coreNs, bridge.name, { type: 'send', link: e.dest.id === 0 ? 'local' : e.dest.id, frame: e.frame.data! });
      } else if (e.dest.kind === 'interface') {
        const id = ++rxId;
        rxFrames.set(id, e.frame);
        ctx.schedule(0, ct!.name, { type: 'host.rx', frame: { id, bytes: e.frame.bytes } });
      }
    });
    // Receive: the frame lands in a guest buffer by a VMM copy (VNET/P) or by the NIC's DMA (cut-through).
    const rxFrames = new Map<number, Frame>();
    let rxId = 0;
    ct!.route('rx.placed', (e, ctx) => {
      const frame = rxFrames.get(e.frameId)!;
      rxFrames.delete(e.frameId);
      ctx.schedule(copyNs(copied) + crossNs, rx.name, { type: 'device.deliver', frame });
      // The guest-interrupts line learns of the frame in the ring at the same moment.
      if (line) ctx.schedule(copyNs(copied) + crossNs, line.name, (now: number) => ({ type: 'ring.filled', now, frames: 1 }));
      copied = 0;
    });
    ct!.route('rx.drop', () => {
      throw new Error(`${h}: the cut-through machine had no posted guest buffer for a received frame`);
    });
    let fragment = 0;
    bridge.route('wire.send', (e, ctx) =>
      ctx.schedule(hostUdpNs + crossNs, nic.name, (now: number) => ({ type: 'tx', now, frame: { id: ++fragment, bytes: e.packet.length, data: e.packet } })),
    );
    bridge.route('core.deliver', (e, ctx) => {
      const { dst, src } = frameMacs(e.frame);
      ctx.schedule(coreNs, core.name, { type: 'frame', dst, src, frame: { id: 0, bytes: e.frame.length, data: e.frame } });
    });
    if (!line || !evi) {
      // VNET/P: one virtual interrupt once the frame is in the vNIC ring (§5.1.6), handled after T0-T2.
      rx.route('irq', (_e, ctx) => {
        ctx.schedule(irqNs, rx.name, { type: 'driver.interrupt' });
        ctx.schedule(irqNs, rx.name, { type: 'driver.reap', budget: 64 });
        ctx.schedule(irqNs, rx.name, { type: 'driver.complete' });
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
      line.route('virq.taken', (_e, ctx) => ctx.schedule(irqNs, line.name, (now: number) => ({ type: 'handler.run', now })));
      // A premature handler (§4.3.1 case 2) finds nothing; its register accesses (one trap) cost guest time.
      line.route('handler.premature', (_e, ctx) => ctx.schedule(0, `${h}.stack`, { type: 'busy', ns: exitNs }));
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
      ctx.schedule(0, ct!.name, { type: 'guest.strip' });
      // The driver reposts the buffers once its stack has taken the frame.
      ctx.schedule(stackNs, rx.name, { type: 'driver.post', lengths: Array(e.buffers).fill(4096) });
      ctx.schedule(stackNs, ct!.name, { type: 'guest.post' });
    });

    // Configuration, as the control daemon would apply it: the peer guest is behind link 1,
    // this host's guest behind interface 1.
    const toPeer: RouteSpec = { srcMac: { kind: 'any' }, dstMac: { kind: 'addr', mac: HOSTS[peer].guestMac }, dest: { kind: 'link', id: 1 }, from: { kind: 'any' } };
    const toGuest: RouteSpec = { srcMac: { kind: 'any' }, dstMac: { kind: 'addr', mac: me.guestMac }, dest: { kind: 'interface', id: 1 }, from: { kind: 'any' } };
    sys.scheduleAt(0, core.name, { type: 'route.add', route: toPeer });
    sys.scheduleAt(0, bridge.name, { type: 'link.add', id: 1, ip: HOSTS[peer].host.ip, port: 9000, proto: 'udp', mac: HOSTS[peer].host.mac });
    sys.scheduleAt(0, core.name, { type: 'vnic.register', id: 1 });
    sys.scheduleAt(0, core.name, { type: 'route.add', route: toGuest });
    // The guest driver posts receive buffers (mergeable, one page each).
    sys.scheduleAt(0, rx.name, { type: 'driver.post', lengths: Array(64).fill(4096) });
    for (let i = 0; i < 64; i++) sys.scheduleAt(0, ct!.name, { type: 'guest.post' });
  }
  return { system: sys, kind: o.kind, plus, wire, hosts: ['A', 'B'], stack: { A: 'A.stack', B: 'B.stack' } };
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
