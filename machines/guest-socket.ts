/**
 * Guest VNET socket: the guest's TCP connection state when the handshake and teardown are
 * offloaded to the VTOE (VNET+VTOE).
 *
 * Sources: dissertation §3.3 (the semantic gap: a guest running TCP over a reliable fabric repeats
 * the handshake and acknowledgements), §4.6 (the VTOE NIC: commands through work queues and control
 * registers, asynchronous events through the event queue, with the 12 event names), §5.3.1 with
 * Figure 5.7 (which TCP state the socket takes at each step of the IB handshake and teardown), §5.3.2
 * (the VNET socket module updates kernel socket state); RFC 9293 §3.3.2 and §3.10 for the states and
 * the user-call rules; protocol-notes.md §1 and §4.
 *
 * The socket keeps the eleven RFC 9293 states, but no segment ever reaches it: the VTOE's events take
 * the place of SYN, SYN-ACK, FIN and RST. An active open posts `vtoe.connect` and waits in SYN-SENT
 * for CONNECT_RESPONSE or CONNECT_ESTABLISHED (address and route resolution are reported on the way);
 * a passive open posts `vtoe.listen` and a CONNECT_REQUEST moves it to SYN-RECEIVED, where the
 * application's accept posts `vtoe.accept` and CONNECT_ESTABLISHED completes it. One machine is one
 * TCB, as in the RFC: the listener turns into the connection (it returns to LISTEN if the attempt
 * fails, RFC 9293 §3.10.7.4). A close posts `vtoe.disconnect`, the offloaded FIN; the peer's FIN
 * arrives as `vtoe.peer-fin` and the acknowledgement of ours as `vtoe.fin-acked`. DISCONNECTED means
 * the shadow connection is gone: it ends the closing states (to TIME-WAIT, or CLOSED from LAST-ACK)
 * and resets an open connection. The time-wait timer is armed with `timer.start` and comes back as
 * `timer.timewait`; a peer FIN repeated in TIME-WAIT restarts it.
 *
 * Errors: a call in the wrong state fails with `app.error {reason}` and changes nothing, as a socket
 * call would. An error event ends a connection attempt with `app.error`; DEVICE_REMOVAL closes the
 * socket in any state, tells the application and leaves the socket unusable (ENODEV).
 *
 * Choices the RFC leaves open: ABORT always goes to CLOSED (never to TIME-WAIT, RFC 9293 Figure 5
 * note 3), and posts `vtoe.abort` so that the offload engine can drop the shadow connection.
 */
import { and, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { VTOE_EVENTS, type VtoeEventName } from './vtoe-events.js';
import { checkParams, type ParamsOf } from './params.js';

export const params = {
  timeWaitNs: {
    kind: 'number',
    default: 240_000_000_000,
    min: 1,
    max: 240_000_000_000,
    integer: true,
    unit: 'ns',
    description: 'TIME-WAIT duration, 2 x MSL with MSL = 2 minutes (Linux uses a fixed 60 s).',
    source: 'RFC 9293 §3.3.2, §4; protocol-notes.md §1 "Timers and owners"',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('guest-socket', params, input);
}

export { VTOE_EVENTS, type VtoeEventName };

/** Events that end a connection attempt, with the errno the application sees. */
export const CONNECT_ERRORS: Readonly<Partial<Record<VtoeEventName, ErrorReason>>> = {
  ADDRESS_ERROR: 'EHOSTUNREACH',
  ROUTE_ERROR: 'ENETUNREACH',
  CONNECT_ERROR: 'ECONNABORTED',
  UNREACHABLE: 'ETIMEDOUT',
  CONNECT_REJECTED: 'ECONNREFUSED',
};

export type ErrorReason =
  | 'EINVAL'
  | 'ENOTCONN'
  | 'EISCONN'
  | 'EALREADY'
  | 'EAGAIN'
  | 'EPIPE'
  | 'EBADF'
  | 'ENODEV'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'ECONNABORTED'
  | 'ETIMEDOUT'
  | 'ECONNREFUSED'
  | 'ECONNRESET';

export type Event =
  | { type: 'app.connect' }
  | { type: 'app.listen' }
  | { type: 'app.accept' }
  | { type: 'app.send'; bytes: number }
  | { type: 'app.recv' }
  | { type: 'app.close' }
  | { type: 'app.abort' }
  /** An event from the VTOE event queue. */
  | { type: 'vtoe.event'; name: VtoeEventName }
  /** The peer closed its half (the offloaded FIN arrived). */
  | { type: 'vtoe.peer-fin' }
  /** The peer acknowledged our FIN (the posted disconnect completed). */
  | { type: 'vtoe.fin-acked' }
  /** The time-wait timer expired. */
  | { type: 'timer.timewait' };

export type Emitted =
  | { type: 'vtoe.connect' }
  | { type: 'vtoe.listen' }
  | { type: 'vtoe.accept' }
  | { type: 'vtoe.send'; bytes: number }
  | { type: 'vtoe.recv' }
  | { type: 'vtoe.disconnect' }
  | { type: 'vtoe.abort' }
  | { type: 'timer.start'; timer: 'timewait'; delayNs: number }
  | { type: 'app.connected' }
  | { type: 'app.error'; reason: ErrorReason }
  | { type: 'app.eof' }
  | { type: 'app.closed' };

export interface Context {
  readonly p: Params;
  /** The application has called accept on the pending connection (SYN-RECEIVED). */
  accepted: boolean;
  /** Disconnects (offloaded FINs) posted on the current connection. */
  finsPosted: number;
  deviceRemoved: boolean;
  timeWaitArmed: boolean;
  stats: {
    refusedCalls: number;
    /** ADDRESS_RESOLVED and ROUTE_RESOLVED events seen during active opens. */
    resolutions: number;
    connectErrors: number;
    /** Accepted passive connections that failed before ESTABLISHED. */
    acceptedFailures: number;
    resets: number;
    simultaneousCloses: number;
    timeWaitRestarts: number;
    timeWaitExits: number;
    removedWhileOpen: number;
    bytesSent: number;
  };
}

function initialContext(p: Params): Context {
  return {
    p,
    accepted: false,
    finsPosted: 0,
    deviceRemoved: false,
    timeWaitArmed: false,
    stats: {
      refusedCalls: 0,
      resolutions: 0,
      connectErrors: 0,
      acceptedFailures: 0,
      resets: 0,
      simultaneousCloses: 0,
      timeWaitRestarts: 0,
      timeWaitExits: 0,
      removedWhileOpen: 0,
      bytesSent: 0,
    },
  };
}

const src = (source: string) => ({ source });
const vtoe = (name: VtoeEventName) => ({ type: 'vtoeIs', params: { names: [name] } }) as const;
const CONNECT_ERROR_NAMES = Object.keys(CONNECT_ERRORS) as VtoeEventName[];
/** What ends a pending (passive) connection before it is established. */
const PENDING_FAILURES: readonly VtoeEventName[] = ['UNREACHABLE', 'CONNECT_REJECTED', 'CONNECT_ERROR', 'DISCONNECTED'];

/**
 * The errno a call gets where it is not allowed, unless the state names a more precise one
 * (EALREADY for a second connect during the open, EAGAIN for an accept with nothing pending).
 */
export function refusal(call: string, c: Pick<Context, 'deviceRemoved' | 'finsPosted'>): ErrorReason {
  switch (call) {
    case 'app.connect':
      return c.deviceRemoved ? 'ENODEV' : 'EISCONN';
    case 'app.listen':
      return c.deviceRemoved ? 'ENODEV' : 'EINVAL';
    case 'app.accept':
      return 'EINVAL';
    case 'app.send':
      return c.finsPosted > 0 ? 'EPIPE' : 'ENOTCONN';
    case 'app.close':
      return 'EBADF';
    default:
      return 'ENOTCONN';
  }
}

export const guestSocketMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    vtoeIs: ({ event }, params: { names: readonly VtoeEventName[] }) => event.type === 'vtoe.event' && params.names.includes(event.name),
    usable: ({ context }) => !context.deviceRemoved,
    accepted: ({ context }) => context.accepted,
    notAccepted: ({ context }) => !context.accepted,
    timeWaitArmed: ({ context }) => context.timeWaitArmed,
  },
  actions: {
    post: enqueueActions(({ enqueue }, params: { cmd: 'vtoe.connect' | 'vtoe.listen' | 'vtoe.accept' | 'vtoe.recv' | 'vtoe.abort' }) =>
      enqueue.emit({ type: params.cmd }),
    ),
    newConnection: enqueueActions(({ enqueue }) => enqueue.assign({ accepted: false, finsPosted: 0, timeWaitArmed: false })),
    noteResolution: enqueueActions(({ context, enqueue }) =>
      enqueue.assign({ stats: { ...context.stats, resolutions: context.stats.resolutions + 1 } }),
    ),
    markAccepted: enqueueActions(({ enqueue }) => enqueue.assign({ accepted: true })),
    /** Leaving SYN-RECEIVED: the pending connection was established, closed or failed. */
    clearAccepted: enqueueActions(({ enqueue }) => enqueue.assign({ accepted: false })),
    postSend: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'app.send') return;
      enqueue.emit({ type: 'vtoe.send', bytes: event.bytes });
      enqueue.assign({ stats: { ...context.stats, bytesSent: context.stats.bytesSent + event.bytes } });
    }),
    /** The offloaded FIN: the VTOE closes our half of the connection. */
    postDisconnect: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'vtoe.disconnect' });
      enqueue.assign({ finsPosted: context.finsPosted + 1 });
    }),
    tell: enqueueActions(({ enqueue }, params: { what: 'app.connected' | 'app.eof' | 'app.closed' }) => enqueue.emit({ type: params.what })),
    refuse: enqueueActions(({ context, event, enqueue }, params: { reason?: ErrorReason } | undefined) => {
      enqueue.emit({ type: 'app.error', reason: params?.reason ?? refusal(event.type, context) });
      enqueue.assign({ stats: { ...context.stats, refusedCalls: context.stats.refusedCalls + 1 } });
    }),
    /** A connection attempt failed: the application learns why (only once it is involved, when passive). */
    connectFailed: enqueueActions(({ context, event, enqueue }, params: { tell: boolean; passive: boolean }) => {
      if (event.type !== 'vtoe.event') return;
      if (params.tell) enqueue.emit({ type: 'app.error', reason: CONNECT_ERRORS[event.name] ?? 'ECONNRESET' });
      enqueue.assign({
        stats: {
          ...context.stats,
          connectErrors: context.stats.connectErrors + 1,
          acceptedFailures: context.stats.acceptedFailures + (params.tell && params.passive ? 1 : 0),
        },
      });
    }),
    reset: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'app.error', reason: 'ECONNRESET' });
      enqueue.assign({ stats: { ...context.stats, resets: context.stats.resets + 1 } });
    }),
    noteSimultaneous: enqueueActions(({ context, enqueue }) =>
      enqueue.assign({ stats: { ...context.stats, simultaneousCloses: context.stats.simultaneousCloses + 1 } }),
    ),
    armTimeWait: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'timer.start', timer: 'timewait', delayNs: context.p.timeWaitNs });
      enqueue.assign({ timeWaitArmed: true });
    }),
    restartTimeWait: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'timer.start', timer: 'timewait', delayNs: context.p.timeWaitNs });
      enqueue.assign({ stats: { ...context.stats, timeWaitRestarts: context.stats.timeWaitRestarts + 1 } });
    }),
    timeWaitOver: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'app.closed' });
      enqueue.assign({ timeWaitArmed: false, stats: { ...context.stats, timeWaitExits: context.stats.timeWaitExits + 1 } });
    }),
    abort: enqueueActions(({ enqueue }) => {
      enqueue.emit({ type: 'vtoe.abort' });
      enqueue.emit({ type: 'app.closed' });
      enqueue.assign({ timeWaitArmed: false, accepted: false });
    }),
    deviceRemoved: enqueueActions(({ context, enqueue }, params: { open: boolean }) => {
      const open = params.open;
      enqueue.emit({ type: 'app.error', reason: 'ENODEV' });
      enqueue.assign({
        deviceRemoved: true,
        timeWaitArmed: false,
        accepted: false,
        stats: { ...context.stats, removedWhileOpen: context.stats.removedWhileOpen + (open ? 1 : 0) },
      });
    }),
  },
}).createMachine({
  id: 'guest-socket',
  description: "The guest's VNET socket: RFC 9293 states driven by application calls and VTOE events instead of segments.",
  meta: src('§4.6, §5.3.1 Figure 5.7; RFC 9293 §3.3.2'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'CLOSED',
  states: {
    CLOSED: {
      description: 'No connection (no TCB).',
      meta: src('RFC 9293 §3.3.2'),
      on: {
        'app.connect': {
          guard: 'usable',
          target: 'SYN-SENT',
          actions: ['newConnection', { type: 'post', params: { cmd: 'vtoe.connect' } }],
          description: 'Active open: the socket posts a connect command to the VTOE (the overlay sends the IB REQ).',
          meta: src('§5.3.1 "When the guest performs an active open ... TCP_SYN_SENT"'),
        },
        'app.listen': {
          guard: 'usable',
          target: 'LISTEN',
          actions: ['newConnection', { type: 'post', params: { cmd: 'vtoe.listen' } }],
          description: 'Passive open: the socket posts a listen command.',
          meta: src('§5.3.1 Figure 5.7(a) (passive open); RFC 9293 §3.10.1'),
        },
        'app.abort': {
          actions: 'refuse',
          description: 'Abort with no connection: ENOTCONN.',
          meta: src('RFC 9293 §3.10.5 (ABORT in CLOSED)'),
        },
        'vtoe.event': {
          guard: and([vtoe('DEVICE_REMOVAL'), 'usable']),
          actions: { type: 'deviceRemoved', params: { open: false } },
          description: 'The VTOE device is gone while no connection is open: the application gets ENODEV and the socket stays unusable.',
          meta: src('§4.6.3 (DEVICE_REMOVAL); protocol-notes.md §4'),
        },
      },
    },
    LISTEN: {
      description: 'Waiting for a connection request from the overlay.',
      meta: src('RFC 9293 §3.3.2; §5.3.1'),
      on: {
        'vtoe.event': {
          guard: vtoe('CONNECT_REQUEST'),
          target: 'SYN-RECEIVED',
          description: 'CONNECT_REQUEST (the overlay received an IB REQ) takes the place of a SYN.',
          meta: src('§5.3.1 "The overlay sends CONNECT REQUEST events to the guest upon receipt of an IB_REQ"'),
        },
        'app.accept': {
          actions: { type: 'refuse', params: { reason: 'EAGAIN' } },
          description: 'accept with no pending connection: EAGAIN (a non-blocking socket; a blocking one would wait).',
          meta: src('§5.3.2 (kernel socket semantics)'),
        },
        'app.close': {
          target: 'CLOSED',
          actions: [{ type: 'post', params: { cmd: 'vtoe.abort' } }, { type: 'tell', params: { what: 'app.closed' } }],
          description: 'Closing a listener deletes the TCB; the VTOE drops the listen.',
          meta: src('RFC 9293 §3.10.4 (LISTEN: CLOSE)'),
        },
      },
    },
    'SYN-SENT': {
      description: 'Active open in progress: the overlay resolves the address and route and runs the IB handshake.',
      meta: src('§5.3.1 Figure 5.7(a)'),
      on: {
        'vtoe.event': [
          {
            guard: { type: 'vtoeIs', params: { names: ['ADDRESS_RESOLVED', 'ROUTE_RESOLVED'] } },
            actions: 'noteResolution',
            description: 'Address or route resolution progress: the socket keeps waiting.',
            meta: src('§5.3.1 "the overlay delivers ROUTE_RESOLVED events to the guest as necessary"'),
          },
          {
            guard: { type: 'vtoeIs', params: { names: ['CONNECT_RESPONSE', 'CONNECT_ESTABLISHED'] } },
            target: 'ESTABLISHED',
            actions: { type: 'tell', params: { what: 'app.connected' } },
            description: 'The overlay reports the response to the connection request (REP received, RTU sent): established.',
            meta: src('§5.3.1 "It then notifies the guest of the response ... TCP_ESTABLISHED"'),
          },
          {
            guard: { type: 'vtoeIs', params: { names: CONNECT_ERROR_NAMES } },
            target: 'CLOSED',
            actions: { type: 'connectFailed', params: { tell: true, passive: false } },
            description: 'Resolution, rejection or timeout: the connect fails with the matching errno.',
            meta: src('§4.6.3 (error events); protocol-notes.md §4 "Errors"'),
          },
        ],
        'app.connect': {
          actions: { type: 'refuse', params: { reason: 'EALREADY' } },
          description: 'A second connect while the first is in progress: EALREADY.',
          meta: src('RFC 9293 §3.10.1 ("connection already exists")'),
        },
        'app.close': {
          target: 'CLOSED',
          actions: [{ type: 'post', params: { cmd: 'vtoe.abort' } }, { type: 'tell', params: { what: 'app.closed' } }],
          description: 'Closing during the active open deletes the TCB; the VTOE abandons the attempt.',
          meta: src('RFC 9293 §3.10.4 (SYN-SENT: CLOSE)'),
        },
      },
    },
    'SYN-RECEIVED': {
      description: 'A connection request is pending on the listener; the application accepts it.',
      meta: src('§5.3.1 Figure 5.7(a); RFC 9293 §3.3.2'),
      exit: 'clearAccepted',
      on: {
        'app.accept': {
          guard: 'notAccepted',
          actions: ['markAccepted', { type: 'post', params: { cmd: 'vtoe.accept' } }],
          description: 'accept(): the socket posts the accept command (the overlay readies the QP and sends the REP).',
          meta: src('§5.3.1 "initializes the underlying queue pair, and sends IB_REP"'),
        },
        'vtoe.event': [
          {
            guard: and([vtoe('CONNECT_ESTABLISHED'), 'accepted']),
            target: 'ESTABLISHED',
            actions: { type: 'tell', params: { what: 'app.connected' } },
            description: 'ESTABLISHED (the RTU arrived) completes the accepted connection.',
            meta: src('§5.3.1 "delivers the guest an ESTABLISHED event on the receipt of an IB_RTU"'),
          },
          {
            guard: and([{ type: 'vtoeIs', params: { names: PENDING_FAILURES } }, 'accepted']),
            target: 'LISTEN',
            actions: { type: 'connectFailed', params: { tell: true, passive: true } },
            description: 'The accepted connection failed (no RTU, rejected, reset): the application gets the error and the listener returns to LISTEN.',
            meta: src('RFC 9293 §3.10.7.4 (RST in SYN-RECEIVED from a passive OPEN); protocol-notes.md §4 invariant 2'),
          },
          {
            guard: { type: 'vtoeIs', params: { names: PENDING_FAILURES } },
            target: 'LISTEN',
            actions: { type: 'connectFailed', params: { tell: false, passive: true } },
            description: 'A request nobody accepted yet failed: it silently leaves the listen queue.',
            meta: src('RFC 9293 §3.10.7.4 (RST in SYN-RECEIVED from a passive OPEN)'),
          },
        ],
        'app.close': {
          target: 'FIN-WAIT-1',
          actions: 'postDisconnect',
          description: 'Closing before the connection is established: the offloaded FIN is posted.',
          meta: src('RFC 9293 §3.10.4 (SYN-RECEIVED: CLOSE)'),
        },
      },
    },
    ESTABLISHED: {
      description: 'Connected: data moves through the VTOE work queues.',
      meta: src('§5.3.1 "Data transfer"'),
      on: {
        'app.send': {
          actions: 'postSend',
          description: 'The data is posted to the send work queue (zero copy in the overlay).',
          meta: src('§5.3.1 "Transmission with zero overlay copy"'),
        },
        'app.recv': {
          actions: { type: 'post', params: { cmd: 'vtoe.recv' } },
          description: 'A receive buffer is posted to the receive work queue.',
          meta: src('§5.3.1 "Reception with zero overlay copy"'),
        },
        'app.close': {
          target: 'FIN-WAIT-1',
          actions: 'postDisconnect',
          description: 'The guest stops its half: the offloaded FIN is posted.',
          meta: src('§5.3.1 "changes state from TCP_ESTABLISHED to TCP_FIN_WAIT1"'),
        },
        'vtoe.peer-fin': {
          target: 'CLOSE-WAIT',
          description: 'The peer closed its half.',
          meta: src('§5.3.1 "the peer changes state from TCP_ESTABLISHED to TCP_CLOSE_WAIT"'),
        },
        'vtoe.event': {
          guard: vtoe('DISCONNECTED'),
          target: 'CLOSED',
          actions: 'reset',
          description: 'The shadow connection went down under an open connection: reset.',
          meta: src('RFC 9293 §3.10.7.4 (RST in a synchronized state); protocol-notes.md §4'),
        },
      },
    },
    'FIN-WAIT-1': {
      description: 'Our FIN is posted; neither acknowledged nor answered yet.',
      meta: src('§5.3.1 Figure 5.7(b); RFC 9293 §3.3.2'),
      on: {
        'app.recv': {
          actions: { type: 'post', params: { cmd: 'vtoe.recv' } },
          description: 'The peer may still send: receive buffers are posted.',
          meta: src('RFC 9293 §3.10.7.4 (text in FIN-WAIT-1)'),
        },
        'vtoe.fin-acked': {
          target: 'FIN-WAIT-2',
          description: 'Our FIN was acknowledged.',
          meta: src('RFC 9293 §3.10.7.4 (FIN-WAIT-1: ACK of FIN)'),
        },
        'vtoe.peer-fin': {
          target: 'CLOSING',
          actions: 'noteSimultaneous',
          description: 'Simultaneous close: the peer\'s FIN arrives before the ACK of ours.',
          meta: src('RFC 9293 §3.10.7.4 (FIN-WAIT-1: FIN)'),
        },
        'vtoe.event': {
          guard: vtoe('DISCONNECTED'),
          target: 'TIME-WAIT',
          actions: 'armTimeWait',
          description: 'DISCONNECTED (the peer\'s DREQ): its FIN and the ACK of ours together; time-wait.',
          meta: src('§5.3.1 "When the guest either gets the FIN ... or the DISCONNECT event ... TCP_TIME_WAIT"; RFC 9293 Figure 5 note 2'),
        },
      },
    },
    'FIN-WAIT-2': {
      description: 'Our FIN is acknowledged; waiting for the peer to close.',
      meta: src('§5.3.1 Figure 5.7(b); RFC 9293 §3.3.2'),
      on: {
        'app.recv': {
          actions: { type: 'post', params: { cmd: 'vtoe.recv' } },
          description: 'The peer may still send: receive buffers are posted.',
          meta: src('RFC 9293 §3.10.7.4 (text in FIN-WAIT-2)'),
        },
        'vtoe.peer-fin': {
          target: 'TIME-WAIT',
          actions: 'armTimeWait',
          description: 'The peer\'s FIN: time-wait.',
          meta: src('RFC 9293 §3.10.7.4 (FIN-WAIT-2: FIN)'),
        },
        'vtoe.event': {
          guard: vtoe('DISCONNECTED'),
          target: 'TIME-WAIT',
          actions: 'armTimeWait',
          description: 'DISCONNECTED (the LAST-ACK side\'s shadow sent its DREQ): time-wait.',
          meta: src('§5.3.1 "or the DISCONNECT event from the overlay ... TCP_TIME_WAIT"'),
        },
      },
    },
    CLOSING: {
      description: 'Both sides closed at once; waiting for the ACK of our FIN.',
      meta: src('RFC 9293 §3.3.2'),
      on: {
        'vtoe.fin-acked': {
          target: 'TIME-WAIT',
          actions: 'armTimeWait',
          description: 'Our FIN was acknowledged: time-wait.',
          meta: src('RFC 9293 §3.10.7.4 (CLOSING: ACK of FIN)'),
        },
        'vtoe.event': {
          guard: vtoe('DISCONNECTED'),
          target: 'TIME-WAIT',
          actions: 'armTimeWait',
          description: 'The shadow connection is torn down: time-wait.',
          meta: src('§5.3.1 Figure 5.7(b)'),
        },
      },
    },
    'TIME-WAIT': {
      description: 'Both FINs done; stray data of the old connection dies out. Left only by the timer (or an abort).',
      meta: src('§5.3.1 "timeouts are used to transition from time wait"; RFC 9293 §3.3.2'),
      on: {
        'timer.timewait': {
          guard: 'timeWaitArmed',
          target: 'CLOSED',
          actions: 'timeWaitOver',
          description: 'The 2 MSL timer expires: the TCB is deleted.',
          meta: src('RFC 9293 §3.10.8 (time-wait timeout)'),
        },
        'vtoe.peer-fin': {
          actions: 'restartTimeWait',
          description: 'A repeated FIN from the peer restarts the 2 MSL timer.',
          meta: src('RFC 9293 §3.10.7.4 (TIME-WAIT: FIN)'),
        },
      },
    },
    'CLOSE-WAIT': {
      description: 'The peer closed its half; we may still send until the application closes.',
      meta: src('§5.3.1 "It continues sending any outstanding data"; RFC 9293 §3.3.2'),
      on: {
        'app.send': {
          actions: 'postSend',
          description: 'Outstanding data is still sent.',
          meta: src('§5.3.1 "It continues sending any outstanding data"'),
        },
        'app.recv': {
          actions: { type: 'tell', params: { what: 'app.eof' } },
          description: 'Nothing more will arrive: end of file.',
          meta: src('RFC 9293 §3.10.3 (RECEIVE in CLOSE-WAIT)'),
        },
        'app.close': {
          target: 'LAST-ACK',
          actions: 'postDisconnect',
          description: 'The second closer posts its FIN (its shadow CID sends the IB DREQ).',
          meta: src('§5.3.1 "sends a disconnect command to the overlay, and transitions to state TCP_LAST_ACK"'),
        },
        'vtoe.event': {
          guard: vtoe('DISCONNECTED'),
          target: 'CLOSED',
          actions: 'reset',
          description: 'The shadow connection went down before we closed: reset.',
          meta: src('RFC 9293 §3.10.7.4 (RST in CLOSE-WAIT)'),
        },
      },
    },
    'LAST-ACK': {
      description: 'Second closer: waiting for the ACK of our FIN.',
      meta: src('§5.3.1 Figure 5.7(b); RFC 9293 §3.3.2'),
      on: {
        'vtoe.fin-acked': {
          target: 'CLOSED',
          actions: { type: 'tell', params: { what: 'app.closed' } },
          description: 'Our FIN was acknowledged: the TCB is deleted.',
          meta: src('RFC 9293 §3.10.7.4 (LAST-ACK: ACK of FIN)'),
        },
        'vtoe.event': {
          guard: vtoe('DISCONNECTED'),
          target: 'CLOSED',
          actions: { type: 'tell', params: { what: 'app.closed' } },
          description: 'DISCONNECTED (our DREQ was answered with a DREP): closed.',
          meta: src('§5.3.1 "Upon receiving IB_DREP from the active-closing host"'),
        },
      },
    },
  },
  on: {
    'vtoe.event': {
      guard: vtoe('DEVICE_REMOVAL'),
      target: '.CLOSED',
      actions: { type: 'deviceRemoved', params: { open: true } },
      description: 'The VTOE device is gone: the socket closes whatever its state and the application gets ENODEV.',
      meta: src('§4.6.3 (DEVICE_REMOVAL); protocol-notes.md §4'),
    },
    'app.abort': {
      target: '.CLOSED',
      actions: 'abort',
      description: 'Abort: the VTOE drops the connection (in place of an RST) and the TCB is deleted at once.',
      meta: src('RFC 9293 §3.10.5 (ABORT); Figure 5 note 3 (the model picks CLOSED)'),
    },
    'app.connect': { actions: 'refuse', description: 'connect in the wrong state: EISCONN, or ENODEV once the device is gone.', meta: src('RFC 9293 §3.10.1 ("connection already exists")') },
    'app.listen': { actions: 'refuse', description: 'listen in the wrong state: EINVAL, or ENODEV once the device is gone.', meta: src('RFC 9293 §3.10.1') },
    'app.accept': { actions: 'refuse', description: 'accept on a socket that is not listening, or accepted already: EINVAL.', meta: src('RFC 9293 §3.10.1') },
    'app.send': { actions: 'refuse', description: 'send outside ESTABLISHED and CLOSE-WAIT: ENOTCONN, or EPIPE once closing.', meta: src('RFC 9293 §3.10.2 ("connection closing")') },
    'app.recv': { actions: 'refuse', description: 'recv with no connection, or after both FINs: ENOTCONN.', meta: src('RFC 9293 §3.10.3') },
    'app.close': { actions: 'refuse', description: 'close with no connection or a second time: EBADF, no second FIN.', meta: src('RFC 9293 §3.10.4 ("connection closing"); protocol-notes.md §1 invariant 2') },
  },
});

export type GuestSocketMachine = typeof guestSocketMachine;
type Snap = SnapshotFrom<GuestSocketMachine>;
const at = (s: Snap) => s.value as string;

/** States in which our FIN has been posted (the application closed its half). */
export const FIN_POSTED_STATES: readonly string[] = ['FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSING', 'TIME-WAIT', 'LAST-ACK'];

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'one-fin-per-connection',
    description:
      'The offloaded FIN is posted at most once per connection, and it has been posted in every state that follows our close (FIN-WAIT-1, FIN-WAIT-2, CLOSING, TIME-WAIT, LAST-ACK).',
    source: 'RFC 9293 §3.10.4; protocol-notes.md §1 invariant 2',
    check: (s) => {
      const n = s.context.finsPosted;
      if (n > 1) return `${n} FINs posted on one connection`;
      if (FIN_POSTED_STATES.includes(at(s)) && n !== 1) return `${at(s)} without our FIN posted`;
      return undefined;
    },
    witness: { name: 'simultaneous-close', description: 'Both sides sometimes close at once (CLOSING).', reached: (s) => s.context.stats.simultaneousCloses > 0 },
  },
  {
    name: 'time-wait-has-its-timer',
    description: 'In TIME-WAIT the 2 MSL timer is armed, so TIME-WAIT always ends.',
    source: 'RFC 9293 §3.10.8; §5.3.1 "timeouts are used to transition from time wait"',
    check: (s) => (at(s) === 'TIME-WAIT' && !s.context.timeWaitArmed ? 'TIME-WAIT with no timer armed' : undefined),
    witness: { name: 'time-wait-exit', description: 'TIME-WAIT sometimes ends by its timer.', reached: (s) => s.context.stats.timeWaitExits > 0 },
  },
  {
    name: 'removed-device-closed',
    description: 'After DEVICE_REMOVAL the socket is CLOSED for good.',
    source: '§4.6.3 (DEVICE_REMOVAL); protocol-notes.md §4 invariant 4',
    check: (s) => (s.context.deviceRemoved && at(s) !== 'CLOSED' ? `${at(s)} after the device was removed` : undefined),
    witness: { name: 'removed-while-open', description: 'The device is sometimes removed under an open socket.', reached: (s) => s.context.stats.removedWhileOpen > 0 },
  },
  {
    name: 'accept-only-while-pending',
    description: 'An accept is recorded only for a pending connection (SYN-RECEIVED).',
    source: 'RFC 9293 §3.3.2; §5.3.1 (passive open)',
    check: (s) => (s.context.accepted && at(s) !== 'SYN-RECEIVED' ? `an accept is recorded in ${at(s)}` : undefined),
    witness: {
      name: 'accepted-connection-fails',
      description: 'An accepted connection sometimes fails before it is established and the listener goes back to LISTEN.',
      reached: (s) => at(s) === 'LISTEN' && s.context.stats.acceptedFailures > 0,
    },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  { name: 'call-refused', description: 'A call in the wrong state is sometimes refused.', reached: (s) => s.context.stats.refusedCalls > 0 },
  { name: 'connection-reset', description: 'An open connection is sometimes reset by DISCONNECTED.', reached: (s) => s.context.stats.resets > 0 },
  { name: 'time-wait-restarted', description: 'A repeated FIN sometimes restarts the time-wait timer.', reached: (s) => s.context.stats.timeWaitRestarts > 0 },
  { name: 'data-sent', description: 'Data is sometimes sent.', reached: (s) => s.context.stats.bytesSent > 0 },
];

const CALLS: readonly Event[] = [
  { type: 'app.connect' },
  { type: 'app.listen' },
  { type: 'app.accept' },
  { type: 'app.send', bytes: 100 },
  { type: 'app.recv' },
  { type: 'app.close' },
  { type: 'app.abort' },
];

export function explorationEvents(s: Snap): Event[] {
  void s;
  return [
    ...CALLS,
    ...VTOE_EVENTS.map((name) => ({ type: 'vtoe.event', name }) as Event),
    { type: 'vtoe.peer-fin' },
    { type: 'vtoe.fin-acked' },
    { type: 'timer.timewait' },
  ];
}

/** A finite key; more than one FIN is one value, so that a broken FIN rule stays finite too. */
export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([s.value, c.accepted, Math.min(c.finsPosted, 2), c.deviceRemoved, c.timeWaitArmed]);
}

export const entry = defineEntry({
  id: 'guest-socket',
  title: 'Guest VNET socket (TCP states with an offloaded handshake)',
  summary:
    "The guest's VNET socket keeps the RFC 9293 states, but the VTOE carries out the handshake and teardown over an IB " +
    'shadow connection, so no SYN, FIN or RST segment reaches it: the socket posts connect, listen, accept, send, receive ' +
    'and disconnect commands to the VTOE and moves on the events of its event queue. An active open waits in SYN-SENT ' +
    'through ADDRESS_RESOLVED and ROUTE_RESOLVED until CONNECT_RESPONSE or CONNECT_ESTABLISHED; a listener moves to ' +
    'SYN-RECEIVED on CONNECT_REQUEST and, once the application accepts, to ESTABLISHED on CONNECT_ESTABLISHED. ' +
    'ADDRESS_ERROR, ROUTE_ERROR, UNREACHABLE, CONNECT_REJECTED and CONNECT_ERROR end an attempt with an errno. Closing ' +
    'posts the offloaded FIN once; the peer\'s FIN, the acknowledgement of ours and DISCONNECTED (the shadow connection ' +
    'is torn down) lead through FIN-WAIT, CLOSING or CLOSE-WAIT and LAST-ACK to TIME-WAIT, which only its timer (or an ' +
    'abort) ends. DEVICE_REMOVAL closes the socket in any state and tells the application. A call in the wrong state ' +
    'fails with an errno and changes nothing.',
  source: ['§3.3', '§4.6', '§5.3.1 Figure 5.7', '§5.3.2', 'RFC 9293 §3.3.2, §3.10', 'protocol-notes.md §1, §4'],
  machine: guestSocketMachine,
  params,
  checkInput,
  samples: [{ name: 'default', input: {} }],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'app.connect', description: 'connect(): active open.' },
    { type: 'app.listen', description: 'listen(): passive open.' },
    { type: 'app.accept', description: 'accept() the pending connection.' },
    { type: 'app.send', description: 'send() `bytes` bytes.' },
    { type: 'app.recv', description: 'recv(): post a receive buffer, or read end of file.' },
    { type: 'app.close', description: 'close(): our half of the connection (the offloaded FIN).' },
    { type: 'app.abort', description: 'Abort the connection (SO_LINGER 0 close; RFC ABORT).' },
    { type: 'vtoe.event', description: 'An event from the VTOE event queue (`name`: one of the 12 of §4.6.3).' },
    { type: 'vtoe.peer-fin', description: 'The peer closed its half.' },
    { type: 'vtoe.fin-acked', description: 'The peer acknowledged our FIN (the posted disconnect completed).' },
    { type: 'timer.timewait', description: 'The time-wait timer expired.' },
  ],
  emits: [
    { type: 'vtoe.connect', description: 'Command: open a connection (the overlay resolves and sends the IB REQ).' },
    { type: 'vtoe.listen', description: 'Command: listen for connection requests.' },
    { type: 'vtoe.accept', description: 'Command: accept the pending request (the overlay sends the REP).' },
    { type: 'vtoe.send', description: 'Work request: send `bytes` bytes on the send work queue.' },
    { type: 'vtoe.recv', description: 'Work request: post a receive buffer on the receive work queue.' },
    { type: 'vtoe.disconnect', description: 'Command: close our half (the offloaded FIN).' },
    { type: 'vtoe.abort', description: 'Command: drop the connection or listen at once.' },
    { type: 'timer.start', description: 'Arm the time-wait timer for `delayNs`.' },
    { type: 'app.connected', description: 'connect() or accept() completed.' },
    { type: 'app.error', description: 'A call failed, or the connection failed, with `reason` (an errno).' },
    { type: 'app.eof', description: 'recv() found end of file: the peer closed.' },
    { type: 'app.closed', description: 'The connection is gone (close completed, or abort).' },
  ],
});
