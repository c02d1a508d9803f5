/**
 * System invariants of the Ethernet paths (model/overlay-path.ts), checked while the model runs
 * (ARCHITECTURE.md "Model"): a monitor registered with `System.addMonitor` reads every event and
 * effect as it is recorded, and a violation stops the run with the trace that led to it. The
 * machines' own invariants are checked by the System as well, after every delivery.
 *
 * The monitor follows each guest frame from the `send` event of its stack to the `deliver` effect
 * of a stack, and each packet that carries it on the wire, through the components' recorded
 * events and effects only (their names: `X.stack`, `X.tx`, `X.core`, `X.bridge`, `X.nic`, `X.rx`,
 * and `wire.faults` of model/faults.ts):
 *
 * - **conservation** (frames): a frame has one copy when sent, one more for each duplicate of a
 *   wire packet carrying it whole. Each copy is delivered to a guest stack or dropped with a
 *   counted reason, once; during the run no frame is delivered that was not sent, more often than
 *   it has copies, or after its copies were all dropped. Where a frame can die, by component:
 *   the wire (`wire-loss`, `fcs`), the host NIC (`rx-queue-full`, `tx-too-large`), the bridge
 *   (on send: `oversized`, `unknown-link`, ...; on receive of a whole datagram any bridge reason;
 *   of a fragmented one: `reassembly-timeout` or a drop of the assembled datagram), routing
 *   (`no-route`, `malformed`, `undeliverable`), the guest's receive ring (`no-buffer`,
 *   `too-large`). A fragment lost on the wire kills its frame only through the reassembly timer.
 * - **conservation** (packets): every copy of every packet put on the wire (one, plus one per
 *   duplicate) reaches the receiving host (its bridge, or its stack without an overlay) or is
 *   dropped with a counted reason (wire, `fcs`, receiving NIC). This catches a fragment lost
 *   without a count even when its datagram's timeout counts the frame.
 * - **isolation**: a frame reaches only the vNIC and stack of the guest whose MAC it is addressed
 *   to, never its sender's own stack. (A frame that arrives with other bytes than it was sent with
 *   is a conservation violation: what was delivered was never sent.)
 * - **order** (when asked: on a path without reordering faults): the frames of one flow (sending
 *   guest to receiving guest) are delivered in the order they were sent.
 *
 * After the run, `settle` brings the system to quiescence (the bridges' reassembly timers have then
 * fired) and checks that every frame and every wire copy is accounted for.
 */
import type { EventObject } from 'xstate';
import type { Frame } from '../machines/virtio-ring.js';
import { FAULTS_COMPONENT, type FaultEffect } from './faults.js';
import { guestAddress, type HostName, type TwoHostPath } from './overlay-path.js';
import { ModelRunError, type MonitorRecord, type MonitorVerdict, type System, type SystemMonitor } from './wiring.js';

/** One guest frame, from its `send`. */
interface FrameRec {
  readonly n: number;
  readonly from: string;
  /** Host whose guest MAC is the destination, if any. */
  readonly to: string | undefined;
  /** Position in its flow (from -> to), from 0. */
  readonly flowSeq: number;
  readonly data: Uint8Array;
  copies: number;
  delivered: number;
  dropped: number;
  readonly reasons: string[];
  /** Its encapsulated datagrams (one per bridge send). */
  readonly datagrams: DatagramRec[];
  /** Last component seen handling it (for reports). */
  last: string;
}

/** One encapsulated datagram of the bridge: one frame, one or more packets. */
interface DatagramRec {
  readonly frame: FrameRec;
  readonly packets: PacketRec[];
  readonly fragmented: boolean;
  completions: number;
  /** The bridge holding it in reassembly, if one does. */
  openAt: string | undefined;
  timedOut: boolean;
  /** Counted as lost with all its fragments. */
  counted: boolean;
}

/** One packet on the wire: a frame itself (no overlay) or a piece of a datagram. */
interface PacketRec {
  readonly frame: FrameRec;
  readonly datagram: DatagramRec | undefined;
  readonly index: number;
  expected: number;
  arrived: number;
  drops: number;
  /** Copies that arrived and the receiving bridge refused. */
  refused: number;
  readonly reasons: string[];
}

export interface PathInvariantOptions {
  /** Check per-flow delivery order (only where the path guarantees it: no reordering faults). Default false. */
  readonly order?: boolean;
}

/** What the monitor counted over a run. */
export interface InvariantReport {
  readonly sent: number;
  readonly delivered: number;
  /** Frame copies created beyond the frame itself (duplicates of packets carrying a whole frame). */
  readonly extraCopies: number;
  /** Frame-level drops by `component-role:reason` (e.g. `bridge:reassembly-timeout`). */
  readonly frameDrops: Readonly<Record<string, number>>;
  /** Wire packet copies dropped, by `role:reason` (e.g. `wire:wire-loss`, `nic:rx-queue-full`). */
  readonly packetDrops: Readonly<Record<string, number>>;
  readonly packets: number;
}

const MONITOR = 'path-invariants';

/** The system invariants this monitor checks (the `invariant` of a `ModelRunError` it raises). */
export type PathInvariant = 'conservation' | 'isolation' | 'flow-order';
type Verdict = { readonly invariant: PathInvariant; readonly message: string } | undefined;
const violation = (invariant: PathInvariant, message: string): Verdict => ({ invariant, message });

function macOf(data: Uint8Array, offset: number): string {
  const b = data.subarray(offset, offset + 6);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** An IPv4 fragment (MF set or a non-zero offset) in an Ethernet frame. */
function isIpv4Fragment(packet: Uint8Array): boolean {
  if (packet.length < 34 || packet[12] !== 0x08 || packet[13] !== 0x00) return false;
  const flags = (packet[20] << 8) | packet[21];
  return (flags & 0x2000) !== 0 || (flags & 0x1fff) !== 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/**
 * The monitor of one path. `watchPath` creates and registers it; `settle` runs the path to the
 * end and makes the final check.
 */
export class PathInvariants implements SystemMonitor {
  readonly name = MONITOR;
  readonly #order: boolean;
  /** Guest MAC -> host. */
  readonly #hostByMac = new Map<string, string>();
  readonly #macByHost = new Map<string, string>();
  readonly #frames: FrameRec[] = [];
  readonly #packets: PacketRec[] = [];
  /** Frame bytes (the sent array, or the bridge's inner frame) -> frame. */
  readonly #frameByData = new WeakMap<Uint8Array, FrameRec>();
  readonly #datagramByPacket = new WeakMap<Uint8Array, DatagramRec>();
  readonly #packetByData = new WeakMap<Uint8Array, PacketRec>();
  /** Per bridge: datagrams in reassembly, in the order their reassembly started (the order they time out). */
  readonly #open = new Map<string, DatagramRec[]>();
  readonly #flowSent = new Map<string, number>();
  readonly #flowDelivered = new Map<string, number>();
  readonly #frameDrops = new Map<string, number>();
  readonly #packetDrops = new Map<string, number>();
  #delivered = 0;
  #extra = 0;
  /** The event being delivered, as far as the monitor needs it. */
  #current:
    | { kind: 'bridge-send'; frame: FrameRec | undefined; datagram: DatagramRec | undefined }
    | { kind: 'bridge-receive'; bridge: string; packet: PacketRec | undefined; packetDropped: boolean; completed: boolean }
    | { kind: 'bridge-tick'; bridge: string }
    | undefined;

  constructor(hosts: readonly string[], macOfHost: (h: string) => string, o: PathInvariantOptions = {}) {
    for (const h of hosts) {
      const mac = macOfHost(h).toLowerCase();
      this.#hostByMac.set(mac, h);
      this.#macByHost.set(h, mac);
    }
    this.#order = o.order ?? false;
  }

  observe(r: MonitorRecord): MonitorVerdict {
    const dot = r.component.indexOf('.');
    const host = r.component.slice(0, dot);
    const role = r.component.slice(dot + 1);
    const m = r.message as EventObject & Record<string, unknown>;
    if (r.kind === 'event') return this.#event(r, host, role, m);
    if (r.component === FAULTS_COMPONENT) return this.#fault(m as unknown as FaultEffect);
    return this.#effect(r, host, role, m);
  }

  afterDelivery(): MonitorVerdict {
    const c = this.#current;
    this.#current = undefined;
    // A fragment the bridge kept (neither dropped nor completing its datagram) has started or joined a reassembly.
    if (c?.kind !== 'bridge-receive' || !c.packet?.datagram?.fragmented || c.packetDropped || c.completed) return undefined;
    const d = c.packet.datagram;
    if (d.openAt === undefined && !d.timedOut && d.completions === 0) {
      d.openAt = c.bridge;
      const list = this.#open.get(c.bridge) ?? [];
      list.push(d);
      this.#open.set(c.bridge, list);
    }
    return undefined;
  }

  #event(r: MonitorRecord, host: string, role: string, m: EventObject & Record<string, unknown>): Verdict {
    this.#current = undefined;
    if (role === 'stack' && m.type === 'send') {
      for (const f of m.frames as readonly Frame[]) {
        const data = f.data!;
        const to = this.#hostByMac.get(macOf(data, 0));
        const flow = `${host}>${to}`;
        const flowSeq = this.#flowSent.get(flow) ?? 0;
        this.#flowSent.set(flow, flowSeq + 1);
        const rec: FrameRec = { n: this.#frames.length, from: host, to, flowSeq, data, copies: 1, delivered: 0, dropped: 0, reasons: [], datagrams: [], last: r.component };
        this.#frames.push(rec);
        this.#frameByData.set(data, rec);
      }
    } else if (role === 'stack' && m.type === 'rx') {
      // Without an overlay the wire packet is the frame: its copy has reached the receiving host.
      const data = (m.frame as Frame).data!;
      const rec = this.#frameByData.get(data);
      if (rec) rec.last = `${r.component} (rx)`;
      const p = this.#packetByData.get(data);
      if (p) return this.#arrive(p, r.component);
    } else if (role === 'nic' && m.type === 'tx') {
      const data = (m.frame as Frame).data!;
      const datagram = this.#datagramByPacket.get(data);
      const frame = datagram?.frame ?? this.#frameByData.get(data);
      if (!frame) return undefined; // not a guest's traffic
      frame.last = r.component;
      const p: PacketRec = { frame, datagram, index: this.#packets.length, expected: 1, arrived: 0, drops: 0, refused: 0, reasons: [] };
      this.#packets.push(p);
      datagram?.packets.push(p);
      this.#packetByData.set(data, p);
    } else if (role === 'bridge' && m.type === 'send') {
      const frame = this.#frameByData.get(m.frame as Uint8Array);
      if (frame) frame.last = r.component;
      this.#current = { kind: 'bridge-send', frame, datagram: undefined };
    } else if (role === 'bridge' && m.type === 'receive') {
      const packet = this.#packetByData.get(m.packet as Uint8Array);
      this.#current = { kind: 'bridge-receive', bridge: r.component, packet, packetDropped: false, completed: false };
      if (packet) return this.#arrive(packet, r.component);
    } else if (role === 'bridge') {
      this.#current = { kind: 'bridge-tick', bridge: r.component };
    } else if (role === 'rx' && m.type === 'device.deliver') {
      // The vNIC a frame is placed in must be that of the guest it is addressed to.
      const f = m.frame as Frame;
      const rec = this.#frameByData.get(f.data!);
      if (rec) rec.last = `${r.component} (placed in the vNIC ring)`;
      const dst = macOf(f.data!, 0);
      if (this.#macByHost.get(host) !== dst) return violation('isolation', `a frame for ${dst} was placed in the vNIC of guest ${host} (${this.#macByHost.get(host)})`);
    } else if (r.ignored && m.type === 'driver.add') {
      // The ring had no room and the event changed nothing: the frames are gone, and nothing counted them.
      for (const f of m.frames as readonly Frame[]) {
        const rec = this.#frameByData.get(f.data!);
        if (rec) return violation('conservation', `${this.#describe(rec)} was lost without a count at ${r.component}: driver.add was ignored (no transition; the ring is full)`);
      }
    }
    return undefined;
  }

  #effect(r: MonitorRecord, host: string, role: string, m: EventObject & Record<string, unknown>): Verdict {
    const c = this.#current;
    if (role === 'bridge' && m.type === 'wire.send' && c?.kind === 'bridge-send' && c.frame) {
      const packet = m.packet as Uint8Array;
      if (!c.datagram) {
        c.datagram = { frame: c.frame, packets: [], fragmented: isIpv4Fragment(packet), completions: 0, openAt: undefined, timedOut: false, counted: false };
        c.frame.datagrams.push(c.datagram);
      }
      this.#datagramByPacket.set(packet, c.datagram);
    } else if (role === 'bridge' && m.type === 'drop') {
      const reason = String(m.reason);
      if (c?.kind === 'bridge-send') return c.frame ? this.#dropFrame(c.frame, `bridge:${reason}`) : undefined;
      const bridge = r.component;
      if (reason === 'reassembly-timeout') {
        const d = this.#open.get(bridge)?.shift();
        if (!d) return violation('conservation', `${bridge} timed out a reassembly the monitor never saw start`);
        d.openAt = undefined;
        d.timedOut = true;
        return this.#dropFrame(d.frame, `bridge:${reason}`);
      }
      if (c?.kind !== 'bridge-receive' || !c.packet) return undefined;
      const d = c.packet.datagram;
      if (d && 'fragments' in m) {
        // The assembled datagram was refused: its frame dies here.
        this.#close(d);
        d.completions++;
        c.completed = true;
        return this.#dropFrame(d.frame, `bridge:${reason}`);
      }
      c.packetDropped = true;
      return this.#refusePacket(c.packet, `bridge:${reason}`);
    } else if (role === 'bridge' && m.type === 'core.deliver' && c?.kind === 'bridge-receive' && c.packet) {
      const d = c.packet.datagram;
      if (!d) return undefined;
      this.#close(d);
      d.completions++;
      c.completed = true;
      this.#frameByData.set(m.frame as Uint8Array, d.frame);
      d.frame.last = r.component;
    } else if (role === 'nic' && m.type === 'drop') {
      const p = this.#packetByData.get((m.frame as Frame).data!);
      if (p) return this.#dropPacket(p, `nic:${String(m.reason)}`);
    } else if (role === 'core' && (m.type === 'drop' || m.type === 'undeliverable')) {
      const f = this.#frameByData.get((m.frame as Frame).data!);
      if (f) return this.#dropFrame(f, `routing:${String(m.reason)}`);
    } else if (role === 'core' && m.type === 'deliver') {
      const f = this.#frameByData.get((m.frame as Frame).data!);
      if (f) f.last = r.component;
    } else if (role === 'rx' && m.type === 'rx.frame') {
      const f = this.#frameByData.get((m.frame as Frame).data!);
      if (f) f.last = `${r.component} (reaped by the guest driver)`;
    } else if (role === 'rx' && m.type === 'rx.drop') {
      const f = this.#frameByData.get((m.frame as Frame).data!);
      if (f) return this.#dropFrame(f, `vnic:${String(m.reason)}`);
    } else if (role === 'stack' && m.type === 'deliver') {
      return this.#deliver(host, (m.frame as Frame).data!);
    }
    return undefined;
  }

  #fault(e: FaultEffect): Verdict {
    const p = this.#packetByData.get(e.packet);
    if (!p) return undefined;
    if (e.type === 'wire.drop') return this.#dropPacket(p, `wire:${e.reason}`);
    if (e.type === 'wire.duplicate') {
      p.expected++;
      // A duplicate of a packet carrying a whole frame is a second copy of the frame (Ethernet and
      // UDP do not remove duplicates); a duplicate fragment is removed by reassembly.
      if (!p.datagram?.fragmented) {
        p.frame.copies++;
        this.#extra++;
      }
    }
    return undefined;
  }

  #close(d: DatagramRec): void {
    if (d.openAt === undefined) return;
    const list = this.#open.get(d.openAt)!;
    list.splice(list.indexOf(d), 1);
    d.openAt = undefined;
  }

  #arrive(p: PacketRec, at: string): Verdict {
    p.arrived++;
    p.frame.last = at;
    if (p.arrived + p.drops > p.expected) {
      return violation('conservation', `${at} received wire packet #${p.index} (frame #${p.frame.n}) more often than it was sent and duplicated: ${p.expected} copies, ${p.arrived} arrived, ${p.drops} dropped`);
    }
    return undefined;
  }

  #dropPacket(p: PacketRec, reason: string): Verdict {
    p.drops++;
    p.reasons.push(reason);
    bump(this.#packetDrops, reason);
    if (p.arrived + p.drops > p.expected) {
      return violation('conservation', `wire packet #${p.index} (frame #${p.frame.n}) dropped (${reason}) more often than it had copies: ${p.expected} copies, ${p.arrived} arrived, ${p.drops} dropped`);
    }
    // A packet carrying a whole frame takes a copy of the frame with it.
    if (!p.datagram?.fragmented) return this.#dropFrame(p.frame, reason);
    return undefined;
  }

  /** The receiving bridge refused a copy that reached it (it arrived; it goes no further). */
  #refusePacket(p: PacketRec, reason: string): Verdict {
    p.refused++;
    p.reasons.push(reason);
    bump(this.#packetDrops, reason);
    // A refused whole datagram is a copy of its frame gone; a refused fragment only leaves its datagram incomplete.
    if (!p.datagram?.fragmented) return this.#dropFrame(p.frame, reason);
    return undefined;
  }

  #dropFrame(f: FrameRec, reason: string): Verdict {
    f.dropped++;
    f.reasons.push(reason);
    bump(this.#frameDrops, reason);
    if (f.delivered + f.dropped > f.copies) {
      return violation('conservation', `${this.#describe(f)} dropped (${reason}) after all its copies were delivered or dropped: ${f.copies} copies, ${f.delivered} delivered, drops ${f.reasons.join(', ')}`);
    }
    return undefined;
  }

  #deliver(host: string, data: Uint8Array): Verdict {
    const f = this.#frameByData.get(data);
    if (!f) return violation('conservation', `${host}.stack delivered a ${data.length}-byte frame no guest stack sent`);
    f.last = `${host}.stack`;
    const mine = this.#macByHost.get(host);
    const dst = macOf(data, 0);
    if (f.from === host) return violation('isolation', `${this.#describe(f)} was delivered to its sender's own stack ${host}.stack`);
    if (dst !== mine) return violation('isolation', `${this.#describe(f)} addressed to ${dst} was delivered to guest ${host} (${mine})`);
    if (!sameBytes(data, f.data)) return violation('conservation', `${this.#describe(f)} arrived at ${host}.stack with other bytes than were sent`);
    f.delivered++;
    this.#delivered++;
    if (f.delivered > f.copies) return violation('conservation', `${this.#describe(f)} was delivered ${f.delivered} times but has ${f.copies} cop${f.copies === 1 ? 'y' : 'ies'}`);
    if (f.delivered + f.dropped > f.copies) return violation('conservation', `${this.#describe(f)} was delivered after being dropped (${f.reasons.join(', ')})`);
    if (this.#order) {
      const flow = `${f.from}>${host}`;
      const last = this.#flowDelivered.get(flow) ?? -1;
      if (f.flowSeq < last) return violation('flow-order', `per-flow order: frame ${f.flowSeq} of flow ${flow} was delivered after frame ${last}`);
      this.#flowDelivered.set(flow, f.flowSeq);
    }
    return undefined;
  }

  #describe(f: FrameRec): string {
    return `frame #${f.n} (${f.from}->${f.to ?? '?'}, ${f.data.length} bytes, flow position ${f.flowSeq})`;
  }

  /**
   * A fragmented datagram none of whose fragments was kept by the receiving bridge, every copy of
   * every fragment dropped with a counted reason, leaves no reassembly to time out: its frame is
   * dropped with those counts (once, at the end of the run).
   */
  #lostWithAllFragments(): void {
    for (const f of this.#frames) {
      if (f.delivered + f.dropped >= f.copies) continue;
      for (const d of f.datagrams) {
        if (!d.fragmented || d.completions > 0 || d.timedOut || d.openAt !== undefined || d.counted) continue;
        if (!d.packets.every((p) => p.arrived + p.drops === p.expected && p.refused === p.arrived)) continue;
        d.counted = true;
        this.#dropFrame(f, 'fragments-all-dropped');
      }
    }
  }

  /** Datagrams still held in reassembly, per bridge. */
  inReassembly(): ReadonlyMap<string, number> {
    return new Map([...this.#open].map(([b, l]) => [b, l.length]));
  }

  /**
   * The end-of-run check (after quiescence): every frame's copies delivered or dropped with a
   * counted reason, every wire copy arrived or dropped with a counted reason. The problems found,
   * at most `limit`.
   */
  unaccounted(limit = 5): string[] {
    const out: string[] = [];
    this.#lostWithAllFragments();
    for (const f of this.#frames) {
      if (out.length >= limit) break;
      if (f.delivered + f.dropped !== f.copies) {
        const held = [...this.#open.values()].some((l) => l.some((d) => d.frame === f));
        out.push(
          `${this.#describe(f)} was neither delivered nor dropped with a counted reason: ${f.copies} copies, ${f.delivered} delivered, ${f.dropped} dropped` +
            `${f.reasons.length ? ` (${f.reasons.join(', ')})` : ''}; last seen at ${f.last}${held ? '; its datagram is still in reassembly' : ''}`,
        );
      }
    }
    for (const p of this.#packets) {
      if (out.length >= limit) break;
      if (p.arrived + p.drops !== p.expected) {
        out.push(`wire packet #${p.index} (frame #${p.frame.n}) vanished: ${p.expected} copies sent, ${p.arrived} arrived, ${p.drops} dropped with a counted reason`);
      }
    }
    return out;
  }

  report(): InvariantReport {
    return {
      sent: this.#frames.length,
      delivered: this.#delivered,
      extraCopies: this.#extra,
      frameDrops: Object.fromEntries(this.#frameDrops),
      packetDrops: Object.fromEntries(this.#packetDrops),
      packets: this.#packets.length,
    };
  }
}

/** Registers the system invariants on a built two-host path (before its run). */
export function watchPath(path: TwoHostPath, o: PathInvariantOptions = {}): PathInvariants {
  const inv = new PathInvariants(path.hosts, (h) => guestAddress(h as HostName).guestMac, o);
  path.system.addMonitor(inv);
  return inv;
}

export interface SettleOptions {
  /** Events allowed before the run counts as not quiescing (default 5 000 000). */
  readonly maxEvents?: number;
}

/** A stopped run as a `ModelRunError` with the recent trace. */
function fail(sys: System, invariant: PathInvariant | 'quiescence', message: string): ModelRunError {
  return new ModelRunError({ atNs: sys.now, component: '(system)', invariant, message: `system invariant ${invariant} violated: ${message}`, trace: sys.recorder.recent(40) });
}

/**
 * Runs the path until nothing is left to happen (the bridges' reassembly timers included: the path
 * schedules one per received fragment), and checks that everything sent is accounted for. Throws a `ModelRunError` (invariant `path-invariants`) if not,
 * or if the run does not quiesce within `maxEvents`.
 */
export function settle(path: TwoHostPath, inv: PathInvariants, o: SettleOptions = {}): InvariantReport {
  const sys = path.system;
  const maxEvents = o.maxEvents ?? 5_000_000;
  const r = sys.run({ maxEvents });
  if (r.stoppedBy !== 'empty') throw fail(sys, 'quiescence', `the run did not quiesce (stopped by ${r.stoppedBy} after ${r.delivered} events, ${r.pending} pending)`);
  const problems = inv.unaccounted();
  if (problems.length > 0) throw fail(sys, 'conservation', problems.join('\n'));
  return inv.report();
}
