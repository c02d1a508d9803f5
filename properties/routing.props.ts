/**
 * Properties of VNET/P routing, stated from the original's rules (palacios-notes.md §1) rather than
 * from how the machine computes: fast-check builds a table, a sequence of table changes, vNIC
 * changes and frames, drives the machine, and an outside monitor checks every frame's outcome.
 */
import fc from 'fast-check';
import { createActor, type AnyStateMachine, type EventObject } from 'xstate';
import {
  BROADCAST_MAC,
  matchRoutes,
  type Context,
  type Destination,
  type Emitted,
  type Event,
  type Mac,
  type MacMatch,
  type RouteOrigin,
  type RouteSpec,
} from '../machines/routing.js';
import type { MachineProperty } from './harness.js';
import { RefRouting, refMatch, type RefOutcome } from './routing-reference.js';

// ---- generators ---------------------------------------------------------------------------------

export const MAC_POOL: readonly Mac[] = ['02:00:00:00:00:0a', '02:00:00:00:00:0b', '02:00:00:00:00:0c', BROADCAST_MAC];

const macArb = fc.constantFrom(...MAC_POOL);
const qualifierArb: fc.Arbitrary<MacMatch> = fc.oneof(
  fc.constant<MacMatch>({ kind: 'any' }),
  fc.constant<MacMatch>({ kind: 'none' }),
  macArb.map((mac): MacMatch => ({ kind: 'not', mac })),
  macArb.map((mac): MacMatch => ({ kind: 'addr', mac })),
);
const destArb: fc.Arbitrary<Destination> = fc.oneof(
  fc.integer({ min: 1, max: 3 }).map((id): Destination => ({ kind: 'interface', id })),
  fc.integer({ min: 0, max: 2 }).map((id): Destination => ({ kind: 'link', id })),
);
const originArb: fc.Arbitrary<RouteOrigin> = fc.oneof(fc.constant<RouteOrigin>({ kind: 'any' }), destArb);
export const routeArb: fc.Arbitrary<RouteSpec> = fc.record({ srcMac: qualifierArb, dstMac: qualifierArb, dest: destArb, from: originArb });

/** A table change, a vNIC change or a frame. `pick` resolves to an index from 0 to counter + 1 (existing, deleted or never given). */
type Cmd =
  | { readonly type: 'add'; readonly route: RouteSpec }
  | { readonly type: 'del'; readonly pick: number }
  | { readonly type: 'vnic'; readonly id: number; readonly on: boolean }
  | { readonly type: 'frame'; readonly dst: Mac; readonly src: Mac };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: routeArb.map((route): Cmd => ({ type: 'add', route })), weight: 3 },
  { arbitrary: fc.nat(30).map((pick): Cmd => ({ type: 'del', pick })), weight: 2 },
  { arbitrary: fc.record({ id: fc.integer({ min: 1, max: 3 }), on: fc.boolean() }).map((v): Cmd => ({ type: 'vnic', ...v })), weight: 1 },
  { arbitrary: fc.record({ dst: macArb, src: macArb }).map((f): Cmd => ({ type: 'frame', ...f })), weight: 5 },
);

/** Any starting table (added first), then any sequence of changes and frames. */
const scenarioArb = fc.record({
  bind: fc.boolean(),
  vnics: fc.subarray([1, 2, 3]),
  table: fc.array(routeArb, { maxLength: 6 }),
  // size 'max': fast-check's default size would cap the sequence at 10.
  cmds: fc.array(cmdArb, { minLength: 1, maxLength: 40, size: 'max' }),
});

// ---- driver -------------------------------------------------------------------------------------

interface FrameStep {
  readonly dst: Mac;
  readonly src: Mac;
  readonly before: Context;
  readonly emitted: readonly Emitted[];
}

export const showMatch = (m: MacMatch): string => (m.kind === 'addr' ? m.mac : m.kind === 'not' ? `not-${m.mac}` : m.kind);
export const showRoute = (r: RouteSpec): string => `${showMatch(r.srcMac)} -> ${showMatch(r.dstMac)} => ${r.dest.kind} ${r.dest.id}`;

/** Runs a scenario on `machine` and calls `check` on every frame; throws with the event trail on the first problem. */
function runScenario(
  machine: AnyStateMachine,
  s: { bind: boolean; vnics: number[]; table: RouteSpec[]; cmds: Cmd[] },
  check: (step: FrameStep) => string | undefined,
): void {
  const actor = createActor(machine, { input: { bindInterfaceAtAdd: s.bind } });
  let emitted: Emitted[] = [];
  actor.on('*', (e: EventObject) => void emitted.push(e as Emitted));
  actor.start();
  const trail: string[] = [];
  const send = (e: Event) => {
    emitted = [];
    actor.send(e);
    if (actor.getSnapshot().status === 'error') throw new Error(`machine error after ${trail.join(' ; ')}`);
  };
  try {
    for (const id of s.vnics) send({ type: 'vnic.register', id });
    for (const route of s.table) send({ type: 'route.add', route });
    trail.push(`vnics [${s.vnics.join(', ')}], table [${s.table.map(showRoute).join(' | ')}]`);
    let frameId = 0;
    for (const c of s.cmds) {
      const ctx = actor.getSnapshot().context as Context;
      if (c.type === 'add') {
        trail.push(`add ${showRoute(c.route)}`);
        send({ type: 'route.add', route: c.route });
      } else if (c.type === 'del') {
        const idx = c.pick % (ctx.counter + 2);
        trail.push(`del ${idx}`);
        send({ type: 'route.del', idx });
      } else if (c.type === 'vnic') {
        trail.push(`${c.on ? 'register' : 'unregister'} vnic ${c.id}`);
        send({ type: c.on ? 'vnic.register' : 'vnic.unregister', id: c.id });
      } else {
        trail.push(`frame ${c.src} -> ${c.dst}`);
        send({ type: 'frame', dst: c.dst, src: c.src, frame: { id: frameId++, bytes: 60 } });
        const problem = check({ dst: c.dst, src: c.src, before: ctx, emitted });
        if (problem) throw new Error(`${problem}\n  bind-at-add ${s.bind}; after: ${trail.join(' ; ')}`);
      }
    }
  } finally {
    actor.stop();
  }
}

const matchedOf = (emitted: readonly Emitted[]): readonly number[] =>
  (emitted.find((e) => e.type === 'matched') as Extract<Emitted, { type: 'matched' }> | undefined)?.routes ?? [];
const copiesOf = (emitted: readonly Emitted[]) =>
  emitted.filter((e): e is Extract<Emitted, { type: 'deliver' | 'undeliverable' }> => e.type === 'deliver' || e.type === 'undeliverable');

const scenarioProperty = (machine: AnyStateMachine, check: (step: FrameStep) => string | undefined) =>
  fc.property(scenarioArb, (s) => runScenario(machine, s, check));

// ---- model-based test against the reference -----------------------------------------------------

interface Real {
  readonly actor: ReturnType<typeof createActor<AnyStateMachine>>;
  emitted: Emitted[];
}

function sendReal(r: Real, e: Event): Emitted[] {
  r.emitted = [];
  r.actor.send(e);
  if (r.actor.getSnapshot().status === 'error') throw new Error(`machine error on ${JSON.stringify(e)}`);
  return r.emitted;
}

class AddRoute implements fc.Command<RefRouting, Real> {
  constructor(readonly route: RouteSpec) {}
  check = () => true;
  run(m: RefRouting, r: Real): void {
    const out = sendReal(r, { type: 'route.add', route: this.route });
    const idx = m.add(this.route);
    const added = out.find((e) => e.type === 'route.added') as Extract<Emitted, { type: 'route.added' }> | undefined;
    if (added?.idx !== idx) throw new Error(`route added as ${added?.idx}, the reference gives index ${idx}`);
  }
  toString = () => `add ${showRoute(this.route)}`;
}

class DelRoute implements fc.Command<RefRouting, Real> {
  private idx: number | undefined;
  constructor(readonly pick: number) {}
  check = () => true;
  run(m: RefRouting, r: Real): void {
    this.idx = this.pick % (m.counter + 2);
    const out = sendReal(r, { type: 'route.del', idx: this.idx });
    const found = m.del(this.idx);
    const del = out.find((e) => e.type === 'route.deleted') as Extract<Emitted, { type: 'route.deleted' }> | undefined;
    if (del?.found !== found) throw new Error(`delete ${this.idx}: machine says found=${del?.found}, reference ${found}`);
  }
  toString = () => `del ${this.idx ?? `(pick ${this.pick})`}`;
}

class SetVnic implements fc.Command<RefRouting, Real> {
  constructor(
    readonly id: number,
    readonly on: boolean,
  ) {}
  check = () => true;
  run(m: RefRouting, r: Real): void {
    sendReal(r, { type: this.on ? 'vnic.register' : 'vnic.unregister', id: this.id });
    if (this.on) m.vnics.add(this.id);
    else m.vnics.delete(this.id);
  }
  toString = () => `${this.on ? 'register' : 'unregister'} vnic ${this.id}`;
}

class SendFrame implements fc.Command<RefRouting, Real> {
  constructor(
    readonly dst: Mac,
    readonly src: Mac,
  ) {}
  check = () => true;
  run(m: RefRouting, r: Real): void {
    const out = sendReal(r, { type: 'frame', dst: this.dst, src: this.src, frame: { id: 0, bytes: 60 } });
    const want: RefOutcome[] = m.send(this.dst, this.src);
    const got: RefOutcome[] = copiesOf(out).map((e) => ({ route: e.route, dest: e.dest, delivered: e.type === 'deliver' }));
    const show = (xs: RefOutcome[]) => xs.map((x) => `${x.route}${x.delivered ? '' : '(undeliverable)'}->${x.dest.kind} ${x.dest.id}`).join(', ');
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`copies [${show(got)}], the reference gives [${show(want)}]`);
    const dropped = out.some((e) => e.type === 'drop' && e.reason === 'no-route');
    if (dropped !== (want.length === 0)) throw new Error(`dropped=${dropped} but the reference matched ${want.length} routes`);
  }
  toString = () => `frame ${this.src} -> ${this.dst}`;
}

const commandsArb = fc.commands(
  [
    routeArb.map((route) => new AddRoute(route)),
    fc.nat(30).map((pick) => new DelRoute(pick)),
    fc.record({ id: fc.integer({ min: 1, max: 3 }), on: fc.boolean() }).map(({ id, on }) => new SetVnic(id, on)),
    fc.record({ dst: macArb, src: macArb }).map(({ dst, src }) => new SendFrame(dst, src)),
  ],
  { maxCommands: 40, size: 'max' },
);

// ---- the properties -----------------------------------------------------------------------------

export const properties: readonly MachineProperty[] = [
  {
    name: 'routing/cached-lookup-equals-uncached',
    description:
      'For any table, any sequence of table changes and any frame, the routes the core matches (from the cache or not) equal an uncached lookup in the current table.',
    runs: 200,
    property: (machine) =>
      scenarioProperty(machine, ({ dst, src, before, emitted }) => {
        const want = matchRoutes(before.routes, dst, src);
        const got = matchedOf(emitted);
        if (got.join(',') !== want.join(',')) return `frame ${src} -> ${dst} matched [${got.join(', ')}], an uncached lookup gives [${want.join(', ')}]`;
        return undefined;
      }),
  },
  {
    name: 'routing/copies-ordered-by-route-age',
    description: 'The routes matching a frame, and the copies they make, come oldest route first (ascending index).',
    runs: 200,
    property: (machine) =>
      scenarioProperty(machine, ({ dst, src, emitted }) => {
        for (const list of [[...matchedOf(emitted)], copiesOf(emitted).map((e) => e.route)]) {
          if (list.some((x, i) => i > 0 && x <= list[i - 1])) return `frame ${src} -> ${dst}: routes in order [${list.join(', ')}]`;
        }
        return undefined;
      }),
  },
  {
    name: 'routing/none-route-never-matches',
    description: 'A route with qualifier none on either side never matches a frame and never receives a copy.',
    runs: 200,
    property: (machine) =>
      scenarioProperty(machine, ({ dst, src, before, emitted }) => {
        for (const idx of [...matchedOf(emitted), ...copiesOf(emitted).map((e) => e.route)]) {
          const r = before.routes.find((x) => x.idx === idx);
          if (r && (r.spec.srcMac.kind === 'none' || r.spec.dstMac.kind === 'none'))
            return `frame ${src} -> ${dst} matched route ${idx} (${showRoute(r.spec)})`;
        }
        return undefined;
      }),
  },
  {
    name: 'routing/overlay-isolation',
    description:
      'A frame reaches only destinations of top-priority matching routes: every copy belongs to such a route and goes to its destination, at most once, and a vNIC gets a copy only while it is registered.',
    runs: 200,
    property: (machine) =>
      scenarioProperty(machine, ({ dst, src, before, emitted }) => {
        const top = refMatch(
          before.routes.map((r) => ({ idx: r.idx, spec: r.spec, bound: r.boundAtAdd })),
          dst,
          src,
        );
        const seen = new Set<number>();
        for (const e of emitted) {
          if (e.type !== 'deliver') continue;
          const r = top.find((x) => x.idx === e.route);
          if (!r) return `frame ${src} -> ${dst} delivered by route ${e.route}, which is not a top-priority match`;
          if (JSON.stringify(r.spec.dest) !== JSON.stringify(e.dest))
            return `route ${e.route} names ${JSON.stringify(r.spec.dest)} but the copy went to ${JSON.stringify(e.dest)}`;
          if (seen.has(e.route)) return `route ${e.route} delivered twice`;
          seen.add(e.route);
          if (e.dest.kind === 'interface' && !before.interfaces.includes(e.dest.id))
            return `a copy went to vNIC ${e.dest.id}, which is not registered`;
        }
        return undefined;
      }),
  },
  {
    name: 'routing/agrees-with-reference-model',
    description:
      'Under any sequence of route adds, deletes (known, deleted and unknown indices), vNIC changes and frames, the machine assigns the same indices and makes the same copies, delivered or not, as a plain list-and-priority-table reference with no cache.',
    runs: 150,
    property: (machine) =>
      fc.property(fc.boolean(), commandsArb, (bind, cmds) => {
        const setup = () => {
          const actor = createActor(machine, { input: { bindInterfaceAtAdd: bind } });
          const real: Real = { actor, emitted: [] };
          actor.on('*', (e: EventObject) => void real.emitted.push(e as Emitted));
          actor.start();
          return { model: new RefRouting(bind), real };
        };
        fc.modelRun(setup, cmds);
      }),
  },
];
