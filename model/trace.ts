/**
 * Counterexample traces: a run of one machine (or of several) as an ITF document and as a Mermaid
 * sequence diagram.
 *
 * ITF is the Informal Trace Format of Apalache and Quint
 * (https://apalache-mc.org/docs/adr/015adr-trace.html): `{ "#meta", "vars", "states" }`, each
 * state a record of the variables plus `"#meta": { "index": i }`. Values are JSON with tags for
 * what JSON lacks: `{"#bigint": "..."}` for integers outside the doubles' exact range (and for
 * bigints), `{"#set": [...]}`, `{"#map": [[k, v], ...]}`, `{"#tup": [...]}`, and
 * `{"#unserializable": "..."}` for values ITF has no form for (null, undefined, non-integers).
 * A `Uint8Array` is written as a hex string `"0x..."`.
 *
 * A single-machine run has the variables `event` (what led to the state; `xstate.init` first),
 * `state` (the state value), `context` and `effects` (what the step emitted). The trace's `#meta`
 * names the machine and its input, so `vnet-model replay` can run it again.
 *
 * Everything here is pure except {@link writeTrace} and {@link createTraceRecorder}.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AnyMachineSnapshot, EventObject, StateValue } from 'xstate';
import { fingerprint } from './explore.js';

// ---- values ------------------------------------------------------------------------------------

export type ItfValue =
  | boolean
  | number
  | string
  | ItfValue[]
  | { '#bigint': string }
  | { '#set': ItfValue[] }
  | { '#map': [ItfValue, ItfValue][] }
  | { '#tup': ItfValue[] }
  | { '#unserializable': string }
  | { [field: string]: ItfValue };

const unserializable = (s: string): ItfValue => ({ '#unserializable': s });

function hex(bytes: Uint8Array): string {
  let s = '0x';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Set elements and map entries in a canonical order, so equal collections encode equally. */
function canonicalOrder<T>(items: T[], key: (t: T) => ItfValue): T[] {
  return items
    .map((t) => [canonicalJson(key(t)), t] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([, t]) => t);
}

/** Encodes a JavaScript value as an ITF value. */
export function toItf(value: unknown, seen: Set<object> = new Set()): ItfValue {
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return value;
    case 'number':
      if (Number.isSafeInteger(value)) return value === 0 ? 0 : value; // no -0
      if (Number.isInteger(value)) return { '#bigint': BigInt(value).toString() };
      return unserializable(String(value));
    case 'bigint':
      return { '#bigint': value.toString() };
    case 'undefined':
      return unserializable('undefined');
    case 'function':
    case 'symbol':
      return unserializable(String(value));
  }
  if (value === null) return unserializable('null');
  const obj = value as object;
  if (obj instanceof Uint8Array) return hex(obj);
  if (seen.has(obj)) return unserializable('[circular]');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((v) => toItf(v, seen));
    if (obj instanceof Set) return { '#set': canonicalOrder([...obj].map((v) => toItf(v, seen)), (v) => v) };
    if (obj instanceof Map) {
      const entries = [...obj].map(([k, v]) => [toItf(k, seen), toItf(v, seen)] as [ItfValue, ItfValue]);
      return { '#map': canonicalOrder(entries, ([k]) => k) };
    }
    if (ArrayBuffer.isView(obj) || obj instanceof Date) return unserializable(String(obj));
    const out: Record<string, ItfValue> = {};
    for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = toItf(v, seen);
    return out;
  } finally {
    seen.delete(obj);
  }
}

const isTagged = (v: object, tag: string): boolean => Object.keys(v).length === 1 && tag in v;

/**
 * Decodes an ITF value into JavaScript: `#bigint` gives a bigint, `#set` a Set, `#map` a Map,
 * `#tup` an array, `#unserializable` null/undefined/a number where it names one (else the text).
 * Hex strings stay strings: bytes are not told apart from text.
 */
export function fromItf(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(fromItf);
  const v = value as Record<string, unknown>;
  if (isTagged(v, '#bigint') && typeof v['#bigint'] === 'string') return BigInt(v['#bigint']);
  if (isTagged(v, '#set') && Array.isArray(v['#set'])) return new Set((v['#set'] as unknown[]).map(fromItf));
  if (isTagged(v, '#map') && Array.isArray(v['#map'])) {
    return new Map((v['#map'] as [unknown, unknown][]).map(([k, x]) => [fromItf(k), fromItf(x)]));
  }
  if (isTagged(v, '#tup') && Array.isArray(v['#tup'])) return (v['#tup'] as unknown[]).map(fromItf);
  if (isTagged(v, '#unserializable') && typeof v['#unserializable'] === 'string') {
    const s = v['#unserializable'];
    if (s === 'null') return null;
    if (s === 'undefined') return undefined;
    const n = Number(s);
    return s.trim() !== '' && (!Number.isNaN(n) || s === 'NaN') ? n : s;
  }
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromItf(x)]));
}

/** JSON with object keys sorted: equal ITF values give equal strings. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Record<string, unknown>)[k]]))
      : x,
  );
}

/** Where two ITF values first differ (`path` like `context.usedQueue[0].len`), or undefined. */
export function firstDifference(
  recorded: unknown,
  now: unknown,
  path = '',
): { path: string; recorded: unknown; now: unknown } | undefined {
  if (canonicalJson(recorded) === canonicalJson(now)) return undefined;
  const here = { path: path || '(value)', recorded, now };
  if (Array.isArray(recorded) && Array.isArray(now)) {
    if (recorded.length !== now.length) return { path: `${path}.length`, recorded: recorded.length, now: now.length };
    for (let i = 0; i < recorded.length; i++) {
      const d = firstDifference(recorded[i], now[i], `${path}[${i}]`);
      if (d) return d;
    }
    return here;
  }
  const isRecord = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x);
  if (isRecord(recorded) && isRecord(now) && !Object.keys(recorded).some((k) => k.startsWith('#'))) {
    for (const k of new Set([...Object.keys(recorded), ...Object.keys(now)])) {
      const d = firstDifference(recorded[k], now[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
  }
  return here;
}

// ---- traces ------------------------------------------------------------------------------------

export interface ItfState {
  readonly '#meta': { readonly index: number; readonly [key: string]: unknown };
  readonly [variable: string]: unknown;
}

export interface ItfTrace {
  readonly '#meta': Readonly<Record<string, unknown>>;
  readonly vars: readonly string[];
  readonly states: readonly ItfState[];
}

/** Why a run is a counterexample, and at which state (0 = the initial state). */
export interface TraceFailure {
  /** Index of the failing state in `states` (the failing step is event number `step`). */
  readonly step: number;
  /** `invariant`: a catalog invariant; `property`: a machine-specific property; `error`: the machine threw. */
  readonly kind: 'invariant' | 'property' | 'error';
  /** The invariant's or property's name. */
  readonly name: string;
  readonly message: string;
}

export interface MachineRunStep {
  readonly event: EventObject;
  readonly emitted: readonly EventObject[];
  readonly snapshot: AnyMachineSnapshot;
}

/** A run of one machine, as `randomRun` or `replay` produce it. */
export interface MachineRun {
  /** Catalog id of the machine. */
  readonly machine: string;
  readonly input: unknown;
  /** The catalog sample the input came from, if any. */
  readonly sample?: string;
  readonly initial: AnyMachineSnapshot;
  readonly steps: readonly MachineRunStep[];
  readonly failure?: TraceFailure;
  /** Extra `#meta` fields (e.g. whether the machine is the catalog's or a mutant). */
  readonly meta?: Readonly<Record<string, unknown>>;
}

/** The event recorded for the initial state. */
export const INIT_EVENT = 'xstate.init';

const FORMAT_META = {
  format: 'ITF',
  'format-description': 'https://apalache-mc.org/docs/adr/015adr-trace.html',
  source: 'vnet-model',
};

/** The ITF variables of a snapshot: state value and context (and the status when not active). */
function snapshotVars(s: AnyMachineSnapshot): { state: ItfValue; context: ItfValue } {
  return { state: toItf(s.value), context: toItf(s.context) };
}

function stateMeta(index: number, s: AnyMachineSnapshot, failure: TraceFailure | undefined) {
  return {
    index,
    ...(s.status !== 'active' ? { status: s.status } : {}),
    ...(failure && failure.step === index ? { failure: { kind: failure.kind, name: failure.name, message: failure.message } } : {}),
  };
}

/** The ITF document of a single-machine run. */
export function machineRunToItf(run: MachineRun): ItfTrace {
  const states: ItfState[] = [
    { '#meta': stateMeta(0, run.initial, run.failure), event: { type: INIT_EVENT }, ...snapshotVars(run.initial), effects: [] },
    ...run.steps.map((step, i) => ({
      '#meta': stateMeta(i + 1, step.snapshot, run.failure),
      event: toItf(step.event),
      ...snapshotVars(step.snapshot),
      effects: step.emitted.map((e) => toItf(e)),
    })),
  ];
  return {
    '#meta': {
      ...FORMAT_META,
      description: describe(run.machine, run.steps.length, run.failure),
      kind: 'machine-run',
      machine: run.machine,
      input: toItf(run.input ?? {}),
      ...(run.sample !== undefined ? { sample: run.sample } : {}),
      ...(run.failure ? { failure: run.failure } : {}),
      ...(run.meta ?? {}),
    },
    vars: ['event', 'state', 'context', 'effects'],
    states,
  };
}

function describe(who: string, steps: number, failure: TraceFailure | undefined): string {
  const what = failure ? `${failure.kind} ${failure.name} fails at state ${failure.step}: ${failure.message}` : 'no failure';
  return `${who}: ${steps} events; ${what}`;
}

/** A run of several machines wired together (the system model): who got each event, what each emitted. */
export interface SystemRun {
  /** Participants by name (e.g. `guestA.tx`): the catalog machine and its input. */
  readonly machines: Readonly<Record<string, { readonly machine: string; readonly input: unknown }>>;
  readonly initial: Readonly<Record<string, AnyMachineSnapshot>>;
  readonly steps: readonly {
    /** The participant the event was delivered to. */
    readonly to: string;
    readonly event: EventObject;
    readonly emitted: readonly { readonly from: string; readonly effect: EventObject }[];
    /** Every participant's snapshot after the step. */
    readonly snapshots: Readonly<Record<string, AnyMachineSnapshot>>;
  }[];
  readonly failure?: TraceFailure;
  readonly meta?: Readonly<Record<string, unknown>>;
}

/** The ITF document of a multi-machine run: one variable per participant, plus `to`, `event`, `effects`. */
export function systemRunToItf(run: SystemRun): ItfTrace {
  const names = Object.keys(run.machines);
  const all = (snaps: Readonly<Record<string, AnyMachineSnapshot>>) =>
    Object.fromEntries(names.map((n) => [n, { ...snapshotVars(snaps[n]), status: snaps[n].status }]));
  const anyFailure = (i: number) => (run.failure && run.failure.step === i ? { failure: run.failure } : {});
  return {
    '#meta': {
      ...FORMAT_META,
      description: describe(names.join(', '), run.steps.length, run.failure),
      kind: 'system-run',
      machines: Object.fromEntries(names.map((n) => [n, { machine: run.machines[n].machine, input: toItf(run.machines[n].input ?? {}) }])),
      ...(run.failure ? { failure: run.failure } : {}),
      ...(run.meta ?? {}),
    },
    vars: ['to', 'event', 'effects', ...names],
    states: [
      { '#meta': { index: 0, ...anyFailure(0) }, to: '', event: { type: INIT_EVENT }, effects: [], ...all(run.initial) },
      ...run.steps.map((s, i) => ({
        '#meta': { index: i + 1, ...anyFailure(i + 1) },
        to: s.to,
        event: toItf(s.event),
        effects: s.emitted.map((e) => ({ from: e.from, effect: toItf(e.effect) })),
        ...all(s.snapshots),
      })),
    ],
  };
}

// ---- Mermaid -----------------------------------------------------------------------------------

/** Text safe inside a Mermaid message or note: `;` `#` `<` `>` as entity codes, one line, bounded. */
function mermaidText(s: string, max = 160): string {
  const one = s.replace(/\s+/g, ' ').trim();
  const cut = one.length > max ? `${one.slice(0, max - 1)}…` : one;
  return cut.replace(/#/g, '#35;').replace(/;/g, '#59;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

/** `driver.add {"frames":[{"id":0,"bytes":60}]}`: the type, then the other fields. */
export function messageLabel(e: EventObject): string {
  const { type, ...rest } = e as EventObject & Record<string, unknown>;
  const fields = Object.keys(rest).length
    ? ` ${JSON.stringify(rest, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? hex(v) : v))}`
    : '';
  return `${type}${fields}`;
}

/** `driver.polling, device.notified` for a parallel state value. */
export function stateLabel(v: StateValue): string {
  if (typeof v === 'string') return v;
  const parts: string[] = [];
  for (const [k, sub] of Object.entries(v)) {
    if (sub === undefined) continue;
    const inner = stateLabel(sub);
    parts.push(inner.includes(',') ? `${k}.(${inner})` : `${k}.${inner}`);
  }
  return parts.join(', ');
}

function failureNote(f: TraceFailure): string {
  return `FAILS: ${f.kind} ${f.name}: ${f.message}`;
}

/** A Mermaid sequence diagram of a single-machine run: events in, effects out, the state after each step. */
export function machineRunToMermaid(run: MachineRun): string {
  const lines = ['sequenceDiagram', '  participant env as environment', `  participant m as ${mermaidText(run.machine, 60)}`];
  lines.push(`  Note over m: ${mermaidText(`initial: ${stateLabel(run.initial.value)}`)}`);
  if (run.failure?.step === 0) lines.push(`  Note over m: ${mermaidText(failureNote(run.failure))}`);
  run.steps.forEach((step, i) => {
    lines.push(`  env->>m: ${mermaidText(`${i + 1}. ${messageLabel(step.event)}`)}`);
    for (const e of step.emitted) lines.push(`  m-->>env: ${mermaidText(messageLabel(e))}`);
    lines.push(`  Note over m: ${mermaidText(stateLabel(step.snapshot.value))}`);
    if (run.failure?.step === i + 1) lines.push(`  Note over m: ${mermaidText(failureNote(run.failure))}`);
  });
  return lines.join('\n') + '\n';
}

/** A Mermaid sequence diagram of a multi-machine run. */
export function systemRunToMermaid(run: SystemRun): string {
  const names = Object.keys(run.machines);
  const id = (n: string) => `p${names.indexOf(n)}`;
  const lines = ['sequenceDiagram', '  participant env as environment'];
  for (const n of names) lines.push(`  participant ${id(n)} as ${mermaidText(`${n} (${run.machines[n].machine})`, 60)}`);
  run.steps.forEach((step, i) => {
    const to = names.includes(step.to) ? id(step.to) : 'env';
    lines.push(`  env->>${to}: ${mermaidText(`${i + 1}. ${messageLabel(step.event)}`)}`);
    for (const e of step.emitted) lines.push(`  ${names.includes(e.from) ? id(e.from) : 'env'}-->>env: ${mermaidText(messageLabel(e.effect))}`);
    if (run.failure?.step === i + 1) lines.push(`  Note over ${to}: ${mermaidText(failureNote(run.failure))}`);
  });
  return lines.join('\n') + '\n';
}

// ---- files -------------------------------------------------------------------------------------

/** Where counterexamples go unless told otherwise (gitignored). */
export const DEFAULT_TRACE_DIR = 'counterexamples';

export interface TraceFiles {
  readonly itf: string;
  readonly mermaid: string;
}

/**
 * A file name stem for a run: the machine and a hash of its input and event path, so that
 * different counterexamples do not overwrite each other and the same one lands in the same file.
 */
export function traceName(machine: string, input: unknown, events: readonly EventObject[]): string {
  const safe = machine.replace(/[^A-Za-z0-9._-]+/g, '_');
  return `${safe}-${fingerprint(canonicalJson(toItf({ input: input ?? {}, events })))}`;
}

/** Writes `<name>.itf.json` and `<name>.mmd` into `dir` (created if needed); returns both paths. */
export function writeTrace(itf: ItfTrace, mermaid: string, name: string, dir: string = DEFAULT_TRACE_DIR): TraceFiles {
  const base = resolve(dir);
  mkdirSync(base, { recursive: true });
  const files = { itf: join(base, `${name}.itf.json`), mermaid: join(base, `${name}.mmd`) };
  writeFileSync(files.itf, JSON.stringify(itf, null, 2) + '\n');
  writeFileSync(files.mermaid, mermaid);
  return files;
}

/** Builds and writes the trace of a single-machine run. */
export function writeMachineRun(run: MachineRun, dir: string = DEFAULT_TRACE_DIR): TraceFiles {
  const name = traceName(run.machine, run.input, run.steps.map((s) => s.event));
  return writeTrace(machineRunToItf(run), machineRunToMermaid(run), name, dir);
}

/**
 * Writes one counterexample at a time: each recording removes the files of the previous one.
 * fast-check calls a failing predicate again for every smaller candidate while shrinking, so the
 * files left behind are those of the last (shrunk) failure, which is the one it reports.
 */
export function createTraceRecorder(dir: string = DEFAULT_TRACE_DIR) {
  let previous: TraceFiles | undefined;
  return {
    record(run: MachineRun): TraceFiles {
      const files = writeMachineRun(run, dir);
      if (previous && previous.itf !== files.itf) {
        rmSync(previous.itf, { force: true });
        rmSync(previous.mermaid, { force: true });
      }
      previous = files;
      return files;
    },
  };
}
