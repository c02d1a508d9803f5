/**
 * Catalog-wide properties, written once and applied to every machine in the catalog.
 *
 * - every state node and every transition is reached by a path @xstate/graph generates from the
 *   entry's sample inputs;
 * - every state and transition carries a description and a meta.source;
 * - every invariant holds on every step of random runs, and its "sometimes" witness is reached;
 * - out-of-range input is rejected with an error naming the field;
 * - the explored state-space counts equal the pinned ones (properties/state-space.json).
 */
import { readFileSync } from 'node:fs';
import { getAdjacencyMap, getShortestPaths } from '@xstate/graph';
import fc from 'fast-check';
import { createActor, type AnyMachineSnapshot } from 'xstate';
import { describe, expect, test } from 'vitest';
import { catalog, machineIds } from '../machines/index.js';
import { InputError, invalidValuesFor } from '../machines/params.js';
import { allWitnesses, enabledEvents, explore, type ExploreResult } from '../model/explore.js';
import { forbiddenTransitions, stateNodes, transitionId, transitions } from '../model/introspect.js';
import { invariantsHoldProperty, numRuns } from './harness.js';

const pinned = JSON.parse(readFileSync(new URL('./state-space.json', import.meta.url), 'utf8')) as Record<
  string,
  Record<string, { states: number; transitions: number; depth: number }>
>;

const explored = new Map<string, ExploreResult>();
function exploreSample(id: string, sample: number): ExploreResult {
  const key = `${id}/${sample}`;
  let r = explored.get(key);
  if (!r) {
    const e = catalog[id];
    r = explore(e, e.samples[sample].input);
    explored.set(key, r);
  }
  return r;
}

type Adjacency = Record<string, { state: AnyMachineSnapshot; transitions: Record<string, { event: { type: string } }> }>;

/** @xstate/graph's options for a sample: the entry's alphabet and state key. */
function graphOptions(id: string, sample: number) {
  const entry = catalog[id];
  return {
    input: entry.samples[sample].input,
    events: (s: AnyMachineSnapshot) => enabledEvents(entry, s),
    serializeState: (s: AnyMachineSnapshot) => entry.serializeState(s),
  };
}

// The adjacency map is the costliest thing these tests compute; two tests read it.
const adjacencies = new Map<string, Adjacency>();
function adjacencyOf(id: string, sample: number): Adjacency {
  const key = `${id}/${sample}`;
  let a = adjacencies.get(key);
  if (!a) {
    a = getAdjacencyMap(catalog[id].machine, graphOptions(id, sample) as never) as unknown as Adjacency;
    adjacencies.set(key, a);
  }
  return a;
}

describe.each(machineIds)('%s', (id) => {
  const entry = catalog[id];

  test('every state and transition has a description and a meta.source', () => {
    const missing: string[] = [];
    for (const node of stateNodes(entry.machine)) {
      if (!node.description) missing.push(`state ${node.id}: no description`);
      if (!(node.meta as { source?: string } | undefined)?.source) missing.push(`state ${node.id}: no meta.source`);
    }
    for (const t of transitions(entry.machine)) {
      if (!t.definition.description) missing.push(`transition ${t.id}: no description`);
      if (!(t.definition.meta as { source?: string } | undefined)?.source) missing.push(`transition ${t.id}: no meta.source`);
    }
    missing.push(...forbiddenTransitions(entry.machine));
    expect(missing).toEqual([]);
  });

  test('@xstate/graph paths from the sample inputs reach every state node and every transition', () => {
    const reachedStates = new Set<string>();
    const reachedTransitions = new Set<string>();
    for (const [i] of entry.samples.entries()) {
      const adjacency = adjacencyOf(id, i);
      for (const { state, transitions: out } of Object.values(adjacency)) {
        for (const n of (state as unknown as { _nodes: { id: string }[] })._nodes) reachedStates.add(n.id);
        for (const { event } of Object.values(out)) {
          for (const t of entry.machine.getTransitionData(state as never, event as never)) reachedTransitions.add(transitionId(t));
        }
      }
      // The shortest-path generator agrees with the adjacency map on what is reachable.
      const paths = getShortestPaths(entry.machine, graphOptions(id, i) as never);
      expect(paths.length).toBe(Object.keys(adjacency).length);
    }
    const unreachedStates = stateNodes(entry.machine).map((n) => n.id).filter((s) => !reachedStates.has(s));
    const unreachedTransitions = transitions(entry.machine).map((t) => t.id).filter((t) => !reachedTransitions.has(t));
    expect(unreachedStates, 'state nodes no path reaches').toEqual([]);
    expect(unreachedTransitions, 'transitions no path takes').toEqual([]);
  });

  test('explored state-space counts equal the pinned counts and the @xstate/graph adjacency map', () => {
    const actual: Record<string, { states: number; transitions: number; depth: number }> = {};
    entry.samples.forEach((sample, i) => {
      const r = exploreSample(id, i);
      expect(r.complete, `${sample.name}: exploration did not finish`).toBe(true);
      actual[sample.name] = { states: r.states, transitions: r.transitions, depth: r.depth };
      expect(Object.keys(adjacencyOf(id, i)).length, `${sample.name}: explorer and @xstate/graph disagree`).toBe(r.states);
    });
    expect(actual, 'run `npm run pin` after a deliberate change, and review the diff').toEqual(pinned[id]);
  });

  test('exhaustive exploration of the samples finds no invariant violation and no deadlock', () => {
    entry.samples.forEach((sample, i) => {
      const r = exploreSample(id, i);
      const first = r.violations[0];
      expect(
        first ? `${sample.name}: ${first.invariant}: ${first.message} after ${JSON.stringify(first.path)}` : undefined,
      ).toBeUndefined();
      expect(r.deadlocks.map((d) => d.key), `${sample.name}: deadlocked states`).toEqual([]);
    });
  });

  test('every invariant holds on every step of random runs', () => {
    fc.assert(invariantsHoldProperty(entry), { numRuns: numRuns(200) });
  });

  test('every "sometimes" witness is reached', () => {
    const reached = new Set<string>();
    entry.samples.forEach((_, i) => exploreSample(id, i).witnessesReached.forEach((w) => reached.add(w)));
    const unreached = allWitnesses(entry).map((w) => w.name).filter((w) => !reached.has(w));
    expect(unreached, 'witnesses no explored run reaches: the invariants they back may be vacuous').toEqual([]);
  });

  test('out-of-range input is rejected with an error naming the field', () => {
    for (const [field, spec] of Object.entries(entry.params)) {
      for (const bad of invalidValuesFor(spec)) {
        const input = { ...(entry.samples[0].input as object), [field]: bad };
        let error: unknown;
        try {
          entry.checkInput(input);
        } catch (e) {
          error = e;
        }
        expect(error, `input.${field} = ${String(bad)} was accepted`).toBeInstanceOf(InputError);
        expect((error as InputError).field).toBe(field);
        expect((error as Error).message).toContain(field);
        // The machine itself refuses it too: the actor ends in an error snapshot naming the field.
        const actor = createActor(entry.machine, { input: input as never });
        actor.subscribe({ error: () => {} });
        actor.start();
        const snap = actor.getSnapshot();
        expect(snap.status).toBe('error');
        expect(String((snap as { error?: unknown }).error)).toContain(field);
        actor.stop();
      }
    }
    expect(() => entry.checkInput({ noSuchParameter: 1 })).toThrow(/noSuchParameter/);
    expect(() => entry.checkInput('not an object')).toThrow(InputError);
  });
});
