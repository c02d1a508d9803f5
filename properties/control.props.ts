/**
 * Properties of the VNET/P control daemon, stated from §5.1.5 (validity checks before anything
 * reaches the core) and from what a control language owes its user: a printed table reads back as
 * the same table, any text gets an answer (never an exception) with a location inside the text,
 * and a batch is applied all or nothing.
 */
import fc from 'fast-check';
import { createActor, type AnyStateMachine, type EventObject } from 'xstate';
import {
  printLinks,
  printRoutes,
  type ControlKind,
  type Context,
  type Emitted,
  type Event,
  type Link,
  type Vnic,
} from '../machines/control.js';
import { BROADCAST_MAC as BROADCAST, type Destination, type MacMatch, type RouteOrigin, type RouteSpec } from '../machines/routing.js';
import type { MachineProperty } from './harness.js';

// ---- generators ---------------------------------------------------------------------------------

const hex2 = fc.integer({ min: 0, max: 255 }).map((n) => n.toString(16).padStart(2, '0'));
export const macArb = fc.tuple(hex2, hex2, hex2, hex2, hex2, hex2).map((o) => o.join(':'));
const ipArb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));

const qualifierArb = (macs: readonly string[]): fc.Arbitrary<MacMatch> =>
  fc.oneof(
    fc.constant<MacMatch>({ kind: 'any' }),
    fc.constant<MacMatch>({ kind: 'none' }),
    fc.oneof(fc.constantFrom(...macs), macArb).map((mac): MacMatch => ({ kind: 'not', mac })),
    fc.oneof(fc.constantFrom(...macs), macArb).map((mac): MacMatch => ({ kind: 'addr', mac })),
  );

/** A valid set of tables: vNICs with distinct MACs, links with distinct IPs, routes naming only those. */
export interface ValidTables {
  readonly vnics: readonly Vnic[];
  readonly links: readonly { ip: string; port: number }[];
  readonly routes: readonly RouteSpec[];
}

export const validTablesArb: fc.Arbitrary<ValidTables> = fc
  .record({
    vnicMacs: fc.uniqueArray(macArb, { minLength: 1, maxLength: 3 }),
    links: fc.uniqueArray(fc.record({ ip: ipArb, port: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 3, selector: (l) => l.ip }),
  })
  .chain(({ vnicMacs, links }) => {
    const vnics: Vnic[] = vnicMacs.map((mac, i) => ({ id: i + 1, mac, present: true }));
    const endpoint: fc.Arbitrary<Destination> = fc.oneof(
      fc.integer({ min: 1, max: vnics.length }).map((id): Destination => ({ kind: 'interface', id })),
      fc.integer({ min: 0, max: links.length }).map((id): Destination => ({ kind: 'link', id })), // 0 = local network
    );
    const route = fc.record({
      srcMac: qualifierArb(vnicMacs),
      dstMac: qualifierArb(vnicMacs),
      dest: endpoint,
      from: fc.oneof(fc.constant<RouteOrigin>({ kind: 'any' }), endpoint),
    });
    return fc.array(route, { maxLength: 6 }).map((routes) => ({ vnics, links, routes }));
  });

/** Links in a fresh daemon get indices 1, 2, ... in order, so route link ids above are those indices. */
export function asTables(t: ValidTables) {
  const links: Link[] = t.links.map((l, i) => ({ idx: i + 1, ...l }));
  return { vnics: t.vnics, links, routes: t.routes.map((route, i) => ({ idx: i + 1, route })) };
}

/** A valid line mutated: a character deleted, replaced or inserted, tokens swapped, or cut short. */
const mutate = (line: string): fc.Arbitrary<string> =>
  fc.oneof(
    fc.nat().map((i) => (line.length ? line.slice(0, i % line.length) + line.slice((i % line.length) + 1) : line)),
    fc.tuple(fc.nat(), fc.string({ unit: 'binary', minLength: 1, maxLength: 2 })).map(([i, s]) => {
      const k = line.length ? i % line.length : 0;
      return line.slice(0, k) + s + line.slice(k + 1);
    }),
    fc.tuple(fc.nat(), fc.constantFrom(' ', '\t', '-', ':', '.', 'x', '0', '\0', '\u00e9', '\r')).map(([i, s]) => {
      const k = line.length ? i % (line.length + 1) : 0;
      return line.slice(0, k) + s + line.slice(k);
    }),
    fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => {
      const t = line.split(' ');
      if (t.length < 2) return line;
      const i = a % t.length;
      const j = b % t.length;
      [t[i], t[j]] = [t[j], t[i]];
      return t.join(' ');
    }),
    fc.nat().map((i) => line.slice(0, line.length ? i % line.length : 0)),
  );

const MACHINE_VNIC_MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02'];
const MACHINE_IPS = ['10.0.0.1', '10.0.0.2', '192.168.1.7'];

/** Route and link lines, mostly valid for the fixed environment below, some mutated. */
const validRouteLine = fc
  .record({
    s: fc.constantFrom('any', 'none', `not-${MACHINE_VNIC_MACS[0]}`, MACHINE_VNIC_MACS[1], 'ANY'),
    d: fc.constantFrom('any', 'none', `not-${MACHINE_VNIC_MACS[1]}`, MACHINE_VNIC_MACS[0], BROADCAST),
    dest: fc.constantFrom(...MACHINE_VNIC_MACS.map((m) => `interface ${m}`), ...MACHINE_IPS.map((ip) => `edge ${ip}`), 'edge local', 'EDGE Local'),
    from: fc.constantFrom('any', ...MACHINE_VNIC_MACS.map((m) => `interface ${m}`), `edge ${MACHINE_IPS[0]}`, 'edge local'),
  })
  .map(({ s, d, dest, from }) => `add ${s} ${d} ${dest} ${from}`);
const delLine = fc.integer({ min: 0, max: 8 }).map((i) => `del ${i}`);
const validLinkLine = fc
  .record({ ip: fc.constantFrom(...MACHINE_IPS), port: fc.constantFrom('9000', '1', '65535'), proto: fc.constantFrom('', ' udp', ' UDP') })
  .map(({ ip, port, proto }) => `add ${ip} ${port}${proto}`);
const lineArb = (kind: ControlKind) =>
  fc.oneof(
    { arbitrary: kind === 'routes' ? validRouteLine : validLinkLine, weight: 5 },
    { arbitrary: delLine, weight: 2 },
    { arbitrary: (kind === 'routes' ? validRouteLine : validLinkLine).chain(mutate), weight: 2 },
    { arbitrary: fc.constantFrom('', '   ', '\t'), weight: 1 },
  );

export const batchArb = fc.constantFrom<ControlKind>('routes', 'links').chain((kind) =>
  fc
    .tuple(fc.array(lineArb(kind), { minLength: 1, maxLength: 4 }), fc.constantFrom('\n', '\r\n', '\r'))
    .map(([lines, eol]) => ({ kind, text: lines.join(eol) })),
);

/** Any text at all: arbitrary code points (control characters included), over-long lines, mutated batches. */
export const anyTextArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: fc.constantFrom('a', 'd', 'n', 'y', ' ', '\t', '\n', '\r', ':', '-', '.', '0', 'f', '\0', '\u007f', '\u2028', '\ud83d'), maxLength: 60 }),
  fc.tuple(fc.integer({ min: 200, max: 600 }), fc.constantFrom('a', ' ', 'add any any ')).map(([n, s]) => s.repeat(Math.ceil(n / s.length)).slice(0, n)),
  batchArb.map((b) => b.text),
);

// ---- driver -------------------------------------------------------------------------------------

function start(machine: AnyStateMachine) {
  const actor = createActor(machine, { input: {} });
  let emitted: Emitted[] = [];
  actor.on('*', (e: EventObject) => void emitted.push(e as Emitted));
  actor.start();
  const send = (e: Event): Emitted[] => {
    emitted = [];
    actor.send(e);
    const s = actor.getSnapshot();
    if (s.status === 'error') throw new Error(`machine error on ${JSON.stringify(e)}: ${String((s as { error?: unknown }).error)}`);
    return emitted;
  };
  return { actor, send, ctx: () => actor.getSnapshot().context as Context };
}

/** The lines of a text as the parser splits them (for checking reported locations). */
const linesOf = (text: string) => text.split(/\r\n|\r|\n/);

const tablesOf = (c: Context) => JSON.stringify([c.routes, c.links, c.nextRouteIdx, c.nextLinkIdx]);

// ---- the properties -----------------------------------------------------------------------------

export const properties: readonly MachineProperty[] = [
  {
    name: 'control/print-parse-roundtrip',
    description:
      'For any valid table, printing the links and routes as control lines and applying them to a fresh daemon gives the same table; printing that daemon gives the same text again.',
    runs: 200,
    property: (machine) =>
      fc.property(validTablesArb, (t) => {
        const want = asTables(t);
        const d = start(machine);
        for (const v of t.vnics) d.send({ type: 'vnic.register', id: v.id, mac: v.mac });
        const linkText = printLinks(want);
        const routeText = printRoutes(want);
        for (const [kind, text] of [
          ['links', linkText],
          ['routes', routeText],
        ] as const) {
          const out = d.send({ type: 'control.apply', kind, text });
          const rej = out.find((e) => e.type === 'control.rejected');
          if (rej) throw new Error(`printed ${kind} were rejected: ${JSON.stringify(rej)}\n${text}`);
        }
        const got = d.ctx();
        if (JSON.stringify(got.links) !== JSON.stringify(want.links))
          throw new Error(`links read back as ${JSON.stringify(got.links)}, printed from ${JSON.stringify(want.links)}`);
        if (JSON.stringify(got.routes) !== JSON.stringify(want.routes))
          throw new Error(`routes read back as\n${JSON.stringify(got.routes)}\nprinted from\n${JSON.stringify(want.routes)}\ntext:\n${routeText}`);
        if (printRoutes(got) !== routeText || printLinks(got) !== linkText) throw new Error('printing the daemon read back gives other text');
        d.actor.stop();
      }),
  },
  {
    name: 'control/any-text-answered-with-location',
    description:
      'Any text, in either file (arbitrary code points, control characters, over-long lines, mutated valid lines), is either applied or rejected, never an exception; a rejection gives a line of the text and a column within that line (or just past its end).',
    runs: 300,
    property: (machine) =>
      fc.property(fc.constantFrom<ControlKind>('routes', 'links'), anyTextArb, (kind, text) => {
        const d = start(machine);
        d.send({ type: 'vnic.register', id: 1, mac: MACHINE_VNIC_MACS[0] });
        d.send({ type: 'control.apply', kind: 'links', text: `add ${MACHINE_IPS[0]} 9000` });
        const out = d.send({ type: 'control.apply', kind, text });
        const answers = out.filter((e) => e.type === 'control.applied' || e.type === 'control.rejected');
        if (answers.length !== 1) throw new Error(`expected one applied-or-rejected answer, got ${JSON.stringify(answers)}`);
        const a = answers[0];
        if (a.type === 'control.rejected') {
          const { line, column, expected, found, message } = a.error;
          const lines = linesOf(text);
          if (!Number.isInteger(line) || line < 1 || line > lines.length) throw new Error(`error line ${line} outside 1..${lines.length}`);
          const len = lines[line - 1].length;
          if (!Number.isInteger(column) || column < 1 || column > len + 1) throw new Error(`error column ${column} outside 1..${len + 1} on line ${line}`);
          if (!expected || !found || !message.includes(`line ${line}`)) throw new Error(`incomplete error ${JSON.stringify(a.error)}`);
        }
        d.actor.stop();
      }),
  },
  {
    name: 'control/batch-all-or-nothing',
    description:
      'A rejected batch changes no table and emits no route or link change; an applied batch emits exactly the changes that take the old tables to the new ones, one per command line.',
    runs: 200,
    property: (machine) =>
      fc.property(fc.array(batchArb, { minLength: 1, maxLength: 8 }), (batches) => {
        const d = start(machine);
        d.send({ type: 'vnic.register', id: 1, mac: MACHINE_VNIC_MACS[0] });
        d.send({ type: 'vnic.register', id: 2, mac: MACHINE_VNIC_MACS[1] });
        // Two of the three link IPs exist, so most route lines resolve and some link lines clash.
        d.send({ type: 'control.apply', kind: 'links', text: `add ${MACHINE_IPS[0]} 9000\nadd ${MACHINE_IPS[1]} 9000` });
        const trail: string[] = [];
        for (const b of batches) {
          trail.push(`${b.kind}: ${JSON.stringify(b.text)}`);
          const before = d.ctx();
          const out = d.send({ type: 'control.apply', kind: b.kind, text: b.text });
          const after = d.ctx();
          const changes = out.filter((e) => e.type === 'route.add' || e.type === 'route.del' || e.type === 'link.add' || e.type === 'link.del');
          const where = `\n  after: ${trail.join(' ; ')}`;
          if (out.some((e) => e.type === 'control.rejected')) {
            if (changes.length > 0) throw new Error(`a rejected batch emitted ${changes.length} changes${where}`);
            if (tablesOf(before) !== tablesOf(after)) throw new Error(`a rejected batch changed the tables${where}`);
            continue;
          }
          const commands = linesOf(b.text).filter((l) => l.trim() !== '').length;
          if (changes.length !== commands) throw new Error(`${commands} command lines applied as ${changes.length} changes${where}`);
          // Replaying the emitted changes on the old tables gives the new ones.
          let routes = before.routes.map((r) => r.idx);
          let links = before.links.map((l) => l.idx);
          for (const c of changes) {
            if (c.type === 'route.add') routes = [...routes, c.idx];
            if (c.type === 'route.del') routes = routes.filter((i) => i !== c.idx);
            if (c.type === 'link.add') links = [...links, c.id];
            if (c.type === 'link.del') links = links.filter((i) => i !== c.id);
          }
          if (routes.join() !== after.routes.map((r) => r.idx).join() || links.join() !== after.links.map((l) => l.idx).join())
            throw new Error(`the emitted changes do not lead from the old tables to the new${where}`);
        }
        d.actor.stop();
      }),
  },
];
