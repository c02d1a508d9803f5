/**
 * Connection agent: the VNET_Core_CA and VNET_Host_CA of one host (VNET+VTOE), between the guest's
 * VTOE NIC and the host's shadow connections and queue pairs.
 *
 * Sources: dissertation §4.6.2 (the Core CA supplies a socket id (SID) per connection, maps SIDs to
 * shadow connection ids (CIDs), provides receive buffers from the guest's to the Host CA, translates
 * device events into VTOE events; the Host CA creates and manages the shadow connections), §5.3.1
 * (connection establishment and termination with Figure 5.7; address and route resolution through
 * the overlay's routing; "Data transfer": a SEND is mapped from its SID to the CID's RC queue pair
 * with no copy, and guest receive buffers are posted to the CID's queue pair), §5.3.2 (the guest's
 * VNET socket module); protocol-notes.md §2 (ib_cm consumer events), §4 (the rdma_cm event each one
 * becomes) and §7.
 *
 * A SID is allocated on the guest's request (`vtoe.socket`) and carries one connection. An active
 * open resolves the peer's guest address to an IB address and then a route through the overlay's
 * routing (`route.resolve-address`, `route.resolve-route`, answered by `route.address-result` and
 * `route.route-result`; a missing entry becomes ADDRESS_ERROR or ROUTE_ERROR), then creates the
 * shadow CID and asks it to connect (`cm.call ca.connect`). A passive open creates the CID at
 * LISTEN. The shadow connection's ib_cm events are translated into VTOE events for the SID (REP
 * received: the agent sends the RTU and reports CONNECT_ESTABLISHED; REJ: CONNECT_REJECTED; REQ or
 * REP retries exhausted: UNREACHABLE; DREQ, DREP or DREQ timeout: DISCONNECTED). On a DREQ from the
 * peer the agent itself answers with the DREP, as §5.3.1 describes.
 *
 * Data moves with no copy (§5.3.1): a SEND VWQE becomes one `qp.post-send` of the guest's buffer on
 * the CID's queue pair and a RECV VWQE one `qp.post-recv` of the guest's buffer, allowed as soon as
 * the CID exists (before the connection is established, as the REQ advertises receive credits); their
 * completions become `vtoe.completion` for the SID. The agent counts copies (`copies`), which stay 0.
 *
 * A guest that closes a SID whose connection request it has not accepted (the request may still be in
 * the event queue when a listener is closed) rejects the request at the CM, as rdma_reject (ib_send_cm_rej)
 * with the consumer-reject reason (28) would; like rdma_reject, this raises no event for the SID.
 * Otherwise nobody would ever answer the REQ and the SID and the shadow connection would be held for ever.
 *
 * Release: once a connection that had a CID ends (failure, consumer reject or disconnect) the SID and CID stay
 * reserved for `timeWaitNs`, so that late packets and CM messages of the old connection find no new
 * owner; the time-wait timer then releases both. A failure before any CID exists (address or route
 * error) releases the SID at once. DEVICE_REMOVAL of the host's IB device is reported to every SID
 * and releases everything; the agent then refuses all requests (ENODEV).
 *
 * Choices made here: the agent keeps its own time-wait (at least the IB time-wait) instead of
 * waiting for the shadow's TIMEWAIT_EXIT, which a failed handshake does not always produce; CM
 * events and completions for a CID the agent does not map are not accepted (the Host CA delivers
 * events only for live CIDs); DISCONNECT is allowed on an established connection, on a pending
 * request not yet accepted (consumer reject, then time-wait like any connection that had a CID: it
 * lets a duplicate REQ die out, and the release then finds the shadow back in IDLE) and on a listener no
 * request reached (which is destroyed at once: it never carried a connection, so it has no time-wait).
 */
import { and, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import type { VtoeEventName as AnyVtoeEventName } from './vtoe-events.js';
import { checkParams, type ParamsOf } from './params.js';
import type { CmEventName, ConsumerCall } from './shadow-connection.js';
import type { CompletionStatus, WorkRequest } from './queue-pair.js';

export const params = {
  maxSockets: {
    kind: 'number',
    default: 64,
    min: 1,
    max: 4096,
    integer: true,
    unit: 'SIDs',
    description: 'Socket ids (and shadow CIDs) the agent can have in use at once, numbered 0..maxSockets-1.',
    source: '§4.6.2',
  },
  timeWaitNs: {
    kind: 'number',
    default: 64_000_000,
    min: 1,
    max: 1_000_000_000_000,
    integer: true,
    unit: 'ns',
    description: 'How long a SID and its CID stay reserved after their connection ended (at least the IB time-wait, 64 ms).',
    source: '§5.3.1 "timeouts are used to transition from time wait to idle"; protocol-notes.md §2 "Timers and owners"',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('connection-agent', params, input);
}

/** The VTOE events this agent raises (all of §4.6.3 but CONNECT_RESPONSE and CONNECT_ERROR). */
export type VtoeEventName = Exclude<AnyVtoeEventName, 'CONNECT_RESPONSE' | 'CONNECT_ERROR'>;

/** Where a SID's connection stands. */
export type Phase =
  | 'open'
  | 'resolving-address'
  | 'resolving-route'
  | 'connecting'
  | 'listening'
  | 'requested'
  | 'accepting'
  | 'established'
  | 'closing'
  | 'time-wait';

/** Phases in which the SID has a shadow CID. */
export const WITH_CID: readonly Phase[] = ['connecting', 'listening', 'requested', 'accepting', 'established', 'closing', 'time-wait'];

export interface SidEntry {
  phase: Phase;
  /** Receive and send work requests posted for the SID and not yet completed. */
  recvs: number;
  sends: number;
}

export type ErrorReason = 'EBADF' | 'EINVAL' | 'ENOTCONN' | 'EMFILE' | 'ENODEV';

/** The IB CM reject reason rdma_reject sends for a consumer reject (IB_CM_REJ_CONSUMER_DEFINED; protocol-notes.md §4). */
export const CONSUMER_REJECT = 28;

export interface Context {
  readonly p: Params;
  /** The SID table: an entry per allocated SID, null when free. */
  sids: (SidEntry | null)[];
  /** SID -> CID and CID -> SID, kept as two tables so that each direction can be checked against the other. */
  sidToCid: (number | null)[];
  cidToSid: (number | null)[];
  /** Data copies the overlay made (zero-copy: always 0). */
  copies: number;
  stats: {
    allocated: number;
    released: number;
    releasedAfterTimeWait: number;
    addressErrors: number;
    routeErrors: number;
    rejected: number;
    /** Pending requests the guest closed, rejected at the CM by the agent. */
    consumerRejects: number;
    unreachable: number;
    established: number;
    disconnected: number;
    sends: number;
    recvs: number;
    recvsBeforeEstablished: number;
    completions: number;
    refused: number;
    removals: number;
  };
}

export type Event =
  /** The guest asks for a new offload socket. */
  | { type: 'vtoe.socket' }
  /** CONNECT command: active open of `sid`. */
  | { type: 'vtoe.connect'; sid: number }
  /** LISTEN command: passive open of `sid`. */
  | { type: 'vtoe.listen'; sid: number }
  /** ACCEPT command: accept the pending connection request of `sid`. */
  | { type: 'vtoe.accept'; sid: number }
  /** DISCONNECT command: close `sid`'s connection. */
  | { type: 'vtoe.disconnect'; sid: number }
  /** A SEND VWQE picked up from the SWQ. */
  | { type: 'vtoe.send'; sid: number; wrId: number; bytes: number }
  /** A RECV VWQE picked up from the RWQ: guest buffer `bufferId` of `bytes` for `sid`. */
  | { type: 'vtoe.recv'; sid: number; bufferId: number; bytes: number }
  /** The overlay's routing answers the address lookup (guest address to IB address). */
  | { type: 'route.address-result'; sid: number; found: boolean }
  /** The overlay's routing answers the route lookup (path to the peer's IB address). */
  | { type: 'route.route-result'; sid: number; found: boolean }
  /** An ib_cm consumer event from shadow connection `cid`. */
  | { type: 'cm.event'; cid: number; name: CmEventName }
  /** A completion on the queue pair of `cid`. */
  | { type: 'qp.completion'; cid: number; queue: 'send' | 'recv'; wrId: number; bytes: number; status: CompletionStatus }
  /** The time-wait of `sid` ran out. */
  | { type: 'timer.timewait'; sid: number }
  /** The host's IB device was removed. */
  | { type: 'host.device-removal' };

export type Emitted =
  | { type: 'vtoe.sid'; sid: number }
  | { type: 'vtoe.event'; sid: number; name: VtoeEventName }
  | { type: 'vtoe.completion'; sid: number; queue: 'send' | 'recv'; wrId: number; bytes: number; status: CompletionStatus }
  | { type: 'vtoe.error'; op: Event['type']; sid: number; reason: ErrorReason }
  | { type: 'route.resolve-address'; sid: number }
  | { type: 'route.resolve-route'; sid: number }
  | { type: 'cid.created'; cid: number; sid: number }
  | { type: 'cm.call'; cid: number; call: ConsumerCall; reason?: typeof CONSUMER_REJECT }
  | { type: 'qp.post-send'; cid: number; wr: WorkRequest }
  | { type: 'qp.post-recv'; cid: number; wr: WorkRequest }
  | { type: 'copy'; sid: number; bytes: number }
  | { type: 'timer.start'; timer: 'timewait'; sid: number; delayNs: number }
  | { type: 'released'; sid: number; cid: number | null };

export function initialContext(p: Params): Context {
  return {
    p,
    sids: Array.from({ length: p.maxSockets }, () => null),
    sidToCid: Array.from({ length: p.maxSockets }, () => null),
    cidToSid: Array.from({ length: p.maxSockets }, () => null),
    copies: 0,
    stats: {
      allocated: 0,
      released: 0,
      releasedAfterTimeWait: 0,
      addressErrors: 0,
      routeErrors: 0,
      rejected: 0,
      consumerRejects: 0,
      unreachable: 0,
      established: 0,
      disconnected: 0,
      sends: 0,
      recvs: 0,
      recvsBeforeEstablished: 0,
      completions: 0,
      refused: 0,
      removals: 0,
    },
  };
}

const src = (source: string) => ({ source });

/** The SID an event is about: named directly, or through the CID map. */
function sidOf(c: Context, e: Event): number | null {
  if ('sid' in e) return Number.isInteger(e.sid) && e.sid >= 0 && e.sid < c.p.maxSockets ? e.sid : null;
  if ('cid' in e) return Number.isInteger(e.cid) && e.cid >= 0 && e.cid < c.p.maxSockets ? c.cidToSid[e.cid] : null;
  return null;
}
const entryOf = (c: Context, e: Event): SidEntry | null => {
  const sid = sidOf(c, e);
  return sid === null ? null : c.sids[sid];
};

/** Copies of the tables with `sid`'s entry replaced (or freed, with its CID). */
function withEntry(c: Context, sid: number, entry: SidEntry | null, cid?: number | null) {
  const sids = [...c.sids];
  sids[sid] = entry;
  const sidToCid = [...c.sidToCid];
  const cidToSid = [...c.cidToSid];
  if (cid !== undefined) {
    const old = sidToCid[sid];
    if (old !== null) cidToSid[old] = null;
    sidToCid[sid] = cid;
    if (cid !== null) cidToSid[cid] = sid;
  }
  return { sids, sidToCid, cidToSid };
}

/** Guard references with typed parameters (inside `and([...])` literal arrays widen to string[]). */
const phase = (...phases: Phase[]) => ({ type: 'phaseIs', params: { phases } }) as const;
const cm = (...names: CmEventName[]) => ({ type: 'cmIs', params: { names } }) as const;

type Translation = { name: VtoeEventName; next: Phase; call?: ConsumerCall; stat?: keyof Context['stats'] };

export const connectionAgentMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    sidFree: ({ context }) => context.sids.some((s) => s === null),
    phaseIs: ({ context, event }, params: { phases: readonly Phase[] }) => {
      const e = entryOf(context, event);
      return e !== null && params.phases.includes(e.phase);
    },
    cmIs: ({ event }, params: { names: readonly CmEventName[] }) => event.type === 'cm.event' && params.names.includes(event.name),
    found: ({ event }) => (event.type === 'route.address-result' || event.type === 'route.route-result') && event.found,
    handshakeTimedOut: ({ context, event }) => {
      const e = entryOf(context, event);
      if (event.type !== 'cm.event' || e === null) return false;
      return (event.name === 'REQ_ERROR' && e.phase === 'connecting') || (event.name === 'REP_ERROR' && e.phase === 'accepting');
    },
    workOutstanding: ({ context, event }) => {
      const e = entryOf(context, event);
      return event.type === 'qp.completion' && e !== null && (event.queue === 'send' ? e.sends : e.recvs) > 0;
    },
  },
  actions: {
    /** The lowest free SID; a SID in time-wait is not free. */
    allocateSid: enqueueActions(({ context, enqueue }) => {
      const sid = context.sids.findIndex((s) => s === null);
      enqueue.assign({ ...withEntry(context, sid, { phase: 'open', recvs: 0, sends: 0 }, null), stats: { ...context.stats, allocated: context.stats.allocated + 1 } });
      enqueue.emit({ type: 'vtoe.sid', sid });
    }),
    refuse: enqueueActions(({ context, event, enqueue }, params: { reason?: ErrorReason }) => {
      const sid = sidOf(context, event);
      const reason = params.reason ?? (sid === null || context.sids[sid] === null ? 'EBADF' : 'EINVAL');
      enqueue.assign({ stats: { ...context.stats, refused: context.stats.refused + 1 } });
      enqueue.emit({ type: 'vtoe.error', op: event.type, sid: sid ?? -1, reason });
    }),
    resolveAddress: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'vtoe.connect') return;
      enqueue.assign(withEntry(context, event.sid, { ...context.sids[event.sid]!, phase: 'resolving-address' }));
      enqueue.emit({ type: 'route.resolve-address', sid: event.sid });
    }),
    addressResolved: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'route.address-result') return;
      enqueue.assign(withEntry(context, event.sid, { ...context.sids[event.sid]!, phase: 'resolving-route' }));
      enqueue.emit({ type: 'vtoe.event', sid: event.sid, name: 'ADDRESS_RESOLVED' });
      enqueue.emit({ type: 'route.resolve-route', sid: event.sid });
    }),
    /** No CID exists yet: nothing to wait for, the SID is released at once. */
    resolutionFailed: enqueueActions(({ context, event, enqueue }, params: { name: 'ADDRESS_ERROR' | 'ROUTE_ERROR' }) => {
      if (event.type !== 'route.address-result' && event.type !== 'route.route-result') return;
      const stat = params.name === 'ADDRESS_ERROR' ? 'addressErrors' : 'routeErrors';
      enqueue.emit({ type: 'vtoe.event', sid: event.sid, name: params.name });
      enqueue.assign({ ...withEntry(context, event.sid, null, null), stats: { ...context.stats, [stat]: context.stats[stat] + 1, released: context.stats.released + 1 } });
      enqueue.emit({ type: 'released', sid: event.sid, cid: null });
    }),
    /** The Host CA creates the shadow CID (the lowest free) and makes the first CM call on it. */
    createCid: enqueueActions(({ context, event, enqueue }, params: { next: Phase; call: ConsumerCall; tell?: VtoeEventName }) => {
      const sid = sidOf(context, event);
      if (sid === null) return;
      const cid = context.cidToSid.findIndex((s) => s === null);
      if (params.tell) enqueue.emit({ type: 'vtoe.event', sid, name: params.tell });
      enqueue.assign(withEntry(context, sid, { ...context.sids[sid]!, phase: params.next }, cid));
      enqueue.emit({ type: 'cid.created', cid, sid });
      enqueue.emit({ type: 'cm.call', cid, call: params.call });
    }),
    /** A guest command passed to the shadow connection. */
    callCm: enqueueActions(({ context, event, enqueue }, params: { next: Phase; call: ConsumerCall }) => {
      const sid = sidOf(context, event);
      if (sid === null) return;
      enqueue.assign(withEntry(context, sid, { ...context.sids[sid]!, phase: params.next }));
      enqueue.emit({ type: 'cm.call', cid: context.sidToCid[sid]!, call: params.call });
    }),
    /** An ib_cm event becomes a VTOE event for the SID; an end of the connection starts the time-wait. */
    translate: enqueueActions(({ context, event, enqueue }, params: Translation) => {
      const sid = sidOf(context, event);
      if (sid === null || event.type !== 'cm.event') return;
      // The RTU goes out before the guest hears of the connection; the DREP only after the guest was told (§5.3.1).
      if (params.call === 'ca.rtu') enqueue.emit({ type: 'cm.call', cid: event.cid, call: params.call });
      enqueue.emit({ type: 'vtoe.event', sid, name: params.name });
      if (params.call && params.call !== 'ca.rtu') enqueue.emit({ type: 'cm.call', cid: event.cid, call: params.call });
      const stats = params.stat ? { ...context.stats, [params.stat]: context.stats[params.stat] + 1 } : context.stats;
      enqueue.assign({ ...withEntry(context, sid, { ...context.sids[sid]!, phase: params.next }), stats });
      if (params.next === 'time-wait') enqueue.emit({ type: 'timer.start', timer: 'timewait', sid, delayNs: context.p.timeWaitNs });
    }),
    /** Zero-copy send: the guest's buffer is posted as it is on the CID's RC queue pair. */
    postSend: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'vtoe.send') return;
      const e = context.sids[event.sid]!;
      enqueue.assign({ ...withEntry(context, event.sid, { ...e, sends: e.sends + 1 }), stats: { ...context.stats, sends: context.stats.sends + 1 } });
      enqueue.emit({ type: 'qp.post-send', cid: context.sidToCid[event.sid]!, wr: { id: event.wrId, bytes: event.bytes } });
    }),
    /** Zero-copy receive: the guest's buffer becomes a receive work request on the CID's queue pair. */
    postRecv: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'vtoe.recv') return;
      const e = context.sids[event.sid]!;
      const early = e.phase !== 'established' ? 1 : 0;
      enqueue.assign({
        ...withEntry(context, event.sid, { ...e, recvs: e.recvs + 1 }),
        stats: { ...context.stats, recvs: context.stats.recvs + 1, recvsBeforeEstablished: context.stats.recvsBeforeEstablished + early },
      });
      enqueue.emit({ type: 'qp.post-recv', cid: context.sidToCid[event.sid]!, wr: { id: event.bufferId, bytes: event.bytes } });
    }),
    complete: enqueueActions(({ context, event, enqueue }) => {
      const sid = sidOf(context, event);
      if (sid === null || event.type !== 'qp.completion') return;
      const e = context.sids[sid]!;
      const next = event.queue === 'send' ? { ...e, sends: e.sends - 1 } : { ...e, recvs: e.recvs - 1 };
      enqueue.assign({ ...withEntry(context, sid, next), stats: { ...context.stats, completions: context.stats.completions + 1 } });
      enqueue.emit({ type: 'vtoe.completion', sid, queue: event.queue, wrId: event.wrId, bytes: event.bytes, status: event.status });
    }),
    /**
     * The guest closed a SID whose request it has not accepted: the agent rejects the REQ at the CM
     * (consumer reject; no event for the SID, as after rdma_reject) and lets the SID and CID wait out
     * the time-wait (released then, with the shadow back in IDLE).
     */
    rejectRequest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'vtoe.disconnect') return;
      const cid = context.sidToCid[event.sid]!;
      enqueue.emit({ type: 'cm.call', cid, call: 'ca.reject', reason: CONSUMER_REJECT });
      enqueue.assign({
        ...withEntry(context, event.sid, { ...context.sids[event.sid]!, phase: 'time-wait' }),
        stats: { ...context.stats, consumerRejects: context.stats.consumerRejects + 1 },
      });
      enqueue.emit({ type: 'timer.start', timer: 'timewait', sid: event.sid, delayNs: context.p.timeWaitNs });
    }),
    /** A listener closed before any request: nothing to wait out, the SID and CID are released at once. */
    stopListening: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'vtoe.disconnect') return;
      const cid = context.sidToCid[event.sid];
      enqueue.assign({ ...withEntry(context, event.sid, null, null), stats: { ...context.stats, released: context.stats.released + 1 } });
      enqueue.emit({ type: 'released', sid: event.sid, cid });
    }),
    /** Time-wait over: the SID and its CID are both released. */
    release: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'timer.timewait') return;
      const cid = context.sidToCid[event.sid];
      enqueue.assign({
        ...withEntry(context, event.sid, null, null),
        stats: { ...context.stats, released: context.stats.released + 1, releasedAfterTimeWait: context.stats.releasedAfterTimeWait + 1 },
      });
      enqueue.emit({ type: 'released', sid: event.sid, cid });
    }),
    /** Every SID is told DEVICE_REMOVAL, then everything is released. */
    removeDevice: enqueueActions(({ context, enqueue }) => {
      let n = 0;
      for (const [sid, e] of context.sids.entries()) {
        if (e === null) continue;
        enqueue.emit({ type: 'vtoe.event', sid, name: 'DEVICE_REMOVAL' });
        enqueue.emit({ type: 'released', sid, cid: context.sidToCid[sid] });
        n++;
      }
      const fresh = initialContext(context.p);
      enqueue.assign({ sids: fresh.sids, sidToCid: fresh.sidToCid, cidToSid: fresh.cidToSid, stats: { ...context.stats, released: context.stats.released + n, removals: context.stats.removals + 1 } });
    }),
  },
}).createMachine({
  id: 'connection-agent',
  description:
    'The VNET_Core_CA and VNET_Host_CA of one host: SID allocation, the SID <-> CID map, address and route resolution, translation of ' +
    'ib_cm events into VTOE events, zero-copy posting of guest buffers on the shadow queue pairs, and release after time-wait.',
  meta: src('§4.6.2; §5.3.1'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'running',
  states: {
    running: {
      description: 'The host IB device is present: the agent serves the guest and the shadow connections.',
      meta: src('§4.6.2'),
      on: {
        'vtoe.socket': [
          { guard: 'sidFree', actions: 'allocateSid', description: 'The Core CA allocates the lowest free SID and returns it to the guest.', meta: src('§4.6.2 "allocates a unique Socket ID for the guest and returns this to the guest"') },
          { actions: { type: 'refuse', params: { reason: 'EMFILE' } }, description: 'Every SID is in use (time-wait included): EMFILE.', meta: src('§4.6.2 (unique SIDs; choice)') },
        ],
        'vtoe.connect': [
          { guard: phase('open'), actions: 'resolveAddress', description: 'Active open: resolve the peer\'s guest address to an IB address through the overlay\'s routing.', meta: src('§5.3.1 "overlay routing tables and existing IB infrastructure are used to handle address resolution"') },
          { actions: { type: 'refuse', params: {} }, description: 'CONNECT on a SID that is not fresh (or not allocated) is refused.', meta: src('protocol-notes.md §4 (rdma_resolve_addr requires IDLE)') },
        ],
        'route.address-result': [
          { guard: and([phase('resolving-address'), 'found']), actions: 'addressResolved', description: 'The IB address is known: ADDRESS_RESOLVED, then resolve the route.', meta: src('§5.3.1; protocol-notes.md §4 (ADDR_QUERY -> ADDR_RESOLVED)') },
          { guard: phase('resolving-address'), actions: { type: 'resolutionFailed', params: { name: 'ADDRESS_ERROR' } }, description: 'No IB address for the guest address: ADDRESS_ERROR; the SID is released at once (no CID yet).', meta: src('protocol-notes.md §4 (ADDR_ERROR)') },
        ],
        'route.route-result': [
          {
            guard: and([phase('resolving-route'), 'found']),
            actions: { type: 'createCid', params: { next: 'connecting', call: 'ca.connect', tell: 'ROUTE_RESOLVED' } },
            description: 'The route is known: ROUTE_RESOLVED; the Host CA creates the shadow CID and sends the REQ.',
            meta: src('§5.3.1 "the overlay delivers ROUTE_RESOLVED events"; "the overlay sends of an IB_REQ"'),
          },
          { guard: phase('resolving-route'), actions: { type: 'resolutionFailed', params: { name: 'ROUTE_ERROR' } }, description: 'No route to the peer: ROUTE_ERROR; the SID is released at once.', meta: src('protocol-notes.md §4 (ROUTE_ERROR)') },
        ],
        'vtoe.listen': [
          { guard: phase('open'), actions: { type: 'createCid', params: { next: 'listening', call: 'ca.listen' } }, description: 'Passive open: the Host CA creates the shadow CID, listening on the service id.', meta: src('§5.3.1 "the shadow server side listens for connection requests with a service ID"') },
          { actions: { type: 'refuse', params: {} }, description: 'LISTEN on a SID that is not fresh is refused.', meta: src('protocol-notes.md §4 (rdma_listen requires ADDR_BOUND)') },
        ],
        'vtoe.accept': [
          { guard: phase('requested'), actions: { type: 'callCm', params: { next: 'accepting', call: 'ca.accept' } }, description: 'The guest accepts: the shadow CID sends the REP.', meta: src('§5.3.1 "initializes the underlying queue pair, and sends IB_REP"') },
          { actions: { type: 'refuse', params: {} }, description: 'ACCEPT without a pending request is refused.', meta: src('protocol-notes.md §4 (rdma_accept requires CONNECT)') },
        ],
        'vtoe.disconnect': [
          { guard: phase('established'), actions: { type: 'callCm', params: { next: 'closing', call: 'ca.disconnect' } }, description: 'The guest closes: the shadow CID sends the DREQ.', meta: src('§5.3.1 "sends a disconnect command to the overlay ... the shadow CID sends a disconnection request"') },
          {
            guard: phase('requested'),
            actions: 'rejectRequest',
            description:
              'The guest closes a SID whose connection request it has not accepted (e.g. a listener closed while the CONNECT_REQUEST was in the event queue): the agent rejects the REQ at the CM (consumer reject, reason 28; no event for the SID, as after rdma_reject); the SID and CID wait out the time-wait.',
            meta: src('protocol-notes.md §2 (ib_send_cm_rej in REQ_RCVD), §4 invariant 2 ("a destroyed passive id sends REJ 28"); RFC 9293 §3.10.4 (SYN-RECEIVED: CLOSE)'),
          },
          { guard: phase('listening'), actions: 'stopListening', description: 'The guest closes a listener no request reached: the listening CID is destroyed and the SID released at once (it never carried a connection).', meta: src('protocol-notes.md §4 (rdma_destroy_id of a listening id); RFC 9293 §3.10.4 (LISTEN: CLOSE)') },
          { actions: { type: 'refuse', params: {} }, description: 'DISCONNECT outside an established connection, a pending request or a listener is refused (choice).', meta: src('§5.3.1 (choice)') },
        ],
        'vtoe.send': [
          { guard: phase('established'), actions: 'postSend', description: 'SEND: map the SID to its CID and post the guest buffer on the RC queue pair, with no copy.', meta: src('§5.3.1 "maps the packet Socket ID to the appropriate shadow CID and posts the packet"; "no copy"') },
          { actions: { type: 'refuse', params: { reason: 'ENOTCONN' } }, description: 'SEND on a SID with no established connection: ENOTCONN.', meta: src('§5.3.1 "Data transfer"') },
        ],
        'vtoe.recv': [
          {
            guard: phase('connecting', 'listening', 'requested', 'accepting', 'established'),
            actions: 'postRecv',
            description: 'RECV: the guest buffer is posted as a receive on the CID\'s queue pair, with no copy (allowed before establishment: the REQ advertises the buffers).',
            meta: src('§5.3.1 "post these buffers to the queue pair associated with the shadow connection"; "number of available receive buffers"'),
          },
          { actions: { type: 'refuse', params: { reason: 'ENOTCONN' } }, description: 'RECV on a SID with no shadow CID, or one closing: ENOTCONN.', meta: src('§5.3.1 "Data transfer"') },
        ],
        'cm.event': [
          {
            guard: and([phase('listening'), cm('REQ_RECEIVED')]),
            actions: { type: 'translate', params: { name: 'CONNECT_REQUEST', next: 'requested' } },
            description: 'A REQ at the listening CID: CONNECT_REQUEST to the guest.',
            meta: src('§5.3.1 "The overlay sends CONNECT REQUEST events to the guest upon receipt of an IB_REQ"'),
          },
          {
            guard: and([phase('connecting'), cm('REP_RECEIVED')]),
            actions: { type: 'translate', params: { name: 'CONNECT_ESTABLISHED', next: 'established', call: 'ca.rtu', stat: 'established' } },
            description: 'The REP arrived: the agent has the CID send the RTU and tells the guest CONNECT_ESTABLISHED.',
            meta: src('§5.3.1 "sends an IB_RTU ... It then notifies the guest of the response"'),
          },
          {
            guard: and([phase('accepting'), cm('RTU_RECEIVED', 'USER_ESTABLISHED')]),
            actions: { type: 'translate', params: { name: 'CONNECT_ESTABLISHED', next: 'established', stat: 'established' } },
            description: 'The RTU (or the first packet) arrived at the passive CID: CONNECT_ESTABLISHED.',
            meta: src('§5.3.1 "delivers the guest an ESTABLISHED event on the receipt of an IB_RTU"'),
          },
          {
            guard: and([phase('connecting', 'requested', 'accepting'), cm('REJ_RECEIVED')]),
            actions: { type: 'translate', params: { name: 'CONNECT_REJECTED', next: 'time-wait', stat: 'rejected' } },
            description: 'A REJ during the handshake: CONNECT_REJECTED; the SID and CID wait out the time-wait.',
            meta: src('protocol-notes.md §4 (REJ_RECEIVED -> REJECTED)'),
          },
          {
            guard: 'handshakeTimedOut',
            actions: { type: 'translate', params: { name: 'UNREACHABLE', next: 'time-wait', stat: 'unreachable' } },
            description: 'The REQ (active) or REP (passive) ran out of retries: UNREACHABLE; time-wait.',
            meta: src('protocol-notes.md §4 (REQ_ERROR / REP_ERROR -> UNREACHABLE)'),
          },
          {
            guard: and([phase('established', 'accepting'), cm('DREQ_RECEIVED')]),
            actions: { type: 'translate', params: { name: 'DISCONNECTED', next: 'time-wait', call: 'ca.disconnect', stat: 'disconnected' } },
            description: 'The peer disconnects: DISCONNECTED to the guest, and the agent answers with the DREP; time-wait.',
            meta: src('§5.3.1 "raises a DISCONNECT event to the guest ... sends an IB disconnection reply ... IB_TIME_WAIT"'),
          },
          {
            guard: and([phase('closing'), cm('DREQ_RECEIVED')]),
            actions: { type: 'translate', params: { name: 'DISCONNECTED', next: 'time-wait', call: 'ca.disconnect', stat: 'disconnected' } },
            description: 'The peer\'s DREQ crossed ours (simultaneous close): DISCONNECTED, and the agent answers it with the DREP (the shadow CID waits in DREQ_RCVD for it); time-wait.',
            meta: src('§5.3.1 "sends an IB disconnection reply message to the peer host"; protocol-notes.md §2 (DREQ_SENT receives a DREQ)'),
          },
          {
            guard: and([phase('closing'), cm('DREP_RECEIVED', 'DREQ_ERROR')]),
            actions: { type: 'translate', params: { name: 'DISCONNECTED', next: 'time-wait', stat: 'disconnected' } },
            description: 'Our DREQ was answered or timed out: DISCONNECTED; time-wait.',
            meta: src('§5.3.1 "Upon receiving IB_DREP ... transitions to state IB_TIME_WAIT"; protocol-notes.md §4 (DREQ_ERROR)'),
          },
        ],
        'qp.completion': {
          guard: 'workOutstanding',
          actions: 'complete',
          description: 'A completion on the CID\'s queue pair is reported to the guest for the SID (the data is already in the guest buffer).',
          meta: src('§4.6.2 "Translates events and interrupts from the underlying physical device to VTOE events"; §5.3.1 "Reception with zero overlay copy"'),
        },
        'timer.timewait': {
          guard: phase('time-wait'),
          actions: 'release',
          description: 'The time-wait ran out: the SID and its CID are released.',
          meta: src('§5.3.1 "connection termination closes established virtual circuits and releases all allocated resources"'),
        },
        'host.device-removal': {
          target: 'removed',
          actions: 'removeDevice',
          description: 'The IB device is removed: DEVICE_REMOVAL to every SID, and everything is released.',
          meta: src('protocol-notes.md §4 (device unregistered -> DEVICE_REMOVAL)'),
        },
      },
    },
    removed: {
      description: 'The IB device is gone: every guest request fails with ENODEV and nothing is delivered.',
      meta: src('protocol-notes.md §4 invariant 4'),
      on: {
        'vtoe.socket': { actions: { type: 'refuse', params: { reason: 'ENODEV' } }, description: 'No new socket without the device: ENODEV.', meta: src('protocol-notes.md §4 invariant 4') },
        'vtoe.connect': { actions: { type: 'refuse', params: { reason: 'ENODEV' } }, description: 'CONNECT without the device: ENODEV.', meta: src('protocol-notes.md §4 invariant 4') },
      },
    },
  },
});

export type ConnectionAgentMachine = typeof connectionAgentMachine;
type Snap = SnapshotFrom<ConnectionAgentMachine>;

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'sid-cid-bijection',
    description: 'The SID -> CID and CID -> SID tables are inverse to each other: each CID serves one SID and each SID has at most one CID.',
    source: '§4.6.2 "Maps between guest VNET Socket IDs (SIDs) and host shadow Connection IDs (CIDs)"; §5.3.1 "each shadow CID is associated with a unique guest socket ID"',
    check: (s) => {
      const c = s.context;
      for (const [sid, cid] of c.sidToCid.entries()) if (cid !== null && c.cidToSid[cid] !== sid) return `SID ${sid} maps to CID ${cid}, which maps to ${String(c.cidToSid[cid])}`;
      for (const [cid, sid] of c.cidToSid.entries()) if (sid !== null && c.sidToCid[sid] !== cid) return `CID ${cid} maps to SID ${sid}, which maps to ${String(c.sidToCid[sid])}`;
      return undefined;
    },
    witness: { name: 'two-connections-mapped', description: 'Two SIDs sometimes have CIDs at once.', reached: (s) => s.context.sidToCid.filter((x) => x !== null).length >= 2 },
  },
  {
    name: 'no-cid-without-live-sid',
    description: 'Every CID in use belongs to an allocated SID, and a SID has a CID exactly in the phases after the shadow connection was created: no CID leaks.',
    source: '§4.6.2; §5.3.1 "releases all allocated resources"',
    check: (s) => {
      const c = s.context;
      for (const [cid, sid] of c.cidToSid.entries()) if (sid !== null && c.sids[sid] === null) return `CID ${cid} belongs to SID ${sid}, which is free`;
      for (const [sid, e] of c.sids.entries()) {
        const has = c.sidToCid[sid] !== null;
        if (e === null && has) return `free SID ${sid} still has CID ${c.sidToCid[sid]}`;
        if (e !== null && has !== WITH_CID.includes(e.phase)) return `SID ${sid} in ${e.phase} ${has ? 'has' : 'has no'} CID`;
      }
      return undefined;
    },
    witness: { name: 'released-after-time-wait', description: 'A SID and its CID are sometimes released after their time-wait.', reached: (s) => s.context.stats.releasedAfterTimeWait > 0 },
  },
  {
    name: 'zero-copy',
    description: 'The overlay never copies data: sends and receives post the guest\'s own buffers.',
    source: '§5.3.1 "Transmission with zero overlay copy", "Reception with zero overlay copy"',
    check: (s) => (s.context.copies !== 0 ? `${s.context.copies} copies` : undefined),
    witness: { name: 'data-sent', description: 'Data is sometimes sent on an established connection.', reached: (s) => s.context.stats.sends > 0 },
  },
  {
    name: 'nothing-held-after-device-removal',
    description: 'After DEVICE_REMOVAL no SID and no CID is held.',
    source: 'protocol-notes.md §4 invariant 4',
    check: (s) => (s.value === 'removed' && (s.context.sids.some((x) => x !== null) || s.context.cidToSid.some((x) => x !== null)) ? 'a SID or CID survived the device removal' : undefined),
    witness: { name: 'device-removed-with-sockets', description: 'The device is sometimes removed with sockets open.', reached: (s) => s.value === 'removed' && s.context.stats.released > s.context.stats.releasedAfterTimeWait + s.context.stats.addressErrors + s.context.stats.routeErrors },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  { name: 'rejection-translated', description: 'A REJ is sometimes translated to CONNECT_REJECTED.', reached: (s) => s.context.stats.rejected > 0 },
  { name: 'address-error', description: 'Address resolution sometimes fails (ADDRESS_ERROR).', reached: (s) => s.context.stats.addressErrors > 0 },
  { name: 'route-error', description: 'Route resolution sometimes fails (ROUTE_ERROR).', reached: (s) => s.context.stats.routeErrors > 0 },
  { name: 'recv-before-established', description: 'A receive buffer is sometimes posted before the connection is established.', reached: (s) => s.context.stats.recvsBeforeEstablished > 0 },
  { name: 'unreachable', description: 'A handshake sometimes runs out of retries (UNREACHABLE).', reached: (s) => s.context.stats.unreachable > 0 },
  { name: 'disconnected', description: 'A connection is sometimes disconnected.', reached: (s) => s.context.stats.disconnected > 0 },
  { name: 'pending-request-rejected', description: 'The guest sometimes closes a SID with a pending request, which the agent rejects at the CM.', reached: (s) => s.context.stats.consumerRejects > 0 },
  { name: 'completion-reported', description: 'A queue-pair completion is sometimes reported to the guest.', reached: (s) => s.context.stats.completions > 0 },
];

const CM_NAMES: readonly CmEventName[] = ['REQ_RECEIVED', 'REP_RECEIVED', 'RTU_RECEIVED', 'REJ_RECEIVED', 'REQ_ERROR', 'REP_ERROR', 'DREQ_RECEIVED', 'DREP_RECEIVED', 'DREQ_ERROR'];

/**
 * The exploration alphabet: a new socket, the device removal, and for each allocated SID every
 * command, both routing answers, its CID's CM events, completions of outstanding work and its
 * time-wait timer. At most one send and one receive are outstanding per SID (bounds the state).
 */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const ev: Event[] = [{ type: 'vtoe.socket' }, { type: 'host.device-removal' }];
  for (const [sid, e] of c.sids.entries()) {
    if (e === null) continue;
    ev.push({ type: 'vtoe.connect', sid }, { type: 'vtoe.listen', sid }, { type: 'vtoe.accept', sid }, { type: 'vtoe.disconnect', sid });
    if (e.sends === 0) ev.push({ type: 'vtoe.send', sid, wrId: c.stats.sends, bytes: 1000 });
    if (e.recvs === 0) ev.push({ type: 'vtoe.recv', sid, bufferId: c.stats.recvs, bytes: 4096 });
    for (const found of [true, false]) ev.push({ type: 'route.address-result', sid, found }, { type: 'route.route-result', sid, found });
    ev.push({ type: 'timer.timewait', sid });
    const cid = c.sidToCid[sid];
    if (cid === null) continue;
    for (const name of CM_NAMES) ev.push({ type: 'cm.event', cid, name });
    if (e.sends > 0) ev.push({ type: 'qp.completion', cid, queue: 'send', wrId: 0, bytes: 1000, status: 'success' });
    if (e.recvs > 0) ev.push({ type: 'qp.completion', cid, queue: 'recv', wrId: 0, bytes: 1000, status: 'success' });
  }
  // The removed agent still answers requests (with ENODEV).
  if (s.value === 'removed') ev.push({ type: 'vtoe.connect', sid: 0 });
  return ev;
}

/** A finite key: every SID's phase and outstanding work, the map, and whether anything was copied. */
export function serializeState(s: Snap): string {
  const c = s.context;
  return JSON.stringify([s.value, c.sids.map((e) => (e === null ? null : [e.phase, e.recvs, e.sends])), c.sidToCid, c.cidToSid, c.copies > 0]);
}

export const entry = defineEntry({
  id: 'connection-agent',
  title: 'VNET+VTOE connection agent (VNET_Core_CA and VNET_Host_CA of one host)',
  summary:
    'The agent between the guest\'s VTOE NIC and the host\'s InfiniBand shadow connections (§4.6.2, §5.3.1). It allocates a socket ' +
    'id (SID) per guest connection, never reusing one still in use; resolves an active open\'s peer through the overlay\'s routing ' +
    '(guest address to IB address, then route: ADDRESS_ERROR or ROUTE_ERROR when missing); creates the shadow connection (CID) and ' +
    'keeps the SID <-> CID map a bijection; translates the shadow connection\'s ib_cm events into VTOE events for the SID (REQ: ' +
    'CONNECT_REQUEST; REP: RTU sent and CONNECT_ESTABLISHED; RTU: CONNECT_ESTABLISHED; REJ: CONNECT_REJECTED; retries exhausted: ' +
    'UNREACHABLE; DREQ, DREP, DREQ timeout: DISCONNECTED, answering a DREQ with the DREP); and moves data with no copy: a SEND VWQE ' +
    'becomes a post-send of the guest buffer on the CID\'s queue pair, a RECV VWQE a post-recv (allowed from the moment the CID exists), ' +
    'and completions go back to the SID. A guest closing a SID whose request it has not accepted has the agent reject the REQ at the CM ' +
    '(consumer reject, reason 28). After a connection with a CID ends, the SID and CID wait out a time-wait and are then both ' +
    'released; a failure before any CID releases the SID at once. DEVICE_REMOVAL is reported to every SID and releases everything.',
  source: ['§4.6.2', '§5.3.1', '§5.3.2', 'protocol-notes.md §2, §4, §7'],
  machine: connectionAgentMachine,
  params,
  checkInput,
  samples: [
    { name: 'one-socket', input: { maxSockets: 1 } },
    { name: 'two-sockets', input: { maxSockets: 2 } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'vtoe.socket', description: 'The guest asks for a new offload socket.' },
    { type: 'vtoe.connect', description: 'CONNECT command for `sid` (active open).' },
    { type: 'vtoe.listen', description: 'LISTEN command for `sid` (passive open).' },
    { type: 'vtoe.accept', description: 'ACCEPT command for `sid`.' },
    { type: 'vtoe.disconnect', description: 'DISCONNECT command for `sid`.' },
    { type: 'vtoe.send', description: 'A SEND VWQE for `sid`.' },
    { type: 'vtoe.recv', description: 'A RECV VWQE: guest buffer `bufferId` for `sid`.' },
    { type: 'route.address-result', description: 'The overlay routing\'s answer to an address lookup (`found`).' },
    { type: 'route.route-result', description: 'The overlay routing\'s answer to a route lookup (`found`).' },
    { type: 'cm.event', description: 'An ib_cm consumer event `name` from shadow connection `cid`.' },
    { type: 'qp.completion', description: 'A send or receive completion on the queue pair of `cid`.' },
    { type: 'timer.timewait', description: 'The time-wait of `sid` ran out.' },
    { type: 'host.device-removal', description: 'The host\'s IB device was removed.' },
  ],
  emits: [
    { type: 'vtoe.sid', description: 'A new SID returned to the guest.' },
    { type: 'vtoe.event', description: 'A VTOE event for `sid` (to the NIC\'s event queue).' },
    { type: 'vtoe.completion', description: 'A send or receive completion for `sid`.' },
    { type: 'vtoe.error', description: 'A guest request refused (EBADF, EINVAL, ENOTCONN, EMFILE, ENODEV).' },
    { type: 'route.resolve-address', description: 'Ask the overlay routing for the peer\'s IB address.' },
    { type: 'route.resolve-route', description: 'Ask the overlay routing for a route to the peer.' },
    { type: 'cid.created', description: 'The Host CA created shadow connection `cid` for `sid`.' },
    { type: 'cm.call', description: 'A consumer call on the shadow connection (ca.connect, ca.listen, ca.accept, ca.reject with reason 28, ca.rtu, ca.disconnect).' },
    { type: 'qp.post-send', description: 'The guest buffer posted as a send work request on the CID\'s queue pair.' },
    { type: 'qp.post-recv', description: 'The guest buffer posted as a receive work request on the CID\'s queue pair.' },
    { type: 'copy', description: 'A data copy by the overlay (never emitted: zero copy).' },
    { type: 'timer.start', description: 'Arm the time-wait timer of `sid`.' },
    { type: 'released', description: 'The SID (and its CID, if any) were released.' },
  ],
});
