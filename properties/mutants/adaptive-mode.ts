/** Broken variants of adaptive mode, each with the property that must catch it. */
import { assign, type AnyStateMachine } from 'xstate';
import { crosses, entry, type Context, type Event } from '../../machines/adaptive-mode.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;
type Args = { context: Context; event: Event };

export const mutants: readonly Mutant[] = [
  {
    name: 'adaptive-mode/hysteresis-bounds-swapped',
    description: 'alpha_l and alpha_u are swapped: guest-driven switches up above alpha_l and VMM-driven switches back below alpha_u, so a rate in the band flaps.',
    entry: e,
    machine: base.provide({
      guards: {
        rateAboveUpper: ({ context, event }: Args) =>
          crosses({ ...context.p, alphaUpper: context.p.alphaLower }, 'upper', context.count, event.now - context.windowStart),
        rateBelowLower: ({ context, event }: Args) =>
          crosses({ ...context.p, alphaLower: context.p.alphaUpper }, 'lower', context.count, event.now - context.windowStart),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'adaptive-mode/rate-between-bounds-never-switches',
  },
  {
    name: 'adaptive-mode/upper-bound-in-packets-per-window',
    description: 'A unit slip: the packet count of a window is compared with alpha_u as if alpha_u were packets per window, so realistic rates never switch to VMM-driven.',
    entry: e,
    machine: base.provide({
      guards: { rateAboveUpper: ({ context }: Args) => context.count > context.p.alphaUpper },
    } as never) as AnyStateMachine,
    caughtBy: 'adaptive-mode/high-rate-reaches-vmm-driven-within-two-windows',
  },
  {
    name: 'adaptive-mode/never-returns-to-guest-driven',
    description: 'The lower bound is never found crossed: once VMM-driven, a NIC stays VMM-driven however quiet it becomes.',
    entry: e,
    machine: base.provide({ guards: { rateBelowLower: () => false } } as never) as AnyStateMachine,
    caughtBy: 'adaptive-mode/low-rate-returns-to-guest-driven-within-two-windows',
  },
  {
    name: 'adaptive-mode/threshold-formula-variant-ignored',
    description: "The `palacios-inverted` variant computes the intended thresholds, so it no longer reproduces the original's behaviour.",
    entry: e,
    machine: base.provide({
      guards: {
        rateAboveUpper: ({ context, event }: Args) =>
          crosses({ ...context.p, thresholdFormula: 'intended' }, 'upper', context.count, event.now - context.windowStart),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'adaptive-mode/palacios-inverted-stays-guest-driven-at-default-parameters',
  },
  {
    name: 'adaptive-mode/evaluates-per-packet',
    description: 'The rate is evaluated at every exit that moves time instead of once per window of omega, so the mode can switch twice within a window.',
    entry: e,
    machine: base.provide({
      guards: { windowElapsed: ({ context, event }: Args) => event.now > context.windowStart },
    } as never) as AnyStateMachine,
    caughtBy: 'invariant:at-most-one-switch-per-window',
  },
  {
    name: 'adaptive-mode/overshoot-carried-over',
    description: 'An evaluation advances the window start by exactly omega instead of restarting at the evaluation, so after an idle gap the windows lag behind the clock.',
    entry: e,
    machine: base.provide({
      actions: {
        closeWindow: assign(({ context, event }: Args, params: { from: 'guest-driven' | 'vmm-driven'; to: 'guest-driven' | 'vmm-driven' }) => ({
          lastEvaluation: { at: event.now, elapsed: event.now - context.windowStart, count: context.count, from: params.from, to: params.to },
          windowStart: context.windowStart + context.p.omega,
          count: 0,
        })),
      },
    } as never) as AnyStateMachine,
    caughtBy: 'invariant:window-evaluated-when-elapsed',
  },
  {
    name: 'adaptive-mode/accepts-time-going-backwards',
    description: 'Events whose time lies before the latest are accepted, so the clock runs backwards past the window start.',
    entry: e,
    machine: base.provide({
      guards: { inOrder: ({ event }: Args) => Number.isSafeInteger(event.now) && event.now >= 0 },
    } as never) as AnyStateMachine,
    caughtBy: 'invariant:time-never-goes-backwards',
  },
];
