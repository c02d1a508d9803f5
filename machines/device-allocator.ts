/**
 * VNET/P+ device allocator: which host NIC (or host receive queue) serves which vNIC, and where a
 * host arrival, an EVI or an EoC goes.
 *
 * Sources: dissertation §5.2 (the device allocator maps host NICs to virtual NICs and keeps the
 * allocation tables that route EVI and EoC notifications), §4.3 (EVI and EoC are per device-assigned
 * vNIC), §4.4 (cut-through needs a host device whose buffers are the guest's), §5.1.6 (the ordinary
 * VNET/P path: bridge, then core routing).
 *
 * Choices the dissertation leaves open, made here:
 * - a host device is a host NIC or one receive queue of a multi-queue NIC; they are treated alike
 *   (numbered 0..hostNics-1);
 * - a host device serves at most one vNIC; a vNIC may hold several host devices (several queues);
 * - an assignment of a busy device is refused, never stolen: the owner must release it first;
 * - a host arrival on an unassigned device takes the ordinary VNET/P path (bridge and core); an EVI or
 *   EoC on an unassigned device reaches no vNIC (VNET/P interrupts its vNICs its own way).
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
    description: 'Host NICs (or host receive queues) the allocator may assign.',
    source: '§5.2',
  },
  vnics: {
    kind: 'number',
    default: 2,
    min: 1,
    max: 64,
    integer: true,
    unit: 'vNICs',
    description: 'Virtual NICs on this host that may be given a host device.',
    source: '§5.2',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('device-allocator', params, input);
}

/** One row of the allocation table. */
export interface Assignment {
  readonly hostNic: number;
  readonly vnic: number;
}

export type Kind = 'evi' | 'eoc';

export interface Stats {
  assigned: number;
  refused: number;
  released: number;
  cutThrough: number;
  vnetp: number;
  routed: number;
  unrouted: number;
}

export interface Context {
  readonly p: Params;
  /** The allocation table, in order of assignment. */
  table: Assignment[];
  /** Ghost: the last EVI/EoC routed, cleared by any other event (so it is checked against the table it used). */
  lastRoute: { kind: Kind; hostNic: number; vnic: number } | null;
  stats: Stats;
}

export type Event =
  | { type: 'assign'; hostNic: number; vnic: number }
  | { type: 'release'; hostNic: number }
  /** The host NIC driver takes a frame off host device `hostNic`. */
  | { type: 'host.arrival'; hostNic: number; frameId: number }
  /** The host driver identifies an arrival (EVI) or reports end of coalescing (EoC) on `hostNic`. */
  | { type: 'host.notify'; kind: Kind; hostNic: number };

export type Emitted =
  | { type: 'assigned'; hostNic: number; vnic: number }
  | { type: 'assign.refused'; hostNic: number; vnic: number; reason: 'busy' | 'no-such-device' }
  | { type: 'released'; hostNic: number; vnic: number }
  /** Which path a host arrival takes: cut-through to the assigned vNIC, or the ordinary VNET/P path. */
  | { type: 'path'; hostNic: number; frameId: number; path: 'cut-through'; vnic: number }
  | { type: 'path'; hostNic: number; frameId: number; path: 'vnetp'; vnic: null }
  /** An EVI or EoC routed to the vNIC the device is assigned to (for the event dispatcher). */
  | { type: 'route'; kind: Kind; hostNic: number; vnic: number }
  | { type: 'unrouted'; kind: Kind; hostNic: number };

export function initialContext(p: Params): Context {
  return {
    p,
    table: [],
    lastRoute: null,
    stats: { assigned: 0, refused: 0, released: 0, cutThrough: 0, vnetp: 0, routed: 0, unrouted: 0 },
  };
}

/** The vNIC holding `hostNic`, or null. */
export function ownerOf(table: readonly Assignment[], hostNic: number): number | null {
  return table.find((a) => a.hostNic === hostNic)?.vnic ?? null;
}

const hostNicOf = (e: Event) => e.hostNic;
const src = (source: string) => ({ source });

export const deviceAllocatorMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    validRequest: ({ context, event }) =>
      event.type === 'assign' &&
      Number.isInteger(event.hostNic) &&
      event.hostNic >= 0 &&
      event.hostNic < context.p.hostNics &&
      Number.isInteger(event.vnic) &&
      event.vnic >= 0 &&
      event.vnic < context.p.vnics,
    hostNicFree: ({ context, event }) => ownerOf(context.table, hostNicOf(event)) === null,
    hostNicAssigned: ({ context, event }) => ownerOf(context.table, hostNicOf(event)) !== null,
  },
  actions: {
    clearRoute: assign({ lastRoute: null }),
    assignNic: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'assign') return;
      enqueue.assign({
        table: [...context.table, { hostNic: event.hostNic, vnic: event.vnic }],
        stats: { ...context.stats, assigned: context.stats.assigned + 1 },
      });
      enqueue.emit({ type: 'assigned', hostNic: event.hostNic, vnic: event.vnic });
    }),
    refuseBusy: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'assign') return;
      enqueue.assign({ stats: { ...context.stats, refused: context.stats.refused + 1 } });
      enqueue.emit({ type: 'assign.refused', hostNic: event.hostNic, vnic: event.vnic, reason: 'busy' });
    }),
    refuseInvalid: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'assign') return;
      enqueue.assign({ stats: { ...context.stats, refused: context.stats.refused + 1 } });
      enqueue.emit({ type: 'assign.refused', hostNic: event.hostNic, vnic: event.vnic, reason: 'no-such-device' });
    }),
    releaseNic: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'release') return;
      const vnic = ownerOf(context.table, event.hostNic);
      if (vnic === null) return;
      enqueue.assign({
        table: context.table.filter((a) => a.hostNic !== event.hostNic),
        stats: { ...context.stats, released: context.stats.released + 1 },
      });
      enqueue.emit({ type: 'released', hostNic: event.hostNic, vnic });
    }),
    takeCutThroughPath: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.arrival') return;
      const vnic = ownerOf(context.table, event.hostNic)!;
      enqueue.assign({ stats: { ...context.stats, cutThrough: context.stats.cutThrough + 1 } });
      enqueue.emit({ type: 'path', hostNic: event.hostNic, frameId: event.frameId, path: 'cut-through', vnic });
    }),
    takeVnetpPath: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.arrival') return;
      enqueue.assign({ stats: { ...context.stats, vnetp: context.stats.vnetp + 1 } });
      enqueue.emit({ type: 'path', hostNic: event.hostNic, frameId: event.frameId, path: 'vnetp', vnic: null });
    }),
    routeNotification: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.notify') return;
      const vnic = ownerOf(context.table, event.hostNic)!;
      enqueue.assign({
        lastRoute: { kind: event.kind, hostNic: event.hostNic, vnic },
        stats: { ...context.stats, routed: context.stats.routed + 1 },
      });
      enqueue.emit({ type: 'route', kind: event.kind, hostNic: event.hostNic, vnic });
    }),
    dropNotification: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.notify') return;
      enqueue.assign({ stats: { ...context.stats, unrouted: context.stats.unrouted + 1 } });
      enqueue.emit({ type: 'unrouted', kind: event.kind, hostNic: event.hostNic });
    }),
  },
}).createMachine({
  id: 'device-allocator',
  description:
    'The VNET/P+ device allocation table: host NICs (or receive queues) to vNICs, and the routing of arrivals, EVIs and EoCs by it. ' +
    'Choices: a host device serves one vNIC at most, a vNIC may hold several; a busy device is refused, never stolen; unassigned ' +
    'devices take the ordinary VNET/P path and their EVI/EoC reach no vNIC.',
  meta: src('§5.2'),
  context: ({ input }) => initialContext(checkInput(input)),
  initial: 'allocating',
  states: {
    allocating: {
      description: 'The allocator serves assignment requests and routes host events by its table.',
      meta: src('§5.2'),
      on: {
        assign: [
          {
            guard: and(['validRequest', 'hostNicFree']),
            actions: ['clearRoute', 'assignNic'],
            description: 'Give the free host device to the vNIC: from now on its arrivals, EVIs and EoCs go to that vNIC.',
            meta: src('§5.2 ("maps host NICs to virtual NICs")'),
          },
          {
            guard: 'validRequest',
            actions: ['clearRoute', 'refuseBusy'],
            description: 'The host device already serves a vNIC: refuse; it must be released first.',
            meta: src('§5.2'),
          },
          {
            actions: ['clearRoute', 'refuseInvalid'],
            description: 'No such host device or vNIC: refuse.',
            meta: src('§5.2'),
          },
        ],
        release: {
          guard: 'hostNicAssigned',
          actions: ['clearRoute', 'releaseNic'],
          description: 'Take the host device back from its vNIC; the vNIC falls back to the VNET/P path for it.',
          meta: src('§5.2'),
        },
        'host.arrival': [
          {
            guard: 'hostNicAssigned',
            actions: ['clearRoute', 'takeCutThroughPath'],
            description: 'The device is assigned: the frame goes cut-through to the vNIC that owns the device.',
            meta: src('§4.4; §5.2'),
          },
          {
            actions: ['clearRoute', 'takeVnetpPath'],
            description: 'The device is unassigned: the frame takes the ordinary VNET/P path (bridge, then core routing).',
            meta: src('§5.1.6 Reception'),
          },
        ],
        'host.notify': [
          {
            guard: 'hostNicAssigned',
            actions: 'routeNotification',
            description: 'Route the EVI or EoC of an assigned device to its vNIC, by the allocation table.',
            meta: src('§5.2 ("device allocation tables to support EVI and EoC notification routing")'),
          },
          {
            actions: ['clearRoute', 'dropNotification'],
            description: 'An EVI or EoC of an unassigned device reaches no vNIC.',
            meta: src('§5.2'),
          },
        ],
      },
    },
  },
});

export type DeviceAllocatorMachine = typeof deviceAllocatorMachine;

// ---- catalog entry -----------------------------------------------------------------------------

type Snap = SnapshotFrom<DeviceAllocatorMachine>;

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'host-nic-assigned-once',
    description: 'A host NIC (or receive queue) is assigned to at most one vNIC.',
    source: '§5.2',
    check: (s) => {
      const seen = new Map<number, number>();
      for (const a of s.context.table) {
        const other = seen.get(a.hostNic);
        if (other !== undefined) return `host NIC ${a.hostNic} is assigned to vNIC ${other} and to vNIC ${a.vnic}`;
        seen.set(a.hostNic, a.vnic);
      }
      return undefined;
    },
    witness: {
      name: 'all-host-nics-assigned',
      description: 'Every host NIC is sometimes assigned at once.',
      reached: (s) => new Set(s.context.table.map((a) => a.hostNic)).size === s.context.p.hostNics,
    },
  },
  {
    name: 'notification-reaches-owner-only',
    description: 'An EVI or EoC is routed only to the vNIC its host NIC is assigned to.',
    source: '§5.2',
    check: (s) => {
      const r = s.context.lastRoute;
      if (!r) return undefined;
      const owners = s.context.table.filter((a) => a.hostNic === r.hostNic).map((a) => a.vnic);
      return owners.length === 1 && owners[0] === r.vnic
        ? undefined
        : `${r.kind} of host NIC ${r.hostNic} routed to vNIC ${r.vnic}; the table says ${owners.length ? owners.join(', ') : 'unassigned'}`;
    },
    witness: {
      name: 'eoc-routed',
      description: 'An EoC is sometimes routed to a vNIC.',
      reached: (s) => s.context.lastRoute?.kind === 'eoc',
    },
  },
];

export const witnesses: readonly Witness<Snap>[] = [
  { name: 'assignment-refused-busy', description: 'An assignment of a busy host NIC is sometimes refused.', reached: (s) => s.context.stats.refused > 0 },
  { name: 'vnetp-fallback', description: 'A host arrival sometimes takes the ordinary VNET/P path.', reached: (s) => s.context.stats.vnetp > 0 },
  {
    name: 'reassigned-after-release',
    description: 'A host NIC is sometimes released and then assigned again.',
    reached: (s) => s.context.stats.released > 0 && s.context.stats.assigned > s.context.stats.released,
  },
];

/** The exploration alphabet: every (host NIC, vNIC) request, one out of range, releases, arrivals and notifications per host NIC. */
export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const ev: Event[] = [{ type: 'assign', hostNic: c.p.hostNics, vnic: 0 }];
  for (let h = 0; h < c.p.hostNics; h++) {
    for (let v = 0; v < c.p.vnics; v++) ev.push({ type: 'assign', hostNic: h, vnic: v });
    ev.push(
      { type: 'release', hostNic: h },
      { type: 'host.arrival', hostNic: h, frameId: c.stats.cutThrough + c.stats.vnetp },
      { type: 'host.notify', kind: 'evi', hostNic: h },
      { type: 'host.notify', kind: 'eoc', hostNic: h },
    );
  }
  return ev;
}

/** A finite key: the table as a per-host-NIC list of owners, and the last route. */
export function serializeState(s: Snap): string {
  const c = s.context;
  const owners = Array.from({ length: c.p.hostNics }, (_, h) => c.table.filter((a) => a.hostNic === h).map((a) => a.vnic));
  return JSON.stringify([s.value, owners, c.lastRoute ? [c.lastRoute.kind, c.lastRoute.hostNic, c.lastRoute.vnic] : null]);
}

export const entry = defineEntry({
  id: 'device-allocator',
  title: 'VNET/P+ device allocator: host NICs to vNICs, and routing by the allocation table',
  summary:
    'The device allocator assigns host NICs (or host receive queues, treated alike) to vNICs and keeps the allocation table by which ' +
    'host arrivals, early virtual interrupts (EVI) and end-of-coalescing notifications (EoC) are routed. An arrival on an assigned ' +
    'device goes cut-through to its vNIC; on an unassigned one it takes the ordinary VNET/P path (bridge, then core routing). An ' +
    'EVI or EoC goes to the owning vNIC only, or nowhere. Choices made here: a host device serves at most one vNIC while a vNIC may ' +
    'hold several devices; an assignment of a busy device is refused, never stolen; a release returns the device to the VNET/P path.',
  source: ['§5.2', '§4.3', '§4.4', '§5.1.6'],
  machine: deviceAllocatorMachine,
  params,
  checkInput,
  samples: [{ name: 'two-host-nics-two-vnics', input: { hostNics: 2, vnics: 2 } }],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'assign', description: 'Request: give host NIC `hostNic` to vNIC `vnic`.' },
    { type: 'release', description: 'Take host NIC `hostNic` back from its vNIC.' },
    { type: 'host.arrival', description: 'The host driver takes frame `frameId` off host NIC `hostNic`.' },
    { type: 'host.notify', description: 'An EVI or EoC (`kind`) on host NIC `hostNic`.' },
  ],
  emits: [
    { type: 'assigned', description: 'The host NIC now serves the vNIC.' },
    { type: 'assign.refused', description: 'An assignment was refused: `busy` or `no-such-device`.' },
    { type: 'released', description: 'The host NIC no longer serves the vNIC.' },
    { type: 'path', description: 'The path a host arrival takes: `cut-through` to the owning vNIC, or `vnetp`.' },
    { type: 'route', description: 'An EVI or EoC routed to the owning vNIC.' },
    { type: 'unrouted', description: 'An EVI or EoC of an unassigned host NIC, routed nowhere.' },
  ],
});
