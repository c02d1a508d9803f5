/**
 * VNET/P+ event dispatcher: delivers virtual interrupts and events (EVI, EoC, configuration change)
 * to the vNIC they belong to, by the device allocator's table.
 *
 * Sources: dissertation §5.2 (the event dispatcher handles virtual interrupt and event delivery to
 * virtual NICs for EVI injection and EoC notification; the device allocator's tables route them),
 * §4.3.1-§4.3.2 (EVI and EoC), §4.4 (the configuration-change interrupt of cut-through).
 *
 * The allocation table reaches the dispatcher as `assign {hostNic, vnic}` and `release {hostNic}`
 * events (the device allocator's `assigned` and `released` effects). Host events are queued when
 * raised and delivered by `dispatch`, so a release can come in between.
 *
 * Choices the dissertation leaves open, made here:
 * - an event is bound to the assignment in force when it is raised (its host NIC, vNIC and the
 *   assignment's generation); at delivery it goes to that vNIC only if that same assignment still
 *   stands, and is dropped otherwise: after a release, or a release and re-assignment of the host NIC
 *   to another vNIC, nothing raised before reaches anyone (the data it announced was the old vNIC's);
 * - an EVI or EoC of an unassigned host NIC, and a configuration change of a vNIC that holds no host
 *   NIC (no cut-through, so no exported header), are dropped when raised;
 * - a configuration change is bound to the vNIC's earliest assignment still standing;
 * - delivery is first in, first out.
 */
import { and, assign, enqueueActions, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, type ParamsOf } from './params.js';

export const params = {
  hostNics: {
    kind: 'number',
    default: 2,
    min: 1,
    max: 64,
    integer: true,
    unit: 'host devices',
    description: 'Host NICs (or host receive queues) whose events the dispatcher routes.',
    source: '§5.2',
  },
  vnics: {
    kind: 'number',
    default: 2,
    min: 1,
    max: 64,
    integer: true,
    unit: 'vNICs',
    description: 'Virtual NICs events may be delivered to.',
    source: '§5.2',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('event-dispatcher', params, input);
}

export type Kind = 'evi' | 'eoc' | 'config-change';

export interface Assignment {
  readonly hostNic: number;
  readonly vnic: number;
  /** Generation of this assignment (distinguishes a re-assignment from the original). */
  readonly generation: number;
}

/** A raised event awaiting delivery, bound to the assignment in force when it was raised. */
export interface Pending {
  readonly kind: Kind;
  readonly hostNic: number;
  readonly vnic: number;
  readonly generation: number;
}

export interface Stats {
  raised: number;
  delivered: number;
  droppedUnassigned: number;
  droppedReleased: number;
  refused: number;
}

export interface Context {
  readonly p: Params;
  table: Assignment[];
  /** Generation the next assignment gets. */
  nextGeneration: number;
  pending: Pending[];
  /** Ghost: the last delivery, cleared by any other event (so it is checked against the table it used). */
  lastDelivery: Pending | null;
  stats: Stats;
}

export type Event =
  | { type: 'assign'; hostNic: number; vnic: number }
  | { type: 'release'; hostNic: number }
  /** An EVI or EoC is raised for host NIC `hostNic`. */
  | { type: 'host.event'; kind: 'evi' | 'eoc'; hostNic: number }
  /** Cut-through raised a configuration-change interrupt for vNIC `vnic`. */
  | { type: 'vnic.config-change'; vnic: number }
  /** Deliver the oldest raised event. */
  | { type: 'dispatch' };

export type Emitted =
  | { type: 'virq.deliver'; kind: Kind; vnic: number; hostNic: number }
  | { type: 'dropped'; kind: Kind; hostNic: number | null; vnic: number | null; reason: 'unassigned' | 'released' }
  | { type: 'assign.refused'; hostNic: number; vnic: number };

export function initialContext(p: Params): Context {
  return {
    p,
    table: [],
    nextGeneration: 0,
    pending: [],
    lastDelivery: null,
    stats: { raised: 0, delivered: 0, droppedUnassigned: 0, droppedReleased: 0, refused: 0 },
  };
}

const assignmentOf = (c: Context, hostNic: number) => c.table.find((a) => a.hostNic === hostNic);
const stands = (c: Context, e: Pending) => c.table.some((a) => a.hostNic === e.hostNic && a.vnic === e.vnic && a.generation === e.generation);

const src = (source: string) => ({ source });

export const eventDispatcherMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    validAssign: ({ context, event }) =>
      event.type === 'assign' &&
      Number.isInteger(event.hostNic) &&
      event.hostNic >= 0 &&
      event.hostNic < context.p.hostNics &&
      Number.isInteger(event.vnic) &&
      event.vnic >= 0 &&
      event.vnic < context.p.vnics,
    hostNicFree: ({ context, event }) => event.type === 'assign' && assignmentOf(context, event.hostNic) === undefined,
    hostNicAssigned: ({ context, event }) =>
      (event.type === 'release' || event.type === 'host.event') && assignmentOf(context, event.hostNic) !== undefined,
    vnicHoldsHostNic: ({ context, event }) => event.type === 'vnic.config-change' && context.table.some((a) => a.vnic === event.vnic),
    eventPending: ({ context }) => context.pending.length > 0,
    headAssignmentStands: ({ context }) => context.pending.length > 0 && stands(context, context.pending[0]),
  },
  actions: {
    clearDelivery: assign({ lastDelivery: null }),
    addAssignment: assign(({ context, event }) =>
      event.type !== 'assign'
        ? {}
        : {
            table: [...context.table, { hostNic: event.hostNic, vnic: event.vnic, generation: context.nextGeneration }],
            nextGeneration: context.nextGeneration + 1,
          },
    ),
    refuseAssign: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'assign') return;
      enqueue.assign({ stats: { ...context.stats, refused: context.stats.refused + 1 } });
      enqueue.emit({ type: 'assign.refused', hostNic: event.hostNic, vnic: event.vnic });
    }),
    removeAssignment: assign(({ context, event }) =>
      event.type !== 'release' ? {} : { table: context.table.filter((a) => a.hostNic !== event.hostNic) },
    ),
    queueHostEvent: assign(({ context, event }) => {
      if (event.type !== 'host.event') return {};
      const a = assignmentOf(context, event.hostNic)!;
      return {
        pending: [...context.pending, { kind: event.kind, hostNic: a.hostNic, vnic: a.vnic, generation: a.generation }],
        stats: { ...context.stats, raised: context.stats.raised + 1 },
      };
    }),
    queueConfigChange: assign(({ context, event }) => {
      if (event.type !== 'vnic.config-change') return {};
      const a = context.table.find((x) => x.vnic === event.vnic)!;
      return {
        pending: [...context.pending, { kind: 'config-change' as const, hostNic: a.hostNic, vnic: a.vnic, generation: a.generation }],
        stats: { ...context.stats, raised: context.stats.raised + 1 },
      };
    }),
    dropUnassigned: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.event' && event.type !== 'vnic.config-change') return;
      enqueue.assign({ stats: { ...context.stats, raised: context.stats.raised + 1, droppedUnassigned: context.stats.droppedUnassigned + 1 } });
      if (event.type === 'host.event') enqueue.emit({ type: 'dropped', kind: event.kind, hostNic: event.hostNic, vnic: null, reason: 'unassigned' });
      else enqueue.emit({ type: 'dropped', kind: 'config-change', hostNic: null, vnic: event.vnic, reason: 'unassigned' });
    }),
    deliverHead: enqueueActions(({ context, enqueue }) => {
      const [e, ...rest] = context.pending;
      enqueue.assign({ pending: rest, lastDelivery: e, stats: { ...context.stats, delivered: context.stats.delivered + 1 } });
      enqueue.emit({ type: 'virq.deliver', kind: e.kind, vnic: e.vnic, hostNic: e.hostNic });
    }),
    dropHead: enqueueActions(({ context, enqueue }) => {
      const [e, ...rest] = context.pending;
      enqueue.assign({ pending: rest, lastDelivery: null, stats: { ...context.stats, droppedReleased: context.stats.droppedReleased + 1 } });
      enqueue.emit({ type: 'dropped', kind: e.kind, hostNic: e.hostNic, vnic: e.vnic, reason: 'released' });
    }),
  },
}).createMachine({
  id: 'event-dispatcher',
  description:
    'Delivers EVI, EoC and configuration-change interrupts to vNICs by the allocation table. An event is bound to the assignment in force ' +
    'when raised and delivered only if that assignment still stands; events with no assignment are dropped.',
  meta: src('§5.2'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'dispatching',
  states: {
    dispatching: {
      description: 'The dispatcher follows the allocation table, queues raised events and delivers them in order.',
      meta: src('§5.2'),
      on: {
        assign: [
          {
            guard: and(['validAssign', 'hostNicFree']),
            actions: ['clearDelivery', 'addAssignment'],
            description: 'The allocator assigned a free host NIC to a vNIC: a new generation of the table row.',
            meta: src('§5.2 (device allocation tables)'),
          },
          {
            actions: ['clearDelivery', 'refuseAssign'],
            description: 'An assignment of a busy or unknown host NIC is refused (the allocator never sends one).',
            meta: src('§5.2'),
          },
        ],
        release: {
          guard: 'hostNicAssigned',
          actions: ['clearDelivery', 'removeAssignment'],
          description: 'The allocator released a host NIC: events already raised for that assignment will be dropped.',
          meta: src('§5.2'),
        },
        'host.event': [
          {
            guard: 'hostNicAssigned',
            actions: ['clearDelivery', 'queueHostEvent'],
            description: 'An EVI or EoC of an assigned host NIC is queued, bound to the assignment in force.',
            meta: src('§5.2; §4.3.1; §4.3.2'),
          },
          {
            actions: ['clearDelivery', 'dropUnassigned'],
            description: 'An EVI or EoC of an unassigned host NIC belongs to no vNIC: dropped.',
            meta: src('§5.2'),
          },
        ],
        'vnic.config-change': [
          {
            guard: 'vnicHoldsHostNic',
            actions: ['clearDelivery', 'queueConfigChange'],
            description: 'A configuration-change interrupt of a cut-through vNIC is queued, bound to its earliest standing assignment.',
            meta: src('§4.4; §5.2'),
          },
          {
            actions: ['clearDelivery', 'dropUnassigned'],
            description: 'A configuration change of a vNIC that holds no host NIC is dropped: no cut-through, no exported header.',
            meta: src('§4.4; §5.2'),
          },
        ],
        dispatch: [
          {
            guard: 'headAssignmentStands',
            actions: 'deliverHead',
            description: 'The oldest event\'s assignment still stands: inject it into its vNIC.',
            meta: src('§5.2 ("virtual interrupt and event delivery to virtual NICs")'),
          },
          {
            guard: 'eventPending',
            actions: 'dropHead',
            description: 'The oldest event\'s assignment was released since it was raised: drop it; nothing reaches a released vNIC.',
            meta: src('§5.2'),
          },
        ],
      },
    },
  },
});

export type EventDispatcherMachine = typeof eventDispatcherMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<EventDispatcherMachine>;

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'event-reaches-only-its-vnic',
    description:
      'An event is delivered only to the vNIC that holds, by an assignment still standing, the host NIC it was raised for: never to another vNIC, never after a release.',
    source: '§5.2',
    check: (s) => {
      const d = s.context.lastDelivery;
      if (!d) return undefined;
      const row = s.context.table.find((a) => a.hostNic === d.hostNic);
      if (!row) return `${d.kind} delivered to vNIC ${d.vnic} for host NIC ${d.hostNic}, which is released`;
      if (row.vnic !== d.vnic) return `${d.kind} of host NIC ${d.hostNic} delivered to vNIC ${d.vnic}; it belongs to vNIC ${row.vnic}`;
      return undefined;
    },
    witness: {
      name: 'eoc-delivered',
      description: 'An EoC is sometimes delivered.',
      reached: (s) => s.context.lastDelivery?.kind === 'eoc',
    },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  {
    name: 'released-event-dropped',
    description: 'An event raised before a release is sometimes dropped at delivery.',
    reached: (s) => s.context.stats.droppedReleased > 0,
  },
  { name: 'config-change-delivered', description: 'A configuration change is sometimes delivered.', reached: (s) => s.context.lastDelivery?.kind === 'config-change' },
  { name: 'unassigned-dropped', description: 'An event with no assignment is sometimes dropped when raised.', reached: (s) => s.context.stats.droppedUnassigned > 0 },
];

/** The exploration alphabet: assignments, releases, raises (at most two pending) and dispatch. */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const ev: Event[] = [{ type: 'assign', hostNic: c.p.hostNics, vnic: 0 }, { type: 'dispatch' }];
  const mayRaise = c.pending.length < 2;
  for (let h = 0; h < c.p.hostNics; h++) {
    for (let v = 0; v < c.p.vnics; v++) ev.push({ type: 'assign', hostNic: h, vnic: v });
    ev.push({ type: 'release', hostNic: h });
    if (mayRaise) ev.push({ type: 'host.event', kind: 'evi', hostNic: h }, { type: 'host.event', kind: 'eoc', hostNic: h });
  }
  if (mayRaise) for (let v = 0; v < c.p.vnics; v++) ev.push({ type: 'vnic.config-change', vnic: v });
  return ev;
}

/** A finite key: owners per host NIC, pending events with whether their assignment stands, the last delivery. */
export function serializeState(s: Snap): string {
  const c = s.context;
  const owners = Array.from({ length: c.p.hostNics }, (_, h) => assignmentOf(c, h)?.vnic ?? null);
  // Order of rows matters only for which assignment a configuration change binds to.
  const order = c.table.map((a) => a.hostNic);
  return JSON.stringify([
    s.value,
    owners,
    order,
    c.pending.map((e) => [e.kind, e.hostNic, e.vnic, stands(c, e)]),
    c.lastDelivery ? [c.lastDelivery.kind, c.lastDelivery.hostNic, c.lastDelivery.vnic] : null,
  ]);
}

export const entry = defineEntry({
  id: 'event-dispatcher',
  title: 'VNET/P+ event dispatcher: EVI, EoC and configuration-change delivery to vNICs',
  summary:
    'The event dispatcher delivers virtual interrupts and events (early virtual interrupts, end-of-coalescing notifications and the ' +
    'cut-through configuration change) to the vNIC they belong to, following the device allocator\'s table, which reaches it as ' +
    'assign and release events. Events are queued when raised and delivered in order. Choices made here: an event is bound to the ' +
    'assignment in force when it is raised and delivered only if that same assignment still stands, so nothing raised before a ' +
    'release reaches anyone, even if the host NIC has been re-assigned; events of unassigned host NICs, and configuration changes ' +
    'of vNICs holding no host NIC, are dropped when raised; a configuration change binds to the vNIC\'s earliest standing assignment.',
  source: ['§5.2', '§4.3.1', '§4.3.2', '§4.4'],
  machine: eventDispatcherMachine,
  params,
  checkInput,
  samples: [{ name: 'two-host-nics-two-vnics', input: { hostNics: 2, vnics: 2 } }],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'assign', description: 'The device allocator assigned host NIC `hostNic` to vNIC `vnic`.' },
    { type: 'release', description: 'The device allocator released host NIC `hostNic`.' },
    { type: 'host.event', description: 'An EVI or EoC (`kind`) is raised for host NIC `hostNic`.' },
    { type: 'vnic.config-change', description: 'Cut-through raised a configuration-change interrupt for vNIC `vnic`.' },
    { type: 'dispatch', description: 'Deliver the oldest raised event.' },
  ],
  emits: [
    { type: 'virq.deliver', description: 'An event is injected into its vNIC (`kind`: evi, eoc or config-change).' },
    { type: 'dropped', description: 'An event reached no vNIC: `unassigned` when raised, or `released` before delivery.' },
    { type: 'assign.refused', description: 'An assignment of a busy or unknown host NIC was refused.' },
  ],
});
