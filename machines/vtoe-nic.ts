/**
 * VTOE NIC: the virtual TCP offload engine's device interface between the guest and the overlay
 * (VNET+VTOE): send and receive work queues, the event queue and the control registers.
 *
 * Sources: dissertation §4.6.3 (SWQ, RWQ, EQ and CRs; the guest places virtual work queue elements
 * (VWQEs) which the VTOE picks up; the EQ carries the 12 shadow-connection and overlay events),
 * §4.6.2 (the VNET_Core_CA behind the NIC), §5.3.1 "Data transfer" (SEND carries the socket id and
 * the data source; RECV posts a guest buffer to a connection), §5.3.2 (the guest's VNET socket module
 * drives the device); protocol-notes.md §4 (rdma_cm states and the ordered event sequences, which
 * the EQ follows per socket id) and §7 item 4.
 *
 * Guest side: a SEND or RECV VWQE goes into the SWQ or RWQ and waits there until the guest rings the
 * doorbell (`guest.doorbell`, a VM exit), when the VTOE hands every queued VWQE to the overlay in
 * posting order. A connection command (CONNECT, LISTEN, ACCEPT, DISCONNECT) is a control-register
 * write, itself a trapped access, so it reaches the overlay at once.
 *
 * Overlay side: the overlay posts events per socket id into the EQ; the NIC raises one virtual
 * interrupt when the EQ goes from empty to non-empty with none pending, and the guest's handler
 * drains the whole EQ (`guest.drain`), which clears the pending interrupt. The NIC tracks, per
 * socket id, where the socket stands in the rdma_cm order (a small automaton in the context) and
 * refuses (`eq.refused`, counted) an event the order does not allow there, so an overlay bug cannot
 * break the guest's contract; nothing is ever accepted for a socket after its DEVICE_REMOVAL.
 *
 * Choices made here (the dissertation leaves them open):
 * - a VWQE posted to a full SWQ or RWQ is refused to the guest (`guest.error` EAGAIN), as a full
 *   hardware work queue refuses a post; a VWQE or command for a removed socket fails with ENODEV;
 * - an event posted to a full EQ is fatal: `eq.overflow` is counted, the queued events are lost, the
 *   NIC enters `failed` (every access fails with EIO, overlay events are dropped) until the guest
 *   resets it (`guest.reset`), which starts every socket afresh;
 * - CONNECT, LISTEN and ACCEPT change a socket's place in the order, so they are refused (EBUSY)
 *   while events of that socket wait undelivered in the EQ: the guest acts on what it has seen;
 * - CONNECT_RESPONSE ends an active open like CONNECT_ESTABLISHED (the overlay, not the guest, owns
 *   the queue pair), and a socket whose connection ended (failed or DISCONNECTED) may be opened
 *   again: the connection agent gave the guest that socket id for a new connection.
 */
import { and, enqueueActions, not, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { VTOE_EVENTS, type VtoeEventName } from './vtoe-events.js';
import { checkParams, type ParamsOf } from './params.js';

export const params = {
  sockets: {
    kind: 'number',
    default: 16,
    min: 1,
    max: 1024,
    integer: true,
    unit: 'sockets',
    description: 'Socket ids the NIC serves, 0..sockets-1 (one rdma_cm-order automaton each).',
    source: '§4.6.2 (the VNET_Core_CA supplies a socket id per connection)',
  },
  swqDepth: {
    kind: 'number',
    default: 64,
    min: 1,
    max: 4096,
    integer: true,
    unit: 'VWQEs',
    description: 'Send work queue entries the guest may place before ringing the doorbell.',
    source: '§4.6.3',
  },
  rwqDepth: {
    kind: 'number',
    default: 64,
    min: 1,
    max: 4096,
    integer: true,
    unit: 'VWQEs',
    description: 'Receive work queue entries the guest may place before ringing the doorbell.',
    source: '§4.6.3',
  },
  eqDepth: {
    kind: 'number',
    default: 64,
    min: 1,
    max: 4096,
    integer: true,
    unit: 'events',
    description: 'Event queue entries; an event posted to a full EQ is a fatal overflow.',
    source: '§4.6.3',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('vtoe-nic', params, input);
}

/** The VTOE event-queue events (§4.6.3); the name this module has always exported them under. */
export const VTOE_EVENT_NAMES = VTOE_EVENTS;
export type { VtoeEventName };

export const COMMANDS = ['CONNECT', 'LISTEN', 'ACCEPT', 'DISCONNECT'] as const;
export type Command = (typeof COMMANDS)[number];

/**
 * Where a socket stands in the rdma_cm order (protocol-notes.md §4), as the guest will see it:
 * idle (no connection, or the last one ended in a failure), addr-query and route-query (active open
 * resolving), connecting (REQ out), listening, requested (CONNECT_REQUEST queued, not accepted),
 * accepted (REP out, waiting for the RTU), connected, disconnected, removed.
 */
export type CmPlace = 'idle' | 'addr-query' | 'route-query' | 'connecting' | 'listening' | 'requested' | 'accepted' | 'connected' | 'disconnected' | 'removed';

/** The next place after an event, or undefined when the rdma_cm order does not allow it there. */
export function afterEvent(place: CmPlace, name: VtoeEventName): CmPlace | undefined {
  if (place === 'removed') return undefined;
  if (name === 'DEVICE_REMOVAL') return 'removed';
  switch (place) {
    case 'addr-query':
      return name === 'ADDRESS_RESOLVED' ? 'route-query' : name === 'ADDRESS_ERROR' ? 'idle' : undefined;
    case 'route-query':
      return name === 'ROUTE_RESOLVED' ? 'connecting' : name === 'ROUTE_ERROR' ? 'idle' : undefined;
    case 'connecting':
      if (name === 'CONNECT_ESTABLISHED' || name === 'CONNECT_RESPONSE') return 'connected';
      return name === 'CONNECT_REJECTED' || name === 'UNREACHABLE' || name === 'CONNECT_ERROR' ? 'idle' : undefined;
    case 'listening':
      return name === 'CONNECT_REQUEST' ? 'requested' : undefined;
    case 'requested':
      return name === 'CONNECT_REJECTED' || name === 'UNREACHABLE' ? 'listening' : undefined;
    case 'accepted':
      if (name === 'CONNECT_ESTABLISHED') return 'connected';
      if (name === 'DISCONNECTED') return 'disconnected';
      return name === 'CONNECT_REJECTED' || name === 'UNREACHABLE' ? 'listening' : undefined;
    case 'connected':
      return name === 'DISCONNECTED' ? 'disconnected' : undefined;
    default:
      return undefined;
  }
}

/** The next place after a command, or undefined when the command is not allowed there. */
export function afterCommand(place: CmPlace, cmd: Command): CmPlace | undefined {
  if (place === 'removed') return undefined;
  const fresh = place === 'idle' || place === 'disconnected';
  switch (cmd) {
    case 'CONNECT':
      return fresh ? 'addr-query' : undefined;
    case 'LISTEN':
      // A socket id left listening (its listener was closed, or its pending request failed) may
      // listen again: the connection agent hands it out for a new listener.
      return fresh || place === 'listening' ? 'listening' : undefined;
    case 'ACCEPT':
      return place === 'requested' ? 'accepted' : undefined;
    case 'DISCONNECT':
      // rdma_disconnect has no rdma_cm state check (protocol-notes.md §4): it never moves the place.
      return place;
  }
}

export type Vwqe = { kind: 'SEND'; sid: number; bytes: number } | { kind: 'RECV'; sid: number; bufferId: number; bytes: number };
export type ErrorReason = 'EAGAIN' | 'EBUSY' | 'EINVAL' | 'ENODEV' | 'EIO';

export interface Context {
  readonly p: Params;
  swq: Vwqe[];
  rwq: Vwqe[];
  eq: { sid: number; name: VtoeEventName }[];
  irqPending: boolean;
  /** Each socket's place in the rdma_cm order, counting events accepted into the EQ. */
  place: CmPlace[];
  /** Events delivered to the guest per socket since the last reset, in order (history, not serialized). */
  delivered: VtoeEventName[][];
  stats: {
    posted: number;
    postsRefused: number;
    doorbells: number;
    pickedUp: number;
    commands: number;
    commandsRefused: number;
    eventsQueued: number;
    eventsRefused: number;
    eventsDropped: number;
    delivered: number;
    interrupts: number;
    overflows: number;
    resets: number;
    maxEq: number;
  };
}

export type Event =
  /** The guest places a SEND VWQE (socket id, bytes) in the SWQ. */
  | { type: 'guest.post-send'; sid: number; bytes: number }
  /** The guest places a RECV VWQE (socket id, guest buffer, its size) in the RWQ. */
  | { type: 'guest.post-recv'; sid: number; bufferId: number; bytes: number }
  /** The guest rings the doorbell (a VM exit): the VTOE picks up every queued VWQE. */
  | { type: 'guest.doorbell' }
  /** The guest writes a connection command to the control registers (a trapped access). */
  | { type: 'guest.command'; cmd: Command; sid: number }
  /** The guest's interrupt handler drains the EQ. */
  | { type: 'guest.drain' }
  /** The guest resets the NIC after a fatal error. */
  | { type: 'guest.reset' }
  /** The overlay (VNET_Core_CA) posts an event for socket `sid` into the EQ. */
  | { type: 'overlay.event'; sid: number; name: VtoeEventName };

export type Emitted =
  | { type: 'overlay.vwqe'; vwqe: Vwqe }
  | { type: 'overlay.command'; cmd: Command; sid: number }
  | { type: 'guest.error'; op: 'post-send' | 'post-recv' | 'command'; sid: number; reason: ErrorReason }
  | { type: 'guest.event'; sid: number; name: VtoeEventName }
  | { type: 'irq.raise' }
  | { type: 'eq.refused'; sid: number; name: VtoeEventName }
  | { type: 'eq.overflow'; sid: number; name: VtoeEventName; lost: number }
  | { type: 'eq.dropped'; sid: number; name: VtoeEventName };

export function initialContext(p: Params): Context {
  return {
    p,
    swq: [],
    rwq: [],
    eq: [],
    irqPending: false,
    place: Array.from({ length: p.sockets }, () => 'idle' as CmPlace),
    delivered: Array.from({ length: p.sockets }, () => [] as VtoeEventName[]),
    stats: {
      posted: 0,
      postsRefused: 0,
      doorbells: 0,
      pickedUp: 0,
      commands: 0,
      commandsRefused: 0,
      eventsQueued: 0,
      eventsRefused: 0,
      eventsDropped: 0,
      delivered: 0,
      interrupts: 0,
      overflows: 0,
      resets: 0,
      maxEq: 0,
    },
  };
}

const src = (source: string) => ({ source });
const sidOf = (e: Event): number => ('sid' in e ? e.sid : -1);
const inRange = (c: Context, sid: number) => Number.isInteger(sid) && sid >= 0 && sid < c.p.sockets;

export const vtoeNicMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    /** The socket id is unknown or its device was removed. */
    socketGone: ({ context, event }) => !inRange(context, sidOf(event)) || context.place[sidOf(event)] === 'removed',
    swqFull: ({ context }) => context.swq.length >= context.p.swqDepth,
    rwqFull: ({ context }) => context.rwq.length >= context.p.rwqDepth,
    /** A command that would move the socket while events of it still wait in the EQ. */
    eventsUndelivered: ({ context, event }) =>
      event.type === 'guest.command' && event.cmd !== 'DISCONNECT' && context.eq.some((x) => x.sid === event.sid),
    commandAllowed: ({ context, event }) => event.type === 'guest.command' && afterCommand(context.place[event.sid], event.cmd) !== undefined,
    eventInOrder: ({ context, event }) =>
      event.type === 'overlay.event' && inRange(context, event.sid) && afterEvent(context.place[event.sid], event.name) !== undefined,
    eqFull: ({ context }) => context.eq.length >= context.p.eqDepth,
    eqNonEmpty: ({ context }) => context.eq.length > 0,
  },
  actions: {
    queueVwqe: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'guest.post-send') {
        enqueue.assign({ swq: [...context.swq, { kind: 'SEND', sid: event.sid, bytes: event.bytes }], stats: { ...context.stats, posted: context.stats.posted + 1 } });
      } else if (event.type === 'guest.post-recv') {
        const vwqe: Vwqe = { kind: 'RECV', sid: event.sid, bufferId: event.bufferId, bytes: event.bytes };
        enqueue.assign({ rwq: [...context.rwq, vwqe], stats: { ...context.stats, posted: context.stats.posted + 1 } });
      }
    }),
    refuse: enqueueActions(({ context, event, enqueue }, params: { reason: ErrorReason }) => {
      const op = event.type === 'guest.post-send' ? 'post-send' : event.type === 'guest.post-recv' ? 'post-recv' : 'command';
      const stats =
        op === 'command'
          ? { ...context.stats, commandsRefused: context.stats.commandsRefused + 1 }
          : { ...context.stats, postsRefused: context.stats.postsRefused + 1 };
      enqueue.assign({ stats });
      enqueue.emit({ type: 'guest.error', op, sid: sidOf(event), reason: params.reason });
    }),
    /** The doorbell: every queued VWQE goes to the overlay, sends first, each queue in order. */
    pickUp: enqueueActions(({ context, enqueue }) => {
      for (const vwqe of [...context.swq, ...context.rwq]) enqueue.emit({ type: 'overlay.vwqe', vwqe });
      enqueue.assign({
        swq: [],
        rwq: [],
        stats: { ...context.stats, doorbells: context.stats.doorbells + 1, pickedUp: context.stats.pickedUp + context.swq.length + context.rwq.length },
      });
    }),
    issueCommand: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'guest.command') return;
      const place = [...context.place];
      place[event.sid] = afterCommand(place[event.sid], event.cmd) ?? place[event.sid];
      enqueue.assign({ place, stats: { ...context.stats, commands: context.stats.commands + 1 } });
      enqueue.emit({ type: 'overlay.command', cmd: event.cmd, sid: event.sid });
    }),
    /** Accept the event into the EQ; the EQ going non-empty with no interrupt pending raises one. */
    queueEvent: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'overlay.event') return;
      const place = [...context.place];
      place[event.sid] = afterEvent(place[event.sid], event.name) ?? place[event.sid];
      const eq = [...context.eq, { sid: event.sid, name: event.name }];
      const raise = !context.irqPending;
      enqueue.assign({
        eq,
        place,
        irqPending: true,
        stats: {
          ...context.stats,
          eventsQueued: context.stats.eventsQueued + 1,
          interrupts: context.stats.interrupts + (raise ? 1 : 0),
          maxEq: Math.max(context.stats.maxEq, eq.length),
        },
      });
      if (raise) enqueue.emit({ type: 'irq.raise' });
    }),
    refuseEvent: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'overlay.event') return;
      enqueue.assign({ stats: { ...context.stats, eventsRefused: context.stats.eventsRefused + 1 } });
      enqueue.emit({ type: 'eq.refused', sid: event.sid, name: event.name });
    }),
    overflow: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'overlay.event') return;
      enqueue.assign({ eq: [], swq: [], rwq: [], irqPending: false, stats: { ...context.stats, overflows: context.stats.overflows + 1 } });
      enqueue.emit({ type: 'eq.overflow', sid: event.sid, name: event.name, lost: context.eq.length });
    }),
    dropEvent: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'overlay.event') return;
      enqueue.assign({ stats: { ...context.stats, eventsDropped: context.stats.eventsDropped + 1 } });
      enqueue.emit({ type: 'eq.dropped', sid: event.sid, name: event.name });
    }),
    /** The handler reads every queued event in order; the pending interrupt is acknowledged. */
    drain: enqueueActions(({ context, enqueue }) => {
      const delivered = context.delivered.map((d) => [...d]);
      for (const x of context.eq) {
        delivered[x.sid].push(x.name);
        enqueue.emit({ type: 'guest.event', sid: x.sid, name: x.name });
      }
      enqueue.assign({ eq: [], irqPending: false, delivered, stats: { ...context.stats, delivered: context.stats.delivered + context.eq.length } });
    }),
    reset: enqueueActions(({ context, enqueue }) => {
      const fresh = initialContext(context.p);
      enqueue.assign({ ...fresh, stats: { ...context.stats, resets: context.stats.resets + 1 } });
    }),
  },
}).createMachine({
  id: 'vtoe-nic',
  description:
    'The VTOE NIC: the guest places SEND and RECV VWQEs in the SWQ and RWQ and rings the doorbell; connection commands go through the ' +
    'control registers; the overlay posts per-socket events into the EQ in the rdma_cm order, with one interrupt per empty-to-non-empty EQ.',
  meta: src('§4.6.3; protocol-notes.md §4'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'running',
  states: {
    running: {
      description: 'The NIC accepts VWQEs, commands and overlay events.',
      meta: src('§4.6.3'),
      on: {
        'guest.post-send': [
          { guard: 'socketGone', actions: { type: 'refuse', params: { reason: 'ENODEV' } }, description: 'A SEND for an unknown or removed socket fails with ENODEV.', meta: src('protocol-notes.md §4 invariant 4') },
          { guard: 'swqFull', actions: { type: 'refuse', params: { reason: 'EAGAIN' } }, description: 'The SWQ is full: the post is refused with EAGAIN and the guest retries later.', meta: src('§4.6.3 (bounded work queue; choice)') },
          { actions: 'queueVwqe', description: 'The SEND VWQE is placed in the SWQ until the doorbell.', meta: src('§4.6.3; §5.3.1 "posting a SEND request with Socket ID and data source to the send work queue"') },
        ],
        'guest.post-recv': [
          { guard: 'socketGone', actions: { type: 'refuse', params: { reason: 'ENODEV' } }, description: 'A RECV for an unknown or removed socket fails with ENODEV.', meta: src('protocol-notes.md §4 invariant 4') },
          { guard: 'rwqFull', actions: { type: 'refuse', params: { reason: 'EAGAIN' } }, description: 'The RWQ is full: the post is refused with EAGAIN.', meta: src('§4.6.3 (bounded work queue; choice)') },
          { actions: 'queueVwqe', description: 'The RECV VWQE (a guest buffer for the socket) is placed in the RWQ until the doorbell.', meta: src('§5.3.1 "guests use the receive work queue in the VTOE NIC to post receive buffers"') },
        ],
        'guest.doorbell': {
          actions: 'pickUp',
          description: 'The doorbell VM exit: the VTOE picks up every queued VWQE and hands it to the overlay.',
          meta: src('§4.6.3 "From there the operation is picked up for execution by the VTOE"'),
        },
        'guest.command': [
          { guard: 'socketGone', actions: { type: 'refuse', params: { reason: 'ENODEV' } }, description: 'A command for an unknown or removed socket fails with ENODEV.', meta: src('protocol-notes.md §4 invariant 4') },
          { guard: 'eventsUndelivered', actions: { type: 'refuse', params: { reason: 'EBUSY' } }, description: 'CONNECT, LISTEN or ACCEPT while events of the socket are undelivered: EBUSY (choice).', meta: src('protocol-notes.md §4 "Ordered event sequences"') },
          { guard: 'commandAllowed', actions: 'issueCommand', description: 'The control-register write reaches the overlay at once.', meta: src('§4.6.3 "a set of control registers (CRs) to issue commands to the overlay"') },
          { actions: { type: 'refuse', params: { reason: 'EINVAL' } }, description: 'The command is not allowed where the socket stands (the rdma_cm call state check): EINVAL.', meta: src('protocol-notes.md §4 (required state of each call)') },
        ],
        'guest.drain': {
          guard: 'eqNonEmpty',
          actions: 'drain',
          description: 'The interrupt handler delivers every queued event to the guest in order and acknowledges the interrupt.',
          meta: src('§4.6.3 "an event queue (EQ) to be notified of asynchronous events from the overlay"'),
        },
        'overlay.event': [
          { guard: not('eventInOrder'), actions: 'refuseEvent', description: 'An event the rdma_cm order does not allow for the socket here is refused and counted.', meta: src('protocol-notes.md §4 "Ordered event sequences", invariants 1-4') },
          { guard: and(['eventInOrder', 'eqFull']), target: 'failed', actions: 'overflow', description: 'The EQ is full: a fatal overflow; queued events are lost and the NIC stops (choice).', meta: src('§4.6.3 (bounded event queue; choice)') },
          { actions: 'queueEvent', description: 'The event enters the EQ; an empty EQ with no interrupt pending raises a virtual interrupt.', meta: src('§4.6.3; §4.6.2 "event dispatcher handles virtual interrupt and asynchronous event delivery"') },
        ],
      },
    },
    failed: {
      description: 'After an EQ overflow: every guest access fails with EIO and overlay events are dropped until the guest resets the NIC.',
      meta: src('§4.6.3 (choice)'),
      on: {
        'guest.post-send': { actions: { type: 'refuse', params: { reason: 'EIO' } }, description: 'The failed NIC refuses a SEND with EIO.', meta: src('§4.6.3 (choice)') },
        'guest.post-recv': { actions: { type: 'refuse', params: { reason: 'EIO' } }, description: 'The failed NIC refuses a RECV with EIO.', meta: src('§4.6.3 (choice)') },
        'guest.command': { actions: { type: 'refuse', params: { reason: 'EIO' } }, description: 'The failed NIC refuses a command with EIO.', meta: src('§4.6.3 (choice)') },
        'overlay.event': { actions: 'dropEvent', description: 'An overlay event is dropped and counted: nothing reaches the guest.', meta: src('§4.6.3 (choice)') },
        'guest.reset': { target: 'running', actions: 'reset', description: 'The guest resets the NIC: empty queues, every socket idle.', meta: src('§4.6.3 (choice)') },
      },
    },
  },
});

export type VtoeNicMachine = typeof vtoeNicMachine;
type Snap = SnapshotFrom<VtoeNicMachine>;

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'queues-within-bounds',
    description: 'The SWQ, RWQ and EQ never hold more entries than their depth.',
    source: '§4.6.3',
    check: (s) => {
      const c = s.context;
      if (c.swq.length > c.p.swqDepth) return `SWQ holds ${c.swq.length} > ${c.p.swqDepth}`;
      if (c.rwq.length > c.p.rwqDepth) return `RWQ holds ${c.rwq.length} > ${c.p.rwqDepth}`;
      if (c.eq.length > c.p.eqDepth) return `EQ holds ${c.eq.length} > ${c.p.eqDepth}`;
      return undefined;
    },
    witness: { name: 'eq-full', description: 'The EQ is sometimes full.', reached: (s) => s.context.eq.length === s.context.p.eqDepth },
  },
  {
    name: 'interrupt-pending-while-events-queued',
    description: 'An interrupt is pending exactly while the EQ holds events: no queued event waits without an interrupt, and no interrupt is pending for an empty EQ.',
    source: '§4.6.2 (event dispatcher); §4.6.3',
    check: (s) => (s.context.irqPending !== s.context.eq.length > 0 ? `interrupt pending = ${s.context.irqPending} with ${s.context.eq.length} events queued` : undefined),
    witness: { name: 'events-coalesced', description: 'Sometimes two events wait behind one interrupt.', reached: (s) => s.context.eq.length >= 2 },
  },
  {
    name: 'nothing-delivered-after-device-removal',
    description: 'No event is delivered to the guest for a socket after its DEVICE_REMOVAL.',
    source: 'protocol-notes.md §4 invariant 4; §7 item 4',
    check: (s) => {
      for (const [sid, names] of s.context.delivered.entries()) {
        const i = names.indexOf('DEVICE_REMOVAL');
        if (i >= 0 && i < names.length - 1) return `socket ${sid} was delivered ${names[i + 1]} after DEVICE_REMOVAL`;
      }
      return undefined;
    },
    witness: { name: 'device-removal-delivered', description: 'DEVICE_REMOVAL is sometimes delivered.', reached: (s) => s.context.delivered.some((d) => d.includes('DEVICE_REMOVAL')) },
  },
  {
    name: 'failed-nic-holds-nothing',
    description: 'A failed NIC holds no VWQE and no event, and has no interrupt pending: nothing is delivered until the guest resets it.',
    source: '§4.6.3 (choice)',
    check: (s) =>
      s.value === 'failed' && (s.context.eq.length > 0 || s.context.swq.length > 0 || s.context.rwq.length > 0 || s.context.irqPending) ? 'the failed NIC still holds work or an interrupt' : undefined,
    witness: { name: 'eq-overflowed', description: 'The EQ sometimes overflows.', reached: (s) => s.context.stats.overflows > 0 },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  { name: 'post-refused-queue-full', description: 'A VWQE is sometimes refused on a full work queue.', reached: (s) => s.context.stats.postsRefused > 0 },
  { name: 'event-refused-out-of-order', description: 'An out-of-order overlay event is sometimes refused.', reached: (s) => s.context.stats.eventsRefused > 0 },
  { name: 'active-open-established', description: 'A socket is sometimes connected after an active open.', reached: (s) => s.context.delivered.some((d) => d.includes('ROUTE_RESOLVED') && d.includes('CONNECT_ESTABLISHED')) },
  { name: 'passive-open-established', description: 'A socket is sometimes connected after CONNECT_REQUEST.', reached: (s) => s.context.delivered.some((d) => d[0] === 'CONNECT_REQUEST' && d.includes('CONNECT_ESTABLISHED')) },
  { name: 'nic-reset', description: 'The guest sometimes resets a failed NIC.', reached: (s) => s.context.stats.resets > 0 },
];

/** The exploration alphabet: every post, command and event for every socket, the doorbell, the drain and the reset. */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const ev: Event[] = [];
  for (let sid = 0; sid < c.p.sockets; sid++) {
    ev.push({ type: 'guest.post-send', sid, bytes: 1000 }, { type: 'guest.post-recv', sid, bufferId: c.stats.posted, bytes: 4096 });
    for (const cmd of COMMANDS) ev.push({ type: 'guest.command', cmd, sid });
    for (const name of VTOE_EVENT_NAMES) ev.push({ type: 'overlay.event', sid, name });
  }
  ev.push({ type: 'guest.doorbell' }, { type: 'guest.drain' }, { type: 'guest.reset' });
  return ev;
}

/** A finite key: the work-queue lengths (their socket ids decide nothing later), the EQ, the interrupt, every socket's place (not the history or buffer ids). */
export function serializeState(s: Snap): string {
  const c = s.context;
  // One bit of history per socket, always 0 in a correct NIC, so that a violation is not merged away.
  const afterRemoval = c.delivered.map((d) => (d.includes('DEVICE_REMOVAL') && d[d.length - 1] !== 'DEVICE_REMOVAL' ? 1 : 0));
  return JSON.stringify([s.value, c.swq.length, c.rwq.length, c.eq.map((x) => [x.sid, x.name]), c.irqPending, c.place, afterRemoval]);
}

export const entry = defineEntry({
  id: 'vtoe-nic',
  title: 'VTOE NIC: work queues, event queue and control registers',
  summary:
    'The guest talks to the virtual TCP offload engine through four structures (§4.6.3). It places SEND VWQEs {socket id, bytes} ' +
    'in the send work queue and RECV VWQEs {socket id, buffer, bytes} in the receive work queue, and rings the doorbell, a VM exit at ' +
    'which the VTOE hands every queued VWQE to the overlay in order. Connection commands (CONNECT, LISTEN, ACCEPT, DISCONNECT) are ' +
    'control-register writes and reach the overlay at once. The overlay posts the 12 VTOE events per socket into the event queue; ' +
    'the NIC keeps each socket\'s place in the rdma_cm order (protocol-notes.md §4: ADDRESS_RESOLVED, ROUTE_RESOLVED, then ' +
    'ESTABLISHED or a failure on an active open; CONNECT_REQUEST, then ESTABLISHED after ACCEPT on a passive one; DISCONNECTED once ' +
    'connected; nothing after DEVICE_REMOVAL) and refuses an event out of that order. An event entering an empty EQ with no interrupt ' +
    'pending raises a virtual interrupt; the guest\'s handler drains the EQ. Choices: a post to a full work queue is refused with ' +
    'EAGAIN; an EQ overflow is fatal (queued events lost, every access fails with EIO until the guest resets the NIC); CONNECT, LISTEN ' +
    'and ACCEPT are refused with EBUSY while events of that socket wait undelivered.',
  source: ['§4.6.3', '§4.6.2', '§5.3.1 "Data transfer"', '§5.3.2', 'protocol-notes.md §4, §7'],
  machine: vtoeNicMachine,
  params,
  checkInput,
  samples: [
    { name: 'one-socket', input: { sockets: 1, swqDepth: 1, rwqDepth: 1, eqDepth: 2 } },
    { name: 'two-sockets', input: { sockets: 2, swqDepth: 1, rwqDepth: 1, eqDepth: 1 } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'guest.post-send', description: 'The guest places a SEND VWQE {sid, bytes} in the SWQ.' },
    { type: 'guest.post-recv', description: 'The guest places a RECV VWQE {sid, bufferId, bytes} in the RWQ.' },
    { type: 'guest.doorbell', description: 'The guest rings the doorbell (VM exit): queued VWQEs go to the overlay.' },
    { type: 'guest.command', description: 'A control-register command (`cmd`: CONNECT, LISTEN, ACCEPT, DISCONNECT) for socket `sid`.' },
    { type: 'guest.drain', description: 'The guest interrupt handler drains the EQ.' },
    { type: 'guest.reset', description: 'The guest resets a failed NIC.' },
    { type: 'overlay.event', description: 'The overlay posts VTOE event `name` for socket `sid` into the EQ.' },
  ],
  emits: [
    { type: 'overlay.vwqe', description: 'A VWQE picked up at the doorbell, handed to the overlay.' },
    { type: 'overlay.command', description: 'A connection command handed to the overlay.' },
    { type: 'guest.error', description: 'A post or command refused (EAGAIN full queue, EBUSY, EINVAL, ENODEV, EIO).' },
    { type: 'guest.event', description: 'An event delivered to the guest from the EQ.' },
    { type: 'irq.raise', description: 'A virtual interrupt raised for the guest.' },
    { type: 'eq.refused', description: 'An overlay event out of the rdma_cm order, refused and counted.' },
    { type: 'eq.overflow', description: 'An event posted to a full EQ: fatal, queued events lost.' },
    { type: 'eq.dropped', description: 'An overlay event dropped by a failed NIC.' },
  ],
});
