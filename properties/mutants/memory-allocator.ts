/** Broken variants of the memory allocator, each with the property that must catch it. */
import { assign, type AnyStateMachine } from 'xstate';
import { entry, type Context } from '../../machines/memory-allocator.js';
import type { AnyCatalogEntry } from '../../machines/catalog-entry.js';
import type { Mutant } from '../harness.js';

const base = entry.machine;
const e = entry as unknown as AnyCatalogEntry;
const postedTwice = base.provide({ guards: { ownedByGuest: () => true } }) as AnyStateMachine;

export const mutants: readonly Mutant[] = [
  {
    name: 'memory-allocator/buffer-posted-twice',
    description: 'The allocator hands a buffer to the NIC without checking that the guest owns it, so a buffer already posted is posted again.',
    entry: e,
    machine: postedTwice,
    caughtBy: 'invariant:buffer-ownership-exclusive',
  },
  {
    name: 'memory-allocator/buffer-posted-twice-seen-in-effects',
    description: 'The same broken check, seen from the effects: a post of a buffer the NIC already holds.',
    entry: e,
    machine: postedTwice,
    caughtBy: 'memory-allocator/effects-respect-ownership',
  },
  {
    name: 'memory-allocator/read-buffer-not-returned',
    description: 'The guest reads a filled buffer but the allocator never returns it to the guest: the buffer leaks.',
    entry: e,
    machine: base.provide({ actions: { readFilled: assign(({ context }: { context: Context }) => ({ filled: context.filled.slice(1) })) } } as never) as AnyStateMachine,
    caughtBy: 'invariant:no-buffer-leak',
  },
];
