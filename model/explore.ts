/**
 * Exhaustive breadth-first exploration of one machine, and seeded random runs.
 *
 * The explorer enumerates the states reachable from an input under the catalog entry's finite
 * event alphabet, keyed by the entry's `serializeState`, checking every invariant on every new
 * state and recording which state nodes, transitions and "sometimes" witnesses were reached.
 * A violation comes with the shortest event path to it (breadth first).
 */
import { createActor, initialTransition, transition, type AnyMachineSnapshot, type EventObject } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { transitionId } from './introspect.js';

export interface Violation {
  readonly invariant: string;
  readonly message: string;
  /** Events from the initial state to the violating state. */
  readonly path: readonly EventObject[];
}

export interface ExploreOptions {
  /** Stop after this many distinct states (the result then says `complete: false`). */
  readonly maxStates?: number;
  /** Do not expand states deeper than this many events. */
  readonly maxDepth?: number;
  /** Stop at the first invariant violation. */
  readonly stopAtViolation?: boolean;
  /** Called every `progressEvery` states with the running counts. */
  readonly onProgress?: (p: { states: number; transitions: number; depth: number; elapsedMs: number }) => void;
  readonly progressEvery?: number;
}

export interface ExploreResult {
  readonly machine: string;
  readonly states: number;
  /** Distinct (state, event) edges that fired at least one transition. */
  readonly transitions: number;
  /** Length of the longest shortest path. */
  readonly depth: number;
  /** Keys of states in which no alphabet event is enabled. */
  readonly deadlocks: readonly { key: string; path: readonly EventObject[] }[];
  readonly violations: readonly Violation[];
  readonly witnessesReached: ReadonlySet<string>;
  readonly stateNodesReached: ReadonlySet<string>;
  readonly transitionsReached: ReadonlySet<string>;
  /** Shortest paths to the first state reaching each witness, state node and transition. */
  readonly witnessPaths: ReadonlyMap<string, readonly EventObject[]>;
  /** False when `maxStates` or `maxDepth` cut the search short. */
  readonly complete: boolean;
  readonly elapsedMs: number;
}

interface Node {
  readonly snapshot: AnyMachineSnapshot;
  readonly parent: string | undefined;
  readonly event: EventObject | undefined;
  readonly depth: number;
}

function pathTo(nodes: Map<string, Node>, key: string): EventObject[] {
  const path: EventObject[] = [];
  for (let k: string | undefined = key; k !== undefined; ) {
    const n: Node = nodes.get(k)!;
    if (n.event) path.push(n.event);
    k = n.parent;
  }
  return path.reverse();
}

/** Ids of the state nodes a snapshot is in (including ancestors). */
export function activeStateIds(s: AnyMachineSnapshot): string[] {
  return (s as unknown as { _nodes: { id: string }[] })._nodes.map((n) => n.id);
}

/** Checks every invariant of `entry` on `s`; returns the violations. */
export function checkInvariants(entry: AnyCatalogEntry, s: AnyMachineSnapshot): { invariant: string; message: string }[] {
  const out: { invariant: string; message: string }[] = [];
  for (const inv of entry.invariants) {
    let message: string | undefined;
    try {
      message = inv.check(s);
    } catch (err) {
      message = `the check itself failed: ${(err as Error).message}`;
    }
    if (message !== undefined) out.push({ invariant: inv.name, message });
  }
  return out;
}

/** All witness names of an entry (the invariants' and the extra ones). */
export function allWitnesses(entry: AnyCatalogEntry) {
  return [...entry.invariants.map((i) => i.witness), ...entry.witnesses];
}

/** The alphabet events enabled in `s`. */
export function enabledEvents(entry: AnyCatalogEntry, s: AnyMachineSnapshot): EventObject[] {
  return entry.events(s).filter((e) => s.can(e as never));
}

export function explore(entry: AnyCatalogEntry, input: unknown, opts: ExploreOptions = {}): ExploreResult {
  const started = Date.now();
  const maxStates = opts.maxStates ?? 1_000_000;
  const maxDepth = opts.maxDepth ?? Number.POSITIVE_INFINITY;
  const machine = entry.machine;
  const [initial] = initialTransition(machine, input as never);
  if (initial.status === 'error') throw (initial as { error: unknown }).error;

  const nodes = new Map<string, Node>();
  const violations: Violation[] = [];
  const witnesses = allWitnesses(entry);
  const witnessesReached = new Set<string>();
  const stateNodesReached = new Set<string>();
  const transitionsReached = new Set<string>();
  const witnessPaths = new Map<string, EventObject[]>();
  const deadlocks: { key: string; path: EventObject[] }[] = [];
  let edges = 0;
  let depth = 0;
  let complete = true;

  const visit = (key: string, s: AnyMachineSnapshot) => {
    for (const id of activeStateIds(s)) {
      if (!stateNodesReached.has(id)) {
        stateNodesReached.add(id);
        witnessPaths.set(`state:${id}`, pathTo(nodes, key));
      }
    }
    for (const w of witnesses) {
      if (!witnessesReached.has(w.name) && w.reached(s)) {
        witnessesReached.add(w.name);
        witnessPaths.set(`witness:${w.name}`, pathTo(nodes, key));
      }
    }
    for (const v of checkInvariants(entry, s)) violations.push({ ...v, path: pathTo(nodes, key) });
  };

  const rootKey = entry.serializeState(initial);
  nodes.set(rootKey, { snapshot: initial, parent: undefined, event: undefined, depth: 0 });
  visit(rootKey, initial);
  const queue: string[] = [rootKey];
  let head = 0;
  outer: while (head < queue.length) {
    if (opts.stopAtViolation && violations.length > 0) {
      complete = false;
      break;
    }
    const key = queue[head++];
    const node = nodes.get(key)!;
    if (node.depth >= maxDepth) {
      complete = false;
      continue;
    }
    const events = enabledEvents(entry, node.snapshot);
    if (events.length === 0 && node.snapshot.status !== 'done') deadlocks.push({ key, path: pathTo(nodes, key) });
    const seenHere = new Set<string>();
    for (const event of events) {
      const fired = machine.getTransitionData(node.snapshot as never, event as never) as never[];
      const [next] = transition(machine, node.snapshot as never, event as never) as [AnyMachineSnapshot, unknown];
      const nextKey = entry.serializeState(next);
      const edgeKey = `${JSON.stringify(event)}`;
      if (!seenHere.has(edgeKey)) {
        seenHere.add(edgeKey);
        edges++;
      }
      for (const w of witnesses) {
        if (!witnessesReached.has(w.name) && w.reached(next)) {
          witnessesReached.add(w.name);
          witnessPaths.set(`witness:${w.name}`, [...pathTo(nodes, key), event]);
        }
      }
      for (const t of fired) {
        const id = transitionId(t);
        if (!transitionsReached.has(id)) {
          transitionsReached.add(id);
          witnessPaths.set(`transition:${id}`, [...pathTo(nodes, key), event]);
        }
      }
      if (!nodes.has(nextKey)) {
        if (nodes.size >= maxStates) {
          complete = false;
          break outer;
        }
        nodes.set(nextKey, { snapshot: next, parent: key, event, depth: node.depth + 1 });
        depth = Math.max(depth, node.depth + 1);
        visit(nextKey, next);
        queue.push(nextKey);
        if (opts.onProgress && nodes.size % (opts.progressEvery ?? 10_000) === 0) {
          opts.onProgress({ states: nodes.size, transitions: edges, depth, elapsedMs: Date.now() - started });
        }
      }
    }
  }
  return {
    machine: entry.id,
    states: nodes.size,
    transitions: edges,
    depth,
    deadlocks,
    violations,
    witnessesReached,
    stateNodesReached,
    transitionsReached,
    witnessPaths,
    complete,
    elapsedMs: Date.now() - started,
  };
}

export interface RandomStep {
  readonly event: EventObject;
  readonly emitted: readonly EventObject[];
  readonly snapshot: AnyMachineSnapshot;
}

export interface RandomRun {
  readonly initial: AnyMachineSnapshot;
  readonly steps: readonly RandomStep[];
  readonly violation?: Violation;
  readonly witnessesReached: ReadonlySet<string>;
}

/**
 * Drives a live actor with events picked from the alphabet by `choices` (each taken modulo the
 * number of enabled events), checking invariants after every step. fast-check supplies the
 * choices, so a failing run shrinks to a short event sequence.
 */
export function randomRun(
  entry: AnyCatalogEntry,
  input: unknown,
  choices: readonly number[],
  opts: { checkInvariants?: boolean } = {},
): RandomRun {
  const checking = opts.checkInvariants ?? true;
  const actor = createActor(entry.machine, { input: input as never });
  let emitted: EventObject[] = [];
  actor.on('*', (e: EventObject) => {
    emitted.push(e);
  });
  actor.start();
  const witnesses = allWitnesses(entry);
  const reached = new Set<string>();
  const steps: RandomStep[] = [];
  const path: EventObject[] = [];
  const note = (s: AnyMachineSnapshot) => {
    for (const w of witnesses) if (!reached.has(w.name) && w.reached(s)) reached.add(w.name);
  };
  try {
    let s = actor.getSnapshot() as AnyMachineSnapshot;
    const initial = s;
    note(s);
    const first = checking ? checkInvariants(entry, s)[0] : undefined;
    if (first) return { initial, steps, violation: { ...first, path: [] }, witnessesReached: reached };
    for (const choice of choices) {
      const events = enabledEvents(entry, s);
      if (events.length === 0) break;
      const event = events[choice % events.length];
      emitted = [];
      actor.send(event);
      s = actor.getSnapshot() as AnyMachineSnapshot;
      path.push(event);
      steps.push({ event, emitted, snapshot: s });
      if (s.status === 'error') {
        return {
          initial,
          steps,
          violation: { invariant: 'machine-error', message: String((s as { error?: unknown }).error), path: [...path] },
          witnessesReached: reached,
        };
      }
      note(s);
      const v = checking ? checkInvariants(entry, s)[0] : undefined;
      if (v) return { initial, steps, violation: { ...v, path: [...path] }, witnessesReached: reached };
    }
    return { initial, steps, witnessesReached: reached };
  } finally {
    actor.stop();
  }
}
