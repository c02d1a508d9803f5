/**
 * A machine definition as a Mermaid `stateDiagram-v2`.
 *
 * Compound states become composite states, the regions of a parallel state are separated by
 * `--`, and each transition becomes an edge labelled `event [guard]`. To keep the picture
 * readable, all transitions between the same two states on the same event are drawn as one edge
 * label line, their guards or-ed and simplified; a transition without a target (it stays in its
 * state and only runs actions) is written inside its state's box, as UML writes internal
 * transitions, or in a note beside a composite state; so is one into its source's own
 * descendant or ancestor, with `→ target`. The tables next to the diagram give every transition
 * on its own, with its actions and the order its guards are tried in.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { guardName, stateNodes, targetIds, transitions } from '../../model/introspect.js';
import { mermaidId, mermaidText } from './markdown.js';

/** A state node's id relative to the machine root (`driver.polling`); the root itself is `''`. */
export function relativeId(machine: AnyStateMachine, node: AnyStateNode | string): string {
  const id = typeof node === 'string' ? node : node.id;
  const rootId = machine.root.id;
  return id === rootId ? '' : id.startsWith(`${rootId}.`) ? id.slice(rootId.length + 1) : id;
}

/** The label of a transition in the diagram and tables: `event [guard]`. */
export function edgeLabel(eventType: string, guard: string | undefined): string {
  return guard === undefined ? eventType : `${eventType} [${guard}]`;
}

/** A guard as a set of literals that must all hold (`isTx`, `!busy`, or an opaque `or(...)`). */
type Conjunction = readonly string[];

/** The guard of one transition as a conjunction; `null` for no guard (always true). */
function conjunction(guard: unknown): Conjunction | null {
  if (guard === undefined || guard === null) return null;
  const g = guard as { guards?: unknown[]; name?: string };
  if (typeof guard === 'function' && g.name === 'and' && Array.isArray(g.guards)) {
    return [...new Set(g.guards.flatMap((x) => conjunction(x) ?? []))];
  }
  return [guardName(guard) ?? '?'];
}

/**
 * The name of "one of these guards holds", simplified by absorption (a conjunction that
 * contains another adds nothing to the disjunction); `undefined` when one of them is always true.
 */
function disjunctionName(guards: readonly (Conjunction | null)[]): string | undefined {
  if (guards.some((g) => g === null || g.length === 0)) return undefined;
  const terms = guards as Conjunction[];
  const kept: Conjunction[] = [];
  terms.forEach((t, i) => {
    const absorbed = terms.some(
      (u, j) => j !== i && u.every((lit) => t.includes(lit)) && (u.length < t.length || j < i),
    );
    if (!absorbed) kept.push(t);
  });
  const name = (c: Conjunction) => (c.length === 1 ? c[0] : `and(${c.join(', ')})`);
  if (kept.length === 1) return name(kept[0]);
  // Literals every term shares are factored out: and(a, b) or and(a, c) is and(a, or(b, c)).
  const common = kept[0].filter((lit) => kept.every((t) => t.includes(lit)));
  const rest = `or(${kept.map((t) => name(t.filter((lit) => !common.includes(lit)))).join(', ')})`;
  return common.length === 0 ? rest : `and(${[...common, rest].join(', ')})`;
}

/** A line of a note: a line reading `end note` would close it early. */
const noteLine = (text: string): string => mermaidText(text).replace(/^end\b/i, (w) => `#${w.charCodeAt(0)};${w.slice(1)}`);

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly labels: string[];
}

export function stateDiagram(machine: AnyStateMachine): string {
  const nodes = stateNodes(machine);
  const byId = new Map(nodes.map((n) => [n.id, n]));

  // Mermaid ids: readable, unique, and stable for a given machine definition.
  const ids = new Map<string, string>();
  const taken = new Set<string>();
  for (const n of nodes) {
    const base = mermaidId(relativeId(machine, n) || machine.root.key || 'root');
    let id = base;
    for (let k = 2; taken.has(id); k++) id = `${base}_${k}`;
    taken.add(id);
    ids.set(n.id, id);
  }

  // One edge per (source, target), with one label line per event. The guards of the
  // transitions an edge collapses are or-ed: the edge is taken on that event when one of them
  // holds (and no earlier candidate to another target does, as the transitions table shows).
  // Transitions that stay in their source (no target) are collected the same way, as lines of
  // the source's box or note; so are those into the source's own descendants or ancestors,
  // with their target, as Mermaid cannot draw an edge between a box and what it contains.
  type Lines = Map<string, { eventType: string; suffix: string; guards: (Conjunction | null)[] }>;
  const collect = (into: Map<string, Lines>, key: string, eventType: string, suffix: string, guard: unknown) => {
    const lines: Lines = into.get(key) ?? new Map();
    const lineKey = `${eventType}\u0000${suffix}`;
    const line = lines.get(lineKey) ?? { eventType, suffix, guards: [] };
    line.guards.push(conjunction(guard));
    lines.set(lineKey, line);
    into.set(key, lines);
  };
  const edgeLines = new Map<string, Lines>();
  const stayLines = new Map<string, Lines>();
  const ends = new Map<string, { from: string; to: string }>();
  for (const t of transitions(machine)) {
    const targets = targetIds(t.definition);
    if (targets.length === 0) collect(stayLines, t.source.id, t.eventType, '', t.definition.guard);
    for (const to of targets) {
      const from = t.source.id;
      const composite = Object.keys(t.source.states).length > 0;
      const inside = composite && (to === from || to.startsWith(`${from}.`));
      const around = from.startsWith(`${to}.`);
      if (inside || around) {
        collect(stayLines, from, t.eventType, ` \u2192 ${relativeId(machine, to) || machine.root.key}`, t.definition.guard);
        continue;
      }
      const key = `${t.source.id}\u0000${to}`;
      ends.set(key, { from: t.source.id, to });
      collect(edgeLines, key, t.eventType, '', t.definition.guard);
    }
  }
  const labels = (lines: Lines) =>
    [...lines.values()].map((l) => edgeLabel(l.eventType, disjunctionName(l.guards)) + l.suffix);
  const edges: Edge[] = [...edgeLines].map(([key, lines]) => ({ ...ends.get(key)!, labels: labels(lines) }));
  const internal = new Map([...stayLines].map(([id, lines]) => [id, labels(lines)]));

  // An edge is written inside the innermost composite state that holds both of its ends, and
  // before the states it names are declared: Mermaid puts a state in the composite where it is
  // named last.
  const ancestors = (id: string): string[] => {
    const out: string[] = [];
    for (let n: AnyStateNode | undefined = byId.get(id); n; n = n.parent) out.push(n.id);
    return out;
  };
  const home = (e: Edge): string => {
    const b = new Set(ancestors(e.to));
    // (A loop on an atomic state belongs to its parent.)
    return ancestors(e.from).find((x) => b.has(x) && x !== e.from && x !== e.to) ?? machine.root.id;
  };
  const edgesIn = new Map<string, Edge[]>();
  for (const e of edges) {
    const h = home(e);
    edgesIn.set(h, [...(edgesIn.get(h) ?? []), e]);
  }
  /** The child of `parent` that `id` is, or lies in. */
  const childHolding = (parent: string, id: string): string | undefined => {
    for (let n: AnyStateNode | undefined = byId.get(id); n; n = n.parent) if (n.parent?.id === parent) return n.id;
    return undefined;
  };

  // The root is drawn as a box of its own only when it has to be: when it is parallel (regions
  // need a composite to be separated in) or has transitions of its own (for their note).
  const root = machine.root;
  const wrapRoot = root.type === 'parallel' || internal.has(root.id);

  const lines: string[] = ['stateDiagram-v2'];
  const edgeLine = (e: Edge) => `${ids.get(e.from)} --> ${ids.get(e.to)} : ${e.labels.map(mermaidText).join('<br/>')}`;

  const writeBody = (n: AnyStateNode, indent: string): void => {
    const children = Object.values(n.states) as AnyStateNode[];
    if (n.type === 'compound' && n.initial) {
      for (const t of n.initial.target as AnyStateNode[]) lines.push(`${indent}[*] --> ${ids.get(t.id)}`);
    }
    const own = edgesIn.get(n.id) ?? [];
    if (n.type !== 'parallel') for (const e of own) lines.push(`${indent}${edgeLine(e)}`);
    children.forEach((child, i) => {
      if (n.type === 'parallel') {
        if (i > 0) lines.push(`${indent}--`);
        // In a parallel state each edge goes in the region its source lies in (an edge across
        // regions too: Mermaid has no place for it outside the regions).
        for (const e of own) if (childHolding(n.id, e.from) === child.id) lines.push(`${indent}${edgeLine(e)}`);
      }
      writeState(child, indent);
    });
  };

  const writeState = (n: AnyStateNode, indent: string): void => {
    const id = ids.get(n.id)!;
    const label = n.type === 'history' ? `${n.key} (history)` : n.key;
    const children = Object.values(n.states) as AnyStateNode[];
    const stays = internal.get(n.id) ?? [];
    if (children.length === 0) {
      // Internal transitions go in the state's box, one line each (UML's internal compartment).
      lines.push(`${indent}state "${mermaidText(label)}" as ${id}`);
      for (const line of stays) lines.push(`${indent}${id} : ${mermaidText(line)}`);
      if (n.type === 'final') lines.push(`${indent}${id} --> [*]`);
      return;
    }
    lines.push(`${indent}state "${mermaidText(label)}" as ${id} {`);
    writeBody(n, `${indent}  `);
    lines.push(`${indent}}`);
    // Mermaid shows no text inside a composite state's box, so they go in a note beside it.
    if (stays.length > 0) {
      lines.push(`${indent}note right of ${id}`, ...stays.map((line) => `${indent}  ${noteLine(line)}`), `${indent}end note`);
    }
  };

  if (wrapRoot) {
    writeState(root, '  ');
  } else {
    writeBody(root, '  ');
  }
  return lines.join('\n');
}
