/**
 * VNET/P core routing: the routing table, the hash routing cache layered on it, and delivery.
 *
 * Sources: dissertation §5.1.2 (routing tables indexed by source and destination MAC, a hash
 * routing cache on top, destinations that are links or interfaces); the original Palacios core
 * (palacios-notes.md §1: matching, priorities, delivery order, cache invalidation; §8: keep
 * "matched" separate from "delivered").
 *
 * A route names a source MAC and a destination MAC, each with a qualifier (`any`, `not` an
 * address, `none`, or an exact address), a destination (an interface, i.e. a local vNIC, or a
 * link: a remote overlay endpoint, or link {@link LOCAL_NETWORK_LINK}, the special link to the
 * local network) and a source link that routing never consults (as in the original). Adding a
 * route gives it `idx = ++counter` (from 1, never reused); deleting names an index; every table
 * change, even the deletion of an unknown index, flushes the whole cache.
 *
 * A frame is matched on its two MACs only: each side is classed (NONE, NOT, ANY, DIRECT), the pair
 * gets a priority from the original's table (palacios-notes.md §1.3), and every route at the top
 * priority matches, oldest route first; each delivers its own copy (ties are how broadcast
 * happens). A matched route whose interface is not registered delivers nothing but still
 * suppresses lower routes. No match drops the frame and counts it (no-match results are not
 * cached, as in the original). The cache maps (dst MAC, src MAC) to the matched route indices.
 *
 * Modelling choices:
 * - MACs are canonical lowercase strings `aa:bb:cc:dd:ee:ff`; {@link frameMacs} extracts them
 *   from an Ethernet frame. A frame event with a non-canonical MAC is dropped as `malformed`.
 * - Interface existence: `vnic.register` / `vnic.unregister` events. By default an interface is
 *   looked up when the frame is delivered; `bindInterfaceAtAdd` reproduces the original, which
 *   binds the device once when the route is added (a route added before its vNIC registered stays
 *   dead until re-added).
 * - Links always take their copy: the bridge, not the core, drops frames for unknown links
 *   (palacios-notes.md §4), and the core always has its bridge (the host bridge registers at load).
 */
import { assign, enqueueActions, not, setup, type SnapshotFrom } from 'xstate';
import { defineEntry, type Invariant, type Witness } from './catalog-entry.js';
import { checkParams, type ParamsOf } from './params.js';

// ---- addresses and frames -----------------------------------------------------------------------

/** A MAC address in canonical form: six two-digit lowercase hex octets separated by colons. */
export type Mac = string;

const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

export const BROADCAST_MAC: Mac = 'ff:ff:ff:ff:ff:ff';

/** The link id of the special link to the local network (§5.1.2); overlay links count from 1. */
export const LOCAL_NETWORK_LINK = 0;

export function isMac(x: unknown): x is Mac {
  return typeof x === 'string' && MAC_RE.test(x);
}

/** The canonical MAC of the six bytes at `offset`. */
export function macAt(bytes: Uint8Array, offset: number): Mac {
  if (offset < 0 || offset + 6 > bytes.length) throw new RangeError(`no 6-byte MAC at offset ${offset} of ${bytes.length} bytes`);
  return Array.from(bytes.subarray(offset, offset + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * The destination (bytes 0-5) and source (bytes 6-11) MACs of an Ethernet frame, the only fields
 * routing looks at. Throws a RangeError for a frame shorter than 12 bytes (the original read stale
 * buffer bytes there; palacios-notes.md §4).
 */
export function frameMacs(data: Uint8Array): { dst: Mac; src: Mac } {
  if (data.length < 12) throw new RangeError(`an Ethernet frame has at least 12 bytes of addresses, got ${data.length}`);
  return { dst: macAt(data, 0), src: macAt(data, 6) };
}

/** A frame as routing carries it: opaque to routing apart from its MACs (same shape as the vNIC's). */
export interface Frame {
  /** Identity for tracking through the system (not part of the wire format). */
  readonly id: number;
  /** Length of the Ethernet frame in bytes. */
  readonly bytes: number;
  readonly data?: Uint8Array;
}

// ---- routes ---------------------------------------------------------------------------------------

/** How a route names one side's MAC (`MAC_ANY`, `MAC_NONE`, `MAC_NOT`, `MAC_ADDR` in the original). */
export type MacMatch =
  | { readonly kind: 'any' }
  | { readonly kind: 'none' }
  | { readonly kind: 'not'; readonly mac: Mac }
  | { readonly kind: 'addr'; readonly mac: Mac };

/** Where a matched route sends its copy: a local vNIC, or a link handed to the bridge. */
export type Destination = { readonly kind: 'interface'; readonly id: number } | { readonly kind: 'link'; readonly id: number };

/** The route's source link. Stored, printed, never matched (palacios-notes.md §1.3). */
export type RouteOrigin = { readonly kind: 'any' } | Destination;

export interface RouteSpec {
  readonly srcMac: MacMatch;
  readonly dstMac: MacMatch;
  readonly dest: Destination;
  readonly from: RouteOrigin;
}

export interface Route {
  /** `++counter` at add time: from 1, never reused; older routes have smaller indices. */
  readonly idx: number;
  readonly spec: RouteSpec;
  /** The destination interface was registered when the route was added (used with `bindInterfaceAtAdd`). */
  readonly boundAtAdd: boolean;
}

const isId = (x: unknown, min: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= 0x7fffffff;

function macMatchProblem(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return 'not a MAC qualifier';
  const k = (m as { kind?: unknown }).kind;
  if (k === 'any' || k === 'none') return undefined;
  if (k === 'not' || k === 'addr') return isMac((m as { mac?: unknown }).mac) ? undefined : `qualifier ${k} without a canonical MAC`;
  return `unknown qualifier ${JSON.stringify(k)}`;
}

function destinationProblem(d: unknown, allowAny: boolean): string | undefined {
  if (typeof d !== 'object' || d === null) return 'not a destination';
  const { kind, id } = d as { kind?: unknown; id?: unknown };
  if (kind === 'any' && allowAny) return undefined;
  if (kind === 'interface') return isId(id, 1) ? undefined : `interface id ${String(id)} is not a positive integer`;
  if (kind === 'link') return isId(id, 0) ? undefined : `link id ${String(id)} is not a non-negative integer`;
  return `unknown destination kind ${JSON.stringify(kind)}`;
}

/** Why an untrusted route is not well formed, or undefined when it is. */
export function routeProblem(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null) return 'not a route';
  const x = r as Partial<Record<keyof RouteSpec, unknown>>;
  const s = macMatchProblem(x.srcMac);
  if (s) return `source MAC: ${s}`;
  const d = macMatchProblem(x.dstMac);
  if (d) return `destination MAC: ${d}`;
  const t = destinationProblem(x.dest, false);
  if (t) return `destination: ${t}`;
  const f = destinationProblem(x.from, true);
  if (f) return `source link: ${f}`;
  return undefined;
}

// ---- matching (palacios-notes.md §1.3) -----------------------------------------------------------

/** How one side of a frame relates to a route's MAC qualifier (`match_mac`). */
export type MatchClass = 'none' | 'not' | 'any' | 'direct';

export function classify(m: MacMatch, mac: Mac): MatchClass {
  switch (m.kind) {
    case 'any':
      return 'any';
    case 'addr':
      return m.mac === mac ? 'direct' : 'none';
    case 'not':
      return m.mac !== mac ? 'not' : 'none';
    case 'none':
      return 'none';
  }
}

/** The original's `priority_map`: rows are the source class, columns the destination class; -1 = no match. */
export const PRIORITY: Readonly<Record<MatchClass, Readonly<Record<MatchClass, number>>>> = {
  none: { none: -1, not: -1, any: -1, direct: -1 },
  not: { none: -1, not: 3, any: 5, direct: 7 },
  any: { none: -1, not: 5, any: 6, direct: 6 },
  direct: { none: -1, not: 7, any: 8, direct: 8 },
};

export function routePriority(spec: RouteSpec, dst: Mac, src: Mac): number {
  return PRIORITY[classify(spec.srcMac, src)][classify(spec.dstMac, dst)];
}

/**
 * The uncached lookup: indices of every route at the top priority for (dst, src), oldest first;
 * empty when no route matches. `routes` is the table, oldest first.
 */
export function matchRoutes(routes: readonly Route[], dst: Mac, src: Mac): number[] {
  let top = -1;
  let out: number[] = [];
  for (const r of routes) {
    const p = routePriority(r.spec, dst, src);
    if (p < 0 || p < top) continue;
    if (p > top) {
      top = p;
      out = [];
    }
    out.push(r.idx);
  }
  return out;
}

/** The cache key of a frame: its destination and source MACs (the original adds the ignored source link). */
export const cacheKey = (dst: Mac, src: Mac): string => `${dst}>${src}`;

// ---- parameters, context, events ------------------------------------------------------------------

export const params = {
  bindInterfaceAtAdd: {
    kind: 'boolean',
    default: false,
    description:
      'Bind an interface destination once, when the route is added, as the original does: a route added before its vNIC registered never delivers until deleted and re-added. Off: the interface is looked up at delivery.',
    source: 'palacios-notes.md §1.2, §8',
  },
} as const;

export type Params = ParamsOf<typeof params>;
export type Input = Partial<Params>;

export function checkInput(input: unknown): Params {
  return checkParams('routing', params, input);
}

export interface Stats {
  /** Frames handed to the core (`rx_pkts`), matched or not. */
  framesIn: number;
  /** Frames with at least one matching route. */
  framesMatched: number;
  droppedNoRoute: number;
  droppedMalformed: number;
  /** Copies handed to a vNIC or the bridge. */
  copiesDelivered: number;
  /** Copies of matched routes that could not be delivered (interface missing). */
  copiesUndeliverable: number;
  cacheHits: number;
  cacheMisses: number;
  cacheFlushes: number;
  routesAdded: number;
  routesDeleted: number;
  /** Deletions naming no route (cache flushed anyway). */
  unknownDeletes: number;
  routesRejected: number;
}

export interface Decision {
  readonly dst: Mac;
  readonly src: Mac;
  /** Indices of the matched routes, oldest first (empty: dropped). */
  readonly matched: readonly number[];
  readonly cacheHit: boolean;
}

export interface Context {
  readonly p: Params;
  /** The routing table, oldest route (smallest index) first. */
  routes: Route[];
  /** Last index handed out (`route_idx`); the next route gets counter + 1. */
  counter: number;
  /** The routing cache: {@link cacheKey} -> matched route indices, oldest first. Only matches are stored. */
  cache: Record<string, number[]>;
  /** Interface (vNIC) ids registered with the core now, ascending. */
  interfaces: number[];
  /** The latest routing decision (for traces and witnesses). */
  last: Decision | null;
  stats: Stats;
}

export type Event =
  /** Add a route; it gets the next index. */
  | { type: 'route.add'; route: RouteSpec }
  /** Delete the route with this index (unknown index: no change, cache flushed). */
  | { type: 'route.del'; idx: number }
  /** A vNIC registers with the core under this interface id. */
  | { type: 'vnic.register'; id: number }
  /** A vNIC leaves the core. Routes naming it stay (as in the original) and deliver nothing. */
  | { type: 'vnic.unregister'; id: number }
  /** A frame to route, by its destination and source MACs. */
  | { type: 'frame'; dst: Mac; src: Mac; frame: Frame };

export type Emitted =
  /** The route was added under `idx` (the return value of `v3_vnet_add_route`). */
  | { type: 'route.added'; idx: number; route: RouteSpec }
  /** The route was not well formed and was not added. */
  | { type: 'route.rejected'; reason: string }
  /** The deletion was done (`found`) or named no route; the cache was flushed either way. */
  | { type: 'route.deleted'; idx: number; found: boolean }
  /** The routes that matched a frame, oldest first, and whether the cache answered. */
  | { type: 'matched'; frame: Frame; routes: readonly number[]; cacheHit: boolean }
  /** One copy of the frame for one matched route. */
  | { type: 'deliver'; route: number; dest: Destination; frame: Frame }
  /** A matched route whose destination is missing: no copy (lower routes stay suppressed). */
  | { type: 'undeliverable'; route: number; dest: Destination; frame: Frame; reason: 'interface-missing' | 'interface-unbound' }
  /** The frame was dropped: no route matched, or its MACs are not canonical. */
  | { type: 'drop'; reason: 'no-route' | 'malformed'; frame: Frame };

const zeroStats = (): Stats => ({
  framesIn: 0,
  framesMatched: 0,
  droppedNoRoute: 0,
  droppedMalformed: 0,
  copiesDelivered: 0,
  copiesUndeliverable: 0,
  cacheHits: 0,
  cacheMisses: 0,
  cacheFlushes: 0,
  routesAdded: 0,
  routesDeleted: 0,
  unknownDeletes: 0,
  routesRejected: 0,
});

export function initialContext(p: Params): Context {
  return { p, routes: [], counter: 0, cache: {}, interfaces: [], last: null, stats: zeroStats() };
}

const frameOk = (e: Event): e is Extract<Event, { type: 'frame' }> => e.type === 'frame' && isMac(e.dst) && isMac(e.src);

/** Why a matched route delivers nothing, or undefined when it delivers. */
function undeliverableReason(c: Context, r: Route): 'interface-missing' | 'interface-unbound' | undefined {
  if (r.spec.dest.kind !== 'interface') return undefined;
  if (c.p.bindInterfaceAtAdd && !r.boundAtAdd) return 'interface-unbound';
  return c.interfaces.includes(r.spec.dest.id) ? undefined : 'interface-missing';
}

const src = (source: string) => ({ source });

export const routingMachine = setup({
  types: {
    context: {} as Context,
    events: {} as Event,
    input: {} as Input | undefined,
    emitted: {} as Emitted,
    meta: {} as { source: string },
  },
  guards: {
    routeWellFormed: ({ event }) => event.type === 'route.add' && routeProblem(event.route) === undefined,
    routeExists: ({ context, event }) => event.type === 'route.del' && context.routes.some((r) => r.idx === event.idx),
    interfaceIdValid: ({ event }) => (event.type === 'vnic.register' || event.type === 'vnic.unregister') && isId(event.id, 1),
    frameWellFormed: ({ event }) => frameOk(event),
    /** The cache holds a result for the frame's (dst, src). */
    cacheHit: ({ context, event }) => frameOk(event) && Object.hasOwn(context.cache, cacheKey(event.dst, event.src)),
    /** Some route matches the frame at a non-negative priority. */
    someRouteMatches: ({ context, event }) => frameOk(event) && matchRoutes(context.routes, event.dst, event.src).length > 0,
  },
  actions: {
    addRoute: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'route.add') return;
      const idx = context.counter + 1;
      const dest = event.route.dest;
      const boundAtAdd = dest.kind === 'interface' && context.interfaces.includes(dest.id);
      enqueue.assign({
        routes: [...context.routes, { idx, spec: event.route, boundAtAdd }],
        counter: idx,
        stats: { ...context.stats, routesAdded: context.stats.routesAdded + 1 },
      });
      enqueue.emit({ type: 'route.added', idx, route: event.route });
    }),
    rejectRoute: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'route.add') return;
      enqueue.assign({ stats: { ...context.stats, routesRejected: context.stats.routesRejected + 1 } });
      enqueue.emit({ type: 'route.rejected', reason: routeProblem(event.route) ?? 'not a route' });
    }),
    deleteRoute: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'route.del') return;
      enqueue.assign({
        routes: context.routes.filter((r) => r.idx !== event.idx),
        stats: { ...context.stats, routesDeleted: context.stats.routesDeleted + 1 },
      });
      enqueue.emit({ type: 'route.deleted', idx: event.idx, found: true });
    }),
    noteUnknownDelete: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'route.del') return;
      enqueue.assign({ stats: { ...context.stats, unknownDeletes: context.stats.unknownDeletes + 1 } });
      enqueue.emit({ type: 'route.deleted', idx: event.idx, found: false });
    }),
    /** Every table change frees and rebuilds the whole cache (`clear_hash_cache`). */
    flushCache: assign(({ context }) => ({
      cache: {},
      stats: { ...context.stats, cacheFlushes: context.stats.cacheFlushes + 1 },
    })),
    registerInterface: assign(({ context, event }) => {
      if (event.type !== 'vnic.register' || context.interfaces.includes(event.id)) return {};
      return { interfaces: [...context.interfaces, event.id].sort((a, b) => a - b) };
    }),
    unregisterInterface: assign(({ context, event }) => {
      if (event.type !== 'vnic.unregister') return {};
      return { interfaces: context.interfaces.filter((i) => i !== event.id) };
    }),
    countFrame: assign(({ context }) => ({ stats: { ...context.stats, framesIn: context.stats.framesIn + 1 } })),
    dropMalformed: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'frame') return;
      enqueue.assign({ stats: { ...context.stats, droppedMalformed: context.stats.droppedMalformed + 1 } });
      enqueue.emit({ type: 'drop', reason: 'malformed', frame: event.frame });
    }),
    noteCacheHit: assign(({ context, event }) => {
      if (!frameOk(event)) return {};
      return {
        last: { dst: event.dst, src: event.src, matched: context.cache[cacheKey(event.dst, event.src)], cacheHit: true },
        stats: { ...context.stats, cacheHits: context.stats.cacheHits + 1 },
      };
    }),
    /** Cache miss: match against the table and remember the result. */
    lookupAndCache: assign(({ context, event }) => {
      if (!frameOk(event)) return {};
      const matched = matchRoutes(context.routes, event.dst, event.src);
      return {
        cache: { ...context.cache, [cacheKey(event.dst, event.src)]: matched },
        last: { dst: event.dst, src: event.src, matched, cacheHit: false },
        stats: { ...context.stats, cacheMisses: context.stats.cacheMisses + 1 },
      };
    }),
    /** Hand one copy to each route the cache now holds for the frame, oldest first. */
    deliverCopies: enqueueActions(({ context, event, enqueue }) => {
      if (!frameOk(event)) return;
      const matched = context.cache[cacheKey(event.dst, event.src)] ?? [];
      enqueue.emit({ type: 'matched', frame: event.frame, routes: matched, cacheHit: context.last?.cacheHit ?? false });
      let delivered = 0;
      let undeliverable = 0;
      for (const idx of matched) {
        const r = context.routes.find((x) => x.idx === idx);
        if (!r) continue; // a stale cache entry; the cache invariant reports it
        const why = undeliverableReason(context, r);
        if (why) {
          undeliverable++;
          enqueue.emit({ type: 'undeliverable', route: idx, dest: r.spec.dest, frame: event.frame, reason: why });
        } else {
          delivered++;
          enqueue.emit({ type: 'deliver', route: idx, dest: r.spec.dest, frame: event.frame });
        }
      }
      enqueue.assign({
        stats: {
          ...context.stats,
          framesMatched: context.stats.framesMatched + 1,
          copiesDelivered: context.stats.copiesDelivered + delivered,
          copiesUndeliverable: context.stats.copiesUndeliverable + undeliverable,
        },
      });
    }),
    dropNoRoute: enqueueActions(({ context, event, enqueue }) => {
      if (!frameOk(event)) return;
      enqueue.assign({
        last: { dst: event.dst, src: event.src, matched: [], cacheHit: false },
        stats: {
          ...context.stats,
          cacheMisses: context.stats.cacheMisses + 1,
          droppedNoRoute: context.stats.droppedNoRoute + 1,
        },
      });
      enqueue.emit({ type: 'drop', reason: 'no-route', frame: event.frame });
    }),
  },
}).createMachine({
  id: 'routing',
  description:
    'The VNET/P core routing table with its hash routing cache: table changes flush the cache; each frame goes to every top-priority matching route, oldest first, or is dropped.',
  meta: src('§5.1.2; palacios-notes.md §1'),
  context: ({ input }) => initialContext(checkInput(input)),
  on: {
    'route.add': [
      {
        guard: 'routeWellFormed',
        actions: ['addRoute', 'flushCache'],
        description: 'Append the route with idx = ++counter (never reused) and flush the whole routing cache.',
        meta: src('palacios-notes.md §1.2 (v3_vnet_add_route); §5.1.2'),
      },
      {
        actions: 'rejectRoute',
        description: 'A route with an unknown qualifier, a non-canonical MAC or a bad destination is refused; the table and cache are unchanged.',
        meta: src('§5.1.5 (validity checking before the core)'),
      },
    ],
    'route.del': [
      {
        guard: 'routeExists',
        actions: ['deleteRoute', 'flushCache'],
        description: 'Remove the route with that index and flush the whole routing cache.',
        meta: src('palacios-notes.md §1.2 (v3_vnet_del_route)'),
      },
      {
        actions: ['noteUnknownDelete', 'flushCache'],
        description: 'No route has that index: the table is unchanged, but the cache is flushed anyway, as in the original.',
        meta: src('palacios-notes.md §1.2'),
      },
    ],
    'vnic.register': {
      guard: 'interfaceIdValid',
      actions: 'registerInterface',
      description: 'A vNIC registers with the core; routes naming its interface id can now deliver to it (unless bound at add time).',
      meta: src('§5.1.3 (a virtual NIC registers with VNET/P); palacios-notes.md §1.2'),
    },
    'vnic.unregister': {
      guard: 'interfaceIdValid',
      actions: 'unregisterInterface',
      description: 'A vNIC leaves the core. Routes naming it are kept and the cache is not flushed (as in the original); their copies become undeliverable.',
      meta: src('palacios-notes.md §1.2 (v3_vnet_del_dev)'),
    },
    frame: [
      {
        guard: not('frameWellFormed'),
        actions: ['countFrame', 'dropMalformed'],
        description: 'A frame whose MACs are not canonical addresses is dropped and counted.',
        meta: src('palacios-notes.md §4 (short datagrams read stale header bytes)'),
      },
      {
        guard: 'cacheHit',
        actions: ['countFrame', 'noteCacheHit', 'deliverCopies'],
        description: 'The routing cache holds the match for (dst MAC, src MAC): deliver one copy per cached route, oldest first.',
        meta: src('§5.1.2 (hash routing cache); palacios-notes.md §1.4, §1.5'),
      },
      {
        guard: 'someRouteMatches',
        actions: ['countFrame', 'lookupAndCache', 'deliverCopies'],
        description: 'Cache miss: class both MACs against every route, keep the routes at the top priority, cache them, and deliver one copy each, oldest first.',
        meta: src('§5.1.2; palacios-notes.md §1.3, §1.4'),
      },
      {
        actions: ['countFrame', 'dropNoRoute'],
        description: 'No route matches at any priority: drop the frame and count it; the miss is not cached.',
        meta: src('palacios-notes.md §1.3 (match_route returns NULL)'),
      },
    ],
  },
});

export type RoutingMachine = typeof routingMachine;

// ---- catalog entry -------------------------------------------------------------------------------

type Snap = SnapshotFrom<RoutingMachine>;

export const invariants: readonly Invariant<Snap>[] = [
  {
    name: 'cache-is-transparent',
    description:
      'Every routing cache entry equals an uncached lookup of its (dst MAC, src MAC) in the current table, and no no-match result is cached: the cache is a pure memo between table changes.',
    source: '§5.1.2; palacios-notes.md §1.5',
    check: (s) => {
      const c = s.context;
      for (const [key, cached] of Object.entries(c.cache)) {
        const [dst, srcMac] = key.split('>');
        const fresh = matchRoutes(c.routes, dst, srcMac);
        if (fresh.length === 0) return `the cache holds [${cached.join(', ')}] for ${key}, but no route matches`;
        if (fresh.join(',') !== cached.join(','))
          return `the cache holds [${cached.join(', ')}] for ${key}, the table gives [${fresh.join(', ')}]`;
      }
      return undefined;
    },
    witness: {
      name: 'cache-hit',
      description: 'A frame is sometimes routed from the cache.',
      reached: (s) => s.context.stats.cacheHits > 0,
    },
  },
  {
    name: 'route-indices-ascend-never-reused',
    description: 'The table is ordered by age: indices strictly ascend, each from 1 up to the last one handed out.',
    source: 'palacios-notes.md §1.2, §1.3 (delivery order is ascending idx)',
    check: (s) => {
      const c = s.context;
      let prev = 0;
      for (const r of c.routes) {
        if (!Number.isInteger(r.idx) || r.idx <= prev || r.idx > c.counter)
          return `route index ${r.idx} after ${prev} (last handed out ${c.counter})`;
        prev = r.idx;
      }
      return undefined;
    },
    witness: {
      name: 'index-gap',
      description: 'A route is sometimes deleted while a newer one remains (its index is not reused).',
      reached: (s) => s.context.routes.some((r, i) => r.idx !== i + 1),
    },
  },
  {
    name: 'every-frame-accounted',
    description: 'Every frame handed to the core is matched or dropped with a counted reason.',
    source: 'palacios-notes.md §1.4',
    check: (s) => {
      const st = s.context.stats;
      const out = st.framesMatched + st.droppedNoRoute + st.droppedMalformed;
      return st.framesIn === out ? undefined : `${st.framesIn} frames in, ${out} matched or dropped`;
    },
    witness: {
      name: 'frame-dropped-no-route',
      description: 'A frame sometimes matches no route and is dropped.',
      reached: (s) => s.context.stats.droppedNoRoute > 0,
    },
  },
];

const lastMatched = (s: Snap): Route[] =>
  (s.context.last?.matched ?? []).map((i) => s.context.routes.find((r) => r.idx === i)).filter((r): r is Route => r !== undefined);

export const witnesses: readonly Witness<Snap>[] = [
  {
    name: 'tie-delivers-several-copies',
    description: 'Several routes sometimes share the top priority and each takes a copy (how broadcast happens).',
    reached: (s) => (s.context.last?.matched.length ?? 0) > 1,
  },
  {
    name: 'duplicate-routes-both-match',
    description: 'Two identical routes sometimes both match: duplicates are not merged.',
    reached: (s) => {
      const m = lastMatched(s);
      return m.some((a, i) => m.some((b, j) => j > i && JSON.stringify(a.spec) === JSON.stringify(b.spec)));
    },
  },
  {
    name: 'not-route-matches',
    description: 'A route with a not-X qualifier sometimes matches.',
    reached: (s) => lastMatched(s).some((r) => r.spec.srcMac.kind === 'not' || r.spec.dstMac.kind === 'not'),
  },
  {
    name: 'none-route-present-when-routing',
    description: 'A frame is sometimes routed while a route with a none qualifier is in the table.',
    reached: (s) =>
      s.context.last !== null &&
      s.context.routes.some((r) => r.spec.srcMac.kind === 'none' || r.spec.dstMac.kind === 'none'),
  },
  {
    name: 'lower-route-suppressed',
    description: 'A matching route below the top priority sometimes receives no copy.',
    reached: (s) => {
      const l = s.context.last;
      if (!l || l.matched.length === 0) return false;
      return s.context.routes.some((r) => !l.matched.includes(r.idx) && routePriority(r.spec, l.dst, l.src) >= 0);
    },
  },
  {
    name: 'matched-route-undeliverable',
    description: 'A matched route sometimes names a missing interface and delivers nothing.',
    reached: (s) => s.context.stats.copiesUndeliverable > 0,
  },
  {
    name: 'unknown-index-deleted',
    description: 'A deletion sometimes names no route (the cache is flushed anyway).',
    reached: (s) => s.context.stats.unknownDeletes > 0,
  },
  {
    name: 'frame-goes-to-local-network',
    description: 'A frame is sometimes routed to the special link to the local network.',
    reached: (s) => lastMatched(s).some((r) => r.spec.dest.kind === 'link' && r.spec.dest.id === LOCAL_NETWORK_LINK),
  },
];

/** Two guest MACs for the exploration alphabet. */
export const SAMPLE_MACS = { A: '02:00:00:00:00:0a', B: '02:00:00:00:00:0b' } as const;

const any = { kind: 'any' } as const;
const { A, B } = SAMPLE_MACS;

/**
 * The routes exploration may add: an any/any route tying with an any/A route at priority 6, a
 * direct/not route (7), a dead none route, and a not/any route (5) to the local network.
 */
export const SAMPLE_ROUTES: readonly RouteSpec[] = [
  { srcMac: any, dstMac: any, dest: { kind: 'interface', id: 1 }, from: any },
  { srcMac: any, dstMac: { kind: 'addr', mac: A }, dest: { kind: 'interface', id: 2 }, from: any },
  { srcMac: { kind: 'addr', mac: A }, dstMac: { kind: 'not', mac: A }, dest: { kind: 'link', id: 1 }, from: { kind: 'interface', id: 1 } },
  { srcMac: { kind: 'none' }, dstMac: any, dest: { kind: 'interface', id: 1 }, from: any },
  { srcMac: { kind: 'not', mac: B }, dstMac: any, dest: { kind: 'link', id: LOCAL_NETWORK_LINK }, from: { kind: 'link', id: 1 } },
];

/** At most this many routes in explored tables. */
const EXPLORED_TABLE_SIZE = 2;

export function explorationEvents(s: Snap): Event[] {
  const c = s.context;
  const ev: Event[] = [];
  if (c.routes.length < EXPLORED_TABLE_SIZE) for (const route of SAMPLE_ROUTES) ev.push({ type: 'route.add', route });
  ev.push({ type: 'route.add', route: { ...SAMPLE_ROUTES[0], dstMac: { kind: 'addr', mac: 'not-a-mac' } } });
  for (const r of c.routes) ev.push({ type: 'route.del', idx: r.idx });
  ev.push({ type: 'route.del', idx: 0 }); // indices start at 1: never a route
  const frame = { id: c.stats.framesIn, bytes: 60 };
  for (const dst of [A, B]) for (const srcMac of [A, B]) ev.push({ type: 'frame', dst, src: srcMac, frame });
  ev.push({ type: 'frame', dst: 'ff-ff', src: A, frame });
  for (const id of [1, 2]) ev.push({ type: c.interfaces.includes(id) ? 'vnic.unregister' : 'vnic.register', id });
  return ev;
}

/** A finite key: the table by age with indices replaced by position, the cache likewise, the vNICs. */
export function serializeState(s: Snap): string {
  const c = s.context;
  const pos = new Map(c.routes.map((r, i) => [r.idx, i]));
  return JSON.stringify([
    c.routes.map((r) => [r.spec, c.p.bindInterfaceAtAdd ? r.boundAtAdd : null]),
    Object.keys(c.cache)
      .sort()
      .map((k) => [k, c.cache[k].map((i) => pos.get(i) ?? 'stale')]),
    c.interfaces,
  ]);
}

export const entry = defineEntry({
  id: 'routing',
  title: 'VNET/P core routing table and routing cache',
  summary:
    'Routes name a source and a destination MAC, each qualified as any, not-X, none or an exact address, and ' +
    'a destination: an interface (a local vNIC) or a link (a remote overlay endpoint, or link 0, the local ' +
    'network). Adding a route gives it the next index (from 1, never reused); deleting names an index; every ' +
    'table change, even the deletion of an unknown index, flushes the whole hash routing cache. A frame is ' +
    'matched on its two MACs only: each side is classed (none, not, any, direct), the pair gets a priority from ' +
    "the original's table, and every route at the top priority delivers its own copy, oldest route first, so " +
    'ties give multi-destination delivery and a none route never matches. A matched route whose vNIC is not ' +
    'registered delivers nothing yet still suppresses lower routes. No match drops and counts the frame. The ' +
    'cache memoizes matches per (dst MAC, src MAC). MACs are canonical lowercase strings; frameMacs() reads them ' +
    'from an Ethernet frame. Interfaces are resolved at delivery, or, with bindInterfaceAtAdd, once when the ' +
    'route is added, as in the original.',
  source: ['§5.1.2', 'palacios-notes.md §1, §8'],
  machine: routingMachine,
  params,
  checkInput,
  samples: [
    { name: 'live-interfaces', input: {} },
    { name: 'bind-at-add', input: { bindInterfaceAtAdd: true } },
  ],
  invariants,
  witnesses,
  events: explorationEvents,
  serializeState,
  accepts: [
    { type: 'route.add', description: 'Add a route (source and destination MAC qualifiers, destination, source link); it gets idx = ++counter.' },
    { type: 'route.del', description: 'Delete the route with this index; an unknown index changes nothing but flushes the cache.' },
    { type: 'vnic.register', description: 'A vNIC registers with the core under an interface id.' },
    { type: 'vnic.unregister', description: 'A vNIC leaves the core; routes naming it stay and deliver nothing.' },
    { type: 'frame', description: 'A frame to route, by destination and source MAC (canonical strings), with an opaque payload.' },
  ],
  emits: [
    { type: 'route.added', description: 'The route was added under the index given.' },
    { type: 'route.rejected', description: 'A malformed route was refused.' },
    { type: 'route.deleted', description: 'A deletion was done (found) or named no route; the cache was flushed.' },
    { type: 'matched', description: 'The routes matching a frame at the top priority, oldest first, and whether the cache answered.' },
    { type: 'deliver', description: 'One copy of the frame for one matched route: to a vNIC (interface) or to the bridge (link).' },
    { type: 'undeliverable', description: 'A matched route names a vNIC that is not there (or was not there when the route was added): no copy.' },
    { type: 'drop', description: 'The frame matched no route (no-route), or its MACs were not canonical (malformed).' },
  ],
});
