/** Broken variants of cut-through forwarding, each with the property that must catch it. */
import type { AnyStateMachine } from 'xstate';
import { entry } from '../../machines/cut-through.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;
const copyTx = base.implementations.actions.transmitCopy;
const cutTx = base.implementations.actions.transmitCutThrough;

export const mutants: readonly Mutant[] = [
  {
    name: 'cut-through/copies-anyway',
    description: 'With cut-through on, the VMM still copies each transmitted frame into a host buffer.',
    entry: e,
    machine: base.provide({ actions: { transmitCutThrough: copyTx } } as never) as AnyStateMachine,
    caughtBy: 'cut-through/never-copies-a-payload-byte',
  },
  {
    name: 'cut-through/guest-strips-stale-length',
    description: 'The guest strips every frame with the length it knows, ignoring the change point: frames past a header change lose the old length.',
    entry: e,
    machine: base.provide({ guards: { headBeforeChange: ({ context }: { context: { ring: unknown[] } }) => context.ring.length > 0 } } as never) as AnyStateMachine,
    caughtBy: 'cut-through/guest-never-strips-stale-length',
  },
  {
    name: 'cut-through/copy-mode-skips-tx-copy',
    description: 'With cut-through off, transmit hands the guest buffer to the NIC as if cut-through were on: the VNET/P copy is missing.',
    entry: e,
    machine: base.provide({ actions: { transmitCopy: cutTx } } as never) as AnyStateMachine,
    caughtBy: 'cut-through/copy-mode-copies-each-frame-once',
  },
];
