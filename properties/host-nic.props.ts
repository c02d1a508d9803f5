/**
 * Properties of the host NIC stated from outside: arbitrary arrival trains (times and sizes),
 * poll schedules and coalescing settings drive the machine, and monitors that see only the events
 * sent and the effects emitted (plus, for conservation, which frames the queue says it holds)
 * check the ethtool coalescing rule, the NAPI contract, the EoC notification and TSO.
 *
 * The environment behaves like a NAPI driver: it polls only while it owns the queue (from an
 * `irq` to the `eoc` that ends the cycle); otherwise a scheduled poll becomes a plain tick.
 */
import fc from 'fast-check';
import { createActor, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';
import {
  checkInput,
  maxWireFrame,
  TSO_HEADER_BYTES,
  TSO_MAX_FRAME,
  usecsNs,
  type Context,
  type Emitted,
  type Event,
  type Input,
  type Params,
} from '../machines/host-nic.js';
import type { MachineProperty } from './harness.js';

// ---- driving the machine with an arrival train -------------------------------------------------

interface TrainItem {
  /** Nanoseconds since the previous item. */
  readonly gap: number;
  readonly kind: 'rx' | 'poll' | 'timer' | 'tx';
  readonly bytes: number;
}

interface Step {
  readonly event: Event;
  readonly emitted: readonly Emitted[];
  readonly before: AnyMachineSnapshot;
  readonly after: AnyMachineSnapshot;
}

/**
 * Sends the train; with `tail`, then lets time run out the way a driver would: poll while owning
 * the queue, otherwise wait rx-usecs. Throws if the machine refuses an event the environment may
 * send (a poll while an interrupt has scheduled NAPI, or any well-timed arrival or tick).
 */
function runTrain(machine: AnyStateMachine, input: Input, train: readonly TrainItem[], tail = false): Step[] {
  const p = checkInput(input);
  const actor = createActor(machine, { input });
  let emitted: Emitted[] = [];
  actor.on('*', (e: EventObject) => {
    emitted.push(e as Emitted);
  });
  actor.start();
  const steps: Step[] = [];
  let now = 0;
  let owned = false;
  let nextId = 0;
  const send = (event: Event) => {
    const before = actor.getSnapshot() as AnyMachineSnapshot;
    if (!before.can(event as never)) throw new Error(`the NIC refused ${JSON.stringify(event)} in state ${JSON.stringify(before.value)}`);
    emitted = [];
    actor.send(event);
    const after = actor.getSnapshot() as AnyMachineSnapshot;
    if (after.status === 'error') throw new Error(`machine error: ${String((after as { error?: unknown }).error)}`);
    for (const e of emitted) {
      if (e.type === 'irq') owned = true;
      if (e.type === 'eoc') owned = false;
    }
    steps.push({ event, emitted, before, after });
  };
  try {
    for (const item of train) {
      now += item.gap;
      switch (item.kind) {
        case 'rx':
          send({ type: 'wire.rx', now, frame: { id: nextId++, bytes: item.bytes } });
          break;
        case 'tx':
          send({ type: 'tx', now, frame: { id: nextId++, bytes: item.bytes } });
          break;
        case 'poll':
          send(owned ? { type: 'driver.poll', now } : { type: 'timer', now });
          break;
        case 'timer':
          send({ type: 'timer', now });
          break;
      }
    }
    if (tail) {
      const wait = Math.max(1, usecsNs(p));
      for (let i = 0; i < 2 * p.rxQueueSize + 8; i++) {
        if (owned) send({ type: 'driver.poll', now });
        else send({ type: 'timer', now: (now += wait) });
      }
    }
  } finally {
    actor.stop();
  }
  return steps;
}

/** Coalescing settings small enough that trains reach every case. */
const configArb = (opts: { rxFrames?: number; timerOrNoCoalescing?: boolean } = {}) =>
  fc
    .record({
      rxQueueSize: fc.integer({ min: 1, max: 4 }),
      rxFrames: fc.integer({ min: 0, max: 5 }),
      rxUsecs: fc.integer({ min: 0, max: 3 }),
      napiBudget: fc.integer({ min: 1, max: 3 }),
    })
    .map((c): Input => {
      let rxFrames = opts.rxFrames ?? c.rxFrames;
      // checkInput: without a timer the count must be reachable. A count above 1 without a timer
      // holds a train's tail until more frames come (the ethtool rule itself), so liveness
      // properties take coalescing off instead.
      if (c.rxUsecs === 0) rxFrames = opts.timerOrNoCoalescing ? 1 : Math.min(Math.max(rxFrames, 1), c.rxQueueSize);
      return { ...c, rxFrames };
    });

const trainArb = fc.array(
  fc.record({
    gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4000 })),
    kind: fc.constantFrom<TrainItem['kind']>('rx', 'rx', 'rx', 'poll', 'poll', 'timer', 'tx'),
    bytes: fc.integer({ min: 60, max: 1514 }),
  }),
  { maxLength: 40 },
);

/** What an outside observer knows after each step: who owns the queue and what it holds. */
interface Observed {
  /** An interrupt fired and its NAPI cycle has not ended with an EoC. */
  owned: boolean;
  /** Frames accepted into the queue and not yet handed to the host. */
  queued: number;
  acceptedArrivals: number;
  irqs: number;
}

type Check = (seen: Observed, step: Step, arrivalAccepted: boolean) => string | undefined;

/**
 * A property over a train's steps. `monitor` makes a fresh check for each run (monitors may keep
 * state); the check sees the observer's view before the step and the step itself, and returns a
 * sentence when something is wrong.
 */
function trainProperty(
  machine: AnyStateMachine,
  config: fc.Arbitrary<Input>,
  monitor: (p: Params) => Check,
  opts: { tail?: boolean; atEnd?: (p: Params, seen: Observed) => string | undefined } = {},
) {
  return fc.property(config, trainArb, (input, train) => {
    const p = checkInput(input);
    const check = monitor(p);
    const steps = runTrain(machine, input, train, opts.tail);
    const seen: Observed = { owned: false, queued: 0, acceptedArrivals: 0, irqs: 0 };
    const fail = (i: number, problem: string) => {
      const path = steps.slice(0, i + 1).map((s) => JSON.stringify(s.event));
      throw new Error(`host-nic ${JSON.stringify(input)}: ${problem}\n  after events: ${path.join(' ; ')}`);
    };
    steps.forEach((step, i) => {
      const arrivalAccepted = step.event.type === 'wire.rx' && !step.emitted.some((e) => e.type === 'drop');
      const problem = check({ ...seen }, step, arrivalAccepted);
      if (problem) fail(i, problem);
      if (arrivalAccepted) {
        seen.queued++;
        seen.acceptedArrivals++;
      }
      for (const e of step.emitted) {
        if (e.type === 'irq') {
          seen.owned = true;
          seen.irqs++;
        }
        if (e.type === 'eoc') seen.owned = false;
        if (e.type === 'host.rx') seen.queued--;
      }
    });
    const problem = opts.atEnd?.(p, seen);
    if (problem) fail(steps.length - 1, problem);
  });
}

const ctx = (s: AnyMachineSnapshot) => s.context as Context;

// ---- the properties ----------------------------------------------------------------------------

export const properties: readonly MachineProperty[] = [
  {
    name: 'host-nic/interrupt-only-when-unmasked-with-work',
    description:
      'The NIC interrupts only while its interrupt is unmasked (no NAPI cycle open) and a completion is pending; while masked no interrupt fires at all.',
    runs: 200,
    property: (machine) =>
      trainProperty(machine, configArb(), () => (seen, step, arrivalAccepted) => {
        let owned = seen.owned;
        for (const e of step.emitted) {
          if (e.type === 'eoc') owned = false;
          if (e.type !== 'irq') continue;
          if (owned) return `interrupt at ${e.now} while masked (NAPI cycle open)`;
          if (seen.queued + (arrivalAccepted ? 1 : 0) === 0) return `interrupt at ${e.now} with an empty receive queue`;
          owned = true;
        }
        return undefined;
      }),
  },
  {
    name: 'host-nic/eoc-once-per-emptying-drain',
    description:
      'The EoC notification comes only from a poll that leaves the receive queue empty, once per NAPI cycle: never without an interrupt since the previous EoC.',
    runs: 200,
    property: (machine) =>
      trainProperty(machine, configArb(), () => (seen, step, arrivalAccepted) => {
        const eocs = step.emitted.filter((e) => e.type === 'eoc');
        if (eocs.length === 0) return undefined;
        if (eocs.length > 1) return `${eocs.length} EoCs in one step`;
        if (step.event.type !== 'driver.poll') return `EoC on a ${step.event.type} event`;
        const irqAt = step.emitted.findIndex((e) => e.type === 'irq');
        const irqFirst = irqAt >= 0 && irqAt < step.emitted.findIndex((e) => e.type === 'eoc');
        if (!seen.owned && !irqFirst) return 'EoC with no interrupt since the previous EoC';
        const left = seen.queued + (arrivalAccepted ? 1 : 0) - step.emitted.filter((e) => e.type === 'host.rx').length;
        if (left !== 0) return `EoC with ${left} frames still in the receive queue`;
        return undefined;
      }),
  },
  {
    name: 'host-nic/poll-respects-budget',
    description:
      'A poll hands at most napiBudget frames to the host, frames reach the host only by polls, and a poll that used its whole budget does not complete (no EoC).',
    runs: 200,
    property: (machine) =>
      trainProperty(machine, configArb(), (p) => (_seen, step) => {
        const n = step.emitted.filter((e) => e.type === 'host.rx').length;
        if (n === 0) return undefined;
        if (step.event.type !== 'driver.poll') return `${n} frames handed to the host on a ${step.event.type} event`;
        if (n > p.napiBudget) return `a poll handed ${n} frames to the host with budget ${p.napiBudget}`;
        if (n === p.napiBudget && step.emitted.some((e) => e.type === 'eoc'))
          return `a poll used its whole budget (${n}) and completed with an EoC`;
        return undefined;
      }),
  },
  {
    name: 'host-nic/interrupt-rate-at-most-arrival-rate',
    description: 'Over any train, the NIC never raises more interrupts than frames it accepted: coalescing only merges interrupts.',
    runs: 200,
    property: (machine) =>
      trainProperty(machine, configArb(), () => (seen, step, arrivalAccepted) => {
        const irqs = seen.irqs + step.emitted.filter((e) => e.type === 'irq').length;
        const arrivals = seen.acceptedArrivals + (arrivalAccepted ? 1 : 0);
        return irqs > arrivals ? `${irqs} interrupts for ${arrivals} accepted frames` : undefined;
      }),
  },
  {
    name: 'host-nic/rx-frames-1-interrupts-at-once',
    description: 'With rx-frames = 1, every frame that arrives at an unmasked NIC raises the interrupt at its own arrival time.',
    runs: 200,
    property: (machine) =>
      trainProperty(machine, configArb({ rxFrames: 1 }), () => (seen, step, arrivalAccepted) => {
        if (step.event.type !== 'wire.rx' || !arrivalAccepted || seen.owned) return undefined;
        const irqs = step.emitted.filter((e) => e.type === 'irq');
        if (irqs.length !== 1 || irqs[0].now !== step.event.now)
          return `a frame arriving at ${step.event.now} at an unmasked NIC raised ${JSON.stringify(irqs)}`;
        return undefined;
      }),
  },
  {
    name: 'host-nic/no-frame-lost-without-counted-drop',
    description:
      'Every frame that arrived is exactly once either handed to the host, dropped with a counted reason (rx-queue-full), or still in the receive queue.',
    runs: 200,
    property: (machine) =>
      trainProperty(machine, configArb(), () => {
        const arrived: number[] = [];
        const out = new Map<number, string>();
        return (_seen, step) => {
          if (step.event.type === 'wire.rx') arrived.push(step.event.frame.id);
          for (const e of step.emitted) {
            if (e.type === 'host.rx' || (e.type === 'drop' && e.reason === 'rx-queue-full')) {
              const where = e.type === 'host.rx' ? 'handed to the host' : 'dropped';
              const earlier = out.get(e.frame.id);
              if (earlier) return `frame ${e.frame.id} ${where} after it was already ${earlier}`;
              out.set(e.frame.id, where);
            }
          }
          const queued = ctx(step.after).queue.map((f) => f.id);
          for (const id of queued) if (out.has(id)) return `frame ${id} is queued after it was ${out.get(id)}`;
          const accounted = new Set([...out.keys(), ...queued]);
          if (accounted.size !== out.size + queued.length) return `a frame is queued twice: ${JSON.stringify(queued)}`;
          const lost = arrived.filter((id) => !accounted.has(id));
          if (lost.length > 0) return `frames ${lost.join(', ')} arrived and were neither delivered, dropped nor queued`;
          if (accounted.size !== arrived.length) return `${accounted.size} frames accounted for, ${arrived.length} arrived`;
          return undefined;
        };
      }),
  },
  {
    name: 'host-nic/no-stranded-frame',
    description:
      'No lost wakeup: once arrivals stop, a driver that polls whenever interrupted and otherwise lets time pass sees every accepted frame delivered and the NAPI cycle completed (settings with a timer, or coalescing off).',
    runs: 200,
    property: (machine) =>
      trainProperty(machine, configArb({ timerOrNoCoalescing: true }), () => () => undefined, {
        tail: true,
        atEnd: (_p, seen) => {
          if (seen.queued > 0) return `${seen.queued} accepted frames never reached the host`;
          if (seen.owned) return 'the last NAPI cycle never completed';
          return undefined;
        },
      }),
  },
  {
    name: 'host-nic/interrupt-by-ethtool-deadline',
    description:
      'ethtool rule, from outside: the interrupt fires no later than rx-usecs after the first completion since the last EoC, and no later than the arrival of the rx-frames-th; it never precedes that first completion nor its own step.',
    runs: 300,
    property: (machine) =>
      trainProperty(machine, configArb(), (p) => {
        let firstPending: number | null = null;
        let pending = 0;
        return (seen, step, arrivalAccepted) => {
          const deadline = p.rxUsecs > 0 && firstPending !== null ? firstPending + usecsNs(p) : null;
          for (const e of step.emitted) {
            if (e.type === 'irq') {
              if (e.now > step.event.now) return `interrupt stamped ${e.now}, after its event at ${step.event.now}`;
              if (firstPending !== null && e.now < firstPending) return `interrupt at ${e.now} before the first pending completion at ${firstPending}`;
              if (deadline !== null && e.now > deadline) return `interrupt at ${e.now}, past the rx-usecs deadline ${deadline}`;
              firstPending = null;
              pending = 0;
            }
            if (e.type === 'eoc') {
              firstPending = null;
              pending = 0;
            }
          }
          const ownedAfter = step.emitted.reduce((o, e) => (e.type === 'irq' ? true : e.type === 'eoc' ? false : o), seen.owned);
          if (!ownedAfter && arrivalAccepted) {
            pending++;
            firstPending ??= step.event.now;
          }
          if (!ownedAfter && pending > 0) {
            if (p.rxUsecs > 0 && firstPending !== null && step.event.now - firstPending >= usecsNs(p))
              return `${pending} completions pending since ${firstPending}, now ${step.event.now}, rx-usecs ${p.rxUsecs} µs, no interrupt`;
            if (p.rxFrames > 0 && pending >= p.rxFrames) return `${pending} completions pending, rx-frames ${p.rxFrames}, no interrupt`;
          }
          return undefined;
        };
      }),
  },
  {
    name: 'host-nic/tso-segments-cover-frame',
    description:
      'A transmitted frame that fits MTU + 14 goes out whole; a larger one with TSO goes out as segments of at most MTU + 14 bytes, each repeating the 54 header bytes, all full but the last, whose payloads add up to the frame\'s; otherwise it is dropped as too large.',
    runs: 300,
    property: (machine) =>
      fc.property(
        fc.integer({ min: 68, max: 9000 }),
        fc.boolean(),
        // Any size, or a few bytes around MTU + 14 or around the largest TSO frame.
        fc.array(
          fc.oneof(
            fc.integer({ min: 1, max: 70000 }).map((bytes) => ({ bytes })),
            fc.integer({ min: -2, max: 2 }).map((d) => ({ overMtu: d })),
            fc.integer({ min: -2, max: 2 }).map((d) => ({ bytes: TSO_MAX_FRAME + d })),
          ),
          { minLength: 1, maxLength: 8 },
        ),
        (mtu, tso, sizes) => {
          const p = checkInput({ mtu, tso });
          const actor = createActor(machine, { input: { mtu, tso } });
          let emitted: Emitted[] = [];
          actor.on('*', (e: EventObject) => {
            emitted.push(e as Emitted);
          });
          actor.start();
          try {
            sizes.forEach((size, i) => {
              const bytes = 'bytes' in size ? size.bytes : maxWireFrame(p) + size.overMtu;
              emitted = [];
              actor.send({ type: 'tx', now: i, frame: { id: i, bytes } });
              const segs = emitted.filter((e) => e.type === 'wire.tx');
              const drops = emitted.filter((e) => e.type === 'drop');
              const where = `mtu ${mtu}, tso ${tso}, frame of ${bytes} bytes`;
              const max = mtu + 14;
              if (bytes <= max) {
                if (segs.length !== 1 || segs[0].bytes !== bytes || drops.length > 0) throw new Error(`${where}: sent as ${JSON.stringify(emitted)}`);
              } else if (tso && bytes - 14 <= 65535) {
                if (drops.length > 0 || segs.length < 2) throw new Error(`${where}: ${segs.length} segments, ${drops.length} drops`);
                let payload = 0;
                segs.forEach((s, k) => {
                  if (s.segment !== k || s.segments !== segs.length) throw new Error(`${where}: segment numbered ${s.segment}/${s.segments} at ${k}`);
                  if (s.bytes > max || s.bytes <= TSO_HEADER_BYTES) throw new Error(`${where}: segment of ${s.bytes} bytes`);
                  if (k < segs.length - 1 && s.bytes !== max) throw new Error(`${where}: segment ${k} of ${s.bytes} bytes is not full`);
                  payload += s.bytes - TSO_HEADER_BYTES;
                });
                if (payload !== bytes - TSO_HEADER_BYTES) throw new Error(`${where}: segments carry ${payload} payload bytes, not ${bytes - TSO_HEADER_BYTES}`);
              } else if (segs.length > 0 || drops.length !== 1 || (drops[0].type === 'drop' && drops[0].reason !== 'tx-too-large')) {
                throw new Error(`${where}: expected a tx-too-large drop, got ${JSON.stringify(emitted)}`);
              }
            });
          } finally {
            actor.stop();
          }
        },
      ),
  },
];
