/**
 * Shared pieces of the property suite: run counts, mutant records, and the generic property
 * "every invariant holds on every step of random runs".
 */
import fc from 'fast-check';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { catalog } from '../machines/index.js';
import { randomRun, type RandomRun, type RandomStep } from '../model/explore.js';
import { createTraceRecorder, DEFAULT_TRACE_DIR, type TraceFailure } from '../model/trace.js';

/**
 * Number of fast-check runs for a property whose default is `base`. `FC_NUM_RUNS` scales deep
 * runs: `FC_NUM_RUNS=10000 npm test` runs every property 10000 times (or `base`, if larger).
 */
export function numRuns(base: number): number {
  const env = process.env.FC_NUM_RUNS;
  if (env === undefined || env === '') return base;
  const n = Number(env);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`FC_NUM_RUNS must be a positive integer, got ${JSON.stringify(env)}`);
  return Math.max(base, n);
}

/**
 * Run count for a property each of whose runs plays a whole system-model experiment (seconds of
 * simulated traffic): deep runs scale it by FC_NUM_RUNS / 100 rather than raising it to
 * FC_NUM_RUNS, so `FC_NUM_RUNS=1000` runs these ten times their default.
 */
export function systemRuns(base: number): number {
  const env = process.env.FC_NUM_RUNS;
  if (env === undefined || env === '') return base;
  numRuns(base); // validates FC_NUM_RUNS
  return Math.max(base, Math.ceil((base * Number(env)) / 100));
}

/** A deliberately broken variant of a machine and the property that must catch it. */
export interface Mutant {
  readonly name: string;
  /** What is broken, in protocol terms. */
  readonly description: string;
  /** The catalog entry it mutates (its invariants, alphabet and samples are used). */
  readonly entry: AnyCatalogEntry;
  /** The broken machine, usually `entry.machine.provide({ guards: ..., actions: ... })`. */
  readonly machine: AnyStateMachine;
  /**
   * How it is caught: `invariant:<name>` (a catalog invariant fails in random runs from one of the
   * entry's samples) or the name of a machine-specific property in `properties`.
   */
  readonly caughtBy: string;
}

/** A machine-specific property, parameterized by the machine so that mutants can be checked too. */
export interface MachineProperty {
  readonly name: string;
  readonly description: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly property: (machine: AnyStateMachine) => fc.IPropertyWithHooks<any>;
  /** Default fast-check run count (scaled by FC_NUM_RUNS). */
  readonly runs: number;
}

/** The entry with its machine replaced (for mutants). */
export function withMachine(entry: AnyCatalogEntry, machine: AnyStateMachine): AnyCatalogEntry {
  return { ...entry, machine };
}

/** Directory for counterexample traces: `COUNTEREXAMPLES_DIR`, or `counterexamples/` (gitignored). */
export function counterexampleDir(): string {
  return process.env.COUNTEREXAMPLES_DIR || DEFAULT_TRACE_DIR;
}

/**
 * Writes the failing run as an ITF trace and a Mermaid diagram and returns the lines to append to
 * the failure message. A trace that cannot be written does not hide the failure itself.
 */
function counterexampleLines(
  recorder: ReturnType<typeof createTraceRecorder>,
  entry: AnyCatalogEntry,
  sample: number,
  run: Pick<RandomRun, 'initial' | 'steps'>,
  failure: TraceFailure,
): string {
  try {
    const files = recorder.record({
      machine: entry.id,
      input: entry.samples[sample].input,
      sample: entry.samples[sample].name,
      initial: run.initial,
      steps: run.steps,
      failure,
      // Replaying a mutant's trace needs the mutant: `replayTrace(trace, machine)`.
      meta: { catalogMachine: catalog[entry.id]?.machine === entry.machine },
    });
    return `\n  trace (ITF): ${files.itf}\n  sequence diagram: ${files.mermaid}\n  replay: npx tsx cli/main.ts replay ${files.itf}`;
  } catch (err) {
    return `\n  (the counterexample trace could not be written: ${(err as Error).message})`;
  }
}

/**
 * Random runs from each sample never violate a catalog invariant. A failing run is written to a
 * trace file (see `model/trace.ts`); fast-check re-runs the predicate while shrinking, so the
 * files named in the final message are those of the shrunk run.
 */
export function invariantsHoldProperty(entry: AnyCatalogEntry, invariant?: string) {
  const recorder = createTraceRecorder(counterexampleDir());
  return fc.property(
    fc.integer({ min: 0, max: entry.samples.length - 1 }),
    fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 60, size: 'max' }),
    (sample, choices) => {
      const run = randomRun(entry, entry.samples[sample].input, choices);
      const v = run.violation;
      if (v && (invariant === undefined || v.invariant === invariant)) {
        const kind = v.invariant === 'machine-error' ? 'error' : 'invariant';
        const files = counterexampleLines(recorder, entry, sample, run, { step: v.path.length, kind, name: v.invariant, message: v.message });
        throw new Error(
          `${entry.id} [sample ${entry.samples[sample].name}]: invariant ${v.invariant} violated: ${v.message}\n` +
            `  after events: ${v.path.map((e) => JSON.stringify(e)).join(' ; ')}` +
            files,
        );
      }
    },
  );
}

/**
 * A property over the steps of random runs of `machine` from the entry's samples: `check` sees
 * the snapshot before, the event, what it emitted and the snapshot after, and returns a sentence
 * when something is wrong. The failing run (up to the failing step) is written to a trace file.
 */
export function stepsProperty(
  entry: AnyCatalogEntry,
  machine: AnyStateMachine,
  check: (before: AnyMachineSnapshot, step: RandomStep) => string | undefined,
  name = 'steps-property',
) {
  const e = withMachine(entry, machine);
  const recorder = createTraceRecorder(counterexampleDir());
  return fc.property(
    fc.integer({ min: 0, max: entry.samples.length - 1 }),
    fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 60, size: 'max' }),
    (sample, choices) => {
      const run = randomRun(e, entry.samples[sample].input, choices, { checkInvariants: false });
      let before = run.initial;
      for (const [i, step] of run.steps.entries()) {
        const problem = check(before, step);
        if (problem) {
          const steps = run.steps.slice(0, i + 1);
          const upTo = steps.map((s) => JSON.stringify(s.event));
          const files = counterexampleLines(recorder, e, sample, { initial: run.initial, steps }, { step: i + 1, kind: 'property', name, message: problem });
          throw new Error(`${entry.id} [sample ${entry.samples[sample].name}]: ${problem}\n  after events: ${upTo.join(' ; ')}${files}`);
        }
        before = step.snapshot;
      }
    },
  );
}
