/**
 * Every deliberately broken machine ("mutant") is caught by the property named for it.
 * A mutant that survives means the suite cannot see that kind of bug.
 *
 * A mutant named for a catalog invariant is first searched for exhaustively: breadth-first
 * exploration of each sample (bounded) must reach a state that violates that invariant. Only when
 * the bound cuts the search short do random runs get their chance.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { explore } from '../model/explore.js';
import { invariantsHoldProperty, numRuns, withMachine } from './harness.js';
import { mutants, propertiesByName } from './mutants/index.js';

/**
 * Each mutant's search runs from a seed of its own name, so the verdict is the same on every run
 * (a mutant caught only sometimes would make a flaky test). FC_SEED overrides it for exploration.
 */
function seedFor(name: string): number {
  if (process.env.FC_SEED) return Number(process.env.FC_SEED);
  let h = 2166136261;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h | 0;
}

describe.each(mutants.map((m) => [m.name, m] as const))('mutant %s', (_name, mutant) => {
  test(`is caught by ${mutant.caughtBy}`, () => {
    let result: { failed: boolean; numRuns: number };
    if (mutant.caughtBy.startsWith('invariant:')) {
      const invariant = mutant.caughtBy.slice('invariant:'.length);
      expect(mutant.entry.invariants.map((i) => i.name)).toContain(invariant);
      const broken = withMachine(mutant.entry, mutant.machine);
      const found = mutant.entry.samples.some((sample) => {
        const r = explore(broken, sample.input, { maxStates: 3_000, stopAtViolation: true });
        return r.violations.some((v) => v.invariant === invariant);
      });
      if (found) return;
      result = fc.check(invariantsHoldProperty(withMachine(mutant.entry, mutant.machine), invariant), {
        numRuns: numRuns(2000),
        seed: seedFor(mutant.name),
      });
    } else {
      const prop = propertiesByName.get(mutant.caughtBy);
      expect(prop, `no property named ${mutant.caughtBy}`).toBeDefined();
      result = fc.check(prop!.property(mutant.machine), { numRuns: numRuns(prop!.runs * 10), seed: seedFor(mutant.name) });
    }
    expect(result.failed, `${mutant.description}: survived ${result.numRuns} runs`).toBe(true);
  });
});
