/**
 * Shadow connection: the InfiniBand connection-management state of one shadow connection ID (CID)
 * on one host, as the VNET_Host_CA drives it for VNET+VTOE.
 *
 * Sources: dissertation §4.6.2 (the host connection agent creates shadow connections and hands out
 * CIDs), §5.3.1 with Figure 5.7 (REQ / REP / RTU handshake, DREQ / DREP teardown, time-wait, and the
 * queue-pair moves to READY_TO_RECEIVE, READY_TO_SEND and ERROR); protocol-notes.md §2 (Linux ib_cm
 * states, transitions, MAD retries, time-wait) and §3 (where the CM drives the QP).
 *
 * The first consumer call decides the side: `ca.connect` makes the CID active (client), `ca.listen`
 * passive (server). The passive CID stands for both the listener and the connection id Linux creates
 * on a REQ (one connection per CID, as VNET+VTOE maps one guest socket to one CID). A CID is used for
 * one connection: back in IDLE it refuses new connects and listens (the agent creates a new CID).
 *
 * REQ, REP and DREQ are retried by the MAD layer on `timer.response`, at most `maxCmRetries` times;
 * RTU, REJ, MRA and DREP are not retried, but answered again on a duplicate of what they answer.
 * Messages in a state where they mean nothing are dropped (no transition). Consumer calls in the
 * wrong state fail with EINVAL and change nothing.
 *
 * Queue-pair moves are emitted as `qp.modify {to, mask}` for the queue-pair machine, with the mask
 * of the attributes the CM knows at that moment. `qpOrder` chooses when: `linux` (cm.c / cma.c, the
 * legal order) or `dissertation` (§5.3.1 read literally: the active QP to RTR when the REQ is sent,
 * before the REP has told it the destination QPN, which verbs refuse).
 */
import { and, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, type ParamsOf } from './params.js';
import { QP_ATTR, requiredMask, type QpState } from './queue-pair.js';

export const params = {
  qpOrder: {
    kind: 'enum',
    default: 'linux',
    values: ['linux', 'dissertation'] as const,
    description:
      'When the QP is moved. linux: active INIT until the REP, then RTR and RTS before the RTU; passive RTR and RTS before the REP. dissertation: active RTR when the REQ is sent and RTS on the REP; passive RTR before the REP and RTS on the RTU; QP to ERROR on DREP.',
    source: '§5.3.1; protocol-notes.md §2 "Dissertation versus Linux", §3 "Where the CM drives the QP"',
  },
  maxCmRetries: {
    kind: 'number',
    default: 15,
    min: 0,
    max: 15,
    integer: true,
    unit: 'retries',
    description: 'MAD retries of a REQ, REP or DREQ before the CM reports an error (CMA_MAX_CM_RETRIES = 15; a 4-bit field).',
    source: 'protocol-notes.md §2 "Timers and owners" (cma.c)',
  },
  responseTimeoutNs: {
    kind: 'number',
    default: 4_096_000_000,
    min: 1,
    max: 1_000_000_000_000,
    integer: true,
    unit: 'ns',
    description: 'Time the MAD layer waits for an answer before retrying (CMA_CM_RESPONSE_TIMEOUT 20: 4096 ms).',
    source: 'protocol-notes.md §2 "Timers and owners"',
  },
  timeWaitNs: {
    kind: 'number',
    default: 64_000_000,
    min: 1,
    max: 1_000_000_000_000,
    integer: true,
    unit: 'ns',
    description: "Time-wait duration, ms(av.timeout): 64 ms for the path's typical ack-timeout exponent 14.",
    source: 'protocol-notes.md §2 "Timers and owners"',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('shadow-connection', params, input);
}

export type CmMessage = 'REQ' | 'REP' | 'RTU' | 'REJ' | 'MRA' | 'DREQ' | 'DREP';
/** ib_cm consumer events (`enum ib_cm_event_type`) this machine raises. */
export type CmEventName =
  | 'REQ_ERROR'
  | 'REQ_RECEIVED'
  | 'REP_ERROR'
  | 'REP_RECEIVED'
  | 'RTU_RECEIVED'
  | 'USER_ESTABLISHED'
  | 'DREQ_ERROR'
  | 'DREQ_RECEIVED'
  | 'DREP_RECEIVED'
  | 'TIMEWAIT_EXIT'
  | 'MRA_RECEIVED'
  | 'REJ_RECEIVED';
export type ConsumerCall = 'ca.connect' | 'ca.listen' | 'ca.accept' | 'ca.reject' | 'ca.mra' | 'ca.rtu' | 'ca.disconnect';

export type Event =
  /** ib_send_cm_req: active open (the REQ carries the socket id and receive credits, §5.3.1). */
  | { type: 'ca.connect' }
  /** ib_cm_listen: passive open on the service id. */
  | { type: 'ca.listen' }
  /** ib_send_cm_rep: the passive agent accepts the REQ. */
  | { type: 'ca.accept' }
  /** ib_send_cm_rej: refuse the REQ (passive) or give up after the REP (active, CONNECT_ERROR). */
  | { type: 'ca.reject' }
  /** ib_send_cm_mra: the passive agent needs more time before answering the REQ. */
  | { type: 'ca.mra' }
  /** The active agent finished with the REP: move the QP and send the RTU (ib_send_cm_rtu). */
  | { type: 'ca.rtu' }
  /** rdma_disconnect: a DREQ from ESTABLISHED, the DREP from DREQ_RCVD. */
  | { type: 'ca.disconnect' }
  /** A CM MAD from the peer. */
  | { type: 'cm.recv'; msg: CmMessage }
  /** The MAD layer's response timer for the outstanding REQ, REP or DREQ expired. */
  | { type: 'timer.response' }
  /** The time-wait timer expired. */
  | { type: 'timer.timewait' }
  /** The passive QP saw the first packet in RTR/RTS (IB_EVENT_COMM_EST, passed on by ib_cm_notify). */
  | { type: 'qp.comm-est' };

export type Emitted =
  | { type: 'cm.send'; msg: CmMessage; retry: boolean }
  | { type: 'qp.modify'; to: QpState; mask: number }
  | { type: 'cm.event'; name: CmEventName }
  | { type: 'cm.error'; call: ConsumerCall; reason: 'EINVAL' }
  | { type: 'timer.start'; timer: 'response' | 'timewait'; delayNs: number }
  | { type: 'timer.cancel'; timer: 'response' };

export type Role = 'none' | 'active' | 'passive';
/** The message the MAD layer retries, if any. */
export type Retried = 'REQ' | 'REP' | 'DREQ' | null;

export interface Context {
  readonly p: Params;
  role: Role;
  /** The CID has carried (or tried) a connection; back in IDLE it is finished. */
  used: boolean;
  outstanding: Retried;
  /** Retries spent on the outstanding message. */
  retries: number;
  /** QP state the machine has asked for with its `qp.modify` effects (INIT after rdma_create_qp). */
  qp: QpState;
  /** The peer's QPN, receive PSN and RDMA depth are known (from the REQ, or the REP). */
  peerKnown: boolean;
  everEstablished: boolean;
  timeWaitArmed: boolean;
  stats: {
    retries: number;
    dreqsSent: number;
    drepsSent: number;
    rejsSent: number;
    rejsReceived: number;
    timeouts: number;
    timewaitExits: number;
    simultaneousDisconnects: number;
    refusedCalls: number;
  };
}

function initialContext(p: Params): Context {
  return {
    p,
    role: 'none',
    used: false,
    outstanding: null,
    retries: 0,
    qp: 'INIT',
    peerKnown: false,
    everEstablished: false,
    timeWaitArmed: false,
    stats: {
      retries: 0,
      dreqsSent: 0,
      drepsSent: 0,
      rejsSent: 0,
      rejsReceived: 0,
      timeouts: 0,
      timewaitExits: 0,
      simultaneousDisconnects: 0,
      refusedCalls: 0,
    },
  };
}

/** Points in the handshake and teardown where the CM may move the QP. */
export type QpStep = 'reqSent' | 'repAccepted' | 'repReceived' | 'rtuReceived' | 'commEst' | 'dreqSent' | 'dreqAnswered' | 'drepReceived' | 'failed';

/** For each order and step, the QP states to move to, in order. ERR is skipped when already there. */
export type QpPlan = Readonly<Record<Params['qpOrder'], Readonly<Record<QpStep, readonly QpState[]>>>>;

export const QP_PLAN: QpPlan = {
  linux: {
    reqSent: [],
    repAccepted: ['RTR', 'RTS'],
    repReceived: ['RTR', 'RTS'],
    rtuReceived: [],
    commEst: [],
    dreqSent: ['ERR'],
    dreqAnswered: ['ERR'],
    drepReceived: ['ERR'],
    failed: ['ERR'],
  },
  dissertation: {
    reqSent: ['RTR'],
    repAccepted: ['RTR'],
    repReceived: ['RTS'],
    rtuReceived: ['RTS'],
    commEst: ['RTS'],
    dreqSent: [],
    dreqAnswered: ['ERR'],
    drepReceived: ['ERR'],
    failed: ['ERR'],
  },
};

/** The attribute mask the CM can give for a move, from what it knows at the time. */
export function maskFor(from: QpState, to: QpState, peerKnown: boolean): number {
  const full = requiredMask(from, to, 'RC');
  if (from === 'INIT' && to === 'RTR' && !peerKnown) {
    // Without the REP the destination QPN, receive PSN and responder depth are unknown.
    return full & ~(QP_ATTR.DEST_QPN | QP_ATTR.RQ_PSN | QP_ATTR.MAX_DEST_RD_ATOMIC);
  }
  return full;
}

/** The modifies a step of `plan` asks for from `c`, and the QP state that results (exported for mutants). */
export function qpMoves(plan: QpPlan, c: Context, step: QpStep): { modifies: Extract<Emitted, { type: 'qp.modify' }>[]; qp: QpState } {
  let qp = c.qp;
  const modifies: Extract<Emitted, { type: 'qp.modify' }>[] = [];
  for (const to of plan[c.p.qpOrder][step]) {
    if (to === 'ERR' && qp === 'ERR') continue;
    modifies.push({ type: 'qp.modify', to, mask: maskFor(qp, to, c.peerKnown) });
    qp = to;
  }
  return { modifies, qp };
}

const src = (source: string) => ({ source });
const recv = (msg: CmMessage) => ({ type: 'msgIs', params: { msg } }) as const;

export const shadowConnectionMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    msgIs: ({ event }, params: { msg: CmMessage }) => event.type === 'cm.recv' && event.msg === params.msg,
    fresh: ({ context }) => !context.used,
    retriesLeft: ({ context }) => context.retries < context.p.maxCmRetries,
    responsePending: ({ context }) => context.outstanding !== null,
    timeWaitArmed: ({ context }) => context.timeWaitArmed,
    isActive: ({ context }) => context.role === 'active',
  },
  actions: {
    becomeActive: enqueueActions(({ enqueue }) => enqueue.assign({ role: 'active', used: true })),
    becomePassive: enqueueActions(({ enqueue }) => enqueue.assign({ role: 'passive', used: true })),
    learnPeer: enqueueActions(({ enqueue }) => enqueue.assign({ peerKnown: true })),
    /** Send a message the MAD layer retries and arm its response timer. */
    sendRetried: enqueueActions(({ context, enqueue }, params: { msg: 'REQ' | 'REP' | 'DREQ' }) => {
      enqueue.emit({ type: 'cm.send', msg: params.msg, retry: false });
      enqueue.emit({ type: 'timer.start', timer: 'response', delayNs: context.p.responseTimeoutNs });
      enqueue.assign({
        outstanding: params.msg,
        retries: 0,
        stats: { ...context.stats, dreqsSent: context.stats.dreqsSent + (params.msg === 'DREQ' ? 1 : 0) },
      });
    }),
    resend: enqueueActions(({ context, enqueue }) => {
      if (!context.outstanding) return;
      enqueue.emit({ type: 'cm.send', msg: context.outstanding, retry: true });
      enqueue.emit({ type: 'timer.start', timer: 'response', delayNs: context.p.responseTimeoutNs });
      enqueue.assign({ retries: context.retries + 1, stats: { ...context.stats, retries: context.stats.retries + 1 } });
    }),
    /** The answer came (or the state was left): the MAD is cancelled, it raises no event. */
    cancelRetried: enqueueActions(({ context, enqueue }) => {
      if (!context.outstanding) return;
      enqueue.emit({ type: 'timer.cancel', timer: 'response' });
      enqueue.assign({ outstanding: null, retries: 0 });
    }),
    /** The last retry timed out: the MAD layer gives up. */
    giveUp: enqueueActions(({ context, enqueue }, params: { name: CmEventName }) => {
      enqueue.emit({ type: 'cm.event', name: params.name });
      enqueue.assign({ outstanding: null, retries: 0, stats: { ...context.stats, timeouts: context.stats.timeouts + 1 } });
    }),
    sendOnce: enqueueActions(({ context, enqueue }, params: { msg: 'RTU' | 'REJ' | 'MRA' | 'DREP' }) => {
      enqueue.emit({ type: 'cm.send', msg: params.msg, retry: false });
      if (params.msg === 'REJ') enqueue.assign({ stats: { ...context.stats, rejsSent: context.stats.rejsSent + 1 } });
    }),
    sendDrep: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'cm.send', msg: 'DREP', retry: false });
      enqueue.assign({ stats: { ...context.stats, drepsSent: context.stats.drepsSent + 1 } });
    }),
    raise: enqueueActions(({ enqueue }, params: { name: CmEventName }) => enqueue.emit({ type: 'cm.event', name: params.name })),
    /** A REJ arrived: tell the consumer and put the QP in ERROR. */
    rejReceived: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'cm.event', name: 'REJ_RECEIVED' });
      if (context.qp !== 'ERR') enqueue.emit({ type: 'qp.modify', to: 'ERR', mask: QP_ATTR.STATE });
      enqueue.assign({ qp: 'ERR', stats: { ...context.stats, rejsReceived: context.stats.rejsReceived + 1 } });
    }),
    qpStep: enqueueActions(({ context, enqueue }, params: { step: QpStep }) => {
      const { modifies, qp } = qpMoves(QP_PLAN, context, params.step);
      for (const m of modifies) enqueue.emit(m);
      enqueue.assign({ qp });
    }),
    established: enqueueActions(({ enqueue }) => enqueue.assign({ everEstablished: true })),
    noteSimultaneous: enqueueActions(({ context, enqueue }) =>
      enqueue.assign({ stats: { ...context.stats, simultaneousDisconnects: context.stats.simultaneousDisconnects + 1 } }),
    ),
    armTimeWait: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'timer.start', timer: 'timewait', delayNs: context.p.timeWaitNs });
      enqueue.assign({ timeWaitArmed: true });
    }),
    timeWaitExit: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'cm.event', name: 'TIMEWAIT_EXIT' });
      enqueue.assign({ timeWaitArmed: false, stats: { ...context.stats, timewaitExits: context.stats.timewaitExits + 1 } });
    }),
    refuseCall: enqueueActions(({ context, event, enqueue }) => {
      if (!event.type.startsWith('ca.')) return;
      enqueue.emit({ type: 'cm.error', call: event.type as ConsumerCall, reason: 'EINVAL' });
      enqueue.assign({ stats: { ...context.stats, refusedCalls: context.stats.refusedCalls + 1 } });
    }),
  },
}).createMachine({
  id: 'shadow-connection',
  description: 'IB connection management of one shadow CID: handshake, teardown, retries and time-wait, driving its QP.',
  meta: src('§5.3.1 Figure 5.7; protocol-notes.md §2'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'IDLE',
  states: {
    IDLE: {
      description: 'No connection. A fresh CID may connect or listen; a CID whose connection ended is finished.',
      meta: src('protocol-notes.md §2 (IB_CM_IDLE)'),
      on: {
        'ca.connect': {
          guard: 'fresh',
          target: 'REQ_SENT',
          actions: ['becomeActive', { type: 'sendRetried', params: { msg: 'REQ' } }, { type: 'qpStep', params: { step: 'reqSent' } }],
          description: 'Active open: send the REQ (retried by the MAD layer). The dissertation also moves the QP to RTR here.',
          meta: src('§5.3.1 "Connection Establishment"; protocol-notes.md §2 (ib_send_cm_req)'),
        },
        'ca.listen': {
          guard: 'fresh',
          target: 'LISTEN',
          actions: 'becomePassive',
          description: 'Passive open: listen on the service id.',
          meta: src('§5.3.1 (client/server mode); protocol-notes.md §2 (ib_cm_listen)'),
        },
      },
    },
    LISTEN: {
      description: 'Passive side waiting for a REQ with its service id.',
      meta: src('§5.3.1; protocol-notes.md §2 (IB_CM_LISTEN)'),
      on: {
        'cm.recv': {
          guard: recv('REQ'),
          target: 'REQ_RCVD',
          actions: ['learnPeer', { type: 'raise', params: { name: 'REQ_RECEIVED' } }],
          description: 'A REQ arrives: the connection takes over this CID and the consumer gets REQ_RECEIVED (the agent turns it into CONNECT_REQUEST).',
          meta: src('§5.3.1 "The process is similar on passive opens"; protocol-notes.md §2 (REQ at a listener)'),
        },
      },
    },
    REQ_SENT: {
      description: 'Active side: REQ sent, waiting for the REP (the dissertation\'s IB_REQ_SENT).',
      meta: src('§5.3.1 Figure 5.7(a); protocol-notes.md §2'),
      on: {
        'cm.recv': [
          {
            guard: recv('REP'),
            target: 'REP_RCVD',
            actions: ['cancelRetried', 'learnPeer', { type: 'raise', params: { name: 'REP_RECEIVED' } }],
            description: 'The REP arrives: the REQ MAD is cancelled and the consumer gets REP_RECEIVED.',
            meta: src('§5.3.1; protocol-notes.md §2 (REQ_SENT + REP)'),
          },
          {
            guard: recv('MRA'),
            target: 'MRA_REQ_RCVD',
            actions: { type: 'raise', params: { name: 'MRA_RECEIVED' } },
            description: 'The peer asks for more time (MRA): the REQ timeout is extended.',
            meta: src('protocol-notes.md §2 (REQ_SENT + MRA)'),
          },
          {
            guard: recv('REJ'),
            target: 'IDLE',
            actions: ['cancelRetried', 'rejReceived'],
            description: 'The peer rejects the connection (no listener, stale, consumer reject).',
            meta: src('protocol-notes.md §2 (REJ in REQ_SENT)'),
          },
        ],
        'timer.response': [
          {
            guard: 'retriesLeft',
            actions: 'resend',
            description: 'No answer in time: the MAD layer sends the REQ again.',
            meta: src('protocol-notes.md §2 "Timers and owners"'),
          },
          {
            target: 'IDLE',
            actions: [{ type: 'giveUp', params: { name: 'REQ_ERROR' } }, { type: 'qpStep', params: { step: 'failed' } }],
            description: 'The last retry timed out: REQ_ERROR (the agent reports UNREACHABLE); the QP is put in ERROR.',
            meta: src('protocol-notes.md §2 (REQ retries exhausted)'),
          },
        ],
      },
    },
    MRA_REQ_RCVD: {
      description: 'Active side: the peer sent an MRA for the REQ; still waiting for the REP, with a longer timeout.',
      meta: src('protocol-notes.md §2 (IB_CM_MRA_REQ_RCVD)'),
      on: {
        'cm.recv': [
          {
            guard: recv('REP'),
            target: 'REP_RCVD',
            actions: ['cancelRetried', 'learnPeer', { type: 'raise', params: { name: 'REP_RECEIVED' } }],
            description: 'The REP arrives after the MRA.',
            meta: src('protocol-notes.md §2 (MRA_REQ_RCVD + REP)'),
          },
          {
            guard: recv('REJ'),
            target: 'IDLE',
            actions: ['cancelRetried', 'rejReceived'],
            description: 'The peer rejects the connection after its MRA.',
            meta: src('protocol-notes.md §2 (REJ in MRA_REQ_RCVD)'),
          },
        ],
        'timer.response': [
          {
            guard: 'retriesLeft',
            actions: 'resend',
            description: 'The extended timeout expired: the REQ is sent again.',
            meta: src('protocol-notes.md §2 "Timers and owners" (MRA extension)'),
          },
          {
            target: 'IDLE',
            actions: [{ type: 'giveUp', params: { name: 'REQ_ERROR' } }, { type: 'qpStep', params: { step: 'failed' } }],
            description: 'Retries exhausted after the MRA: REQ_ERROR.',
            meta: src('protocol-notes.md §2 (REQ retries exhausted)'),
          },
        ],
      },
    },
    REP_RCVD: {
      description: 'Active side: the REP arrived; the agent moves the QP and sends the RTU (IB_REP_RECEIVED).',
      meta: src('§5.3.1 Figure 5.7(a); protocol-notes.md §2'),
      on: {
        'ca.rtu': {
          target: 'ESTABLISHED',
          actions: [{ type: 'qpStep', params: { step: 'repReceived' } }, { type: 'sendOnce', params: { msg: 'RTU' } }, 'established'],
          description: 'The agent sets the QP ready to send (linux: RTR then RTS) and sends the RTU; the connection is established.',
          meta: src('§5.3.1 "sets the queue pair to READY_TO_SEND state, sends an IB_RTU"; protocol-notes.md §3'),
        },
        'ca.reject': {
          target: 'IDLE',
          actions: [{ type: 'sendOnce', params: { msg: 'REJ' } }, { type: 'qpStep', params: { step: 'failed' } }],
          description: 'The agent cannot finish the connection (CONNECT_ERROR): it sends a REJ and puts the QP in ERROR.',
          meta: src('protocol-notes.md §2 (ib_send_cm_rej), §4 (CONNECT_ERROR)'),
        },
        'cm.recv': {
          guard: recv('REJ'),
          target: 'TIMEWAIT',
          actions: ['rejReceived', 'armTimeWait'],
          description: 'A REJ after the REP: the connection goes to time-wait.',
          meta: src('protocol-notes.md §2 (REJ in REP_RCVD)'),
        },
      },
    },
    REQ_RCVD: {
      description: 'Passive side: REQ received, the agent has not answered yet.',
      meta: src('protocol-notes.md §2 (IB_CM_REQ_RCVD)'),
      on: {
        'ca.accept': {
          target: 'REP_SENT',
          actions: [{ type: 'qpStep', params: { step: 'repAccepted' } }, { type: 'sendRetried', params: { msg: 'REP' } }],
          description: 'The agent accepts: the QP is readied (linux: RTR and RTS; dissertation: RTR) and the REP is sent.',
          meta: src('§5.3.1 "initializes the underlying queue pair, and sends IB_REP"; protocol-notes.md §3'),
        },
        'ca.mra': {
          target: 'MRA_REQ_SENT',
          actions: { type: 'sendOnce', params: { msg: 'MRA' } },
          description: 'The agent needs more time (the guest has not accepted yet): send an MRA.',
          meta: src('protocol-notes.md §2 (ib_send_cm_mra)'),
        },
        'ca.reject': {
          target: 'IDLE',
          actions: [{ type: 'sendOnce', params: { msg: 'REJ' } }, { type: 'qpStep', params: { step: 'failed' } }],
          description: 'The agent refuses the REQ: REJ (consumer reject).',
          meta: src('protocol-notes.md §2 (ib_send_cm_rej)'),
        },
        'cm.recv': {
          guard: recv('REJ'),
          target: 'IDLE',
          actions: 'rejReceived',
          description: 'The active side gave up (its REQ timed out, it destroyed its id) and rejected.',
          meta: src('protocol-notes.md §2 (REJ in REQ_RCVD)'),
        },
      },
    },
    MRA_REQ_SENT: {
      description: 'Passive side: MRA sent for the REQ; the agent still has to answer.',
      meta: src('protocol-notes.md §2 (IB_CM_MRA_REQ_SENT)'),
      on: {
        'ca.accept': {
          target: 'REP_SENT',
          actions: [{ type: 'qpStep', params: { step: 'repAccepted' } }, { type: 'sendRetried', params: { msg: 'REP' } }],
          description: 'The agent accepts after its MRA: QP readied, REP sent.',
          meta: src('protocol-notes.md §2 (MRA_REQ_SENT + ib_send_cm_rep)'),
        },
        'ca.reject': {
          target: 'IDLE',
          actions: [{ type: 'sendOnce', params: { msg: 'REJ' } }, { type: 'qpStep', params: { step: 'failed' } }],
          description: 'The agent refuses after its MRA.',
          meta: src('protocol-notes.md §2 (ib_send_cm_rej)'),
        },
        'cm.recv': [
          {
            guard: recv('REQ'),
            actions: { type: 'sendOnce', params: { msg: 'MRA' } },
            description: 'A duplicate REQ (the MRA was lost): the MRA is sent again.',
            meta: src('protocol-notes.md §2 "Timers and owners" (duplicates re-answered)'),
          },
          {
            guard: recv('REJ'),
            target: 'IDLE',
            actions: 'rejReceived',
            description: 'The active side gave up and rejected.',
            meta: src('protocol-notes.md §2 (REJ in MRA_REQ_SENT)'),
          },
        ],
      },
    },
    REP_SENT: {
      description: 'Passive side: REP sent, waiting for the RTU.',
      meta: src('§5.3.1; protocol-notes.md §2 (IB_CM_REP_SENT)'),
      on: {
        'cm.recv': [
          {
            guard: recv('RTU'),
            target: 'ESTABLISHED',
            actions: ['cancelRetried', { type: 'qpStep', params: { step: 'rtuReceived' } }, 'established', { type: 'raise', params: { name: 'RTU_RECEIVED' } }],
            description: 'The RTU arrives: established (the dissertation sets the QP ready to send only now); the agent delivers ESTABLISHED.',
            meta: src('§5.3.1 "sets the queue pair to READY_TO_SEND ... on the receipt of an IB_RTU"; protocol-notes.md §2'),
          },
          {
            guard: recv('REJ'),
            target: 'IDLE',
            actions: ['cancelRetried', 'rejReceived'],
            description: 'The active side could not finish (CONNECT_ERROR there) and rejected.',
            meta: src('protocol-notes.md §2 (REJ in REP_SENT)'),
          },
          {
            guard: recv('DREQ'),
            target: 'DREQ_RCVD',
            actions: ['cancelRetried', { type: 'raise', params: { name: 'DREQ_RECEIVED' } }],
            description: 'The RTU was lost and the peer already disconnects: DREQ_RCVD without ever being established.',
            meta: src('protocol-notes.md §2 (REP_SENT + DREQ; invariant 6)'),
          },
        ],
        'qp.comm-est': {
          target: 'ESTABLISHED',
          actions: ['cancelRetried', { type: 'qpStep', params: { step: 'commEst' } }, 'established', { type: 'raise', params: { name: 'USER_ESTABLISHED' } }],
          description: 'Data reached the QP before the RTU (COMM_EST): the agent calls ib_cm_notify and the connection is established.',
          meta: src('protocol-notes.md §2 "Normal life" (ib_cm_notify), §3 (COMM_EST)'),
        },
        'timer.response': [
          {
            guard: 'retriesLeft',
            actions: 'resend',
            description: 'No RTU in time: the REP is sent again.',
            meta: src('protocol-notes.md §2 "Timers and owners"'),
          },
          {
            target: 'IDLE',
            actions: [{ type: 'giveUp', params: { name: 'REP_ERROR' } }, { type: 'qpStep', params: { step: 'failed' } }],
            description: 'No RTU after the last retry: REP_ERROR (the agent reports UNREACHABLE).',
            meta: src('protocol-notes.md §2 (REP retries exhausted), §4'),
          },
        ],
      },
    },
    ESTABLISHED: {
      description: 'Connected: the QP carries the guest\'s data (IB_ESTABLISHED).',
      meta: src('§5.3.1 Figure 5.7; protocol-notes.md §2'),
      on: {
        'ca.disconnect': {
          target: 'DREQ_SENT',
          actions: [{ type: 'qpStep', params: { step: 'dreqSent' } }, { type: 'sendRetried', params: { msg: 'DREQ' } }],
          description: 'The guest\'s LAST-ACK side disconnects: send the DREQ (linux puts the QP in ERROR first).',
          meta: src('§5.3.1 "Connection Termination"; protocol-notes.md §4 (rdma_disconnect)'),
        },
        'cm.recv': [
          {
            guard: recv('DREQ'),
            target: 'DREQ_RCVD',
            actions: { type: 'raise', params: { name: 'DREQ_RECEIVED' } },
            description: 'The peer disconnects: DREQ_RCVD; the agent delivers the incoming data and DISCONNECTED.',
            meta: src('§5.3.1 "the active-closing shadow CID transits to state DREQ_RCVD"'),
          },
          {
            guard: and([recv('REP'), 'isActive']),
            actions: { type: 'sendOnce', params: { msg: 'RTU' } },
            description: 'A duplicate REP (the RTU was lost): the RTU is sent again.',
            meta: src('protocol-notes.md §2 "Timers and owners" (duplicates re-answered)'),
          },
          {
            guard: recv('REJ'),
            target: 'TIMEWAIT',
            actions: ['rejReceived', 'armTimeWait'],
            description: 'A REJ on an established connection: time-wait.',
            meta: src('protocol-notes.md §2 (REJ in ESTABLISHED)'),
          },
        ],
      },
    },
    DREQ_SENT: {
      description: 'DREQ sent, waiting for the DREP (IB_DREQ_SENT).',
      meta: src('§5.3.1 Figure 5.7(b); protocol-notes.md §2'),
      on: {
        'cm.recv': [
          {
            guard: recv('DREP'),
            target: 'TIMEWAIT',
            actions: ['cancelRetried', { type: 'qpStep', params: { step: 'drepReceived' } }, { type: 'raise', params: { name: 'DREP_RECEIVED' } }, 'armTimeWait'],
            description: 'The DREP arrives: QP to ERROR (dissertation: only now) and time-wait.',
            meta: src('§5.3.1 "Upon receiving IB_DREP ... changes queue pair state to ERROR, and transitions to state IB_TIME_WAIT"'),
          },
          {
            guard: recv('DREQ'),
            target: 'DREQ_RCVD',
            actions: ['cancelRetried', 'noteSimultaneous', { type: 'raise', params: { name: 'DREQ_RECEIVED' } }],
            description: 'Simultaneous disconnect: the peer\'s DREQ crosses ours; answer it like any DREQ.',
            meta: src('protocol-notes.md §2 (DREQ_SENT + DREQ)'),
          },
          {
            guard: recv('REJ'),
            target: 'TIMEWAIT',
            actions: ['cancelRetried', 'rejReceived', 'armTimeWait'],
            description: 'A REJ while disconnecting: time-wait.',
            meta: src('protocol-notes.md §2 (REJ in DREQ_SENT)'),
          },
        ],
        'timer.response': [
          {
            guard: 'retriesLeft',
            actions: 'resend',
            description: 'No DREP in time: the DREQ is sent again.',
            meta: src('protocol-notes.md §2 "Timers and owners"'),
          },
          {
            target: 'TIMEWAIT',
            actions: [{ type: 'giveUp', params: { name: 'DREQ_ERROR' } }, { type: 'qpStep', params: { step: 'failed' } }, 'armTimeWait'],
            description: 'No DREP after the last retry: DREQ_ERROR (DISCONNECTED with ETIMEDOUT) and time-wait.',
            meta: src('protocol-notes.md §2 (DREQ retries exhausted)'),
          },
        ],
      },
    },
    DREQ_RCVD: {
      description: 'The peer\'s DREQ arrived; the agent drains incoming data before answering (DREQ_RCVD).',
      meta: src('§5.3.1 Figure 5.7(b); protocol-notes.md §2'),
      on: {
        'ca.disconnect': {
          target: 'TIMEWAIT',
          actions: [{ type: 'qpStep', params: { step: 'dreqAnswered' } }, 'sendDrep', 'armTimeWait'],
          description: 'The agent puts the QP in ERROR, sends the DREP and enters time-wait.',
          meta: src('§5.3.1 "changes queue pair state to ERROR, sends an IB disconnection reply ... IB_TIME_WAIT"'),
        },
      },
    },
    TIMEWAIT: {
      description: 'Time-wait: stray packets of the old connection die out; left only by the timer (IB_TIME_WAIT).',
      meta: src('§5.3.1 "timeouts are used to transition from time wait to idle"; protocol-notes.md §2 invariant 3'),
      on: {
        'timer.timewait': {
          guard: 'timeWaitArmed',
          target: 'IDLE',
          actions: 'timeWaitExit',
          description: 'The time-wait timer expires: TIMEWAIT_EXIT, back to IDLE.',
          meta: src('protocol-notes.md §2 (TIMEWAIT + timer)'),
        },
        'cm.recv': {
          guard: recv('DREQ'),
          actions: 'sendDrep',
          description: 'A duplicate DREQ (our DREP was lost): the DREP is sent again.',
          meta: src('protocol-notes.md §2 (TIMEWAIT + duplicate DREQ)'),
        },
      },
    },
  },
  on: {
    'ca.connect': { actions: 'refuseCall', description: 'connect outside a fresh IDLE: EINVAL.', meta: src('protocol-notes.md §2 ("a call in the wrong state returns -EINVAL")') },
    'ca.listen': { actions: 'refuseCall', description: 'listen outside a fresh IDLE: EINVAL.', meta: src('protocol-notes.md §2') },
    'ca.accept': { actions: 'refuseCall', description: 'accept without a pending REQ: EINVAL.', meta: src('protocol-notes.md §2') },
    'ca.reject': { actions: 'refuseCall', description: 'reject with nothing to reject: EINVAL.', meta: src('protocol-notes.md §2') },
    'ca.mra': { actions: 'refuseCall', description: 'MRA with no REQ to delay: EINVAL.', meta: src('protocol-notes.md §2') },
    'ca.rtu': { actions: 'refuseCall', description: 'RTU without a REP: EINVAL.', meta: src('protocol-notes.md §2') },
    'ca.disconnect': { actions: 'refuseCall', description: 'disconnect outside ESTABLISHED and DREQ_RCVD: EINVAL.', meta: src('protocol-notes.md §2, §4 (rdma_disconnect)') },
  },
});

export type ShadowConnectionMachine = typeof shadowConnectionMachine;
type Snap = SnapshotFrom<ShadowConnectionMachine>;
export type State = keyof typeof shadowConnectionMachine.config.states;
const at = (s: Snap) => s.value as string;

/** The state that posted each retried message. */
const POSTED_IN: Readonly<Record<'REQ' | 'REP' | 'DREQ', readonly string[]>> = {
  REQ: ['REQ_SENT', 'MRA_REQ_RCVD'],
  REP: ['REP_SENT'],
  DREQ: ['DREQ_SENT'],
};

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'one-retried-message-in-its-state',
    description:
      'At most one retried MAD (REQ, REP or DREQ) is outstanding, only in the state that posted it (it is cancelled on every exit), and it has been retried at most maxCmRetries times.',
    source: 'protocol-notes.md §2 invariant 2, "Timers and owners"',
    check: (s) => {
      const c = s.context;
      const expected = (Object.keys(POSTED_IN) as ('REQ' | 'REP' | 'DREQ')[]).find((m) => POSTED_IN[m].includes(at(s))) ?? null;
      if (c.outstanding !== expected) return `in ${at(s)} the outstanding message is ${c.outstanding ?? 'none'}, expected ${expected ?? 'none'}`;
      if (c.retries > c.p.maxCmRetries) return `${c.retries} retries with maxCmRetries = ${c.p.maxCmRetries}`;
      return undefined;
    },
    witness: { name: 'message-retried', description: 'A REQ, REP or DREQ is sometimes sent again after a timeout.', reached: (s) => s.context.stats.retries > 0 },
  },
  {
    name: 'established-with-qp-in-rts',
    description: 'The CM is ESTABLISHED only with its QP in RTS (as the machine asked for it): the QP is ready to send before the agent reports the connection.',
    source: 'protocol-notes.md §3 invariants 2 and 5',
    check: (s) => (at(s) === 'ESTABLISHED' && s.context.qp !== 'RTS' ? `ESTABLISHED with the QP in ${s.context.qp}` : undefined),
    witness: { name: 'established', description: 'The connection is sometimes established.', reached: (s) => at(s) === 'ESTABLISHED' },
  },
  {
    name: 'dreq-only-after-established',
    description: 'A DREQ is only ever sent by a connection that was established.',
    source: 'protocol-notes.md §2 invariant 6',
    check: (s) => (s.context.stats.dreqsSent > 0 && !s.context.everEstablished ? 'a DREQ was sent by a connection never established' : undefined),
    witness: {
      name: 'simultaneous-disconnect',
      description: 'Both sides sometimes disconnect at once (DREQ_SENT receives a DREQ).',
      reached: (s) => s.context.stats.simultaneousDisconnects > 0,
    },
  },
  {
    name: 'timewait-has-its-timer',
    description: 'In TIMEWAIT the time-wait timer is armed: time-wait always ends.',
    source: 'protocol-notes.md §2 invariant 3',
    check: (s) => (at(s) === 'TIMEWAIT' && !s.context.timeWaitArmed ? 'TIMEWAIT with no time-wait timer armed' : undefined),
    witness: { name: 'timewait-exit', description: 'Time-wait sometimes ends by its timer.', reached: (s) => s.context.stats.timewaitExits > 0 },
  },
  {
    name: 'ended-connection-qp-in-error',
    description: 'Once a connection has ended (time-wait, or back in IDLE after use) its QP was put in ERROR: it never carries data again.',
    source: '§5.3.1; protocol-notes.md §3 invariant 4, §4 (REJ: QP -> ERR)',
    check: (s) => {
      const ended = at(s) === 'TIMEWAIT' || (at(s) === 'IDLE' && s.context.used);
      return ended && s.context.qp !== 'ERR' ? `${at(s)} after a connection with the QP in ${s.context.qp}` : undefined;
    },
    witness: { name: 'rejection-received', description: 'A connection is sometimes rejected by the peer.', reached: (s) => s.context.stats.rejsReceived > 0 },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  { name: 'request-timed-out', description: 'A message sometimes runs out of retries (REQ_ERROR, REP_ERROR or DREQ_ERROR).', reached: (s) => s.context.stats.timeouts > 0 },
  { name: 'rejection-sent', description: 'The agent sometimes rejects a connection.', reached: (s) => s.context.stats.rejsSent > 0 },
  { name: 'disconnect-before-rtu', description: 'The passive side sometimes receives a DREQ before the RTU.', reached: (s) => at(s) === 'DREQ_RCVD' && !s.context.everEstablished },
  { name: 'call-refused', description: 'A consumer call in the wrong state is sometimes refused.', reached: (s) => s.context.stats.refusedCalls > 0 },
];

const CALLS: readonly ConsumerCall[] = ['ca.connect', 'ca.listen', 'ca.accept', 'ca.reject', 'ca.mra', 'ca.rtu', 'ca.disconnect'];
const MESSAGES: readonly CmMessage[] = ['REQ', 'REP', 'RTU', 'REJ', 'MRA', 'DREQ', 'DREP'];

export function explorationEvents(s: Snap): Event[] {
  const ev: Event[] = CALLS.map((type) => ({ type }) as Event);
  for (const msg of MESSAGES) ev.push({ type: 'cm.recv', msg });
  ev.push({ type: 'timer.response' }, { type: 'timer.timewait' }, { type: 'qp.comm-est' });
  void s;
  return ev;
}

/** A finite key; retries past the budget are one value, so that a broken retry bound stays finite too. */
export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([s.value, c.role, c.used, c.outstanding, Math.min(c.retries, c.p.maxCmRetries + 1), c.qp, c.peerKnown, c.everEstablished, c.timeWaitArmed, c.stats.dreqsSent > 0]);
}

export const entry = defineEntry({
  id: 'shadow-connection',
  title: 'Shadow connection (IB connection management of one CID)',
  summary:
    'The host connection agent connects a shadow CID to its peer with the IB CM handshake: the active side sends a REQ, ' +
    'the passive side (listening on the service id) answers with a REP, possibly after an MRA asking for more time, and ' +
    'the active side completes with an RTU; either side may refuse with a REJ. REQ, REP and DREQ are retried by the MAD ' +
    'layer up to maxCmRetries times, after which the consumer gets REQ_ERROR, REP_ERROR or DREQ_ERROR. Teardown: the ' +
    'guest\'s second closer sends a DREQ, the peer answers with a DREP after draining, and both sides wait in TIMEWAIT until ' +
    'its timer expires; crossing DREQs (simultaneous disconnect) are each answered. The CID drives its queue pair with ' +
    'qp.modify effects. In the legal Linux order (default) the active QP stays in INIT until the REP has given it the ' +
    'destination QPN and PSN, then goes RTR and RTS before the RTU; the passive QP goes RTR and RTS before the REP. The ' +
    'dissertation (§5.3.1) moves the active QP to READY_TO_RECEIVE when the REQ is sent: with qpOrder = dissertation that ' +
    'INIT -> RTR modify lacks IB_QP_DEST_QPN, IB_QP_RQ_PSN and IB_QP_MAX_DEST_RD_ATOMIC, so a verbs QP refuses it (the ' +
    'pinned counterexample of the QP-legality property); the CM still believes the QP is ready.',
  source: ['§4.6.2', '§5.3.1 Figure 5.7', 'protocol-notes.md §2, §3', 'Linux cm.c, cma.c'],
  machine: shadowConnectionMachine,
  params,
  checkInput,
  samples: [
    { name: 'linux', input: { maxCmRetries: 1 } },
    { name: 'dissertation-no-retry', input: { maxCmRetries: 0, qpOrder: 'dissertation' } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'ca.connect', description: 'Agent: active open (ib_send_cm_req).' },
    { type: 'ca.listen', description: 'Agent: passive open (ib_cm_listen).' },
    { type: 'ca.accept', description: 'Agent: accept the REQ (ib_send_cm_rep).' },
    { type: 'ca.reject', description: 'Agent: refuse the connection (ib_send_cm_rej).' },
    { type: 'ca.mra', description: 'Agent: ask the peer for more time (ib_send_cm_mra).' },
    { type: 'ca.rtu', description: 'Agent: finish the active open after the REP (QP to RTS, ib_send_cm_rtu).' },
    { type: 'ca.disconnect', description: 'Agent: rdma_disconnect (DREQ from ESTABLISHED, DREP from DREQ_RCVD).' },
    { type: 'cm.recv', description: 'A CM message from the peer (`msg`: REQ, REP, RTU, REJ, MRA, DREQ, DREP).' },
    { type: 'timer.response', description: "The MAD layer's response timer expired." },
    { type: 'timer.timewait', description: 'The time-wait timer expired.' },
    { type: 'qp.comm-est', description: 'The passive QP received its first packet before the RTU (COMM_EST).' },
  ],
  emits: [
    { type: 'cm.send', description: 'Send a CM message to the peer (`retry` marks a MAD-layer retransmission).' },
    { type: 'qp.modify', description: 'ibv_modify_qp for the queue-pair machine, with the attribute mask the CM can give.' },
    { type: 'cm.event', description: 'ib_cm consumer event (the agent maps it to a VTOE event).' },
    { type: 'cm.error', description: 'A consumer call in the wrong state failed with EINVAL.' },
    { type: 'timer.start', description: 'Arm the response or time-wait timer for `delayNs`.' },
    { type: 'timer.cancel', description: 'Cancel the response timer (the answer came).' },
  ],
});
