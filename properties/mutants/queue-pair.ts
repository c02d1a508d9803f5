/** Broken variants of the queue pair, each with the property that must catch it. */
import type { AnyStateMachine } from 'xstate';
import { entry } from '../../machines/queue-pair.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

export const mutants: readonly Mutant[] = [
  {
    name: 'queue-pair/mask-not-checked',
    description: 'A modify is accepted without the attributes the transport requires (e.g. INIT -> RTR with only IB_QP_STATE).',
    entry: e,
    machine: base.provide({ guards: { maskHasRequired: () => true } }) as AnyStateMachine,
    caughtBy: 'queue-pair/modify-follows-verbs-state-table',
  },
  {
    name: 'queue-pair/no-flush-on-error',
    description: 'Entering ERR leaves outstanding work requests without completions.',
    entry: e,
    machine: base.provide({ actions: { flushAll: () => {} } }) as AnyStateMachine,
    caughtBy: 'invariant:flushed-in-error',
  },
  {
    name: 'queue-pair/rnr-retries-unbounded',
    description: 'RNR NAKs are retried for ever whatever rnr_retry says.',
    entry: e,
    machine: base.provide({ guards: { rnrRetriesLeft: () => true } }) as AnyStateMachine,
    caughtBy: 'invariant:rnr-retries-bounded',
  },
];
