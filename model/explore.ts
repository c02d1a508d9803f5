/**
 * Exhaustive breadth-first exploration of one machine, and seeded random runs.
 *
 * The explorer enumerates the states reachable from an input under the catalog entry's finite
 * event alphabet, keyed by a 64-bit fingerprint of the entry's `serializeState`, checking every
 * invariant on every new state and recording which state nodes, transitions and "sometimes"
 * witnesses were reached. A violation comes with the shortest event path to it (breadth first).
 */
import {
  createActor,
  initialTransition,
  transition,
  type AnyActorScope,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
} from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { stateNodes, transitionId } from './introspect.js';

export interface Violation {
  readonly invariant: string;
  readonly message: string;
  /** Events from the initial state to the violating state. */
  readonly path: readonly EventObject[];
}

export interface ExploreProgress {
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly elapsedMs: number;
  readonly statesPerSecond: number;
}

export interface ExploreOptions {
  /** Stop after this many distinct states (the result then says `complete: false`). */
  readonly maxStates?: number;
  /** Do not expand states deeper than this many events. */
  readonly maxDepth?: number;
  /** Stop at the first invariant violation. */
  readonly stopAtViolation?: boolean;
  /** Called every `progressEvery` states with the running counts. */
  readonly onProgress?: (p: ExploreProgress) => void;
  readonly progressEvery?: number;
  /**
   * Key visited states by the entry's full `serializeState` string rather than its 64-bit
   * fingerprint: slower and larger, but free of (improbable) hash collisions. For debugging.
   */
  readonly fullKeys?: boolean;
}

export interface ExploreResult {
  readonly machine: string;
  readonly states: number;
  /** Distinct (state, event) edges that fired at least one transition. */
  readonly transitions: number;
  /** Length of the longest shortest path. */
  readonly depth: number;
  /** States in which no alphabet event is enabled (keyed by their full `serializeState`). */
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
  /** Distinct states found per second of wall time. */
  readonly statesPerSecond: number;
}

/**
 * A 64-bit FNV-1a hash of a state key, as 16 hex digits (over UTF-16 code units, one unit per
 * step). Two distinct keys collide with probability 2^-64, so among n states the chance of any
 * collision is about n^2 / 2^65: 3e-8 for a million states, 3e-6 for ten million. A collision
 * would merge two states (under-exploring); `fullKeys` rules it out when in doubt.
 */
export function fingerprint(key: string): string {
  // The 64-bit state in four 16-bit limbs (v3 most significant), so that every product is exact
  // in a double; multiplying by the prime 2^40 + 435 is 435 * v plus v shifted up 40 bits.
  let v0 = 0x2325;
  let v1 = 0x8422;
  let v2 = 0x9ce4;
  let v3 = 0xcbf2;
  for (let i = 0; i < key.length; i++) {
    v0 ^= key.charCodeAt(i);
    const t0 = v0 * 435;
    let t1 = v1 * 435;
    let t2 = v2 * 435 + (v0 << 8);
    const t3 = v3 * 435 + (v1 << 8);
    t1 += t0 >>> 16;
    v0 = t0 & 0xffff;
    t2 += t1 >>> 16;
    v1 = t1 & 0xffff;
    v3 = (t3 + (t2 >>> 16)) & 0xffff;
    v2 = t2 & 0xffff;
  }
  return (v3 * 0x10000 + v2).toString(16).padStart(8, '0') + (v1 * 0x10000 + v0).toString(16).padStart(8, '0');
}

/** A visited state: how it was first reached. Snapshots live only in the queue, until expanded. */
interface Node {
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

type TransitionData = ReturnType<AnyStateMachine['getTransitionData']>;

/** What `snapshot.can(event)` decides, from transition data already computed. */
function canFire(fired: TransitionData): boolean {
  return fired.length > 0 && fired.some((t) => t.target !== undefined || t.actions.length > 0);
}

/**
 * A pure transition function for `machine`. xstate's `transition()` builds a fresh actor per
 * call, and building an actor computes the machine's initial snapshot with no input, i.e. with
 * every default parameter (a 4096-entry free list for virtio-ring): that was most of the
 * explorer's time. One scope built once gives the same snapshots as long as no actor is invoked
 * or spawned (catalog machines never do: a machine never calls another); for a machine that does,
 * each step goes through xstate's own `transition()`.
 */
function transitionFunction(machine: AnyStateMachine, input: unknown) {
  const invokes = stateNodes(machine).some((n) => n.invoke.length > 0);
  if (invokes) return (s: AnyMachineSnapshot, e: EventObject) => transition(machine, s as never, e as never)[0] as AnyMachineSnapshot;
  const self = createActor(machine, { input: input as never });
  const scope: AnyActorScope = {
    self,
    id: '',
    sessionId: '',
    logger: () => {},
    defer: () => {},
    emit: () => {},
    system: self.system,
    stopChild: () => {},
    actionExecutor: () => {},
  };
  return (s: AnyMachineSnapshot, e: EventObject): AnyMachineSnapshot => {
    const next = machine.transition(s, e, scope) as AnyMachineSnapshot;
    // A spawned child would register in the shared system: redo the step the slow, safe way.
    if (Object.keys(next.children).length > 0) return transition(machine, s as never, e as never)[0] as AnyMachineSnapshot;
    return next;
  };
}

const SAME = 0;
const DIFFERENT = 1;
const UNKNOWN = 2;
type JsonComparison = typeof SAME | typeof DIFFERENT | typeof UNKNOWN;

/** A value `JSON.stringify` writes as itself: its text differs from any other value's. */
const plainJson = (v: unknown): boolean =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

/**
 * Whether `JSON.stringify(a) === JSON.stringify(b)`, decided without building the texts where
 * that is certain (`UNKNOWN` otherwise): plain values compare directly, arrays and typed arrays
 * by length and elements, objects by their written keys (in order) and values. Building the text
 * of an event that carries a 64 KiB frame costs milliseconds; this usually costs a few compares.
 */
function compareJson(a: unknown, b: unknown, depth = 0): JsonComparison {
  if (a === b) return plainJson(a) || (typeof a === 'object' && a !== null) ? SAME : UNKNOWN;
  const pa = plainJson(a);
  const pb = plainJson(b);
  if (pa && pb) return DIFFERENT;
  const object = (v: unknown): v is object =>
    typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON !== 'function' &&
    !(v instanceof Number || v instanceof String || v instanceof Boolean);
  const oa = object(a);
  const ob = object(b);
  if ((pa && ob) || (oa && pb)) return DIFFERENT; // `{`/`[` against a plain value
  if (!oa || !ob || depth > 16) return UNKNOWN;
  const typed = (v: object): v is ArrayLike<number> => ArrayBuffer.isView(v) && !(v instanceof DataView);
  if (Array.isArray(a) !== Array.isArray(b)) return DIFFERENT; // `[` against `{`
  let result: JsonComparison = SAME;
  const fold = (r: JsonComparison) => {
    if (r === DIFFERENT) return true;
    if (r === UNKNOWN) result = UNKNOWN;
    return false;
  };
  if (Array.isArray(a) || (typed(a) && typed(b))) {
    const la = a as ArrayLike<unknown>;
    const lb = b as ArrayLike<unknown>;
    // Every element (or index) is written, so the lengths must agree.
    if (la.length !== lb.length) return DIFFERENT;
    for (let i = 0; i < la.length; i++) if (fold(compareJson(la[i], lb[i], depth + 1))) return DIFFERENT;
    return result;
  }
  if (typed(a) || typed(b)) return UNKNOWN;
  // Members whose value is undefined, a function or a symbol are not written; a member with a
  // toJSON may not be either, so then the keys decide nothing.
  let opaque = false;
  const written = (o: object) =>
    Object.keys(o).filter((k) => {
      const v = (o as Record<string, unknown>)[k];
      if (typeof v === 'object' && v !== null && !object(v)) opaque = true;
      return v !== undefined && typeof v !== 'function' && typeof v !== 'symbol';
    });
  const ka = written(a);
  const kb = written(b);
  if (opaque) return UNKNOWN;
  if (ka.length !== kb.length) return DIFFERENT;
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return DIFFERENT;
  for (const k of ka) {
    if (fold(compareJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], depth + 1))) return DIFFERENT;
  }
  return result;
}

/**
 * For each event, whether an earlier one has the same JSON text: the edge count counts distinct
 * (state, event) pairs by their JSON, built only where `compareJson` cannot tell.
 */
function repeatedEvents(events: readonly EventObject[]): boolean[] {
  const json: (string | undefined)[] = [];
  const text = (i: number) => (json[i] ??= JSON.stringify(events[i]));
  return events.map((e, i) => {
    for (let j = 0; j < i; j++) {
      const c = compareJson(e, events[j]);
      if (c === SAME || (c === UNKNOWN && text(i) === text(j))) return true;
    }
    return false;
  });
}

export function explore(entry: AnyCatalogEntry, input: unknown, opts: ExploreOptions = {}): ExploreResult {
  const started = performance.now();
  const maxStates = opts.maxStates ?? 1_000_000;
  const maxDepth = opts.maxDepth ?? Number.POSITIVE_INFINITY;
  const progressEvery = opts.progressEvery ?? 10_000;
  const keyOf = opts.fullKeys ? (s: AnyMachineSnapshot) => entry.serializeState(s) : (s: AnyMachineSnapshot) => fingerprint(entry.serializeState(s));
  const machine = entry.machine;
  const [initial] = initialTransition(machine, input as never);
  if (initial.status === 'error') throw (initial as { error: unknown }).error;
  const step = transitionFunction(machine, input);

  const nodes = new Map<string, Node>();
  const violations: Violation[] = [];
  const witnesses = allWitnesses(entry);
  const witnessesReached = new Set<string>();
  const stateNodesReached = new Set<string>();
  const transitionsReached = new Set<string>();
  const witnessPaths = new Map<string, EventObject[]>();
  const deadlocks: { key: string; path: EventObject[] }[] = [];
  const transitionIds = new Map<object, string>();
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

  const rootKey = keyOf(initial);
  nodes.set(rootKey, { parent: undefined, event: undefined, depth: 0 });
  visit(rootKey, initial);
  // The frontier: keys and snapshots side by side; a snapshot is dropped once expanded.
  const queue: string[] = [rootKey];
  const snapshots: (AnyMachineSnapshot | undefined)[] = [initial];
  let head = 0;
  outer: while (head < queue.length) {
    if (opts.stopAtViolation && violations.length > 0) {
      complete = false;
      break;
    }
    const key = queue[head];
    const snapshot = snapshots[head]!;
    snapshots[head++] = undefined;
    const node = nodes.get(key)!;
    if (node.depth >= maxDepth) {
      complete = false;
      continue;
    }
    // One getTransitionData per alphabet event decides enabledness (as snapshot.can does) and
    // names the transitions that fire.
    const enabled: { event: EventObject; fired: TransitionData }[] = [];
    for (const event of entry.events(snapshot)) {
      const fired = machine.getTransitionData(snapshot as never, event as never);
      if (canFire(fired)) enabled.push({ event, fired });
    }
    if (enabled.length === 0 && snapshot.status !== 'done') {
      deadlocks.push({ key: opts.fullKeys ? key : entry.serializeState(snapshot), path: pathTo(nodes, key) });
    }
    const repeats = repeatedEvents(enabled.map((x) => x.event));
    for (const [i, { event, fired }] of enabled.entries()) {
      const next = step(snapshot, event);
      const nextKey = keyOf(next);
      if (!repeats[i]) edges++;
      // Witnesses are checked on every successor, not only new ones: a witness may depend on
      // context the key abstracts away (a counter), so another snapshot of a known state may reach it.
      for (const w of witnesses) {
        if (!witnessesReached.has(w.name) && w.reached(next)) {
          witnessesReached.add(w.name);
          witnessPaths.set(`witness:${w.name}`, [...pathTo(nodes, key), event]);
        }
      }
      for (const t of fired) {
        let id = transitionIds.get(t);
        if (id === undefined) transitionIds.set(t, (id = transitionId(t)));
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
        nodes.set(nextKey, { parent: key, event, depth: node.depth + 1 });
        depth = Math.max(depth, node.depth + 1);
        visit(nextKey, next);
        queue.push(nextKey);
        snapshots.push(next);
        if (opts.onProgress && nodes.size % progressEvery === 0) {
          const elapsedMs = performance.now() - started;
          opts.onProgress({ states: nodes.size, transitions: edges, depth, elapsedMs, statesPerSecond: rate(nodes.size, elapsedMs) });
        }
      }
    }
  }
  const elapsedMs = performance.now() - started;
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
    elapsedMs,
    statesPerSecond: rate(nodes.size, elapsedMs),
  };
}

function rate(states: number, ms: number): number {
  return ms > 0 ? Math.round((states * 1000) / ms) : states * 1000;
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
