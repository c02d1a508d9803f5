/**
 * InfiniBand queue pair (verbs): the seven QP states, the legal modify transitions, work requests,
 * completions, receiver-not-ready retries and the flush on error.
 *
 * Sources: dissertation §5.3.1 (the shadow connection's QP is moved to READY_TO_RECEIVE, READY_TO_SEND
 * and ERROR during the handshake and teardown; data moves zero-copy through posted work requests);
 * protocol-notes.md §3 (Linux verbs.c `qp_state_table` and `ib_modify_qp_is_ok`, `ibv_modify_qp(3)`,
 * the IBA's hardware-driven moves).
 *
 * A `modify` is accepted only for a legal (from, to) pair of the verbs state table whose attribute
 * mask carries IB_QP_STATE and every attribute the transport requires for that step; otherwise it
 * fails with EINVAL and the QP stays where it is. Only the *required* attribute bits are checked:
 * the optional sets vary by transport and step and a device may refuse more, so a mask with extra
 * bits is accepted (a deliberate simplification).
 *
 * Reliable connected (RC) transport: a send work request goes on the wire in RTS and completes when
 * the peer acknowledges it; a peer with no receive posted answers with an RNR NAK, and the sender
 * retries after the RNR timer, up to `rnrRetry` times (7 = for ever, as in the IBA), then the QP goes
 * to ERR. UC and UD sends complete once transmitted and a send error moves the QP to SQE instead of
 * ERR. Entering ERR completes every outstanding work request with a flush error.
 */
import { and, assign, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, type ParamsOf } from './params.js';

export const QP_STATES = ['RESET', 'INIT', 'RTR', 'RTS', 'SQD', 'SQE', 'ERR'] as const;
export type QpState = (typeof QP_STATES)[number];

/** `qp_state_table` of verbs.c: the legal (from, to) pairs of a modify. */
export const LEGAL_MODIFY: Readonly<Record<QpState, readonly QpState[]>> = {
  RESET: ['RESET', 'INIT'],
  INIT: ['RESET', 'INIT', 'RTR', 'ERR'],
  RTR: ['RESET', 'RTS', 'ERR'],
  RTS: ['RESET', 'RTS', 'SQD', 'ERR'],
  SQD: ['RESET', 'RTS', 'SQD', 'ERR'],
  SQE: ['RESET', 'RTS', 'ERR'],
  ERR: ['RESET', 'ERR'],
};

/** Attribute mask bits (`IB_QP_*`, identical in libibverbs `IBV_QP_*`). */
export const QP_ATTR = {
  STATE: 1 << 0,
  CUR_STATE: 1 << 1,
  EN_SQD_ASYNC_NOTIFY: 1 << 2,
  ACCESS_FLAGS: 1 << 3,
  PKEY_INDEX: 1 << 4,
  PORT: 1 << 5,
  QKEY: 1 << 6,
  AV: 1 << 7,
  PATH_MTU: 1 << 8,
  TIMEOUT: 1 << 9,
  RETRY_CNT: 1 << 10,
  RNR_RETRY: 1 << 11,
  RQ_PSN: 1 << 12,
  MAX_QP_RD_ATOMIC: 1 << 13,
  MIN_RNR_TIMER: 1 << 15,
  SQ_PSN: 1 << 16,
  MAX_DEST_RD_ATOMIC: 1 << 17,
  DEST_QPN: 1 << 20,
} as const;

const A = QP_ATTR;
type Transport = 'RC' | 'UC' | 'UD';

/** Required attributes per connection-path step and transport (verbs.c; ibv_modify_qp(3)). */
export const REQUIRED_ATTRS: Readonly<Record<string, Readonly<Record<Transport, number>>>> = {
  'RESET>INIT': {
    RC: A.PKEY_INDEX | A.PORT | A.ACCESS_FLAGS,
    UC: A.PKEY_INDEX | A.PORT | A.ACCESS_FLAGS,
    UD: A.PKEY_INDEX | A.PORT | A.QKEY,
  },
  'INIT>RTR': {
    RC: A.AV | A.PATH_MTU | A.DEST_QPN | A.RQ_PSN | A.MAX_DEST_RD_ATOMIC | A.MIN_RNR_TIMER,
    UC: A.AV | A.PATH_MTU | A.DEST_QPN | A.RQ_PSN,
    UD: 0,
  },
  'RTR>RTS': {
    RC: A.TIMEOUT | A.RETRY_CNT | A.RNR_RETRY | A.SQ_PSN | A.MAX_QP_RD_ATOMIC,
    UC: A.SQ_PSN,
    UD: A.SQ_PSN,
  },
};

/** The mask a correct caller passes for a step (IB_QP_STATE plus the required attributes). */
export function requiredMask(from: QpState, to: QpState, transport: Transport): number {
  return A.STATE | (REQUIRED_ATTRS[`${from}>${to}`]?.[transport] ?? 0);
}

export const params = {
  transport: {
    kind: 'enum',
    default: 'RC',
    values: ['RC', 'UC', 'UD'] as const,
    description: 'QP transport service. Shadow connections use reliable connected (RC).',
    source: '§5.3.1; protocol-notes.md §3',
  },
  rnrRetry: {
    kind: 'number',
    default: 7,
    min: 0,
    max: 7,
    integer: true,
    unit: 'retries',
    description: 'RNR retry count (IB_QP_RNR_RETRY): how often an RNR NAK is retried before the QP fails; 7 means retry for ever.',
    source: 'ibv_modify_qp(3) rnr_retry; protocol-notes.md §3',
  },
  minRnrTimerNs: {
    kind: 'number',
    default: 10_000,
    min: 10,
    max: 655_360_000,
    integer: true,
    unit: 'ns',
    description: 'Delay before an RNR retry (IB_QP_MIN_RNR_TIMER, encoded 0.01 to 655 ms).',
    source: 'ibv_modify_qp(3) min_rnr_timer',
  },
  sqDepth: {
    kind: 'number',
    default: 128,
    min: 1,
    max: 65536,
    integer: true,
    unit: 'work requests',
    description: 'Send queue capacity; a post beyond it fails with ENOMEM.',
    source: 'ibv_create_qp(3) max_send_wr',
  },
  rqDepth: {
    kind: 'number',
    default: 128,
    min: 1,
    max: 65536,
    integer: true,
    unit: 'work requests',
    description: 'Receive queue capacity; a post beyond it fails with ENOMEM.',
    source: 'ibv_create_qp(3) max_recv_wr',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('queue-pair', params, input);
}

export interface WorkRequest {
  readonly id: number;
  readonly bytes: number;
}

export type CompletionStatus =
  | 'success'
  | 'flush-error'
  | 'rnr-retry-exceeded'
  | 'retry-exceeded'
  | 'local-length-error';

export interface Context {
  readonly p: Params;
  /** Send work requests posted and not completed, oldest first; `sent` once on the wire. */
  sq: { wr: WorkRequest; sent: boolean }[];
  /** Receive work requests posted and not completed, oldest first. */
  rq: WorkRequest[];
  /** RNR retries spent on the head send request. */
  rnrRetries: number;
  /** Waiting for the RNR timer before resending the head request. */
  rnrWaiting: boolean;
  stats: {
    postedSend: number;
    postedRecv: number;
    completedSend: number;
    completedRecv: number;
    flushed: number;
    /** Work requests dropped without a completion by a modify to RESET. */
    discardedSend: number;
    discardedRecv: number;
    rnrExceeded: number;
    rnrNaks: number;
    rnrRetries: number;
    illegalModifies: number;
    rejectedPosts: number;
    droppedIncoming: number;
  };
}

export type Event =
  /** ibv_modify_qp to state `to` with attribute mask `mask`. */
  | { type: 'modify'; to: QpState; mask: number }
  /** ibv_post_send of one work request. */
  | { type: 'post.send'; wr: WorkRequest }
  /** ibv_post_recv of one work request. */
  | { type: 'post.recv'; wr: WorkRequest }
  /** The peer acknowledged the oldest sent request (RC). */
  | { type: 'wire.ack' }
  /** The peer had no receive posted (RC receiver-not-ready NAK). */
  | { type: 'wire.rnr-nak' }
  /** The RNR timer expired: resend the head request. */
  | { type: 'rnr.timer' }
  /** A message from the peer arrives. */
  | { type: 'wire.receive'; bytes: number }
  /** The transport gave up on a send (retry count exceeded, port down): a completion error. */
  | { type: 'hw.send-error' };

export type Emitted =
  | { type: 'wire.send'; wr: WorkRequest }
  | { type: 'wire.ack' }
  | { type: 'wire.rnr-nak' }
  | { type: 'rnr.wait'; delayNs: number }
  | { type: 'cq.send'; wrId: number; status: CompletionStatus }
  | { type: 'cq.recv'; wrId: number; bytes: number; status: CompletionStatus }
  | { type: 'modify.applied'; from: QpState; to: QpState }
  | { type: 'modify.failed'; from: QpState; to: QpState; reason: string }
  | { type: 'post.failed'; queue: 'send' | 'recv'; wrId: number; reason: string }
  | { type: 'async.sq-drained' };

function initialContext(p: Params): Context {
  return {
    p,
    sq: [],
    rq: [],
    rnrRetries: 0,
    rnrWaiting: false,
    stats: {
      postedSend: 0,
      postedRecv: 0,
      completedSend: 0,
      completedRecv: 0,
      flushed: 0,
      discardedSend: 0,
      discardedRecv: 0,
      rnrExceeded: 0,
      rnrNaks: 0,
      rnrRetries: 0,
      illegalModifies: 0,
      rejectedPosts: 0,
      droppedIncoming: 0,
    },
  };
}

const src = (source: string) => ({ source });
const stateOf = (value: unknown) => value as QpState;

/** One modify transition per legal target from `from`, then the EINVAL fallback. */
// The transitions are built from the state table; xstate's config types cannot follow the
// parameterized guards through the spread, so the result is typed loosely here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function modifyTransitions(from: QpState): any {
  const legal = LEGAL_MODIFY[from].map((to) => ({
    guard: and([{ type: 'modifyTo', params: { to } }, { type: 'maskHasRequired', params: { from, to } }]),
    target: to === from ? undefined : `#queue-pair.${to}`,
    reenter: false,
    actions: [{ type: 'modifyApplied', params: { from, to } }, ...(to === 'ERR' && from !== 'ERR' ? ['flushAll'] : [])],
    description: `Legal modify ${from} -> ${to} with IB_QP_STATE and the attributes the transport requires for it.`,
    meta: src('protocol-notes.md §3 (verbs.c qp_state_table)'),
  }));
  return [
    ...legal,
    {
      actions: [{ type: 'rejectModify', params: { from } }],
      description: `Any other modify from ${from} (an illegal pair, or a missing required attribute) fails with EINVAL; the QP stays in ${from}.`,
      meta: src('protocol-notes.md §3 (ib_modify_qp_is_ok)'),
    },
  ];
}

export const queuePairMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    modifyTo: ({ event }, params: { to: QpState }) => event.type === 'modify' && event.to === params.to,
    maskHasRequired: ({ context, event }, params: { from: QpState; to: QpState }) => {
      if (event.type !== 'modify' || !Number.isInteger(event.mask)) return false;
      const need = requiredMask(params.from, params.to, context.p.transport);
      return (event.mask & need) === need;
    },
    sqHasRoom: ({ context }) => context.sq.length < context.p.sqDepth,
    rqHasRoom: ({ context }) => context.rq.length < context.p.rqDepth,
    isRc: ({ context }) => context.p.transport === 'RC',
    sentOutstanding: ({ context }) => context.sq.some((s) => s.sent),
    rnrRetriesLeft: ({ context }) => context.p.rnrRetry === 7 || context.rnrRetries < context.p.rnrRetry,
    rnrWaiting: ({ context }) => context.rnrWaiting,
    receivePosted: ({ context }) => context.rq.length > 0,
    receiveFits: ({ context, event }) => event.type === 'wire.receive' && context.rq.length > 0 && context.rq[0].bytes >= event.bytes,
    lastSentAcked: ({ context }) => context.sq.filter((s) => s.sent).length === 1 && !context.sq.some((s) => !s.sent),
  },
  actions: {
    modifyApplied: enqueueActions(({ enqueue }, params: { from: QpState; to: QpState }) => {
      enqueue.emit({ type: 'modify.applied', from: params.from, to: params.to });
    }),
    rejectModify: enqueueActions(({ context, event, enqueue }, params: { from: QpState }) => {
      if (event.type !== 'modify') return;
      const legal = (LEGAL_MODIFY[params.from] as readonly string[]).includes(event.to);
      enqueue.assign({ stats: { ...context.stats, illegalModifies: context.stats.illegalModifies + 1 } });
      enqueue.emit({
        type: 'modify.failed',
        from: params.from,
        to: event.to,
        reason: legal ? 'EINVAL: a required attribute is missing from the mask' : `EINVAL: ${params.from} -> ${String(event.to)} is not a legal transition`,
      });
    }),
    /** Post a send: on the wire at once in RTS unless an RNR back-off holds the queue. */
    postSend: enqueueActions(({ context, event, enqueue }, params: { transmit: boolean }) => {
      if (event.type !== 'post.send') return;
      const send = params.transmit && !context.rnrWaiting;
      if (send && context.p.transport !== 'RC') {
        // Unreliable transports complete a send once it is transmitted.
        enqueue.emit({ type: 'wire.send', wr: event.wr });
        enqueue.emit({ type: 'cq.send', wrId: event.wr.id, status: 'success' });
        enqueue.assign({
          stats: { ...context.stats, postedSend: context.stats.postedSend + 1, completedSend: context.stats.completedSend + 1 },
        });
        return;
      }
      enqueue.assign({
        sq: [...context.sq, { wr: event.wr, sent: send }],
        stats: { ...context.stats, postedSend: context.stats.postedSend + 1 },
      });
      if (send) enqueue.emit({ type: 'wire.send', wr: event.wr });
    }),
    postRecv: assign(({ context, event }) =>
      event.type === 'post.recv'
        ? { rq: [...context.rq, event.wr], stats: { ...context.stats, postedRecv: context.stats.postedRecv + 1 } }
        : {},
    ),
    rejectPost: enqueueActions(({ context, event, enqueue }, params: { reason: string }) => {
      if (event.type !== 'post.send' && event.type !== 'post.recv') return;
      enqueue.assign({ stats: { ...context.stats, rejectedPosts: context.stats.rejectedPosts + 1 } });
      enqueue.emit({ type: 'post.failed', queue: event.type === 'post.send' ? 'send' : 'recv', wrId: event.wr.id, reason: params.reason });
    }),
    /** Post in ERR: the request completes at once with a flush error. */
    flushPosted: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'post.send') {
        enqueue.assign({
          stats: { ...context.stats, postedSend: context.stats.postedSend + 1, completedSend: context.stats.completedSend + 1, flushed: context.stats.flushed + 1 },
        });
        enqueue.emit({ type: 'cq.send', wrId: event.wr.id, status: 'flush-error' });
      } else if (event.type === 'post.recv') {
        enqueue.assign({
          stats: { ...context.stats, postedRecv: context.stats.postedRecv + 1, completedRecv: context.stats.completedRecv + 1, flushed: context.stats.flushed + 1 },
        });
        enqueue.emit({ type: 'cq.recv', wrId: event.wr.id, bytes: 0, status: 'flush-error' });
      }
    }),
    ackHead: enqueueActions(({ context, enqueue }) => {
      const i = context.sq.findIndex((s) => s.sent);
      if (i < 0) return;
      const head = context.sq[i];
      enqueue.assign({
        sq: context.sq.filter((_, k) => k !== i),
        rnrRetries: 0,
        stats: { ...context.stats, completedSend: context.stats.completedSend + 1 },
      });
      enqueue.emit({ type: 'cq.send', wrId: head.wr.id, status: 'success' });
    }),
    startRnrWait: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({
        rnrWaiting: true,
        rnrRetries: context.rnrRetries + 1,
        stats: { ...context.stats, rnrNaks: context.stats.rnrNaks + 1, rnrRetries: context.stats.rnrRetries + 1 },
      });
      enqueue.emit({ type: 'rnr.wait', delayNs: context.p.minRnrTimerNs });
    }),
    /** Resend every request from the NAKed one on, in order (RC go-back-N). */
    resendFromHead: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ rnrWaiting: false, sq: context.sq.map((s) => ({ wr: s.wr, sent: true })) });
      for (const s of context.sq) enqueue.emit({ type: 'wire.send', wr: s.wr });
    }),
    /** Entering RTS (from SQD or SQE): transmit what was posted but held. */
    sendPending: enqueueActions(({ context, enqueue }) => {
      if (context.rnrWaiting) return;
      const held = context.sq.filter((s) => !s.sent);
      for (const s of held) enqueue.emit({ type: 'wire.send', wr: s.wr });
      if (context.p.transport === 'RC') {
        enqueue.assign({ sq: context.sq.map((s) => ({ wr: s.wr, sent: true })) });
      } else {
        for (const s of held) enqueue.emit({ type: 'cq.send', wrId: s.wr.id, status: 'success' });
        enqueue.assign({
          sq: context.sq.filter((s) => s.sent),
          stats: { ...context.stats, completedSend: context.stats.completedSend + held.length },
        });
      }
    }),
    /** Entering SQD with nothing on the wire: the send queue is drained at once. */
    sqDrainedIfIdle: enqueueActions(({ context, enqueue }) => {
      if (!context.sq.some((s) => s.sent)) enqueue.emit({ type: 'async.sq-drained' });
    }),
    /** Complete the head send request with an error status (then the QP enters ERR or SQE). */
    failHead: enqueueActions(({ context, enqueue }, params: { status: CompletionStatus }) => {
      const head = context.sq[0];
      if (!head) return;
      const rnr = params.status === 'rnr-retry-exceeded' ? 1 : 0;
      enqueue.assign({
        sq: context.sq.slice(1),
        stats: { ...context.stats, completedSend: context.stats.completedSend + 1, rnrExceeded: context.stats.rnrExceeded + rnr },
      });
      enqueue.emit({ type: 'cq.send', wrId: head.wr.id, status: params.status });
    }),
    /** Entering ERR: every outstanding work request completes with a flush error. */
    flushAll: enqueueActions(({ context, enqueue }) => {
      const n = context.sq.length + context.rq.length;
      for (const s of context.sq) enqueue.emit({ type: 'cq.send', wrId: s.wr.id, status: 'flush-error' });
      for (const r of context.rq) enqueue.emit({ type: 'cq.recv', wrId: r.id, bytes: 0, status: 'flush-error' });
      enqueue.assign({
        sq: [],
        rq: [],
        rnrWaiting: false,
        rnrRetries: 0,
        stats: {
          ...context.stats,
          completedSend: context.stats.completedSend + context.sq.length,
          completedRecv: context.stats.completedRecv + context.rq.length,
          flushed: context.stats.flushed + n,
        },
      });
    }),
    /** A reset QP forgets its queues without completions (ibv_modify_qp to RESET). */
    discardQueues: assign(({ context }) => ({
      sq: [],
      rq: [],
      rnrWaiting: false,
      rnrRetries: 0,
      stats: {
        ...context.stats,
        discardedSend: context.stats.discardedSend + context.sq.length,
        discardedRecv: context.stats.discardedRecv + context.rq.length,
      },
    })),
    deliverToHead: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'wire.receive') return;
      const head = context.rq[0];
      enqueue.assign({ rq: context.rq.slice(1), stats: { ...context.stats, completedRecv: context.stats.completedRecv + 1 } });
      enqueue.emit({ type: 'cq.recv', wrId: head.id, bytes: event.bytes, status: 'success' });
      if (context.p.transport === 'RC') enqueue.emit({ type: 'wire.ack' });
    }),
    failRecvHead: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'wire.receive') return;
      const head = context.rq[0];
      enqueue.assign({ rq: context.rq.slice(1), stats: { ...context.stats, completedRecv: context.stats.completedRecv + 1 } });
      enqueue.emit({ type: 'cq.recv', wrId: head.id, bytes: 0, status: 'local-length-error' });
    }),
    sendRnrNak: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ stats: { ...context.stats, droppedIncoming: context.stats.droppedIncoming + 1 } });
      enqueue.emit({ type: 'wire.rnr-nak' });
    }),
    dropIncoming: assign(({ context }) => ({ stats: { ...context.stats, droppedIncoming: context.stats.droppedIncoming + 1 } })),
    emitSqDrained: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'async.sq-drained' })),
  },
}).createMachine({
  id: 'queue-pair',
  description: 'An InfiniBand queue pair: states, modify rules, work requests and completions.',
  meta: src('§5.3.1; protocol-notes.md §3'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'RESET',
  states: {
    RESET: {
      description: 'Just created or reset: no work requests may be posted.',
      meta: src('protocol-notes.md §3'),
      entry: 'discardQueues',
      on: {
        modify: modifyTransitions('RESET'),
        'post.send': { actions: { type: 'rejectPost', params: { reason: 'EINVAL: QP in RESET' } }, description: 'Posting to a RESET QP fails.', meta: src('protocol-notes.md §3 invariant 3') },
        'post.recv': { actions: { type: 'rejectPost', params: { reason: 'EINVAL: QP in RESET' } }, description: 'Posting to a RESET QP fails.', meta: src('protocol-notes.md §3 invariant 3') },
        'wire.receive': { actions: 'dropIncoming', description: 'A RESET QP drops whatever arrives.', meta: src('protocol-notes.md §3 (medium)') },
      },
    },
    INIT: {
      description: 'Initialized (pkey, port, access): receives may be posted but nothing is received or sent yet.',
      meta: src('protocol-notes.md §3; §5.3.1'),
      on: {
        modify: modifyTransitions('INIT'),
        'post.send': { actions: { type: 'rejectPost', params: { reason: 'EINVAL: QP not ready to send' } }, description: 'Sends cannot be posted before RTS.', meta: src('protocol-notes.md §3 invariant 3') },
        'post.recv': [
          { guard: 'rqHasRoom', actions: 'postRecv', description: 'Post a receive buffer (the guest pre-posts before the connection is up).', meta: src('§5.3.1 "Reception"') },
          { actions: { type: 'rejectPost', params: { reason: 'ENOMEM: receive queue full' } }, description: 'Receive queue full.', meta: src('ibv_post_recv(3)') },
        ],
        'wire.receive': { actions: 'dropIncoming', description: 'An INIT QP does not receive yet.', meta: src('protocol-notes.md §3 (medium)') },
      },
    },
    RTR: {
      description: 'Ready to receive (the dissertation\'s READY_TO_RECEIVE): receives complete, nothing is sent.',
      meta: src('§5.3.1; protocol-notes.md §3'),
      on: {
        modify: modifyTransitions('RTR'),
        'post.send': { actions: { type: 'rejectPost', params: { reason: 'EINVAL: QP not ready to send' } }, description: 'Sends cannot be posted before RTS.', meta: src('protocol-notes.md §3 invariant 3') },
      },
    },
    RTS: {
      description: 'Ready to send (READY_TO_SEND): the connection carries data both ways.',
      meta: src('§5.3.1; protocol-notes.md §3'),
      entry: 'sendPending',
      on: {
        modify: modifyTransitions('RTS'),
        'post.send': [
          { guard: 'sqHasRoom', actions: { type: 'postSend', params: { transmit: true } }, description: 'Post a send; it goes on the wire at once (zero copy from the posted buffer).', meta: src('§5.3.1 "Transmission with zero overlay copy"') },
          { actions: { type: 'rejectPost', params: { reason: 'ENOMEM: send queue full' } }, description: 'Send queue full.', meta: src('ibv_post_send(3)') },
        ],
        'wire.rnr-nak': [
          { guard: and(['isRc', 'rnrRetriesLeft']), actions: 'startRnrWait', description: 'The peer had no receive posted: wait the RNR timer, then resend.', meta: src('IBA RNR NAK; ibv_modify_qp(3) rnr_retry') },
          { guard: 'isRc', target: 'ERR', actions: [{ type: 'failHead', params: { status: 'rnr-retry-exceeded' } }, 'flushAll'], description: 'RNR retries exhausted: the head request fails and the QP enters ERR, flushing the rest.', meta: src('protocol-notes.md §3 hardware-driven changes') },
        ],
        'rnr.timer': { guard: 'rnrWaiting', actions: 'resendFromHead', description: 'The RNR timer expired: resend from the NAKed request on.', meta: src('IBA RNR retry') },
        'hw.send-error': [
          { guard: 'isRc', target: 'ERR', actions: [{ type: 'failHead', params: { status: 'retry-exceeded' } }, 'flushAll'], description: 'Transport retries exceeded (link lost): the head request fails and the RC QP enters ERR, flushing the rest.', meta: src('protocol-notes.md §3 hardware-driven changes') },
          { target: 'SQE', description: 'A UC/UD send error moves the QP to SQE; receives keep working.', meta: src('protocol-notes.md §3 hardware-driven changes') },
        ],
      },
    },
    SQD: {
      description: 'Send queue drain: sends already on the wire complete, new ones wait for RTS.',
      meta: src('protocol-notes.md §3'),
      entry: 'sqDrainedIfIdle',
      on: {
        modify: modifyTransitions('SQD'),
        'post.send': [
          { guard: 'sqHasRoom', actions: { type: 'postSend', params: { transmit: false } }, description: 'Post a send; it is held until the QP returns to RTS.', meta: src('protocol-notes.md §3 (SQD)') },
          { actions: { type: 'rejectPost', params: { reason: 'ENOMEM: send queue full' } }, description: 'Send queue full.', meta: src('ibv_post_send(3)') },
        ],
        'wire.ack': [
          { guard: 'lastSentAcked', actions: ['ackHead', 'emitSqDrained'], description: 'The last outstanding send is acknowledged: the send queue is drained (SQ_DRAINED).', meta: src('protocol-notes.md §3 (SQD drained)') },
          { guard: 'sentOutstanding', actions: 'ackHead', description: 'A send on the wire is acknowledged while draining.', meta: src('protocol-notes.md §3 (SQD)') },
        ],
        'hw.send-error': { guard: 'isRc', target: 'ERR', actions: [{ type: 'failHead', params: { status: 'retry-exceeded' } }, 'flushAll'], description: 'A transport error while draining moves the RC QP to ERR.', meta: src('protocol-notes.md §3 hardware-driven changes') },
      },
    },
    SQE: {
      description: 'Send queue error (UC/UD only): sends stopped, receives still work; modify to RTS to resume.',
      meta: src('protocol-notes.md §3 hardware-driven changes'),
      on: {
        modify: modifyTransitions('SQE'),
        'post.send': [
          { guard: 'sqHasRoom', actions: { type: 'postSend', params: { transmit: false } }, description: 'Post a send; it is held until the QP returns to RTS.', meta: src('protocol-notes.md §3 (medium)') },
          { actions: { type: 'rejectPost', params: { reason: 'ENOMEM: send queue full' } }, description: 'Send queue full.', meta: src('ibv_post_send(3)') },
        ],
      },
    },
    ERR: {
      description: 'Error: every outstanding work request was completed with a flush error; posts complete with flush errors at once.',
      meta: src('§5.3.1 (QP to ERROR at teardown); protocol-notes.md §3'),
      on: {
        modify: modifyTransitions('ERR'),
        'post.send': { actions: 'flushPosted', description: 'A send posted in ERR completes at once with a flush error.', meta: src('protocol-notes.md §3 hardware-driven changes') },
        'post.recv': { actions: 'flushPosted', description: 'A receive posted in ERR completes at once with a flush error.', meta: src('protocol-notes.md §3 hardware-driven changes') },
        'wire.receive': { actions: 'dropIncoming', description: 'A QP in ERR never carries data again.', meta: src('protocol-notes.md §3 invariant 4') },
      },
    },
  },
  on: {
    'post.recv': [
      { guard: 'rqHasRoom', actions: 'postRecv', description: 'Post a receive buffer (RTR, RTS, SQD, SQE).', meta: src('§5.3.1 "Reception with zero overlay copy"') },
      { actions: { type: 'rejectPost', params: { reason: 'ENOMEM: receive queue full' } }, description: 'Receive queue full.', meta: src('ibv_post_recv(3)') },
    ],
    'wire.receive': [
      { guard: 'receiveFits', actions: 'deliverToHead', description: 'A message lands in the oldest posted receive buffer; RC acknowledges it.', meta: src('§5.3.1 "Reception"; IBA RC') },
      { guard: and(['isRc', 'receivePosted']), target: '.ERR', actions: ['failRecvHead', 'flushAll'], description: 'The message is longer than the posted buffer: local length error, the RC QP enters ERR.', meta: src('IBA local length error (medium)') },
      { guard: 'isRc', actions: 'sendRnrNak', description: 'No receive posted: answer with an RNR NAK (receiver not ready).', meta: src('IBA RNR NAK; §5.3.1') },
      { actions: 'dropIncoming', description: 'UC/UD: no receive posted, the message is dropped.', meta: src('IBA UD/UC semantics (medium)') },
    ],
    'wire.ack': { guard: 'sentOutstanding', actions: 'ackHead', description: 'The peer acknowledges the oldest send on the wire: it completes successfully.', meta: src('IBA RC acknowledgement') },
  },
});

export type QueuePairMachine = typeof queuePairMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<QueuePairMachine>;
const at = (s: Snap) => stateOf(s.value);

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'flushed-in-error',
    description: 'A QP in ERR holds no outstanding work request: entering ERR completed every one of them with a flush error.',
    source: 'protocol-notes.md §3 hardware-driven changes; §5.3.1',
    check: (s) =>
      at(s) === 'ERR' && (s.context.sq.length > 0 || s.context.rq.length > 0)
        ? `ERR with ${s.context.sq.length} send and ${s.context.rq.length} receive requests still outstanding`
        : undefined,
    witness: {
      name: 'flush-on-error',
      description: 'A QP sometimes enters ERR with work requests outstanding, which complete with flush errors.',
      reached: (s) => at(s) === 'ERR' && s.context.stats.flushed > 0,
    },
  },
  {
    name: 'work-request-accounting',
    description:
      'Every posted work request is outstanding, completed (successfully or with an error status) or discarded by a reset: none is silently lost.',
    source: 'ibv_poll_cq(3); protocol-notes.md §7 item 1',
    check: (s) => {
      const c = s.context;
      const st = c.stats;
      if (st.postedSend !== st.completedSend + st.discardedSend + c.sq.length)
        return `${st.postedSend} sends posted but ${st.completedSend} completed, ${st.discardedSend} discarded and ${c.sq.length} outstanding`;
      if (st.postedRecv !== st.completedRecv + st.discardedRecv + c.rq.length)
        return `${st.postedRecv} receives posted but ${st.completedRecv} completed, ${st.discardedRecv} discarded and ${c.rq.length} outstanding`;
      return undefined;
    },
    witness: {
      name: 'send-and-receive-complete',
      description: 'Sends and receives sometimes complete.',
      reached: (s) => s.context.stats.completedSend > 0 && s.context.stats.completedRecv > 0,
    },
  },
  {
    name: 'no-send-outside-rts',
    description: 'No send work request is outstanding in RESET, INIT or RTR, and none is on the wire outside RTS and SQD.',
    source: 'protocol-notes.md §3 invariant 3',
    check: (s) => {
      const st = at(s);
      if ((st === 'RESET' || st === 'INIT' || st === 'RTR') && s.context.sq.length > 0) return `${s.context.sq.length} sends outstanding in ${st}`;
      if (st !== 'RTS' && st !== 'SQD' && s.context.sq.some((x) => x.sent)) return `a send is on the wire in ${st}`;
      return undefined;
    },
    witness: {
      name: 'send-held-while-draining',
      description: 'A send posted in SQD or SQE is sometimes held until the QP returns to RTS.',
      reached: (s) => (at(s) === 'SQD' || at(s) === 'SQE') && s.context.sq.some((x) => !x.sent),
    },
  },
  {
    name: 'rnr-retries-bounded',
    description: 'A send is retried after RNR NAKs at most rnr_retry times (7 means without bound).',
    source: 'ibv_modify_qp(3) rnr_retry',
    check: (s) =>
      s.context.p.rnrRetry !== 7 && s.context.rnrRetries > s.context.p.rnrRetry
        ? `${s.context.rnrRetries} RNR retries with rnr_retry = ${s.context.p.rnrRetry}`
        : undefined,
    witness: {
      name: 'rnr-retry',
      description: 'A send is sometimes retried after an RNR NAK.',
      reached: (s) => s.context.stats.rnrRetries > 0,
    },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  { name: 'illegal-modify-rejected', description: 'A modify is sometimes rejected with EINVAL.', reached: (s) => s.context.stats.illegalModifies > 0 },
  { name: 'rnr-retry-exceeded', description: 'RNR retries sometimes run out and the QP fails.', reached: (s) => s.context.stats.rnrExceeded > 0 },
  { name: 'send-queue-error', description: 'A UC/UD QP sometimes enters SQE and resumes.', reached: (s) => at(s) === 'SQE' },
  { name: 'reset-discards', description: 'A reset sometimes discards outstanding work requests.', reached: (s) => s.context.stats.discardedSend + s.context.stats.discardedRecv > 0 },
];

/** Exploration alphabet: every modify with the right mask and one with only IB_QP_STATE, posts, wire events. */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const from = at(s);
  const id = c.stats.postedSend + c.stats.postedRecv;
  const ev: Event[] = QP_STATES.map((to) => ({ type: 'modify' as const, to, mask: requiredMask(from, to, c.p.transport) }));
  if (from === 'INIT' || from === 'RESET') ev.push({ type: 'modify', to: from === 'INIT' ? 'RTR' : 'INIT', mask: QP_ATTR.STATE });
  ev.push({ type: 'post.send', wr: { id, bytes: 100 } }, { type: 'post.recv', wr: { id, bytes: 150 } });
  ev.push({ type: 'wire.ack' }, { type: 'wire.rnr-nak' }, { type: 'rnr.timer' }, { type: 'hw.send-error' });
  ev.push({ type: 'wire.receive', bytes: 100 }, { type: 'wire.receive', bytes: 200 });
  return ev;
}

export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([s.value, c.sq.map((x) => (x.sent ? 1 : 0)), c.rq.length, c.rnrRetries, c.rnrWaiting]);
}

export const entry = defineEntry({
  id: 'queue-pair',
  title: 'InfiniBand queue pair (verbs)',
  summary:
    'A queue pair moves through RESET, INIT, RTR (ready to receive), RTS (ready to send), SQD (send queue drain), ' +
    'SQE (send queue error, UC/UD) and ERR. An ibv_modify_qp is accepted only for a legal pair of the verbs state ' +
    'table whose attribute mask carries IB_QP_STATE and every attribute the transport requires for that step; ' +
    'otherwise it fails with EINVAL and the QP does not move. Work requests are posted to the send and receive ' +
    'queues; on a reliable connection a send completes when the peer acknowledges it, a peer with no receive posted ' +
    'answers with an RNR NAK and the send is retried after the RNR timer up to rnr_retry times, after which the QP ' +
    'fails. Entering ERR completes every outstanding work request with a flush error, and later posts complete with ' +
    'flush errors at once; a modify to RESET discards them without completions. The dissertation moves the shadow ' +
    "connection's QP to READY_TO_RECEIVE, READY_TO_SEND and ERROR at the handshake and teardown steps of §5.3.1.",
  source: ['§5.3.1', 'protocol-notes.md §3', 'Linux verbs.c qp_state_table', 'ibv_modify_qp(3)'],
  machine: queuePairMachine,
  params,
  checkInput,
  samples: [
    { name: 'rc', input: { transport: 'RC', rnrRetry: 1, sqDepth: 2, rqDepth: 2 } },
    { name: 'ud', input: { transport: 'UD', sqDepth: 1, rqDepth: 1 } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'modify', description: 'ibv_modify_qp to state `to` with attribute mask `mask` (IB_QP_* bits).' },
    { type: 'post.send', description: 'ibv_post_send of one work request.' },
    { type: 'post.recv', description: 'ibv_post_recv of one work request.' },
    { type: 'wire.ack', description: 'The peer acknowledged the oldest send on the wire (RC).' },
    { type: 'wire.rnr-nak', description: 'The peer had no receive posted (RC receiver-not-ready NAK).' },
    { type: 'rnr.timer', description: 'The RNR timer expired: resend.' },
    { type: 'wire.receive', description: 'A message from the peer arrives.' },
    { type: 'hw.send-error', description: 'The transport gave up on a send (retries exceeded, port down).' },
  ],
  emits: [
    { type: 'wire.send', description: 'A send work request goes on the wire (zero copy).' },
    { type: 'wire.ack', description: 'Acknowledge a received message (RC).' },
    { type: 'wire.rnr-nak', description: 'Receiver not ready: no receive was posted (RC).' },
    { type: 'rnr.wait', description: 'Start the RNR timer before resending.' },
    { type: 'cq.send', description: 'A send completion with its status.' },
    { type: 'cq.recv', description: 'A receive completion with its status and byte count.' },
    { type: 'modify.applied', description: 'A modify succeeded (the QP moved, or refreshed its attributes in place).' },
    { type: 'modify.failed', description: 'A modify failed with EINVAL (illegal pair or missing attribute).' },
    { type: 'post.failed', description: 'A post failed (wrong state or queue full).' },
    { type: 'async.sq-drained', description: 'Asynchronous event: the send queue is drained in SQD.' },
  ],
});
