/** Broken variants of the shadow connection, each with the property that must catch it. */
import { createMachine, enqueueActions, type AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import { entry, QP_PLAN, qpMoves, type Context, type QpPlan, type QpStep } from '../../machines/shadow-connection.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

/** The QP step action with another plan. */
const qpStepWith = (plan: QpPlan) =>
  enqueueActions(({ context, enqueue }: { context: Context; enqueue: { emit: (x: never) => void; assign: (x: never) => void } }, params: { step: QpStep }) => {
    const { modifies, qp } = qpMoves(plan, context, params.step);
    for (const m of modifies) enqueue.emit(m as never);
    enqueue.assign({ qp } as never);
  });

const rtsFirst: QpPlan = {
  ...QP_PLAN,
  linux: { ...QP_PLAN.linux, repAccepted: ['RTS', 'RTR'], repReceived: ['RTS', 'RTR'] },
};

// Structural change: a duplicate DREQ in TIMEWAIT ends time-wait at once (no configuration hook can
// express a new target, so the mutant is rebuilt from the machine's config and implementations).
const config = base.config as unknown as { states: Record<string, { on: Record<string, object> }> };
const timeWaitSkipped = createMachine(
  {
    ...config,
    states: {
      ...config.states,
      TIMEWAIT: {
        ...config.states.TIMEWAIT,
        on: { ...config.states.TIMEWAIT.on, 'cm.recv': { ...(config.states.TIMEWAIT.on['cm.recv'] as object), target: 'IDLE', actions: ['sendDrep', 'timeWaitExit'] } },
      },
    },
  } as never,
  base.implementations as never,
) as unknown as AnyStateMachine;

export const mutants: readonly Mutant[] = [
  {
    name: 'shadow-connection/rts-before-rtr',
    description: 'Linux order with the two ready moves swapped: the QP is modified INIT -> RTS before RTR, which verbs refuse.',
    entry: e,
    machine: base.provide({ actions: { qpStep: qpStepWith(rtsFirst) as never } }) as AnyStateMachine,
    caughtBy: 'shadow-connection/qp-modifies-are-legal',
  },
  {
    name: 'shadow-connection/timewait-left-on-duplicate-dreq',
    description: 'Time-wait is cut short: a duplicate DREQ in TIMEWAIT sends IDLE without waiting for the timer.',
    entry: e,
    machine: timeWaitSkipped,
    caughtBy: 'shadow-connection/timewait-left-only-by-timer',
  },
  {
    name: 'shadow-connection/dreq-without-drep',
    description: 'A received DREQ is never answered with a DREP (the peer retries until DREQ_ERROR).',
    entry: e,
    machine: base.provide({ actions: { sendDrep: () => {} } }) as AnyStateMachine,
    caughtBy: 'shadow-connection/dreq-answered-with-drep',
  },
  {
    name: 'shadow-connection/rej-ignored',
    description: 'A REJ ends the connection without telling the consumer or putting the QP in ERROR.',
    entry: e,
    machine: base.provide({ actions: { rejReceived: () => {} } }) as AnyStateMachine,
    caughtBy: 'invariant:ended-connection-qp-in-error',
  },
  {
    name: 'shadow-connection/retries-unbounded',
    description: 'The MAD layer retries a REQ, REP or DREQ for ever, whatever maxCmRetries says.',
    entry: e,
    machine: base.provide({ guards: { retriesLeft: () => true } }) as AnyStateMachine,
    caughtBy: 'invariant:one-retried-message-in-its-state',
  },
  {
    name: 'shadow-connection/mad-not-cancelled',
    description: 'The answered REQ, REP or DREQ stays outstanding at the MAD layer (its retries would continue).',
    entry: e,
    machine: base.provide({ actions: { cancelRetried: () => {} } }) as AnyStateMachine,
    caughtBy: 'invariant:one-retried-message-in-its-state',
  },
  {
    name: 'shadow-connection/timewait-timer-not-armed',
    description: 'TIMEWAIT is entered without arming its timer, so the CID never returns to IDLE.',
    entry: e,
    machine: base.provide({ actions: { armTimeWait: () => {} } }) as AnyStateMachine,
    caughtBy: 'invariant:timewait-has-its-timer',
  },
];
