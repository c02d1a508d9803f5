/** Broken variants of the event dispatcher, each with the property that must catch it. */
import { enqueueActions, type AnyStateMachine } from 'xstate';
import { entry, type Context } from '../../machines/event-dispatcher.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

/** Delivers an EoC to the next vNIC instead of its own. */
const eocToWrongVnic = base.provide({
  actions: {
    deliverHead: enqueueActions(({ context, enqueue }: { context: Context; enqueue: any }) => {
      const [h, ...rest] = context.pending;
      const wrong = h.kind === 'eoc' ? { ...h, vnic: (h.vnic + 1) % context.p.vnics } : h;
      enqueue.assign({ pending: rest, lastDelivery: wrong });
      enqueue.emit({ type: 'virq.deliver', kind: wrong.kind, vnic: wrong.vnic, hostNic: wrong.hostNic });
    }),
  },
} as never) as AnyStateMachine;

export const mutants: readonly Mutant[] = [
  {
    name: 'event-dispatcher/eoc-to-wrong-vnic',
    description: 'The dispatcher delivers an EoC to the next vNIC instead of the one holding the host NIC.',
    entry: e,
    machine: eocToWrongVnic,
    caughtBy: 'invariant:event-reaches-only-its-vnic',
  },
  {
    name: 'event-dispatcher/eoc-to-wrong-vnic-seen-by-reference',
    description: 'The same bug seen from outside by the reference dispatcher.',
    entry: e,
    machine: eocToWrongVnic,
    caughtBy: 'event-dispatcher/delivers-to-standing-owner-only',
  },
  {
    name: 'event-dispatcher/delivers-after-release',
    description: 'The dispatcher delivers every queued event without checking that its assignment still stands.',
    entry: e,
    machine: base.provide({ guards: { headAssignmentStands: ({ context }: { context: Context }) => context.pending.length > 0 } } as never) as AnyStateMachine,
    caughtBy: 'event-dispatcher/delivers-to-standing-owner-only',
  },
];
