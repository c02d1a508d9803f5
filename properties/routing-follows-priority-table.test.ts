/**
 * Table-driven: the cases in routing-cases.json, derived by hand from palacios-notes.md §1 (ties,
 * qualifiers, broadcast routes, no match, ordering, none routes, not-X, matched vs delivered), run
 * through the machine and through the reference; both must give the expected indices in order.
 */
import { readFileSync } from 'node:fs';
import { createActor, type EventObject } from 'xstate';
import { describe, expect, test } from 'vitest';
import { routingMachine, type Destination, type Emitted, type MacMatch, type RouteOrigin, type RouteSpec } from '../machines/routing.js';
import { RefRouting } from './routing-reference.js';

interface RouteRow {
  readonly src: string;
  readonly dst: string;
  readonly to: string;
  readonly from?: string;
}
interface Case {
  readonly name: string;
  readonly source: string;
  readonly vnics?: number[];
  readonly routes: RouteRow[];
  readonly deletes?: number[];
  readonly routes_after?: RouteRow[];
  readonly frame: { readonly src: string; readonly dst: string };
  readonly matched: number[];
  readonly delivered: number[];
}

const { cases } = JSON.parse(readFileSync(new URL('./routing-cases.json', import.meta.url), 'utf8')) as { cases: Case[] };

function qualifier(text: string): MacMatch {
  if (text === 'any' || text === 'none') return { kind: text };
  if (text.startsWith('not-')) return { kind: 'not', mac: text.slice(4) };
  return { kind: 'addr', mac: text };
}
function endpoint(text: string): Destination {
  const [kind, id] = text.split(' ');
  if (kind !== 'interface' && kind !== 'link') throw new Error(`bad endpoint ${text}`);
  return { kind, id: Number(id) };
}
const spec = (r: RouteRow): RouteSpec => ({
  srcMac: qualifier(r.src),
  dstMac: qualifier(r.dst),
  dest: endpoint(r.to),
  from: r.from ? (endpoint(r.from) as RouteOrigin) : { kind: 'any' },
});

describe('routing follows the priority table of palacios-notes.md §1 (routing-cases.json)', () => {
  test('the case table is not empty', () => expect(cases.length).toBeGreaterThanOrEqual(25));

  describe.each([false, true])('bindInterfaceAtAdd %s', (bind) => {
    test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      const vnics = c.vnics ?? [1, 2, 3];
      // The machine.
      const actor = createActor(routingMachine, { input: { bindInterfaceAtAdd: bind } });
      const emitted: Emitted[] = [];
      actor.on('*', (e: EventObject) => void emitted.push(e as Emitted));
      actor.start();
      for (const id of vnics) actor.send({ type: 'vnic.register', id });
      for (const r of c.routes) actor.send({ type: 'route.add', route: spec(r) });
      for (const idx of c.deletes ?? []) actor.send({ type: 'route.del', idx });
      for (const r of c.routes_after ?? []) actor.send({ type: 'route.add', route: spec(r) });
      // Twice: the second answer comes from the cache when the first matched.
      for (const round of [1, 2]) {
        emitted.length = 0;
        actor.send({ type: 'frame', dst: c.frame.dst, src: c.frame.src, frame: { id: round, bytes: 60 } });
        const matched = emitted.find((e) => e.type === 'matched');
        expect(matched?.type === 'matched' ? matched.routes : [], `${c.source}; round ${round}`).toEqual(c.matched);
        if (matched?.type === 'matched') expect(matched.cacheHit).toBe(round === 2);
        expect(emitted.filter((e) => e.type === 'deliver').map((e) => (e as { route: number }).route)).toEqual(c.delivered);
        expect(emitted.some((e) => e.type === 'drop' && e.reason === 'no-route')).toBe(c.matched.length === 0);
      }
      actor.stop();
      // The reference.
      const ref = new RefRouting(bind);
      for (const id of vnics) ref.vnics.add(id);
      for (const r of c.routes) ref.add(spec(r));
      for (const idx of c.deletes ?? []) ref.del(idx);
      for (const r of c.routes_after ?? []) ref.add(spec(r));
      const out = ref.send(c.frame.dst, c.frame.src);
      expect(out.map((o) => o.route)).toEqual(c.matched);
      expect(out.filter((o) => o.delivered).map((o) => o.route)).toEqual(c.delivered);
    });
  });
});
