/**
 * Model-based property (fc.commands): the bridge's reassembly behaves like a map from datagram to
 * the byte ranges received so far.
 *
 * The reference knows nothing of states, guards or buffers of bytes. A fragment whose range is
 * already covered is a duplicate, one that partly overlaps is refused, and one that makes the
 * ranges cover the whole datagram delivers its frame; a datagram completed less than a timeout ago
 * takes no more fragments. A fragment of a new datagram finds no room when `maxReassemblies` are
 * open, and any fragment finds none when its bytes would exceed `maxReassemblyBytes`. Time passing
 * drops every datagram open for the timeout or longer. Fragments come from three datagrams, each
 * cut two ways (for MTUs 576 and 1004), so ranges overlap partially as well as exactly.
 */
import fc from 'fast-check';
import { createActor, type AnyStateMachine } from 'xstate';
import type { Context, DropReason, Emitted, Event } from '../machines/bridge.js';
import { encapsulateUdp } from '../machines/packet.js';
import type { MachineProperty } from './harness.js';

/** Drives one bridge actor; `send` returns what the event emitted and throws if the actor failed. */
export function startBridge(machine: AnyStateMachine, input: object) {
  const actor = createActor(machine, { input });
  const out: Emitted[] = [];
  actor.on('*', (e) => {
    out.push(e as Emitted);
  });
  actor.subscribe({ error: () => {} });
  actor.start();
  return {
    actor,
    send(e: Event): Emitted[] {
      out.length = 0;
      actor.send(e);
      const snap = actor.getSnapshot();
      if (snap.status === 'error') throw new Error(`the bridge failed on ${e.type}: ${String((snap as { error?: unknown }).error)}`);
      return out.splice(0);
    },
    context: () => actor.getSnapshot().context as Context,
  };
}

const PEER = { ip: '10.0.0.1', ipNum: 0x0a000001 };
const HOST = { ipNum: 0x0a000002, mac: 0x020000000002 };
const LIMITS = { maxReassemblies: 2, maxReassemblyBytes: 4000, reassemblyTimeoutNs: 10 };

interface Fragment {
  readonly packet: Uint8Array;
  readonly start: number;
  readonly end: number;
  readonly last: boolean;
}

interface Datagram {
  readonly name: string;
  readonly frame: Uint8Array;
  /** The same datagram cut for two MTUs. */
  readonly cuts: readonly (readonly Fragment[])[];
}

const CUT_MTUS = [576, 1004] as const;

function makeDatagram(name: string, id: number, bytes: number): Datagram {
  const frame = new Uint8Array(bytes).map((_, i) => (i * 7 + id) & 255);
  const cuts = CUT_MTUS.map((mtu) =>
    encapsulateUdp(
      frame,
      { srcMac: 0x020000000001, dstMac: HOST.mac, srcIp: PEER.ipNum, dstIp: HOST.ipNum, srcPort: 9000, dstPort: 9000, id, ttl: 64, udpChecksum: true },
      mtu,
    ).map((packet) => {
      // Where this fragment sits, read straight from its IPv4 header (RFC 791 §3.1).
      const flagsOffset = (packet[20] << 8) | packet[21];
      const start = (flagsOffset & 0x1fff) * 8;
      const len = ((packet[16] << 8) | packet[17]) - 20;
      return { packet, start, end: start + len, last: (flagsOffset & 0x2000) === 0 };
    }),
  );
  return { name, frame, cuts };
}

const DATAGRAMS: readonly Datagram[] = [makeDatagram('D1', 10, 1300), makeDatagram('D2', 11, 2000), makeDatagram('D3', 12, 3200)];

interface Open {
  ranges: [number, number][];
  started: number;
  total: number | null;
}

interface Model {
  now: number;
  /** Open datagrams in the order they were opened. */
  open: Map<string, Open>;
  /** Recently completed datagrams, oldest first, at most maxReassemblies. */
  completed: { name: string; at: number }[];
}

type Bridge = ReturnType<typeof startBridge>;

type Expected = { type: 'deliver'; frame: Uint8Array } | { type: 'drop'; reason: DropReason; fragments?: number };

const bytesOf = (o: Open) => o.ranges.reduce((a, [s, e]) => a + e - s, 0);
const heldBytes = (m: Model) => [...m.open.values()].reduce((a, o) => a + bytesOf(o), 0);
const liveCompleted = (m: Model) => m.completed.filter((c) => m.now - c.at < LIMITS.reassemblyTimeoutNs);

function refReceive(m: Model, d: Datagram, f: Fragment): Expected[] {
  const len = f.end - f.start;
  if (liveCompleted(m).some((c) => c.name === d.name)) return [{ type: 'drop', reason: 'duplicate-fragment' }];
  const o = m.open.get(d.name);
  if (o) {
    const covered = o.ranges.reduce((a, [s, e]) => a + Math.max(0, Math.min(e, f.end) - Math.max(s, f.start)), 0);
    if (covered === len) return [{ type: 'drop', reason: 'duplicate-fragment' }];
    if (covered > 0) return [{ type: 'drop', reason: 'overlapping-fragment' }];
    const total = f.last ? f.end : o.total;
    if (total !== null && bytesOf(o) + len === total) {
      m.open.delete(d.name);
      m.completed = [...liveCompleted(m), { name: d.name, at: m.now }].slice(-LIMITS.maxReassemblies);
      return [{ type: 'deliver', frame: d.frame }];
    }
    if (heldBytes(m) + len > LIMITS.maxReassemblyBytes) return [{ type: 'drop', reason: 'reassembly-full' }];
    o.ranges.push([f.start, f.end]);
    o.total = total;
    return [];
  }
  if (m.open.size >= LIMITS.maxReassemblies || heldBytes(m) + len > LIMITS.maxReassemblyBytes) {
    return [{ type: 'drop', reason: 'reassembly-full' }];
  }
  m.open.set(d.name, { ranges: [[f.start, f.end]], started: m.now, total: f.last ? f.end : null });
  return [];
}

function refTick(m: Model, dt: number): Expected[] {
  m.now += dt;
  const out: Expected[] = [];
  for (const [name, o] of m.open) {
    if (m.now - o.started >= LIMITS.reassemblyTimeoutNs) {
      out.push({ type: 'drop', reason: 'reassembly-timeout', fragments: o.ranges.length });
      m.open.delete(name);
    }
  }
  m.completed = liveCompleted(m);
  return out;
}

const show = (e: Expected[]) => JSON.stringify(e.map((x) => (x.type === 'deliver' ? `deliver ${x.frame.length} B` : `drop ${x.reason}${x.fragments ? ` (${x.fragments})` : ''}`)));

function compare(m: Model, real: Bridge, want: Expected[], got: Emitted[]) {
  const seen: Expected[] = got.map((e) =>
    e.type === 'core.deliver'
      ? { type: 'deliver', frame: e.frame }
      : e.type === 'drop'
        ? { type: 'drop', reason: e.reason, ...(e.reason === 'reassembly-timeout' ? { fragments: e.fragments } : {}) }
        : { type: 'drop', reason: `unexpected ${e.type}` as DropReason },
  );
  const same =
    seen.length === want.length &&
    seen.every((s, i) => {
      const w = want[i];
      if (s.type === 'deliver' && w.type === 'deliver') return s.frame.length === w.frame.length && s.frame.every((b, k) => b === w.frame[k]);
      if (s.type === 'drop' && w.type === 'drop') return s.reason === w.reason && s.fragments === w.fragments;
      return false;
    });
  if (!same) throw new Error(`bridge emitted ${show(seen)} but the reference expects ${show(want)}`);
  const c = real.context();
  const open = c.reassemblies.map((r) => `${r.id}:${r.bytes}`).sort();
  const ref = [...m.open.entries()].map(([name, o]) => `${10 + DATAGRAMS.findIndex((d) => d.name === name)}:${bytesOf(o)}`).sort();
  if (JSON.stringify(open) !== JSON.stringify(ref)) throw new Error(`bridge holds ${JSON.stringify(open)} but the reference ${JSON.stringify(ref)}`);
}

class ReceiveFragment implements fc.Command<Model, Bridge> {
  constructor(
    readonly d: Datagram,
    readonly cut: number,
    readonly f: Fragment,
  ) {}
  check = () => true;
  run(m: Model, real: Bridge) {
    const want = refReceive(m, this.d, this.f);
    compare(m, real, want, real.send({ type: 'receive', packet: this.f.packet, now: m.now }));
  }
  toString() {
    return `receive ${this.d.name}/${CUT_MTUS[this.cut]} [${this.f.start},${this.f.end})${this.f.last ? ' last' : ''}`;
  }
}

class Tick implements fc.Command<Model, Bridge> {
  constructor(readonly dt: number) {}
  check = () => true;
  run(m: Model, real: Bridge) {
    const want = refTick(m, this.dt);
    compare(m, real, want, real.send({ type: 'tick', now: m.now }));
  }
  toString() {
    return `tick +${this.dt} ns`;
  }
}

const receiveArb = fc
  .record({ d: fc.nat(DATAGRAMS.length - 1), cut: fc.nat(CUT_MTUS.length - 1), i: fc.nat(15) })
  .map(({ d, cut, i }) => {
    const frags = DATAGRAMS[d].cuts[cut];
    return new ReceiveFragment(DATAGRAMS[d], cut, frags[i % frags.length]);
  });
const tickArb = fc.constantFrom(1, 4, LIMITS.reassemblyTimeoutNs).map((dt) => new Tick(dt));

export const reassemblyMatchesReferenceModel: MachineProperty = {
  name: 'bridge/reassembly-matches-reference-model',
  description:
    'Under any sequence of fragments (three datagrams, each cut two ways, any order, duplicates and partial overlaps) and time steps, the bridge delivers, drops and holds exactly what a map from datagram to received byte ranges says, with at most 2 datagrams and 4000 bytes held and a 10 ns timeout.',
  runs: 150,
  property: (machine: AnyStateMachine) =>
    fc.property(
      fc.commands([receiveArb, receiveArb, receiveArb, tickArb], { maxCommands: 60, size: 'max' }),
      (cmds) => {
        fc.modelRun(() => {
          const real = startBridge(machine, { mtu: 1500, hostIp: HOST.ipNum, hostMac: HOST.mac, ...LIMITS });
          real.send({ type: 'link.add', id: 5, ip: PEER.ip, port: 9000, proto: 'udp' });
          return { model: { now: 0, open: new Map(), completed: [] } as Model, real };
        }, cmds);
      },
    ),
};
