/**
 * Properties of the guest's interrupt handling, stated from outside: a monitor counts the frames
 * in the ring from the fills it sends and the `frames.consumed` effects it sees, and judges each
 * raise and each handler run by what was emitted.
 */
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import { entry, type Context, type Emitted, type Event } from '../machines/guest-interrupts.js';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import type { RandomStep } from '../model/explore.js';
import { stepsProperty, type MachineProperty } from './harness.js';

const e = entry as unknown as AnyCatalogEntry;
const emittedOf = (step: RandomStep) => step.emitted as readonly Emitted[];
const eventOf = (step: RandomStep) => step.event as Event;

/**
 * A step check with state of its own that starts afresh with each run: a run's first `before` is
 * its initial snapshot, every later one is the snapshot the previous step produced.
 */
export function perRun<S>(init: () => S, check: (state: S, before: AnyMachineSnapshot, step: RandomStep) => string | undefined) {
  let last: AnyMachineSnapshot | undefined;
  let state = init();
  return (before: AnyMachineSnapshot, step: RandomStep): string | undefined => {
    if (before !== last) state = init();
    last = step.snapshot;
    return check(state, before, step);
  };
}

export const properties: readonly MachineProperty[] = [
  {
    name: 'guest-interrupts/handler-verdict-matches-ring',
    description:
      'A handler run is valid exactly when frames are in the receive ring (counted from the fills sent and the frames consumed), and premature exactly when it is empty.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(
        e,
        machine,
        perRun(
          () => ({ ring: 0 }),
          (m, _before, step) => {
            const ev = eventOf(step);
            const out = emittedOf(step);
            const ringBefore = m.ring;
            if (ev.type === 'ring.filled') m.ring += ev.frames;
            for (const x of out) if (x.type === 'frames.consumed') m.ring -= x.n;
            if (m.ring < 0) return `the driver consumed more frames than were placed`;
            const valid = out.some((x) => x.type === 'handler.valid');
            const premature = out.some((x) => x.type === 'handler.premature');
            if (ev.type !== 'handler.run') return valid || premature ? `a handler verdict on ${ev.type}` : undefined;
            if (valid === premature) return `a handler run must be judged exactly once (valid ${valid}, premature ${premature})`;
            if (valid && ringBefore === 0) return 'the handler was judged valid with the ring empty';
            if (premature && ringBefore > 0) return `the handler was judged premature with ${ringBefore} frames in the ring`;
            return undefined;
          },
        ),
        'guest-interrupts/handler-verdict-matches-ring',
      ),
  },
  {
    name: 'guest-interrupts/discard-only-masked-evi',
    description:
      'A raised interrupt is dropped only if its sender asked for that and the line was masked when it was raised; an interrupt raised on an unmasked, idle line is taken.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(
        e,
        machine,
        (before, step) => {
          const ev = eventOf(step);
          if (ev.type !== 'virq.raise') return undefined;
          const c = before.context as Context;
          const out = emittedOf(step);
          if (out.some((x) => x.type === 'virq.discarded') && !(ev.discardIfMasked && c.masked))
            return `a ${ev.source} interrupt was discarded (discardIfMasked ${ev.discardIfMasked}, line masked ${c.masked})`;
          if (before.value === 'idle' && !out.some((x) => x.type === 'virq.taken')) return `a ${ev.source} interrupt raised on an idle line was not taken`;
          return undefined;
        },
        'guest-interrupts/discard-only-masked-evi',
      ),
  },
  {
    name: 'guest-interrupts/every-raise-accounted',
    description: 'Every raised interrupt is, on the step it is raised, exactly one of: taken, discarded, held pending.',
    runs: 300,
    property: (machine: AnyStateMachine) =>
      stepsProperty(
        e,
        machine,
        (_before, step) => {
          if (eventOf(step).type !== 'virq.raise') return undefined;
          const n = emittedOf(step).filter((x) => x.type === 'virq.taken' || x.type === 'virq.discarded' || x.type === 'virq.pending').length;
          return n === 1 ? undefined : `a raise produced ${n} outcomes`;
        },
        'guest-interrupts/every-raise-accounted',
      ),
  },
];
