/** Broken variants of the guest socket, each with the property that must catch it. */
import { createMachine, enqueueActions, type AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import { entry, type Context, type Event } from '../../machines/guest-socket.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

type Enqueue = { emit: (x: never) => void; assign: (x: never) => void };

// Structural change: a repeated peer FIN ends TIME-WAIT instead of restarting its timer (no
// implementation hook can add a target, so the mutant is rebuilt from config and implementations).
const config = base.config as unknown as { states: Record<string, { on: Record<string, object> }> };
const timeWaitCut = createMachine(
  {
    ...config,
    states: {
      ...config.states,
      'TIME-WAIT': {
        ...config.states['TIME-WAIT'],
        on: { ...config.states['TIME-WAIT'].on, 'vtoe.peer-fin': { ...(config.states['TIME-WAIT'].on['vtoe.peer-fin'] as object), target: 'CLOSED', actions: 'timeWaitOver' } },
      },
    },
  } as never,
  base.implementations as never,
) as unknown as AnyStateMachine;

/** A refusal that lets a send through: the data is posted whatever the state. */
const sendAlways = enqueueActions(({ event, enqueue }: { event: Event; enqueue: Enqueue }) => {
  if (event.type === 'app.send') enqueue.emit({ type: 'vtoe.send', bytes: event.bytes } as never);
  else enqueue.emit({ type: 'app.error', reason: 'EINVAL' } as never);
});

/** A refusal that answers a second close with a second FIN. */
const closeTwice = enqueueActions(({ context, event, enqueue }: { context: Context; event: Event; enqueue: Enqueue }) => {
  if (event.type === 'app.close' && context.finsPosted > 0) {
    enqueue.emit({ type: 'vtoe.disconnect' } as never);
    enqueue.assign({ finsPosted: context.finsPosted + 1 } as never);
  } else enqueue.emit({ type: 'app.error', reason: 'EINVAL' } as never);
});

export const mutants: readonly Mutant[] = [
  {
    name: 'guest-socket/time-wait-left-on-peer-fin',
    description: 'A repeated FIN in TIME-WAIT closes the socket instead of restarting the 2 MSL timer.',
    entry: e,
    machine: timeWaitCut,
    caughtBy: 'guest-socket/time-wait-left-only-by-timer',
  },
  {
    name: 'guest-socket/send-in-any-state',
    description: 'Data is posted to the VTOE even before the connection is established or after our close.',
    entry: e,
    machine: base.provide({ actions: { refuse: sendAlways as never } }) as AnyStateMachine,
    caughtBy: 'guest-socket/data-sent-only-when-open',
  },
  {
    name: 'guest-socket/second-fin-on-second-close',
    description: 'A second close posts the offloaded FIN again.',
    entry: e,
    machine: base.provide({ actions: { refuse: closeTwice as never } }) as AnyStateMachine,
    caughtBy: 'invariant:one-fin-per-connection',
  },
  {
    name: 'guest-socket/connect-error-not-reported',
    description: 'A failed connection attempt closes the socket without telling the application.',
    entry: e,
    machine: base.provide({ actions: { connectFailed: () => {} } }) as AnyStateMachine,
    caughtBy: 'guest-socket/failures-close-and-tell-the-app',
  },
  {
    name: 'guest-socket/device-removal-forgotten',
    description: 'DEVICE_REMOVAL closes the socket but the socket forgets it and the application is not told.',
    entry: e,
    machine: base.provide({ actions: { deviceRemoved: () => {} } }) as AnyStateMachine,
    caughtBy: 'guest-socket/failures-close-and-tell-the-app',
  },
  {
    name: 'guest-socket/time-wait-timer-not-armed',
    description: 'TIME-WAIT is entered without arming its timer, so the socket never closes.',
    entry: e,
    machine: base.provide({ actions: { armTimeWait: () => {} } }) as AnyStateMachine,
    caughtBy: 'invariant:time-wait-has-its-timer',
  },
  {
    name: 'guest-socket/accept-outlives-pending-connection',
    description: 'The accept of a pending connection is still recorded after it was established or failed.',
    entry: e,
    machine: base.provide({ actions: { clearAccepted: () => {} } }) as AnyStateMachine,
    caughtBy: 'invariant:accept-only-while-pending',
  },
];
