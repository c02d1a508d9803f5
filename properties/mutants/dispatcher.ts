/** Broken variants of the dispatcher, each with the property that must catch it. */
import { assign, enqueueActions, type AnyStateMachine } from 'xstate';
import { entry, isPolled, type Context, type Event } from '../../machines/dispatcher.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;
type Args = { context: Context; event: Event };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type EnqueueArgs = Args & { enqueue: any };

/**
 * A round that takes `take(backlog, quota)` packets from each NIC `polls` accepts and removes
 * `remove(taken)` of them from the backlog (full receive queues are left alone).
 */
function brokenRound(
  take: (backlog: number, quota: number) => number,
  remove: (taken: number) => number,
  polls: (c: Context, n: Context['nics'][number]) => boolean = (c, n) => isPolled(c.p, n),
) {
  return enqueueActions(({ context, event, enqueue }: EnqueueArgs) => {
    const t = (event as { thread: number }).thread;
    const nics = context.nics.map((n, i) => {
      if (!polls(context, n) || n.backlog === 0) return n;
      const k = take(n.backlog, context.p.quota);
      enqueue.emit({ type: 'dispatch', nic: i, packets: k, first: n.dispatched, context: 'thread', thread: t, now: event.now });
      return { ...n, backlog: n.backlog - remove(k), dispatched: n.dispatched + remove(k) };
    });
    enqueue.assign({ nics, threads: context.threads.map((x, i) => (i === t ? { ...x, lastWorkAt: event.now } : x)) });
  });
}

export const mutants: readonly Mutant[] = [
  {
    name: 'dispatcher/round-exceeds-quota',
    description: 'A thread round takes one packet more than the quota from a NIC whose backlog allows it.',
    entry: e,
    machine: base.provide({ actions: { runRound: brokenRound((b, q) => Math.min(b, q + 1), (k) => k) } } as never) as AnyStateMachine,
    caughtBy: 'dispatcher/thread-round-serves-every-polled-nic-within-quota',
  },
  {
    name: 'dispatcher/round-dispatches-without-taking',
    description: 'A thread round hands packets to the core but leaves them in the backlog, so the next poll dispatches them again.',
    entry: e,
    machine: base.provide({ actions: { runRound: brokenRound((b, q) => Math.min(b, q), () => 0) } } as never) as AnyStateMachine,
    caughtBy: 'dispatcher/each-packet-dispatched-once-in-queue-order',
  },
  {
    name: 'dispatcher/thread-forgets-to-wake',
    description: 'Events past a sleeping thread\'s wake time move the clock but do not wake the thread.',
    entry: e,
    machine: base.provide({ actions: { wakeDueThreads: assign(({ event }: Args) => ({ now: event.now })) } } as never) as AnyStateMachine,
    caughtBy: 'invariant:sleeping-thread-wakes-by-t-sleep',
  },
  {
    name: 'dispatcher/wakes-threads-early',
    description: 'Every event wakes every sleeping thread, as if each were a signal: timed sleeps end before T_sleep.',
    entry: e,
    machine: base.provide({
      actions: {
        wakeDueThreads: enqueueActions(({ context, event, enqueue }: EnqueueArgs) => {
          context.threads.forEach((t, i) => {
            if (t.asleepUntil !== null) enqueue.emit({ type: 'thread.woke', thread: i, at: t.asleepUntil, now: event.now });
          });
          enqueue.assign({ now: event.now, threads: context.threads.map((t) => ({ ...t, asleepUntil: null })) });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'dispatcher/sleeping-thread-wakes-at-its-time',
  },
  {
    name: 'dispatcher/exit-does-not-answer-ipi',
    description: 'An exit of the VM does not clear the outstanding IPI, so a receive queue that fills again is never signalled again.',
    entry: e,
    machine: base.provide({ actions: { noteVmExited: () => {} } } as never) as AnyStateMachine,
    caughtBy: 'dispatcher/full-receive-queue-forces-exit',
  },
  {
    name: 'dispatcher/kick-does-not-dispatch',
    description: 'The kick exit of a guest-driven NIC is taken but the dispatcher is not run, so its packets wait with no kick to come.',
    entry: e,
    machine: base.provide({
      actions: {
        dispatchOnKick: assign(({ context, event }: Args) => ({
          nics: context.nics.map((n, i) => (i === (event as { nic: number }).nic ? { ...n, kickPending: false } : n)),
        })),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'invariant:guest-driven-backlog-has-kick',
  },
  {
    name: 'dispatcher/threads-poll-guest-driven-nics',
    description: 'Threads and unrelated exits poll guest-driven NICs although pollGuestDriven is off (the original\'s behaviour under the dissertation\'s setting).',
    entry: e,
    machine: base.provide({
      guards: { roundFindsWork: ({ context }: Args) => context.nics.some((n) => n.backlog > 0) },
      actions: { runRound: brokenRound((b, q) => Math.min(b, q), (k) => k, () => true) },
    } as never) as AnyStateMachine,
    caughtBy: 'dispatcher/thread-round-serves-every-polled-nic-within-quota',
  },
  {
    name: 'dispatcher/yield-strategy-ignored',
    description: 'An idle thread always yields immediately, whatever the strategy, so timed and adaptive yield never sleep.',
    entry: e,
    machine: base.provide({ guards: { idleThreadSleeps: () => false } } as never) as AnyStateMachine,
    caughtBy: 'dispatcher/idle-round-follows-yield-strategy',
  },
];
