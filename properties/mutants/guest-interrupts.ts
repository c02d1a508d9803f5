/** Broken variants of the guest's interrupt handling, each with the property that must catch it. */
import type { AnyStateMachine } from 'xstate';
import { entry } from '../../machines/guest-interrupts.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;
const impl = base.implementations.actions;

export const mutants: readonly Mutant[] = [
  {
    name: 'guest-interrupts/driver-skips-recheck',
    description: 'After unmasking, the driver does not re-check the receive ring and goes idle on frames that landed while it polled.',
    entry: e,
    machine: base.provide({ guards: { recheckFindsFrames: () => false } }) as AnyStateMachine,
    caughtBy: 'invariant:no-stranded-frame',
  },
  {
    name: 'guest-interrupts/masked-line-takes-interrupt',
    description: 'An interrupt that should be held on a masked line is taken at once instead.',
    entry: e,
    machine: base.provide({ actions: { pendInterrupt: impl.takeInterrupt } } as never) as AnyStateMachine,
    caughtBy: 'invariant:masked-line-never-takes',
  },
  {
    name: 'guest-interrupts/pending-lost-at-unmask',
    description: 'On unmasking, the held interrupt is not taken: the line goes idle with an interrupt still pending.',
    entry: e,
    machine: base.provide({ guards: { interruptPending: () => false } }) as AnyStateMachine,
    caughtBy: 'invariant:pending-taken-at-unmask',
  },
  {
    name: 'guest-interrupts/handler-ignores-empty-ring',
    description: 'The handler always finds the interrupt valid, even with the receive ring empty, so premature interrupts are never counted.',
    entry: e,
    machine: base.provide({ guards: { ringHasFrames: () => true } }) as AnyStateMachine,
    caughtBy: 'guest-interrupts/handler-verdict-matches-ring',
  },
  {
    name: 'guest-interrupts/discards-on-unmasked-line',
    description: 'The line is taken to be masked whenever an interrupt is in service, so an EVI raised on an unmasked line behind it is dropped.',
    entry: e,
    machine: base.provide({ guards: { lineMasked: () => true } }) as AnyStateMachine,
    caughtBy: 'guest-interrupts/discard-only-masked-evi',
  },
  {
    name: 'guest-interrupts/raise-silently-dropped',
    description: 'An EVI raised on a masked line vanishes without being reported as discarded.',
    entry: e,
    machine: base.provide({ actions: { discardInterrupt: () => {} } } as never) as AnyStateMachine,
    caughtBy: 'guest-interrupts/every-raise-accounted',
  },
];
