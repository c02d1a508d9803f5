/**
 * Structural views of a machine definition: its state nodes and transitions, each with a stable
 * id. Used by the coverage tests, the explorer and the docs generator.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

export interface TransitionInfo {
  /** `<source state id> --<event>--> #<index among that event's candidates>`. */
  readonly id: string;
  readonly source: AnyStateNode;
  readonly eventType: string;
  /** Position among the candidates for this event on this state node (guard order). */
  readonly index: number;
  readonly definition: AnyTransitionDefinition;
}

/** Every state node of the machine, root first, in document order. */
export function stateNodes(machine: AnyStateMachine): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const visit = (n: AnyStateNode) => {
    out.push(n);
    for (const child of Object.values(n.states) as AnyStateNode[]) visit(child);
  };
  visit(machine.root);
  return out;
}

/** The id of a transition definition, stable across runs of the same machine definition. */
export function transitionId(t: AnyTransitionDefinition): string {
  const list = (t.source.transitions.get(t.eventType) ?? []) as AnyTransitionDefinition[];
  const index = list.indexOf(t);
  return `${t.source.id} --${t.eventType}--> #${index}`;
}

/** Every event-driven transition of the machine. */
export function transitions(machine: AnyStateMachine): TransitionInfo[] {
  const out: TransitionInfo[] = [];
  for (const node of stateNodes(machine)) {
    for (const [eventType, list] of node.transitions as Map<string, AnyTransitionDefinition[]>) {
      list.forEach((definition, index) => {
        out.push({ id: `${node.id} --${eventType}--> #${index}`, source: node, eventType, index, definition });
      });
    }
  }
  return out;
}

/** Eventless (`always`) and delayed (`after`) transitions: the conventions forbid both. */
export function forbiddenTransitions(machine: AnyStateMachine): string[] {
  const out: string[] = [];
  for (const node of stateNodes(machine)) {
    if (node.always && node.always.length > 0) out.push(`${node.id}: eventless (always) transition`);
    if (node.after && node.after.length > 0) out.push(`${node.id}: delayed (after) transition`);
  }
  return out;
}

/** The name a guard is shown by: `isTx`, `and(isTx, roomForBatch)`, `!x`. */
export function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    // xstate's and()/or()/not() return functions named after themselves, operands on `.guards`.
    const g = guard as { guards?: unknown[]; name: string };
    if (Array.isArray(g.guards)) {
      const names = g.guards.map((x) => guardName(x) ?? '?');
      if (g.name === 'not') return `!${names[0]}`;
      return `${g.name}(${names.join(', ')})`;
    }
    return g.name && g.name !== 'guard' ? g.name : 'inline guard';
  }
  if (typeof guard === 'object' && 'type' in (guard as object)) return String((guard as { type: unknown }).type);
  return undefined;
}

/** Names of a transition's actions, in order. */
export function actionNames(t: AnyTransitionDefinition): string[] {
  return (t.actions as unknown[]).map((a) => {
    if (typeof a === 'string') return a;
    if (a && typeof a === 'object' && 'type' in a) return String((a as { type: unknown }).type);
    if (typeof a === 'function') return (a as { type?: string }).type ?? (a.name || 'inline action');
    return '?';
  });
}

/** The target state ids of a transition (empty for a targetless one). */
export function targetIds(t: AnyTransitionDefinition): string[] {
  return (t.target ?? []).map((n: AnyStateNode) => n.id);
}
