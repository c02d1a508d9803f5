/**
 * `vnet-model replay`: runs a recorded trace again.
 *
 * - `replay <trace.itf.json>` re-runs an ITF counterexample (machine id and input are in its
 *   `#meta`) and reports the first step where the model now differs from the recording (state
 *   value, context or effects) or an invariant fails, or that it passes.
 * - `replay --machine <id> [--input file.json] <events.jsonl>` checks a log of events from another
 *   implementation against the machine (conformance): one JSON event per line, blank lines
 *   skipped. It stops at the first event the machine does not accept in its current state (no
 *   transition enabled) and at the first invariant violation, naming the line.
 *
 * Exit code 0: passes; 1: differs, not accepted, or an invariant fails; 2: a usage error
 * (including a malformed line or an unknown event type).
 */
import { readFileSync } from 'node:fs';
import { createActor, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';
import { catalog, type AnyCatalogEntry } from '../../machines/index.js';
import { checkInvariants } from '../../model/explore.js';
import {
  firstDifference,
  fromItf,
  INIT_EVENT,
  messageLabel,
  stateLabel,
  toItf,
  type ItfTrace,
  type TraceFailure,
} from '../../model/trace.js';
import { parseArgs, UsageError, type Command } from '../command.js';
import { entryOrUsageError, readInputFile, readJsonFile } from './explore.js';

/** A live actor that records what each event emitted. */
function driver(machine: AnyStateMachine, input: unknown) {
  const actor = createActor(machine, { input: input as never });
  let emitted: EventObject[] = [];
  actor.on('*', (e: EventObject) => {
    emitted.push(e);
  });
  actor.subscribe({ error: () => {} }); // an error ends in an error snapshot, reported below
  actor.start();
  return {
    snapshot: () => actor.getSnapshot() as AnyMachineSnapshot,
    send(event: EventObject): EventObject[] {
      emitted = [];
      actor.send(event);
      return emitted;
    },
    stop: () => actor.stop(),
  };
}

const errorOf = (s: AnyMachineSnapshot) => String((s as { error?: unknown }).error);

// ---- ITF traces --------------------------------------------------------------------------------

export interface ReplayDifference {
  /** `state`, `context` or `effects`. */
  readonly variable: string;
  /** Where the values first differ, e.g. `context.usedQueue[0].len`. */
  readonly path: string;
  readonly recorded: unknown;
  readonly now: unknown;
}

export interface ReplayStep {
  /** Index of the ITF state (0 = initial). */
  readonly index: number;
  readonly event: EventObject;
  readonly state: string;
}

export interface ReplayResult {
  readonly machine: string;
  /** Number of events in the trace. */
  readonly events: number;
  /**
   * `passes`: every state matches the recording and no invariant fails; `differs`: the model now
   * reaches another state (or emits other effects); `violation`: an invariant fails; `rejected`:
   * the machine does not accept the recorded event in its current state; `error`: the machine threw.
   */
  readonly outcome: 'passes' | 'differs' | 'violation' | 'rejected' | 'error';
  /** The ITF state index where the outcome was decided (undefined when it passes). */
  readonly step?: number;
  readonly event?: EventObject;
  readonly differences: readonly ReplayDifference[];
  readonly violation?: { readonly invariant: string; readonly message: string };
  readonly error?: string;
  /** The failure the trace was recorded for, from its `#meta`. */
  readonly recordedFailure?: TraceFailure;
  /** The states reached, step by step, up to the deciding one. */
  readonly steps: readonly ReplayStep[];
}

/** Checks the shape of a parsed ITF document; a usage error says what is missing. */
export function asMachineTrace(doc: unknown, file = 'trace'): ItfTrace {
  const t = doc as Partial<ItfTrace> | null;
  if (!t || typeof t !== 'object' || !t['#meta'] || !Array.isArray(t.states)) {
    throw new UsageError(`${file} is not an ITF trace (needs "#meta" and "states")`);
  }
  const meta = t['#meta'] as Record<string, unknown>;
  if (meta.kind === 'system-run') throw new UsageError(`${file} is a multi-machine trace; replay handles single-machine traces`);
  if (typeof meta.machine !== 'string') throw new UsageError(`${file}: "#meta".machine (the machine id) is missing`);
  t.states.forEach((s, i) => {
    const ev = (s as { event?: unknown }).event as { type?: unknown } | undefined;
    if (!ev || typeof ev !== 'object' || typeof ev.type !== 'string') throw new UsageError(`${file}: state ${i} has no event with a type`);
  });
  return t as ItfTrace;
}

/**
 * Re-runs a single-machine ITF trace. `machine` replaces the catalog machine of the trace's id
 * (a mutant, say); the catalog entry still supplies the invariants.
 */
export function replayTrace(trace: ItfTrace, machine?: AnyStateMachine): ReplayResult {
  const meta = trace['#meta'] as Record<string, unknown>;
  const id = String(meta.machine);
  const base = catalog[id];
  if (!base) throw new UsageError(`the trace is of machine "${id}", which is not in the catalog`);
  const entry: AnyCatalogEntry = machine ? { ...base, machine } : base;
  const input = fromItf(meta.input ?? {});
  const recordedFailure = meta.failure as TraceFailure | undefined;
  const events = trace.states.length - 1;
  const steps: ReplayStep[] = [];
  const run = driver(entry.machine, input);
  try {
    const decide = (index: number, emitted: readonly EventObject[]): ReplayResult | undefined => {
      const s = run.snapshot();
      const recorded = trace.states[index] as Record<string, unknown>;
      const event = fromItf(recorded.event) as EventObject;
      steps.push({ index, event, state: stateLabel(s.value) });
      const now: Record<string, unknown> = { state: toItf(s.value), context: toItf(s.context), effects: emitted.map((e) => toItf(e)) };
      const differences: ReplayDifference[] = [];
      for (const variable of ['state', 'context', 'effects']) {
        if (!(variable in recorded)) continue;
        const d = firstDifference(recorded[variable], now[variable], variable);
        if (d) differences.push({ variable, ...d });
      }
      const at = { machine: id, events, step: index, event, recordedFailure, steps };
      if (s.status === 'error') return { ...at, outcome: 'error', differences, error: errorOf(s) };
      const violation = checkInvariants(entry, s)[0];
      if (differences.length > 0) return { ...at, outcome: 'differs', differences, violation };
      if (violation) return { ...at, outcome: 'violation', differences, violation };
      return undefined;
    };
    const first = decide(0, []);
    if (first) return first;
    for (let i = 1; i <= events; i++) {
      const event = fromItf((trace.states[i] as Record<string, unknown>).event) as EventObject;
      if (!run.snapshot().can(event as never)) {
        return { machine: id, events, outcome: 'rejected', step: i, event, differences: [], recordedFailure, steps };
      }
      const decided = decide(i, run.send(event));
      if (decided) return decided;
    }
    return { machine: id, events, outcome: 'passes', differences: [], recordedFailure, steps };
  } finally {
    run.stop();
  }
}

const show = (v: unknown) => {
  const s = JSON.stringify(v);
  return s === undefined ? 'undefined' : s.length > 200 ? `${s.slice(0, 199)}…` : s;
};

export function formatReplayResult(r: ReplayResult, file: string): string {
  const out = [`replay ${file}: ${r.machine}, ${r.events} events`];
  for (const s of r.steps.slice(0, -1)) out.push(`  ${String(s.index).padStart(3)}. ${s.index === 0 ? '(initial)' : messageLabel(s.event)} -> ${s.state}: as recorded`);
  const last = r.steps[r.steps.length - 1];
  const at = r.step === undefined ? '' : `at step ${r.step}${r.event && r.event.type !== INIT_EVENT ? ` (${messageLabel(r.event)})` : ' (initial state)'}`;
  switch (r.outcome) {
    case 'passes':
      if (last) out.push(`  ${String(last.index).padStart(3)}. ${last.index === 0 ? '(initial)' : messageLabel(last.event)} -> ${last.state}: as recorded`);
      out.push(`passes: every state matches the recording and every invariant holds`);
      break;
    case 'differs':
      out.push(`DIFFERS ${at}: the model now reaches ${last?.state ?? '?'}`);
      for (const d of r.differences) out.push(`  ${d.path}: recorded ${show(d.recorded)}, now ${show(d.now)}`);
      if (r.violation) out.push(`  and invariant ${r.violation.invariant} fails: ${r.violation.message}`);
      break;
    case 'violation':
      out.push(`VIOLATION ${at}: invariant ${r.violation!.invariant}: ${r.violation!.message}`);
      break;
    case 'rejected':
      out.push(`REJECTED ${at}: the machine does not accept this event in state ${last?.state ?? '?'}`);
      break;
    case 'error':
      out.push(`ERROR ${at}: the machine failed: ${r.error}`);
      break;
  }
  if (r.recordedFailure) {
    const f = r.recordedFailure;
    const same = r.outcome === 'violation' && r.step === f.step && r.violation?.invariant === f.name;
    out.push(`recorded: ${f.kind} ${f.name} failed at step ${f.step}${same ? ' (reproduced)' : ''}`);
  }
  return out.join('\n');
}

// ---- JSON-lines event logs (conformance) -------------------------------------------------------

export interface ConformanceLine {
  readonly line: number;
  readonly event: EventObject;
  readonly state: string;
  readonly effects: readonly EventObject[];
}

export interface ConformanceResult {
  readonly machine: string;
  /** `passes`: every event accepted, every invariant held. */
  readonly outcome: 'passes' | 'rejected' | 'violation' | 'error';
  /** 1-based line number of the deciding event. */
  readonly line?: number;
  readonly event?: EventObject;
  /** The state the machine was in when it rejected the event. */
  readonly state?: string;
  readonly violation?: { readonly invariant: string; readonly message: string };
  readonly error?: string;
  readonly accepted: readonly ConformanceLine[];
}

/**
 * Parses a JSON-lines event log: one event object per line, blank lines skipped. A malformed
 * line, a line that is not an event object, or an event type the entry does not accept is a
 * usage error naming the line.
 */
export function parseEventLog(entry: AnyCatalogEntry, text: string, file = 'log'): { line: number; event: EventObject }[] {
  const accepted = new Set(entry.accepts.map((a) => a.type));
  const out: { line: number; event: EventObject }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new UsageError(`${file}:${line}: malformed JSON: ${(err as Error).message}`);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
      throw new UsageError(`${file}:${line}: not an event (an object with a string "type"): ${raw.trim().slice(0, 80)}`);
    }
    const event = value as EventObject;
    if (!accepted.has(event.type)) {
      throw new UsageError(`${file}:${line}: unknown event type "${event.type}" (${entry.id} accepts: ${[...accepted].join(', ')})`);
    }
    out.push({ line, event });
  });
  return out;
}

/**
 * Drives the machine with logged events, checking after each that the machine accepted it
 * (`snapshot.can(event)` before sending) and that every invariant holds.
 */
export function replayEvents(
  entry: AnyCatalogEntry,
  input: unknown,
  events: readonly { line: number; event: EventObject }[],
  machine?: AnyStateMachine,
): ConformanceResult {
  const e: AnyCatalogEntry = machine ? { ...entry, machine } : entry;
  const run = driver(e.machine, input);
  const accepted: ConformanceLine[] = [];
  try {
    const s0 = run.snapshot();
    if (s0.status === 'error') return { machine: e.id, outcome: 'error', error: errorOf(s0), accepted };
    const v0 = checkInvariants(e, s0)[0];
    if (v0) return { machine: e.id, outcome: 'violation', line: 0, violation: v0, accepted };
    for (const { line, event } of events) {
      const before = run.snapshot();
      if (!before.can(event as never)) return { machine: e.id, outcome: 'rejected', line, event, state: stateLabel(before.value), accepted };
      const effects = run.send(event);
      const s = run.snapshot();
      if (s.status === 'error') return { machine: e.id, outcome: 'error', line, event, error: errorOf(s), accepted };
      accepted.push({ line, event, state: stateLabel(s.value), effects });
      const v = checkInvariants(e, s)[0];
      if (v) return { machine: e.id, outcome: 'violation', line, event, violation: v, accepted };
    }
    return { machine: e.id, outcome: 'passes', accepted };
  } finally {
    run.stop();
  }
}

export function formatConformanceResult(r: ConformanceResult, file: string): string {
  const out = [`replay ${file} against ${r.machine}`];
  for (const a of r.accepted) {
    const fx = a.effects.length ? `  emits ${a.effects.map((x) => messageLabel(x)).join('; ')}` : '';
    out.push(`  line ${String(a.line).padStart(4)}: ${messageLabel(a.event)} -> ${a.state}${fx}`);
  }
  const where = `${file}:${r.line}`;
  switch (r.outcome) {
    case 'passes':
      out.push(`passes: ${r.accepted.length} events accepted, every invariant holds`);
      break;
    case 'rejected':
      out.push(`REJECTED ${where}: ${messageLabel(r.event!)} is not accepted in state ${r.state} (no transition enabled)`);
      break;
    case 'violation':
      out.push(`VIOLATION ${r.line ? where : `${file} (initial state)`}: invariant ${r.violation!.invariant}: ${r.violation!.message}`);
      break;
    case 'error':
      out.push(`ERROR ${r.line ? where : `${file} (initial state)`}: the machine failed: ${r.error}`);
      break;
  }
  return out.join('\n');
}

// ---- the command -------------------------------------------------------------------------------

export const replayCommand: Command = {
  name: 'replay',
  usage: '<trace.itf.json> | --machine <id> [--input file.json] <events.jsonl>  [--json]',
  summary: 'replay a counterexample trace, or check a JSON-lines event log against a machine',
  help: [
    'replay <trace.itf.json>: re-run an ITF trace written by a failing property and report the',
    'first step where the model now differs from the recording or an invariant fails.',
    '',
    'replay --machine <id> [--input file.json] <events.jsonl>: drive the machine with one JSON',
    'event per line (blank lines skipped), printing the state after each, and stop at the first',
    'event the machine does not accept in its current state or the first invariant violation.',
    'Without --input the machine runs with its default parameters.',
    '',
    'Exit code: 0 passes, 1 differs / not accepted / invariant fails, 2 usage errors (including',
    'malformed lines and unknown event types).',
  ].join('\n'),
  run: async (args) => {
    const parsed = parseArgs(args, { values: ['--machine', '--input'], flags: ['--json'] });
    if (parsed.positional.length !== 1) throw new UsageError('name one file to replay');
    const file = parsed.positional[0];
    const json = parsed.flags.has('--json');
    if (!parsed.values.has('--machine')) {
      if (parsed.values.has('--input')) throw new UsageError('--input goes with --machine; an ITF trace carries its own input');
      if (file.endsWith('.jsonl')) throw new UsageError(`${file} looks like an event log: give --machine <id> to check it against a machine`);
      const result = replayTrace(asMachineTrace(readJsonFile(file, 'trace file'), file));
      console.log(json ? JSON.stringify(result, bigintSafe, 2) : formatReplayResult(result, file));
      return result.outcome === 'passes' ? 0 : 1;
    }
    const entry = entryOrUsageError(parsed.values.get('--machine'));
    const inputFile = parsed.values.get('--input');
    const input = inputFile === undefined ? {} : readInputFile(entry, inputFile);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read event log "${file}": ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    const result = replayEvents(entry, input, parseEventLog(entry, text, file));
    console.log(json ? JSON.stringify(result, bigintSafe, 2) : formatConformanceResult(result, file));
    return result.outcome === 'passes' ? 0 : 1;
  },
};

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Array.from(v) : v;
}
