/** Broken variants of the host NIC, each with the property that must catch it. */
import { assign, enqueueActions, type AnyStateMachine } from 'xstate';
import { entry, maxWireFrame, TSO_HEADER_BYTES, type Context, type Emitted, type Event } from '../../machines/host-nic.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;
type Args = { context: Context; event: Event };
/** The enqueue helpers a replacement action uses (the provide() object is cast, so typed here). */
type Enqueue = { assign: (x: Partial<Context>) => void; emit: (x: Emitted) => void };
type EnqArgs = Args & { enqueue: Enqueue };

export const mutants: readonly Mutant[] = [
  {
    name: 'host-nic/coalescing-forgets-timer',
    description: 'Coalescing only counts frames: the rx-usecs timer never fires, so a lone completion waits past rx-usecs.',
    entry: e,
    machine: base.provide({ guards: { timerDue: () => false } }) as AnyStateMachine,
    caughtBy: 'invariant:interrupt-within-coalescing-bound',
  },
  {
    name: 'host-nic/timer-restarts-on-each-arrival',
    description: 'Every completion re-arms the rx-usecs timer instead of only the first after the interrupt, so a steady train postpones the interrupt.',
    entry: e,
    machine: base.provide({
      actions: {
        completeArrival: assign(({ context, event }: Args) =>
          event.type !== 'wire.rx'
            ? {}
            : {
                now: event.now,
                queue: [...context.queue, event.frame],
                firstPendingAt: context.masked ? context.firstPendingAt : event.now,
                stats: { ...context.stats, arrived: context.stats.arrived + 1 },
              },
        ),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'host-nic/interrupt-by-ethtool-deadline',
  },
  {
    name: 'host-nic/coalescing-forgets-count',
    description: 'rx-frames is ignored: with rx-frames 1 a frame waits for the timer instead of interrupting at once.',
    entry: e,
    machine: base.provide({ guards: { countReachedWithArrival: () => false } }) as AnyStateMachine,
    caughtBy: 'host-nic/rx-frames-1-interrupts-at-once',
  },
  {
    name: 'host-nic/eoc-on-every-poll',
    description: 'The driver emits EoC after every poll, even one that used its whole budget and left frames in the queue.',
    entry: e,
    machine: base.provide({
      actions: {
        napiPoll: enqueueActions(({ context, event, enqueue }: EnqArgs) => {
          const taken = context.queue.slice(0, context.p.napiBudget);
          enqueue.assign({ now: event.now, queue: context.queue.slice(taken.length), cyclePolls: context.cyclePolls + 1 });
          for (const frame of taken) enqueue.emit({ type: 'host.rx', now: event.now, frame });
          enqueue.emit({ type: 'eoc', now: event.now, frames: taken.length, bytes: 0, polls: 1 });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'host-nic/eoc-once-per-emptying-drain',
  },
  {
    name: 'host-nic/interrupt-while-masked',
    description: 'The NIC ignores its mask: a frame completing while NAPI polls raises the interrupt again.',
    entry: e,
    machine: base.provide({
      actions: {
        completeArrival: enqueueActions(({ context, event, enqueue }: EnqArgs) => {
          if (event.type !== 'wire.rx') return;
          enqueue.assign({ now: event.now, queue: [...context.queue, event.frame], stats: { ...context.stats, arrived: context.stats.arrived + 1 } });
          if (context.masked) enqueue.emit({ type: 'irq', now: event.now, reason: 'rx-frames', pending: context.queue.length + 1 });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'host-nic/interrupt-only-when-unmasked-with-work',
  },
  {
    name: 'host-nic/irq-on-every-tick',
    description: 'The NIC raises an interrupt on every timer tick, whether or not a completion is pending.',
    entry: e,
    machine: base.provide({
      actions: {
        advanceClock: enqueueActions(({ event, enqueue }: EnqArgs) => {
          enqueue.assign({ now: event.now });
          if (event.type === 'timer') enqueue.emit({ type: 'irq', now: event.now, reason: 'rx-usecs', pending: 0 });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'host-nic/interrupt-rate-at-most-arrival-rate',
  },
  {
    name: 'host-nic/rx-queue-unbounded',
    description: 'The receive queue never fills: frames beyond rxQueueSize are queued instead of dropped.',
    entry: e,
    machine: base.provide({ guards: { queueFull: () => false } }) as AnyStateMachine,
    caughtBy: 'invariant:rx-queue-bounded-and-accounted',
  },
  {
    name: 'host-nic/overflow-not-counted',
    description: 'A frame arriving at a full queue vanishes: no drop effect, no counter.',
    entry: e,
    machine: base.provide({ actions: { dropRxQueueFull: assign(({ event }: Args) => ({ now: event.now })) } } as never) as AnyStateMachine,
    caughtBy: 'host-nic/no-frame-lost-without-counted-drop',
  },
  {
    name: 'host-nic/poll-ignores-budget',
    description: 'A poll takes every queued frame, however many the budget allows.',
    entry: e,
    machine: base.provide({
      actions: {
        napiPoll: enqueueActions(({ context, event, enqueue }: EnqArgs) => {
          enqueue.assign({
            now: event.now,
            queue: [],
            cyclePolls: context.cyclePolls + 1,
            stats: { ...context.stats, delivered: context.stats.delivered + context.queue.length },
          });
          for (const frame of context.queue) enqueue.emit({ type: 'host.rx', now: event.now, frame });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'host-nic/poll-respects-budget',
  },
  {
    name: 'host-nic/complete-on-full-budget',
    description: 'A poll that took exactly its budget and emptied the queue completes NAPI, against napi.rst.',
    entry: e,
    machine: base.provide({ guards: { pollEmpties: ({ context }: Args) => context.queue.length <= context.p.napiBudget } } as never) as AnyStateMachine,
    caughtBy: 'host-nic/poll-respects-budget',
  },
  {
    name: 'host-nic/complete-with-work-left',
    description: 'Every poll completes NAPI and unmasks, even when it used its budget and frames remain: they are stranded with no interrupt coming.',
    entry: e,
    machine: base.provide({ guards: { pollEmpties: () => true } }) as AnyStateMachine,
    caughtBy: 'host-nic/no-stranded-frame',
  },
  {
    name: 'host-nic/complete-keeps-mask',
    description: 'napi_complete_done forgets to unmask the interrupt.',
    entry: e,
    machine: base.provide({
      actions: {
        napiComplete: assign(({ context }: Args) => ({ stats: { ...context.stats, eocs: context.stats.eocs + 1 } })),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'invariant:one-eoc-per-napi-cycle',
  },
  {
    name: 'host-nic/first-arrival-leaves-timer-unarmed',
    description: 'The first completion after unmasking does not arm the rx-usecs timer.',
    entry: e,
    machine: base.provide({ actions: { startCoalescing: () => {} } } as never) as AnyStateMachine,
    caughtBy: 'invariant:unmasked-queue-is-coalescing',
  },
  {
    name: 'host-nic/tso-mss-ignores-headers',
    description: 'TSO cuts the payload into MTU-sized pieces, forgetting the 40 bytes of IPv4 and TCP headers, so segments exceed the MTU.',
    entry: e,
    machine: base.provide({
      actions: {
        segmentAndSend: enqueueActions(({ context, event, enqueue }: EnqArgs) => {
          if (event.type !== 'tx') return;
          const payload = event.frame.bytes - TSO_HEADER_BYTES;
          const n = Math.ceil(payload / context.p.mtu);
          for (let k = 0; k < n; k++) {
            const bytes = TSO_HEADER_BYTES + Math.min(context.p.mtu, payload - k * context.p.mtu);
            enqueue.emit({ type: 'wire.tx', now: event.now, frame: event.frame, segment: k, segments: n, bytes });
          }
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'host-nic/tso-segments-cover-frame',
  },
  {
    name: 'host-nic/oversize-sent-whole',
    description: 'A frame one byte over MTU + 14 is sent whole instead of segmented or dropped.',
    entry: e,
    machine: base.provide({
      guards: { fitsMtu: ({ context, event }: Args) => event.type === 'tx' && event.frame.bytes <= maxWireFrame(context.p) + 1 },
    } as never) as AnyStateMachine,
    caughtBy: 'host-nic/tso-segments-cover-frame',
  },
];
