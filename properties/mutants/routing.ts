/** Broken variants of the routing core, each with the property that must catch it. */
import { assign, type AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import {
  PRIORITY,
  cacheKey,
  classify,
  entry,
  isMac,
  matchRoutes,
  type Context,
  type Event,
  type MacMatch,
  type Route,
} from '../../machines/routing.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

type Args = { context: Context; event: Event };
type Lookup = (routes: readonly Route[], dst: string, src: string) => number[];

/** The machine's cache-miss action with another matching function in place of the priority table. */
const lookupWith = (lookup: Lookup) =>
  assign(({ context, event }: Args) => {
    if (event.type !== 'frame' || !isMac(event.dst) || !isMac(event.src)) return {};
    const matched = lookup(context.routes, event.dst, event.src);
    return {
      cache: { ...context.cache, [cacheKey(event.dst, event.src)]: matched },
      last: { dst: event.dst, src: event.src, matched, cacheHit: false },
    };
  });

/** The cache flush, skipped for one kind of table change. */
const flushExceptOn = (skipped: Event['type']) =>
  assign(({ context, event }: Args) => (event.type === skipped ? {} : { cache: {}, stats: { ...context.stats, cacheFlushes: context.stats.cacheFlushes + 1 } }));

const priorityOf = (classOf: typeof classify) => (r: Route, dst: string, src: string) =>
  PRIORITY[classOf(r.spec.srcMac, src)][classOf(r.spec.dstMac, dst)];

/** Every route that matches at any priority, oldest first. */
const allMatches: Lookup = (routes, dst, src) => routes.filter((r) => priorityOf(classify)(r, dst, src) >= 0).map((r) => r.idx);

/** The top-priority lookup with `none` read as `any`. */
const noneAsAny: Lookup = (routes, dst, src) => {
  const classOf = (m: MacMatch, mac: string) => (m.kind === 'none' ? 'any' : classify(m, mac));
  const p = (r: Route) => priorityOf(classOf)(r, dst, src);
  const top = Math.max(-1, ...routes.map(p));
  return top < 0 ? [] : routes.filter((r) => p(r) === top).map((r) => r.idx);
};

export const mutants: readonly Mutant[] = [
  {
    name: 'routing/cache-not-flushed-on-delete',
    description: 'Deleting a route leaves the routing cache as it was, so a cached frame still goes to the deleted route.',
    entry: e,
    machine: base.provide({ actions: { flushCache: flushExceptOn('route.del') } } as never) as AnyStateMachine,
    caughtBy: 'routing/cached-lookup-equals-uncached',
  },
  {
    name: 'routing/cache-not-flushed-on-add',
    description: 'Adding a route leaves the routing cache as it was, so cached frames miss the new route.',
    entry: e,
    machine: base.provide({ actions: { flushCache: flushExceptOn('route.add') } } as never) as AnyStateMachine,
    caughtBy: 'invariant:cache-is-transparent',
  },
  {
    name: 'routing/top-priority-not-enforced',
    description: 'Every route matching at any priority delivers a copy, not only those at the top priority.',
    entry: e,
    machine: base.provide({ actions: { lookupAndCache: lookupWith(allMatches) } } as never) as AnyStateMachine,
    caughtBy: 'routing/overlay-isolation',
  },
  {
    name: 'routing/newest-route-first',
    description: 'Tied routes deliver newest first instead of oldest first.',
    entry: e,
    machine: base.provide({ actions: { lookupAndCache: lookupWith((r, d, s) => matchRoutes(r, d, s).reverse()) } } as never) as AnyStateMachine,
    caughtBy: 'routing/copies-ordered-by-route-age',
  },
  {
    name: 'routing/none-matches-as-any',
    description: 'A none qualifier is read as any, so dead routes match.',
    entry: e,
    machine: base.provide({
      guards: { someRouteMatches: ({ context, event }: Args) => event.type === 'frame' && noneAsAny(context.routes, event.dst, event.src).length > 0 },
      actions: { lookupAndCache: lookupWith(noneAsAny) },
    } as never) as AnyStateMachine,
    caughtBy: 'routing/none-route-never-matches',
  },
  {
    name: 'routing/unregister-ignored',
    description: 'A vNIC that leaves the core stays registered, so copies keep going to a missing interface.',
    entry: e,
    machine: base.provide({ actions: { unregisterInterface: assign(() => ({})) } } as never) as AnyStateMachine,
    caughtBy: 'routing/agrees-with-reference-model',
  },
  {
    name: 'routing/index-reused',
    description: 'A new route gets the table size plus one as its index, reusing the index of a deleted route.',
    entry: e,
    machine: base.provide({
      actions: {
        addRoute: assign(({ context, event }: Args) => {
          if (event.type !== 'route.add') return {};
          const idx = context.routes.length + 1;
          return { routes: [...context.routes, { idx, spec: event.route, boundAtAdd: false }], counter: Math.max(context.counter, idx) };
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'invariant:route-indices-ascend-never-reused',
  },
];
