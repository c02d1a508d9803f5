/** Broken variants of optimistic interrupts, each with the property that must catch it. */
import { stateIn, type AnyStateMachine } from 'xstate';
import { entry } from '../../machines/optimistic-interrupts.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;
const impl = base.implementations.actions;
const nothing = () => {};

export const mutants: readonly Mutant[] = [
  {
    name: 'optimistic-interrupts/eoc-handling-off',
    description: 'EoC notifications never inject: a masked EVI is never made up for, so frames that land on an idle guest wait for the next arrival.',
    entry: e,
    machine: base.provide({ actions: { injectRecovery: nothing, injectJustRight: nothing } } as never) as AnyStateMachine,
    caughtBy: 'optimistic-interrupts/no-lost-wakeup',
  },
  {
    name: 'optimistic-interrupts/forgets-failed-evi',
    description: '"Last EVI failed" is forgotten: the EoC after a masked EVI is judged by density alone and discarded when too cold or too hot.',
    entry: e,
    machine: base.provide({ guards: { lastEviFailed: () => false } }) as AnyStateMachine,
    caughtBy: 'optimistic-interrupts/no-lost-wakeup',
  },
  {
    name: 'optimistic-interrupts/evi-ignores-mask',
    description: "The VMM does not read the guest's mask bit and injects every EVI, masked line or not.",
    entry: e,
    machine: base.provide({ guards: { guestMasked: () => false } }) as AnyStateMachine,
    caughtBy: 'optimistic-interrupts/evi-never-into-masked-line',
  },
  {
    name: 'optimistic-interrupts/masked-evi-injected-anyway',
    description: 'A masked EVI is remembered as failed but injected all the same.',
    entry: e,
    machine: base.provide({ actions: { discardEvi: impl.injectEvi } } as never) as AnyStateMachine,
    caughtBy: 'invariant:evi-never-into-masked-line',
  },
  {
    name: 'optimistic-interrupts/failure-test-inverted',
    description: 'The EoC rule tests the wrong outcome: after a delivered EVI it always injects, after a masked one it judges by density.',
    entry: e,
    machine: base.provide({ guards: { lastEviFailed: stateIn({ eviAttempted: 'lastEviSucceeded' }) } }) as AnyStateMachine,
    caughtBy: 'optimistic-interrupts/eoc-injects-after-masked-evi',
  },
  {
    name: 'optimistic-interrupts/recovery-interrupt-dropped',
    description: 'The EoC after a masked EVI clears the failure without injecting.',
    entry: e,
    machine: base.provide({ actions: { injectRecovery: nothing } } as never) as AnyStateMachine,
    caughtBy: 'invariant:eoc-injects-after-masked-evi',
  },
  {
    name: 'optimistic-interrupts/eoc-ignores-too-hot',
    description: 'The "too hot" case is missing: an EoC in the middle of heavy traffic injects an unnecessary interrupt.',
    entry: e,
    machine: base.provide({ guards: { rdTooHot: () => false } }) as AnyStateMachine,
    caughtBy: 'optimistic-interrupts/eoc-injects-only-in-band',
  },
  {
    name: 'optimistic-interrupts/eoc-ignores-too-cold',
    description: 'The "too cold" case is missing: an EoC after sparse traffic injects an interrupt the guest does not need.',
    entry: e,
    machine: base.provide({ guards: { rdTooCold: () => false } }) as AnyStateMachine,
    caughtBy: 'invariant:eoc-injects-only-in-band',
  },
  {
    name: 'optimistic-interrupts/premature-report-ignored',
    description:
      'The EoC heeds only masked EVIs: the premature-handler report is recorded but the EVI still counts as delivered, so a cold or hot EoC after it strands the frame.',
    entry: e,
    machine: base.provide({ guards: { lastEviFailed: ({ context }) => context.maskedEviOwed } }) as AnyStateMachine,
    caughtBy: 'invariant:eoc-injects-after-premature-evi',
  },
  {
    name: 'optimistic-interrupts/ring-check-ignored',
    description: 'The EoC does not look at the vNIC ring: frames waiting for an idle guest are judged by density alone.',
    entry: e,
    machine: base.provide({ guards: { ringPending: () => false } }) as AnyStateMachine,
    caughtBy: 'invariant:eoc-injects-when-ring-waits',
  },
];
