/** Broken variants of the control daemon, each with the property that must catch it. */
import { enqueueActions, type AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import { entry, parseControl, type Change, type Context, type ControlTables, type Event, type ParseResult } from '../../machines/control.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;

type Args = { context: Context; event: Event };
type Parse = (c: Context, text: unknown, kind: unknown) => ParseResult;

const honest: Parse = (c, text, kind) => parseControl(text, kind, c, { maxLineLength: c.p.maxLineLength });

/** The daemon's guard and apply action with another parse (and an optional change rewrite) in place of the real one. */
function applyingWith(parse: Parse, rewrite: (ch: Change) => Change = (ch) => ch) {
  return {
    guards: { batchValid: ({ context, event }: Args) => event.type === 'control.apply' && parse(context, event.text, event.kind).ok },
    actions: {
      applyBatch: enqueueActions(({ context, event, enqueue }: Args & { enqueue: unknown }) => {
        if (event.type !== 'control.apply') return;
        const r = parse(context, event.text, event.kind);
        if (!r.ok) return;
        const q = enqueue as unknown as { assign: (x: Partial<Context>) => void; emit: (x: unknown) => void };
        const changes = r.changes.map(rewrite);
        const routes = r.tables.routes.map((x) => {
          const ch = rewrite({ type: 'route.add', idx: x.idx, route: x.route });
          return ch.type === 'route.add' ? { idx: x.idx, route: ch.route } : x;
        });
        q.assign({ routes, links: [...r.tables.links], nextRouteIdx: r.tables.nextRouteIdx, nextLinkIdx: r.tables.nextLinkIdx });
        for (const ch of changes) q.emit(ch);
        q.emit({ type: 'control.applied', kind: event.kind, changes: changes.length });
      }),
    },
  };
}

const lines = (text: unknown) => (typeof text === 'string' ? text.split(/\r\n|\r|\n/) : []);

export const mutants: readonly Mutant[] = [
  {
    name: 'control/partial-batch-on-error',
    description: 'As in the original, the lines before the failing one stay applied when a batch is rejected (no rollback).',
    entry: e,
    machine: base.provide({
      actions: {
        rejectBatch: enqueueActions(({ context, event, enqueue }: Args & { enqueue: unknown }) => {
          if (event.type !== 'control.apply') return;
          const q = enqueue as unknown as { assign: (x: Partial<Context>) => void; emit: (x: unknown) => void };
          const r = honest(context, event.text, event.kind);
          if (r.ok) return;
          const prefix = honest(context, lines(event.text).slice(0, r.error.line - 1).join('\n'), event.kind);
          if (prefix.ok) {
            const t: ControlTables = prefix.tables;
            q.assign({ routes: [...t.routes], links: [...t.links], nextRouteIdx: t.nextRouteIdx, nextLinkIdx: t.nextLinkIdx });
            for (const ch of prefix.changes) q.emit(ch);
          }
          q.emit({ type: 'control.rejected', kind: event.kind, error: r.error });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'control/batch-all-or-nothing',
  },
  {
    name: 'control/link-delete-ignores-routes',
    description: 'Deleting a link is checked without looking at the routes, so routes are left naming a deleted link (as in the original).',
    entry: e,
    machine: base.provide(
      applyingWith((c, text, kind) => {
        if (kind !== 'links') return honest(c, text, kind);
        const r = honest({ ...c, routes: [] }, text, kind);
        return r.ok ? { ...r, tables: { ...r.tables, routes: c.routes } } : r;
      }) as never,
    ) as AnyStateMachine,
    caughtBy: 'invariant:routes-name-known-endpoints',
  },
  {
    name: 'control/route-indices-restart',
    description: 'The daemon numbers a new route as the table size plus one, reusing the index of a deleted route.',
    entry: e,
    machine: base.provide(applyingWith((c, text, kind) => honest({ ...c, nextRouteIdx: c.routes.length + 1 }, text, kind)) as never) as AnyStateMachine,
    caughtBy: 'invariant:indices-ascend-never-reused',
  },
  {
    name: 'control/source-link-dropped',
    description: 'The daemon stores and sends every route with source any, losing the source link the line gave.',
    entry: e,
    machine: base.provide(
      applyingWith(honest, (ch) => (ch.type === 'route.add' ? { ...ch, route: { ...ch.route, from: { kind: 'any' } } } : ch)) as never,
    ) as AnyStateMachine,
    caughtBy: 'control/print-parse-roundtrip',
  },
  {
    name: 'control/error-column-from-batch-start',
    description: 'A rejection counts its column from the start of the batch instead of the start of the line.',
    entry: e,
    machine: base.provide({
      actions: {
        rejectBatch: enqueueActions(({ context, event, enqueue }: Args & { enqueue: unknown }) => {
          if (event.type !== 'control.apply') return;
          const q = enqueue as unknown as { emit: (x: unknown) => void };
          const r = honest(context, event.text, event.kind);
          if (r.ok) return;
          const before = lines(event.text)
            .slice(0, r.error.line - 1)
            .reduce((n, l) => n + l.length + 1, 0);
          q.emit({ type: 'control.rejected', kind: event.kind, error: { ...r.error, column: r.error.column + before } });
        }),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'control/any-text-answered-with-location',
  },
];
