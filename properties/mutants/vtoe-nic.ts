/** Broken variants of the VTOE NIC, each with the property that must catch it. */
import { enqueueActions } from 'xstate';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import { afterEvent, entry, type Context, type Event } from '../../machines/vtoe-nic.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

type Enqueue = { emit: (x: never) => void; assign: (x: never) => void };
type Args = { context: Context; event: Event; enqueue: Enqueue };

/** Events in order, as the NIC's own guard, but a removed socket accepts anything. */
const inOrderOrRemoved = ({ context, event }: { context: Context; event: Event }) =>
  event.type === 'overlay.event' &&
  event.sid >= 0 &&
  event.sid < context.p.sockets &&
  (context.place[event.sid] === 'removed' || afterEvent(context.place[event.sid], event.name) !== undefined);

/** Queue an event like the NIC, but `drop` decides which accepted events never enter the EQ, and `raise` whether an interrupt is raised. */
function queueEventMutated(drop: (name: string) => boolean, raise: boolean) {
  return enqueueActions(({ context, event, enqueue }: Args) => {
    if (event.type !== 'overlay.event') return;
    const place = [...context.place];
    place[event.sid] = afterEvent(place[event.sid], event.name) ?? place[event.sid];
    if (drop(event.name)) {
      enqueue.assign({ place } as never);
      return;
    }
    const eq = [...context.eq, { sid: event.sid, name: event.name }];
    const doRaise = raise && !context.irqPending;
    enqueue.assign({ eq, place, irqPending: raise ? true : context.irqPending, stats: { ...context.stats, eventsQueued: context.stats.eventsQueued + 1 } } as never);
    if (doRaise) enqueue.emit({ type: 'irq.raise' } as never);
  });
}

export const mutants: readonly Mutant[] = [
  {
    name: 'vtoe-nic/event-after-device-removal',
    description: 'A socket whose DEVICE_REMOVAL was accepted still accepts overlay events, which reach the guest after the removal.',
    entry: e,
    machine: base.provide({ guards: { eventInOrder: inOrderOrRemoved as never } }),
    caughtBy: 'invariant:nothing-delivered-after-device-removal',
  },
  {
    name: 'vtoe-nic/disconnected-dropped',
    description: 'An accepted DISCONNECTED never enters the EQ: the guest is never told its connection is gone.',
    entry: e,
    machine: base.provide({ actions: { queueEvent: queueEventMutated((n) => n === 'DISCONNECTED', true) as never } }),
    caughtBy: 'vtoe-nic/accepted-events-delivered-once-in-order',
  },
  {
    name: 'vtoe-nic/no-interrupt',
    description: 'An event enters the EQ without raising a virtual interrupt: the guest is never woken to drain it.',
    entry: e,
    machine: base.provide({ actions: { queueEvent: queueEventMutated(() => false, false) as never } }),
    caughtBy: 'invariant:interrupt-pending-while-events-queued',
  },
  {
    name: 'vtoe-nic/order-not-enforced',
    description: 'The NIC queues every overlay event whatever the socket\'s place: e.g. CONNECT_ESTABLISHED before ROUTE_RESOLVED reaches the guest.',
    entry: e,
    machine: base.provide({ guards: { eventInOrder: (({ context, event }: { context: Context; event: Event }) => event.type === 'overlay.event' && event.sid >= 0 && event.sid < context.p.sockets) as never } }),
    caughtBy: 'vtoe-nic/delivered-events-follow-rdma-cm-order',
  },
];
