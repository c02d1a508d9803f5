/**
 * Shared pieces of the property suite: run counts, mutant records, and the generic property
 * "every invariant holds on every step of random runs".
 */
import fc from 'fast-check';
import type { AnyMachineSnapshot, AnyStateMachine } from 'xstate';
import type { AnyCatalogEntry } from '../machines/catalog-entry.js';
import { randomRun, type RandomStep } from '../model/explore.js';

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

/** Random runs from each sample never violate a catalog invariant. */
export function invariantsHoldProperty(entry: AnyCatalogEntry, invariant?: string) {
  return fc.property(
    fc.integer({ min: 0, max: entry.samples.length - 1 }),
    fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 60 }),
    (sample, choices) => {
      const run = randomRun(entry, entry.samples[sample].input, choices);
      const v = run.violation;
      if (v && (invariant === undefined || v.invariant === invariant)) {
        throw new Error(
          `${entry.id} [sample ${entry.samples[sample].name}]: invariant ${v.invariant} violated: ${v.message}\n` +
            `  after events: ${v.path.map((e) => JSON.stringify(e)).join(' ; ')}`,
        );
      }
    },
  );
}

/**
 * A property over the steps of random runs of `machine` from the entry's samples: `check` sees
 * the snapshot before, the event, what it emitted and the snapshot after, and returns a sentence
 * when something is wrong.
 */
export function stepsProperty(
  entry: AnyCatalogEntry,
  machine: AnyStateMachine,
  check: (before: AnyMachineSnapshot, step: RandomStep) => string | undefined,
) {
  const e = withMachine(entry, machine);
  return fc.property(
    fc.integer({ min: 0, max: entry.samples.length - 1 }),
    fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 60 }),
    (sample, choices) => {
      const run = randomRun(e, entry.samples[sample].input, choices, { checkInvariants: false });
      let before = run.initial;
      for (const step of run.steps) {
        const problem = check(before, step);
        if (problem) {
          const upTo = run.steps.slice(0, run.steps.indexOf(step) + 1).map((s) => JSON.stringify(s.event));
          throw new Error(`${entry.id} [sample ${entry.samples[sample].name}]: ${problem}\n  after events: ${upTo.join(' ; ')}`);
        }
        before = step.snapshot;
      }
    },
  );
}
