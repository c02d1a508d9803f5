/**
 * Two hosts joined by a VNET/P overlay link, composed from the machines (dissertation §5.1.6,
 * Figure 5.6): on each host a guest virtio NIC (transmit and receive rings), the packet
 * dispatcher, the VNET/P core's routing, the bridge and the host NIC; between the host NICs an
 * Ethernet wire. Guest A sends real Ethernet frames to guest B:
 *
 *   A.tx ring --kick--> A.dispatcher --dispatch--> A.tx ring --tx.frame--> A.core (routing)
 *   --deliver(link)--> A.bridge (MAC-in-UDP, fragmented over the MTU) --wire.send--> A.nic
 *   --wire.tx--> wire --wire.rx--> B.nic --irq, NAPI poll, host.rx--> B.bridge (reassembly)
 *   --core.deliver--> B.core (routing) --deliver(interface)--> B.rx ring --irq, reap--> guest B
 *
 * Delays come from the cost table (model/costs.ts): VM exits, the copy inside the VMM, per-packet
 * core and host UDP work, serialization at the link rate, the interrupt-to-handler time. This is
 * the composition the main job runs until the full-system model (configurations, workloads,
 * calibration) exists; it is also what its tests check end to end.
 */
import type { Frame } from '../machines/virtio-ring.js';
import { virtioRingMachine } from '../machines/virtio-ring.js';
import { dispatcherMachine } from '../machines/dispatcher.js';
import { routingMachine, frameMacs, type RouteSpec } from '../machines/routing.js';
import { bridgeMachine } from '../machines/bridge.js';
import { hostNicMachine } from '../machines/host-nic.js';
import { encodeEthernet, encodeIpv4, encodeUdp, ETHERTYPE_IPV4, IPPROTO_UDP, parseMac, parseIpv4Address } from '../machines/packet.js';
import { cycles, defaultCosts as c, ethernetSerializationNs } from './costs.js';
import { System, type SystemOptions } from './wiring.js';

export interface OverlayPathOptions {
  /** Size of each guest Ethernet frame in bytes (header included), 60 to 65535 - 28 - 14. */
  readonly frameBytes: number;
  /** How many frames guest A sends. */
  readonly frames: number;
  /** Physical MTU of the host network (bytes of IPv4 datagram). */
  readonly mtu: number;
  /** Link rate of the host NICs in bit/s. */
  readonly linkBitRate: number;
  readonly seed?: number;
  readonly system?: Omit<SystemOptions, 'seed'>;
}

export const GUEST_A_MAC = '52:54:00:00:00:0a';
export const GUEST_B_MAC = '52:54:00:00:00:0b';
export const HOST_A = { ip: '10.0.0.1', mac: '02:00:00:00:00:01' };
export const HOST_B = { ip: '10.0.0.2', mac: '02:00:00:00:00:02' };
/** Inner addresses: guest A sends UDP datagrams to guest B. */
const GUEST_A_IP = '192.168.0.10';
const GUEST_B_IP = '192.168.0.11';

/** Largest guest frame the path accepts: the bridge's largest encapsulated frame. */
export const MAX_FRAME_BYTES = 65535 - 20 - 8;

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
  /** Frames guest B's driver handed to its stack. */
  readonly received: Frame[];
  /** Frames guest A's application sent. */
  readonly sent: Frame[];
}

/** Builds the two hosts and schedules guest A's frames; call `system.run()` to play it. */
export function buildOverlayPath(o: OverlayPathOptions): OverlayPath {
  const sys = new System({ seed: o.seed ?? 1, ...o.system });
  const wire: OverlayPath['wire'] = [];
  const received: Frame[] = [];
  const sent: Frame[] = [];
  const exitNs = cycles(c.vmExitEntryMinCycles);
  const irqNs = cycles(c.irqToHandlerCycles);

  // ---- host A: guest transmit path ---------------------------------------------------------
  const aTx = sys.addMachine('A.tx', virtioRingMachine, { role: 'tx', queueSize: 256 });
  const aDisp = sys.addMachine('A.dispatcher', dispatcherMachine, { nics: 1 });
  const aCore = sys.addMachine('A.core', routingMachine, {});
  const aBridge = sys.addMachine('A.bridge', bridgeMachine, {
    mtu: o.mtu,
    hostIp: parseIpv4Address(HOST_A.ip)!,
    hostMac: parseMac(HOST_A.mac)!,
  });
  const aNic = sys.addMachine('A.nic', hostNicMachine, { mtu: o.mtu });

  // ---- host B: guest receive path ----------------------------------------------------------
  const bNic = sys.addMachine('B.nic', hostNicMachine, { mtu: o.mtu });
  const bBridge = sys.addMachine('B.bridge', bridgeMachine, {
    mtu: o.mtu,
    hostIp: parseIpv4Address(HOST_B.ip)!,
    hostMac: parseMac(HOST_B.mac)!,
  });
  const bCore = sys.addMachine('B.core', routingMachine, {});
  const bRx = sys.addMachine('B.rx', virtioRingMachine, { role: 'rx', queueSize: 256 });

  // Guest A's application writes frames; the driver adds them and tells the dispatcher.
  sys.addComponent('A.app', (e, ctx) => {
    if (e.type !== 'app.send') return;
    const frame = guestFrame(sent.length + 1, o.frameBytes);
    sent.push(frame);
    ctx.schedule(0, 'A.tx', { type: 'driver.add', frames: [frame] });
    ctx.schedule(0, 'A.dispatcher', (now: number) => ({ type: 'tx.queued', nic: 0, packets: 1, now }));
    if (sent.length < o.frames) ctx.schedule(ethernetSerializationNs(o.frameBytes, o.linkBitRate), 'A.app', { type: 'app.send' });
  });

  // The kick is a VM exit; in guest-driven mode the dispatcher runs in the exit's context.
  aTx.route('kick', (_e, ctx) => ctx.schedule(exitNs, 'A.dispatcher', (now: number) => ({ type: 'kick', nic: 0, now })));
  aDisp.route('dispatch', (e, ctx) =>
    ctx.schedule(0, 'A.tx', e.context === 'exit' ? { type: 'device.kick' } : { type: 'device.poll', quota: e.packets }),
  );
  // The one copy inside the VMM (§5.1.6), then a routing lookup.
  aTx.route('tx.frame', (e, ctx) => {
    const { dst, src } = frameMacs(e.frame.data!);
    ctx.schedule(cycles(c.copyCyclesPerByte * e.frame.bytes), 'A.core', { type: 'frame', dst, src, frame: e.frame });
  });
  aTx.route('irq', (_e, ctx) => {
    ctx.schedule(irqNs, 'A.tx', { type: 'driver.interrupt' });
    ctx.schedule(irqNs, 'A.tx', { type: 'driver.reap', budget: 64 });
    ctx.schedule(irqNs, 'A.tx', { type: 'driver.complete' });
  });
  aCore.route('deliver', (e, ctx) => {
    if (e.dest.kind === 'link') {
      ctx.schedule(cycles(c.vnetCoreCyclesPerPacket), 'A.bridge', { type: 'send', link: e.dest.id === 0 ? 'local' : e.dest.id, frame: e.frame.data! });
    }
  });
  let fragment = 0;
  aBridge.route('wire.send', (e, ctx) =>
    ctx.schedule(cycles(c.hostUdpCyclesPerPacket), 'A.nic', (now: number) => ({ type: 'tx', now, frame: { id: ++fragment, bytes: e.packet.length, data: e.packet } })),
  );

  // The wire: one packet after another at the link rate, then propagation.
  let busyUntil = 0;
  aNic.route('wire.tx', (e, ctx) => {
    const start = Math.max(ctx.now, busyUntil);
    busyUntil = start + ethernetSerializationNs(e.bytes, o.linkBitRate);
    wire.push({ timeNs: start, packet: e.frame.data! });
    const arrive = busyUntil + c.wirePropagationNs;
    ctx.scheduleAt(arrive, 'B.nic', (now: number) => ({ type: 'wire.rx', now, frame: e.frame }));
    // The coalescing timer of B's NIC: a tick at the rx-usecs deadline of this completion.
    ctx.scheduleAt(arrive + 50_000, 'B.nic', (now: number) => ({ type: 'timer', now }));
  });

  // Host B: interrupt, NAPI poll, frames up to the bridge.
  const pollB = (delay: number, ctx: { schedule: System['schedule'] }) =>
    ctx.schedule(delay, 'B.nic', (now: number) => ({ type: 'driver.poll', now }));
  bNic.route('irq', (_e, ctx) => pollB(cycles(c.hostIrqToPollCycles), ctx));
  bNic.route('host.rx', (e, ctx) => {
    ctx.schedule(cycles(c.hostUdpCyclesPerPacket), 'B.bridge', (now: number) => ({ type: 'receive', packet: e.frame.data!, now }));
    // NAPI polls again until the queue is empty (the poll that empties it completes with EoC).
    if (sys.snapshot('B.nic').context.queue?.length !== 0) pollB(0, ctx);
  });
  bBridge.route('core.deliver', (e, ctx) => {
    const { dst, src } = frameMacs(e.frame);
    ctx.schedule(cycles(c.vnetCoreCyclesPerPacket), 'B.core', { type: 'frame', dst, src, frame: { id: 0, bytes: e.frame.length, data: e.frame } });
  });
  bCore.route('deliver', (e, ctx) => {
    if (e.dest.kind === 'interface') ctx.schedule(cycles(c.copyCyclesPerByte * e.frame.bytes), 'B.rx', { type: 'device.deliver', frame: e.frame });
  });
  bRx.route('irq', (_e, ctx) => {
    ctx.schedule(irqNs, 'B.rx', { type: 'driver.interrupt' });
    ctx.schedule(irqNs, 'B.rx', { type: 'driver.reap', budget: 64 });
    ctx.schedule(irqNs, 'B.rx', { type: 'driver.complete' });
  });
  bRx.route('rx.frame', (e, ctx) => {
    received.push(e.frame);
    ctx.schedule(cycles(c.guestStackCyclesPerPacket), 'B.rx', { type: 'driver.post', lengths: Array(e.buffers).fill(4096) });
  });

  // ---- configuration, as the control daemon would apply it ------------------------------------
  const toB: RouteSpec = { srcMac: { kind: 'any' }, dstMac: { kind: 'addr', mac: GUEST_B_MAC }, dest: { kind: 'link', id: 1 }, from: { kind: 'any' } };
  const toGuestB: RouteSpec = { srcMac: { kind: 'any' }, dstMac: { kind: 'addr', mac: GUEST_B_MAC }, dest: { kind: 'interface', id: 1 }, from: { kind: 'any' } };
  sys.scheduleAt(0, 'A.core', { type: 'route.add', route: toB });
  sys.scheduleAt(0, 'A.bridge', { type: 'link.add', id: 1, ip: HOST_B.ip, port: 9000, proto: 'udp', mac: HOST_B.mac });
  sys.scheduleAt(0, 'B.bridge', { type: 'link.add', id: 1, ip: HOST_A.ip, port: 9000, proto: 'udp', mac: HOST_A.mac });
  sys.scheduleAt(0, 'B.core', { type: 'vnic.register', id: 1 });
  sys.scheduleAt(0, 'B.core', { type: 'route.add', route: toGuestB });
  // Guest B's driver posts receive buffers (mergeable, one page each).
  sys.scheduleAt(0, 'B.rx', { type: 'driver.post', lengths: Array(64).fill(4096) });
  sys.scheduleAt(1_000, 'A.app', { type: 'app.send' });
  return { system: sys, wire, received, sent };
}
