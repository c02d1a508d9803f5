/**
 * A small reference for VNET/P routing, written directly from the priority table of
 * palacios-notes.md §1.3 and the delivery rules of §1.4, with no cache: a plain list of routes and
 * a plain matching function. The model-based and isolation properties compare the machine with it.
 */
import type { Destination, Mac, MacMatch, RouteSpec } from '../machines/routing.js';

/** Side classes, numbered as the table's columns: NONE, NOT, ANY, DIRECT. */
const NONE = 0;
const NOT = 1;
const ANY = 2;
const DIRECT = 3;

/** palacios-notes.md §1.3, rows = source class, columns = destination class, -1 = no match. */
const TABLE: readonly (readonly number[])[] = [
  /* NONE   */ [-1, -1, -1, -1],
  /* NOT    */ [-1, 3, 5, 7],
  /* ANY    */ [-1, 5, 6, 6],
  /* DIRECT */ [-1, 7, 8, 8],
];

function side(q: MacMatch, mac: Mac): number {
  if (q.kind === 'any') return ANY;
  if (q.kind === 'addr') return q.mac === mac ? DIRECT : NONE;
  if (q.kind === 'not') return q.mac === mac ? NONE : NOT;
  return NONE;
}

export interface RefRoute {
  readonly idx: number;
  readonly spec: RouteSpec;
  /** The interface was registered when the route was added. */
  readonly bound: boolean;
}

export function refPriority(spec: RouteSpec, dst: Mac, src: Mac): number {
  return TABLE[side(spec.srcMac, src)][side(spec.dstMac, dst)];
}

/** The routes at the top priority, oldest first; [] when nothing matches. */
export function refMatch(routes: readonly RefRoute[], dst: Mac, src: Mac): RefRoute[] {
  const scored = routes.map((r) => ({ r, p: refPriority(r.spec, dst, src) }));
  const top = Math.max(-1, ...scored.map((x) => x.p));
  if (top < 0) return [];
  return scored
    .filter((x) => x.p === top)
    .map((x) => x.r)
    .sort((a, b) => a.idx - b.idx);
}

export interface RefOutcome {
  readonly route: number;
  readonly dest: Destination;
  readonly delivered: boolean;
}

/** The reference routing state. */
export class RefRouting {
  routes: RefRoute[] = [];
  counter = 0;
  readonly vnics = new Set<number>();
  constructor(readonly bindAtAdd: boolean) {}

  add(spec: RouteSpec): number {
    this.counter += 1;
    const bound = spec.dest.kind === 'interface' && this.vnics.has(spec.dest.id);
    this.routes.push({ idx: this.counter, spec, bound });
    return this.counter;
  }

  del(idx: number): boolean {
    const before = this.routes.length;
    this.routes = this.routes.filter((r) => r.idx !== idx);
    return this.routes.length < before;
  }

  /** One outcome per top-priority route: delivered, or not (interface missing or unbound). */
  send(dst: Mac, src: Mac): RefOutcome[] {
    return refMatch(this.routes, dst, src).map((r) => ({
      route: r.idx,
      dest: r.spec.dest,
      delivered: r.spec.dest.kind !== 'interface' || ((!this.bindAtAdd || r.bound) && this.vnics.has(r.spec.dest.id)),
    }));
  }
}
