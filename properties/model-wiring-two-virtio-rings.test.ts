/**
 * The wiring demonstrated on two virtio rings, as `cli/commands/demo.ts` does by hand: guest A's
 * transmit ring, a wire, and guest B's receive ring, with VM exits, interrupts, NAPI polling and
 * serialization as scheduled delays from the cost table.
 *
 * Claims: the same seed gives the same trace byte for byte; every frame the guest added is
 * received or counted as dropped; recorded time never goes backwards; metrics replayed from the
 * trace equal the live ones; adding a component leaves the others' records unchanged; a broken
 * invariant stops the run with the trace that led to it.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { virtioRingMachine, type Frame } from '../machines/virtio-ring.js';
import { TimeError } from '../model/clock.js';
import { cycles, defaultCosts as c, ethernetSerializationNs, vnetEncapsulatedBytes } from '../model/costs.js';
import { counts, field, latency, sum, throughput } from '../model/metrics.js';
import type { Random } from '../model/random.js';
import { replay, type TraceRecord } from '../model/recorder.js';
import { ModelRunError, System, type SystemOptions } from '../model/wiring.js';
import { systemRuns } from './harness.js';

type Ring = typeof virtioRingMachine;

/**
 * A NAPI instance for one ring: scheduling is idempotent (NAPI_STATE_SCHED); a poll reaps and
 * completes, and polls again while the ring stays in polling (its re-check found more work).
 */
function addNapi(sys: System, name: string, ring: string, pollDelay: (r: Random) => number) {
  let scheduled = false;
  sys.addComponent(name, (e, ctx) => {
    switch (e.type) {
      case 'napi.schedule':
        if (scheduled) return;
        scheduled = true;
        ctx.schedule(pollDelay(ctx.random), name, { type: 'napi.poll' });
        return;
      case 'napi.poll':
        ctx.schedule(0, ring, { type: 'driver.reap', budget: 64 });
        ctx.schedule(0, ring, { type: 'driver.complete' });
        ctx.schedule(0, name, { type: 'napi.check' });
        return;
      case 'napi.check': {
        const driver = (sys.snapshot(ring).value as { driver: string }).driver;
        if (driver === 'polling') ctx.schedule(pollDelay(ctx.random), name, { type: 'napi.poll' });
        else scheduled = false;
        return;
      }
    }
  });
}

interface Scenario {
  readonly seed: number;
  readonly frames?: number;
  readonly machine?: Ring;
  readonly extraComponent?: boolean;
  readonly system?: Omit<SystemOptions, 'seed'>;
}

/** Builds guest A (app, tx ring, NAPI), a 10 Gbps wire, and guest B (rx ring, NAPI). */
function twoRings(s: Scenario): System {
  const sys = new System({ seed: s.seed, ...s.system });
  if (s.extraComponent) {
    // Added first, and first to act: draws from its own stream and schedules itself, and must
    // disturb no one else.
    sys.addComponent('noise', (_e, ctx) => {
      if (ctx.now < 2_000_000) ctx.schedule(ctx.random.exponentialNs(7_000), 'noise', { type: 'noise.tick' });
    });
    sys.scheduleAt(0, 'noise', { type: 'noise.tick' });
  }
  const machine = s.machine ?? virtioRingMachine;
  const total = s.frames ?? 120;
  const tx = sys.addMachine('A.tx', machine, { role: 'tx', queueSize: 16 });
  const rx = sys.addMachine('B.rx', machine, { role: 'rx', queueSize: 8 });
  addNapi(sys, 'A.napi', 'A.tx', () => cycles(c.irqToHandlerCycles));
  addNapi(sys, 'B.napi', 'B.rx', (r) => r.uniformNs(cycles(c.irqToHandlerCycles), cycles(c.guestRxStartMinCycles)));

  // Guest A's application: bursts of 1-4 full-size frames at exponential gaps, only into free descriptors.
  let sent = 0;
  sys.addComponent('A.app', (_e, ctx) => {
    const free = (sys.snapshot('A.tx').context as { free: number[] }).free.length;
    const n = Math.min(ctx.random.nextInt(1, 4), free, total - sent);
    if (n > 0) {
      const frames: Frame[] = Array.from({ length: n }, (_, k) => ({ id: sent + k, bytes: 1514 }));
      sent += n;
      ctx.schedule(0, 'A.tx', { type: 'driver.add', frames });
    }
    if (sent < total) ctx.schedule(ctx.random.exponentialNs(20_000), 'A.app', { type: 'app.send' });
  });

  // The wire: frames leave one after another at 10 Gbps, then propagate.
  let busyUntil = 0;
  sys.addComponent('wire', (e, ctx) => {
    const frame = (e as unknown as { frame: Frame }).frame;
    const start = Math.max(ctx.now, busyUntil);
    busyUntil = start + ethernetSerializationNs(vnetEncapsulatedBytes(frame.bytes), c.link10GbpsBitRate);
    ctx.emit({ type: 'wire.frame', id: frame.id, bytes: frame.bytes });
    ctx.scheduleAt(busyUntil + 500, 'B.rx', { type: 'device.deliver', frame });
  });

  const exit = (r: Random) => r.uniformNs(cycles(c.vmExitEntryMinCycles), cycles(c.vmExitEntryCycles));
  tx.route('kick', (_e, ctx) => ctx.schedule(exit(ctx.random), 'A.tx', { type: 'device.kick' }));
  tx.route('tx.frame', (e, ctx) => ctx.schedule(cycles(c.copyCyclesPerByte * e.frame.bytes + c.vnetCoreCyclesPerPacket + c.hostUdpCyclesPerPacket), 'wire', { type: 'wire.send', frame: e.frame }));
  tx.route('irq', (_e, ctx) => {
    ctx.schedule(cycles(c.irqToHandlerCycles), 'A.tx', { type: 'driver.interrupt' });
    ctx.schedule(cycles(c.irqToHandlerCycles), 'A.napi', { type: 'napi.schedule' });
  });
  rx.route('kick', (_e, ctx) => ctx.schedule(exit(ctx.random), 'B.rx', { type: 'device.kick' }));
  rx.route('irq', (_e, ctx) => {
    ctx.schedule(cycles(c.irqToHandlerCycles), 'B.rx', { type: 'driver.interrupt' });
    ctx.schedule(cycles(c.irqToHandlerCycles), 'B.napi', { type: 'napi.schedule' });
  });
  // Guest B's stack consumes the frame and the driver posts fresh buffers in place of the used ones.
  rx.route('rx.frame', (e, ctx) => ctx.schedule(cycles(c.guestStackCyclesPerPacket), 'B.rx', { type: 'driver.post', lengths: Array(e.buffers).fill(2048) }));

  sys.scheduleAt(0, 'B.rx', { type: 'driver.post', lengths: Array(8).fill(2048) });
  sys.scheduleAt(0, 'A.app', { type: 'app.send' });
  return sys;
}

/** Runs to quiescence, with a bound so that a wiring bug fails instead of hanging. */
function runAll(sys: System) {
  const r = sys.run({ maxEvents: 100_000 });
  expect(r.stoppedBy).toBe('empty');
  return r;
}

const framesIn = (r: TraceRecord) => (field(r, 'frames') as unknown[]).length;

/** Conservation, computed from the trace: frames added = received + dropped. */
function conservation(records: readonly TraceRecord[]) {
  const added = sum({ match: (r) => r.component === 'A.tx' && r.kind === 'event' && r.type === 'driver.add' && !r.ignored, value: framesIn });
  const n = counts({ match: { component: 'B.rx', kind: 'effect' }, key: (r) => r.type });
  replay(records, added.onRecord, n.onRecord);
  const k = n.result();
  return { added: added.result(), received: k['rx.frame'] ?? 0, dropped: k['rx.drop'] ?? 0 };
}

describe('model wiring: two virtio rings under the scheduler', () => {
  test('same seed, same trace, byte for byte as JSON; another seed, another trace', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const a = twoRings({ seed, frames: 40 });
        const b = twoRings({ seed, frames: 40 });
        runAll(a);
        runAll(b);
        expect(b.recorder.toJSON()).toBe(a.recorder.toJSON());
        const other = twoRings({ seed: seed ^ 0x5555, frames: 40 });
        runAll(other);
        // The seed reaches the trace: the delays drawn from it show in the times.
        expect(other.recorder.toJSON()).not.toBe(a.recorder.toJSON());
      }),
      { numRuns: systemRuns(5) },
    );
  });

  test('every frame added is received or counted as dropped, and time is monotone', () => {
    let drops = 0;
    for (const seed of [1, 2, 3]) {
      const sys = twoRings({ seed });
      runAll(sys);
      const recs = sys.recorder.records();
      const k = conservation(recs);
      expect(k.added).toBe(120);
      expect(k.received + k.dropped).toBe(k.added);
      expect(k.received).toBeGreaterThan(0);
      drops += k.dropped;
      for (let i = 1; i < recs.length; i++) {
        expect(recs[i].t).toBeGreaterThanOrEqual(recs[i - 1].t);
        expect(recs[i].i).toBe(recs[i - 1].i + 1);
      }
      // A ring's effects directly follow the event that caused them (the rings emit nothing on start).
      for (let i = 0; i < recs.length; i++) {
        const r = recs[i];
        if (r.kind !== 'effect' || !['A.tx', 'B.rx'].includes(r.component)) continue;
        let j = i - 1;
        while (j >= 0 && recs[j].kind === 'effect' && recs[j].component === r.component) j--;
        expect(recs[j], `cause of record ${r.i}`).toMatchObject({ component: r.component, kind: 'event', t: r.t });
      }
      // No transmit batch was refused: the app only fills free descriptors.
      expect(recs.filter((r) => r.type === 'driver.add' && r.ignored)).toEqual([]);
    }
    // Not vacuous: the receive ring does overflow in some of these runs.
    expect(drops).toBeGreaterThan(0);
  });

  test('conservation catches a receive ring that drops frames without saying so', () => {
    const silent = virtioRingMachine.provide({ actions: { dropFrame: () => {} } }) as Ring;
    const sys = twoRings({ seed: 1, machine: silent });
    runAll(sys);
    const k = conservation(sys.recorder.records());
    expect(k.received + k.dropped).toBeLessThan(k.added);
  });

  test('live metrics equal metrics replayed from the recorded trace', () => {
    const make = () => ({
      perType: counts(),
      oneWay: latency({
        start: { component: 'A.tx', type: 'tx.frame' },
        end: { component: 'B.rx', type: 'rx.frame' },
        key: (r) => field(r, 'frame', 'id') as number,
      }),
      goodput: throughput({ match: { component: 'B.rx', type: 'rx.frame' }, bytes: (r) => field(r, 'frame', 'bytes') as number, startNs: 0 }),
    });
    const sys = twoRings({ seed: 11 });
    const live = make();
    for (const m of Object.values(live)) sys.recorder.observe(m.onRecord);
    runAll(sys);
    const again = make();
    replay(JSON.parse(sys.recorder.toJSON()) as TraceRecord[], ...Object.values(again).map((m) => m.onRecord));
    expect(again.perType.result()).toEqual(live.perType.result());
    expect(again.oneWay.result()).toEqual(live.oneWay.result());
    expect(again.goodput.result()).toEqual(live.goodput.result());
    const lat = live.oneWay.result();
    expect(lat.samples.length).toBe(conservation(sys.recorder.records()).received);
    expect(lat.distribution.min).toBeGreaterThan(0);
  });

  test('adding a component leaves the other components\' records unchanged', () => {
    const strip = (recs: readonly TraceRecord[]) => recs.filter((r) => r.component !== 'noise').map(({ i: _i, ...r }) => r);
    for (const seed of [4, 5]) {
      const plain = twoRings({ seed });
      const noisy = twoRings({ seed, extraComponent: true });
      runAll(plain);
      runAll(noisy);
      expect(noisy.recorder.records().some((r) => r.component === 'noise')).toBe(true);
      expect(strip(noisy.recorder.records())).toEqual(strip(plain.recorder.records()));
    }
  });

  test('a broken invariant stops the run with the trace that led to it', () => {
    // A driver that never kicks: buffers wait for a guest-driven device and no kick is coming.
    const neverKicks = virtioRingMachine.provide({ guards: { kickNeeded: () => false } }) as Ring;
    const sys = twoRings({ seed: 3, machine: neverKicks, system: { traceOnError: 5 } });
    let err: unknown;
    try {
      sys.run({ maxEvents: 100_000 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelRunError);
    const e = err as ModelRunError;
    expect([e.component, e.invariant]).toEqual(['A.tx', 'no-lost-kick']);
    expect(e.trace.length).toBeLessThanOrEqual(5);
    expect(e.trace.at(-1)).toMatchObject({ component: 'A.tx', kind: 'event', type: 'driver.add' });
    expect(e.message).toMatch(/invariant no-lost-kick violated/);
    expect(e.message).toMatch(/A\.tx <- driver\.add/);
    expect(() => sys.run()).toThrow(/already failed/);
    // With invariant checks off, the same run completes (and the frames never leave).
    const unchecked = twoRings({ seed: 3, machine: neverKicks, system: { checkInvariants: false } });
    expect(unchecked.run({ until: 5_000_000 }).stoppedBy).toBe('until');
    expect(conservation(unchecked.recorder.records()).received).toBe(0);
  });

  test('wiring mistakes are refused by name', () => {
    const sys = new System();
    const tx = sys.addMachine('A.tx', virtioRingMachine, { role: 'tx', queueSize: 4 });
    expect(() => sys.route('A.tx', 'tx.frames', () => {})).toThrow(/emits no "tx.frames"; it emits kick, irq/);
    expect(() => sys.route('nobody', 'kick', () => {})).toThrow(/unknown component "nobody"/);
    expect(() => sys.addComponent('A.tx', () => {})).toThrow(/"A.tx" already exists/);
    tx.route('kick', (_e, ctx) => ctx.schedule(-1, 'A.tx', { type: 'device.kick' }));
    sys.scheduleAt(0, 'A.tx', { type: 'driver.add', frames: [{ id: 0, bytes: 60 }] });
    expect(() => sys.run()).toThrow(ModelRunError);
    const strict = new System({ onIgnored: 'error' });
    strict.addMachine('r', virtioRingMachine, { role: 'rx', queueSize: 4 });
    strict.scheduleAt(5, 'r', { type: 'driver.complete' });
    expect(() => strict.run()).toThrow(/at 5 ns in r: event driver.complete was ignored/);
    // A machine whose action throws stops the run (and nothing is rethrown out of band).
    const broken = virtioRingMachine.provide({ actions: { offerBuffers: () => { throw new Error('boom in action'); } } }) as Ring;
    const b = new System();
    b.addMachine('r', broken, { role: 'tx', queueSize: 4 });
    b.scheduleAt(3, 'r', { type: 'driver.add', frames: [{ id: 0, bytes: 60 }] });
    expect(() => b.run()).toThrow(/at 3 ns in r: the machine failed: boom in action/);
    // A bad argument to run is the caller's error and leaves the system usable.
    const ok = new System();
    ok.addComponent('x', () => {});
    ok.scheduleAt(10, 'x', { type: 'tick' });
    runAll(ok);
    expect(() => ok.run({ until: 5 })).toThrow(TimeError);
    expect(ok.run({ until: 20 })).toMatchObject({ stoppedBy: 'empty', now: 20 });
  });
});
