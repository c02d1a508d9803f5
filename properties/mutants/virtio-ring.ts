/** Broken variants of the virtio ring, each with the property that must catch it. */
import { enqueueActions, type AnyStateMachine } from 'xstate';
import { entry, type Context } from '../../machines/virtio-ring.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

export const mutants: readonly Mutant[] = [
  {
    name: 'virtio-ring/device-ignores-no-interrupt',
    description: 'The device interrupts after every return, ignoring VRING_AVAIL_F_NO_INTERRUPT and used_event.',
    entry: e,
    machine: base.provide({ guards: { irqNeededAfterDrain: () => true, irqNeededAfterPlace: () => true } }) as AnyStateMachine,
    caughtBy: 'virtio-ring/interrupt-only-when-requested',
  },
  {
    name: 'virtio-ring/driver-skips-recheck',
    description: 'After unmasking, the driver does not re-check the used ring and goes to sleep on pending work.',
    entry: e,
    machine: base.provide({ guards: { usedPending: () => false } }) as AnyStateMachine,
    caughtBy: 'invariant:no-lost-interrupt',
  },
  {
    name: 'virtio-ring/driver-never-kicks',
    description: 'The driver publishes buffers but never kicks, as if NO_NOTIFY were always set.',
    entry: e,
    machine: base.provide({ guards: { kickNeeded: () => false } }) as AnyStateMachine,
    caughtBy: 'invariant:no-lost-kick',
  },
  {
    name: 'virtio-ring/driver-overwrites-held-buffer',
    description: 'The driver fills a descriptor without taking it off its free list, so it can overwrite a buffer the device holds.',
    entry: e,
    machine: base.provide({
      actions: {
        offerBuffers: ({ context, event }: { context: Context; event: { type: string; frames?: unknown[]; lengths?: unknown[] } }) => {
          // Mutates in place on purpose: the bug is that the free list keeps the descriptor.
          const n = event.frames?.length ?? event.lengths?.length ?? 0;
          for (let i = 0; i < n; i++) {
            context.availQueue = [...context.availQueue, { id: context.free[i], len: 60, frame: null }];
          }
          context.availIdx = (context.availIdx + n) & 0xffff;
        },
      },
    } as never) as AnyStateMachine,
    caughtBy: 'invariant:buffer-ownership-exclusive',
  },
  {
    name: 'virtio-ring/event-idx-driver-ignores-avail-event',
    description: 'With the event index negotiated, the driver decides kicks from the NO_NOTIFY flag path and never consults avail_event, so it never kicks.',
    entry: e,
    machine: base.provide({ guards: { kickNeeded: ({ context }: { context: Context }) => !context.p.eventIdx && !context.noNotify } } as never) as AnyStateMachine,
    caughtBy: 'invariant:no-lost-kick',
  },
  {
    name: 'virtio-ring/kick-takes-one-frame',
    description: 'The exit handler takes only one frame per kick instead of draining the transmit ring.',
    entry: e,
    machine: base.provide({
      actions: {
        drainAndTransmit: enqueueActions(({ context, enqueue }: { context: Context; enqueue: any }) => {
          const b = context.availQueue[0];
          if (!b) return;
          enqueue.assign({
            availQueue: context.availQueue.slice(1),
            lastAvail: (context.lastAvail + 1) & 0xffff,
            usedQueue: [...context.usedQueue, { id: b.id, len: 0, frame: b.frame, numBuffers: 1 }],
            usedIdx: (context.usedIdx + 1) & 0xffff,
          });
          if (b.frame) enqueue.emit({ type: 'tx.frame', frame: b.frame });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'virtio-ring/matches-reference-ring',
  },
  {
    name: 'virtio-ring/reap-hands-frames-up-newest-first',
    description: 'The receiving driver reaps a batch correctly but hands its frames to the stack newest first.',
    entry: e,
    machine: base.provide({
      actions: {
        reapUsed: enqueueActions(({ context, event, enqueue }: { context: Context; event: { type: string; budget?: number }; enqueue: any }) => {
          if (event.type !== 'driver.reap') return;
          const q = context.usedQueue;
          const frames: { frame: NonNullable<(typeof q)[number]['frame']>; buffers: number }[] = [];
          const ids: number[] = [];
          let i = 0;
          for (let units = 0; i < q.length && units < (event.budget ?? 0); units++) {
            const span = context.p.role === 'rx' ? Math.max(1, q[i].numBuffers) : 1;
            for (let k = 0; k < span; k++) ids.push(q[i + k].id);
            const head = q[i].frame;
            if (context.p.role === 'rx' && head) frames.push({ frame: head, buffers: span });
            i += span;
          }
          enqueue.assign({
            usedQueue: q.slice(i),
            lastUsed: (context.lastUsed + i) & 0xffff,
            free: [...context.free, ...ids],
            stats: { ...context.stats, received: context.stats.received + frames.length },
          });
          if (context.p.role === 'rx') for (const f of frames.reverse()) enqueue.emit({ type: 'rx.frame', frame: f.frame, buffers: f.buffers });
          else if (ids.length > 0) enqueue.emit({ type: 'tx.complete', ids });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'virtio-ring/matches-reference-ring',
  },
];
