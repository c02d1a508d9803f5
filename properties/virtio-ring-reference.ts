/**
 * Model-based property (fc.commands): the virtio-ring machine behaves like a plain FIFO ring.
 *
 * The reference model below knows nothing of indices, flags or event indices: buffers wait in a
 * FIFO until the device takes them, come back in a FIFO until the driver reaps them, and a frame
 * that finds no room is dropped. Each command drives the machine and the reference alike and
 * compares what is observable: descriptor counts per place, the frames handed on (in order), the
 * frames received (in order) and the drops. Shrunk failures print as readable scenarios.
 */
import fc from 'fast-check';
import { createActor, type Actor, type AnyStateMachine } from 'xstate';
import { netHeaderBytes, type Emitted, type Frame, type Params, type VirtioRingMachine } from '../machines/virtio-ring.js';

type Ring = Actor<VirtioRingMachine>;

interface Ref {
  p: Params;
  free: number;
  pending: { frame: Frame | null; len: number }[];
  used: { frame: Frame | null; buffers: number }[];
  masked: boolean;
  sent: number[];
  received: number[];
  dropped: number;
  nextId: number;
}

interface Real {
  ring: Ring;
  out: Emitted[];
}

function observe(real: Real) {
  const s = real.ring.getSnapshot();
  const c = s.context;
  return {
    free: c.free.length,
    pending: c.availQueue.length,
    used: c.usedQueue.length,
    masked: (s.value as { driver: string }).driver === 'polling',
  };
}

function compare(ref: Ref, real: Real) {
  const o = observe(real);
  const usedBuffers = ref.used.reduce((a, u) => a + u.buffers, 0);
  const want = { free: ref.free, pending: ref.pending.length, used: usedBuffers, masked: ref.masked };
  if (JSON.stringify(o) !== JSON.stringify(want)) throw new Error(`ring ${JSON.stringify(o)} but reference ${JSON.stringify(want)}`);
  const sent = real.out.filter((e) => e.type === 'tx.frame').map((e) => (e as { frame: Frame }).frame.id);
  const received = real.out.filter((e) => e.type === 'rx.frame').map((e) => (e as { frame: Frame }).frame.id);
  const dropped = real.out.filter((e) => e.type === 'rx.drop').length;
  if (JSON.stringify(sent) !== JSON.stringify(ref.sent)) throw new Error(`sent ${sent} but reference sent ${ref.sent}`);
  if (JSON.stringify(received) !== JSON.stringify(ref.received)) throw new Error(`received ${received} but reference ${ref.received}`);
  if (dropped !== ref.dropped) throw new Error(`dropped ${dropped} but reference dropped ${ref.dropped}`);
}

/** The device takes up to `quota` (0 = all) transmit buffers, FIFO. */
function refTake(ref: Ref, quota: number) {
  const n = quota > 0 ? Math.min(quota, ref.pending.length) : ref.pending.length;
  for (const b of ref.pending.splice(0, n)) {
    ref.sent.push(b.frame!.id);
    ref.used.push({ frame: null, buffers: 1 });
  }
}

class AddFrames implements fc.Command<Ref, Real> {
  constructor(readonly n: number, readonly bytes: number) {}
  check = (m: Readonly<Ref>) => m.p.role === 'tx' && m.free >= this.n;
  run(ref: Ref, real: Real) {
    const frames = Array.from({ length: this.n }, () => ({ id: ref.nextId++, bytes: this.bytes }));
    real.ring.send({ type: 'driver.add', frames });
    ref.free -= this.n;
    for (const f of frames) ref.pending.push({ frame: f, len: f.bytes });
    compare(ref, real);
  }
  toString = () => `add ${this.n} frame(s) of ${this.bytes} B`;
}

class PostBuffers implements fc.Command<Ref, Real> {
  constructor(readonly n: number, readonly len: number) {}
  check = (m: Readonly<Ref>) => m.p.role === 'rx' && m.free >= this.n;
  run(ref: Ref, real: Real) {
    real.ring.send({ type: 'driver.post', lengths: Array(this.n).fill(this.len) });
    ref.free -= this.n;
    for (let i = 0; i < this.n; i++) ref.pending.push({ frame: null, len: this.len });
    compare(ref, real);
  }
  toString = () => `post ${this.n} buffer(s) of ${this.len} B`;
}

class Deliver implements fc.Command<Ref, Real> {
  constructor(readonly bytes: number) {}
  check = (m: Readonly<Ref>) => m.p.role === 'rx';
  run(ref: Ref, real: Real) {
    const frame = { id: ref.nextId++, bytes: this.bytes };
    real.ring.send({ type: 'device.deliver', frame });
    // Reference: the frame plus header needs room in the first k pending buffers (one if not mergeable).
    const need = this.bytes + netHeaderBytes(ref.p);
    let k = 0;
    let room = 0;
    const limit = ref.p.mergeable ? ref.pending.length : Math.min(1, ref.pending.length);
    while (k < limit && room < need) room += ref.pending[k++].len;
    if (room >= need) {
      ref.pending.splice(0, k);
      ref.used.push({ frame, buffers: k });
    } else {
      ref.dropped++;
    }
    compare(ref, real);
  }
  toString = () => `deliver a ${this.bytes} B frame`;
}

class DeviceKick implements fc.Command<Ref, Real> {
  check = () => true;
  run(ref: Ref, real: Real) {
    if (real.ring.getSnapshot().context.kicksInFlight === 0) return;
    real.ring.send({ type: 'device.kick' });
    if (ref.p.role === 'tx') refTake(ref, 0);
    compare(ref, real);
  }
  toString = () => 'device handles a kick';
}

class DevicePoll implements fc.Command<Ref, Real> {
  constructor(readonly quota: number) {}
  check = (m: Readonly<Ref>) => m.p.role === 'tx';
  run(ref: Ref, real: Real) {
    real.ring.send({ type: 'device.poll', quota: this.quota });
    refTake(ref, this.quota);
    compare(ref, real);
  }
  toString = () => `dispatcher polls (quota ${this.quota})`;
}

class Interrupt implements fc.Command<Ref, Real> {
  check = () => true;
  run(ref: Ref, real: Real) {
    if (real.ring.getSnapshot().context.irqsInFlight === 0) return;
    real.ring.send({ type: 'driver.interrupt' });
    ref.masked = true;
    compare(ref, real);
  }
  toString = () => 'interrupt reaches the driver';
}

class Reap implements fc.Command<Ref, Real> {
  constructor(readonly budget: number) {}
  check = (m: Readonly<Ref>) => m.masked;
  run(ref: Ref, real: Real) {
    real.ring.send({ type: 'driver.reap', budget: this.budget });
    for (const u of ref.used.splice(0, this.budget)) {
      ref.free += u.buffers;
      if (u.frame) ref.received.push(u.frame.id);
    }
    compare(ref, real);
  }
  toString = () => `driver reaps (budget ${this.budget})`;
}

class Complete implements fc.Command<Ref, Real> {
  check = (m: Readonly<Ref>) => m.masked;
  run(ref: Ref, real: Real) {
    real.ring.send({ type: 'driver.complete' });
    // The driver keeps polling while used buffers remain (the re-check after unmasking).
    ref.masked = ref.used.length > 0;
    compare(ref, real);
  }
  toString = () => 'driver completes polling';
}

class Suppress implements fc.Command<Ref, Real> {
  constructor(readonly on: boolean) {}
  check = () => true;
  run(ref: Ref, real: Real) {
    const wasPolling = (real.ring.getSnapshot().value as { device: string }).device === 'polling';
    real.ring.send({ type: 'device.suppress', on: this.on });
    // Leaving VMM-driven mode re-checks the ring and transmits what was published meanwhile.
    if (!this.on && wasPolling && ref.p.role === 'tx') refTake(ref, 0);
    compare(ref, real);
  }
  toString = () => (this.on ? 'device suppresses kicks (VMM-driven)' : 'device re-enables kicks (guest-driven)');
}

const commands = [
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 14, max: 1514 })).map(([n, b]) => new AddFrames(n, b)),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.constantFrom(64, 512, 2048)).map(([n, l]) => new PostBuffers(n, l)),
  fc.integer({ min: 14, max: 3000 }).map((b) => new Deliver(b)),
  fc.constant(new DeviceKick()),
  fc.integer({ min: 0, max: 3 }).map((q) => new DevicePoll(q)),
  fc.constant(new Interrupt()),
  fc.integer({ min: 1, max: 4 }).map((b) => new Reap(b)),
  fc.constant(new Complete()),
  fc.boolean().map((on) => new Suppress(on)),
];

const inputs = fc.record({
  role: fc.constantFrom('tx' as const, 'rx' as const),
  queueSize: fc.constantFrom(1, 2, 4, 8),
  eventIdx: fc.boolean(),
  mergeable: fc.boolean(),
  startIndex: fc.constantFrom(0, 65530, 65535),
});

/** The machine, driven by any command sequence from any input, matches the reference ring. */
export function matchesReferenceRing(machine: AnyStateMachine) {
  return fc.property(inputs, fc.commands(commands, { maxCommands: 40, size: 'max' }), (input, cmds) => {
    const ring = createActor(machine as VirtioRingMachine, { input });
    const real: Real = { ring, out: [] };
    ring.on('*', (e: Emitted) => real.out.push(e));
    ring.start();
    const p = ring.getSnapshot().context.p;
    const ref: Ref = { p, free: p.queueSize, pending: [], used: [], masked: false, sent: [], received: [], dropped: 0, nextId: 1 };
    fc.modelRun(() => ({ model: ref, real }), cmds);
    ring.stop();
  });
}
