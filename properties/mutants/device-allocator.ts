/** Broken variants of the device allocator, each with the property that must catch it. */
import { enqueueActions, type AnyStateMachine } from 'xstate';
import { entry, ownerOf, type Context, type Event } from '../../machines/device-allocator.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

export const mutants: readonly Mutant[] = [
  {
    name: 'device-allocator/host-nic-assigned-twice',
    description: 'The allocator does not check that the host NIC is free, so a second vNIC is assigned the same host NIC.',
    entry: e,
    machine: base.provide({ guards: { hostNicFree: () => true } }) as AnyStateMachine,
    caughtBy: 'invariant:host-nic-assigned-once',
  },
  {
    name: 'device-allocator/host-nic-assigned-twice-seen-by-routing',
    description: 'The same broken check, seen from outside: an assignment of a busy host NIC succeeds.',
    entry: e,
    machine: base.provide({ guards: { hostNicFree: () => true } }) as AnyStateMachine,
    caughtBy: 'device-allocator/routes-by-reference-table',
  },
  {
    name: 'device-allocator/eoc-routed-to-next-vnic',
    description: 'The allocator routes an EoC to the vNIC after the owner (EVIs still go right).',
    entry: e,
    machine: base.provide({
      actions: {
        routeNotification: enqueueActions(({ context, event, enqueue }: { context: Context; event: Event; enqueue: any }) => {
          if (event.type !== 'host.notify') return;
          const owner = ownerOf(context.table, event.hostNic)!;
          const vnic = event.kind === 'eoc' ? (owner + 1) % context.p.vnics : owner;
          enqueue.assign({ lastRoute: { kind: event.kind, hostNic: event.hostNic, vnic } });
          enqueue.emit({ type: 'route', kind: event.kind, hostNic: event.hostNic, vnic });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'invariant:notification-reaches-owner-only',
  },
];
