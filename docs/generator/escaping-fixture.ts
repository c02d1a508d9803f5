/**
 * A machine that is no protocol: its names hold every character the generated Markdown and
 * Mermaid must escape, and its shape has every construct the diagram draws (nested and
 * parallel states, a cross-region edge, final and history states, root and composite
 * transitions with and without targets, or-ed and and-ed guards, transitions the diagram
 * collapses into one edge). The generator's unit test and
 * the browser test render it.
 */
import { and, not, or, setup } from 'xstate';

/** Texts that must come out of the rendered diagram literally. */
export const escapingFixtureTexts = [
  'go;now [and(ok, !a<b)]',
  'x{y} [or(ok, q"r)]',
  'a#b',
  '<script>',
  'sel"f',
  'ping%%',
  'end note',
  'reset:all \u2192 idle',
  'up \u2192 run.left',
  'pipe|bar',
  'back\\slash`tick`',
] as const;

export const escapingFixture = setup({
  types: { events: {} as { type: string } },
  guards: { 'a<b': () => true, ok: () => true, 'q"r': () => false },
  actions: { 'act|1': () => {} },
}).createMachine({
  id: 'escaping-fixture',
  description: 'Root | with a pipe and <b>a tag</b>',
  initial: 'idle',
  on: { 'reset:all': { target: '.idle' }, 'ping%%': { actions: 'act|1' } },
  states: {
    idle: {
      description: 'Idle: `code | pipe` and a | pipe',
      on: {
        'go;now': { target: 'run', guard: and(['ok', not('a<b')]) },
        'x{y}': { guard: or(['ok', 'q"r']), actions: 'act|1' },
        'pipe|bar': { actions: 'act|1' },
      },
    },
    'run-ning': {},
    run: {
      type: 'parallel',
      on: { stop: 'done', 'end note': { actions: 'act|1' } },
      states: {
        left: {
          initial: 'l1',
          states: {
            l1: {
              on: {
                'a#b': 'l2',
                cross: '#escaping-fixture.run.right.r2',
                'back\\slash`tick`': { actions: 'act|1' },
                // Into an ancestor: listed in the box, as Mermaid cannot draw it.
                up: '#escaping-fixture.run.left',
              },
            },
            l2: { type: 'final' },
            hist: { type: 'history' },
          },
        },
        right: {
          initial: 'r1',
          states: {
            r1: {
              on: {
                '<script>': 'r2',
                'sel"f': { target: 'r1', reenter: true },
                // Collapsed in the diagram: and(ok, a<b) is absorbed by ok; then factored.
                absorb: [{ target: 'r2', guard: and(['ok', 'a<b']) }, { target: 'r2', guard: 'ok' }],
                factor: [{ target: 'r2', guard: and(['ok', 'a<b']) }, { target: 'r2', guard: and(['ok', 'q"r']) }],
              },
            },
            // From deep inside to a state of the root: the edge is written at the root.
            r2: { on: { finish: '#escaping-fixture.done' } },
          },
        },
      },
    },
    done: { type: 'final' },
  },
});
