/**
 * Claim: a seed fixes every stream, and a component's stream depends only on the seed and its
 * name, so adding another component (or drawing elsewhere) does not perturb it.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Random, RandomError } from '../model/random.js';
import { numRuns } from './harness.js';

/** A mixed sequence of draws, as a component would make them. */
function draws(r: Random, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 5) {
      case 0:
        out.push(r.nextInt(-1000, 1000));
        break;
      case 1:
        out.push(r.nextFloat());
        break;
      case 2:
        out.push(r.exponentialNs(50_000));
        break;
      case 3:
        out.push(r.jitterNs(10_000, 2_500));
        break;
      default:
        out.push(r.nextInt(0, 2 ** 40));
    }
  }
  return out;
}

const seedArb = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const nameArb = fc.string({ minLength: 1, maxLength: 8 });

describe('model random', () => {
  test('same seed, same stream (root and split streams)', () => {
    fc.assert(
      fc.property(seedArb, nameArb, (seed, name) => {
        expect(draws(Random.fromSeed(seed), 40)).toEqual(draws(Random.fromSeed(seed), 40));
        expect(draws(Random.fromSeed(seed).split(name), 40)).toEqual(draws(Random.fromSeed(seed).split(name), 40));
      }),
      { numRuns: numRuns(100) },
    );
  });

  test("a component's stream ignores other components and draws from its parent", () => {
    fc.assert(
      fc.property(seedArb, fc.uniqueArray(nameArb, { minLength: 2, maxLength: 6 }), fc.nat({ max: 50 }), (seed, names, parentDraws) => {
        const [mine, ...others] = names;
        const alone = draws(Random.fromSeed(seed).split(mine), 30);
        const root = Random.fromSeed(seed);
        draws(root, parentDraws);
        for (const o of others) draws(root.split(o), 7);
        expect(draws(root.split(mine), 30)).toEqual(alone);
      }),
      { numRuns: numRuns(100) },
    );
  });

  test('different seeds and different names give different streams', () => {
    fc.assert(
      fc.property(seedArb, seedArb, nameArb, nameArb, (s1, s2, n1, n2) => {
        const ints = (r: Random) => Array.from({ length: 4 }, () => r.nextInt(0, 2 ** 32 - 1));
        if (s1 !== s2) expect(ints(Random.fromSeed(s1))).not.toEqual(ints(Random.fromSeed(s2)));
        if (n1 !== n2) expect(ints(Random.fromSeed(s1).split(n1))).not.toEqual(ints(Random.fromSeed(s1).split(n2)));
        // Nesting is part of the name: a/b is not the stream "a/b".
        expect(ints(Random.fromSeed(s1).split('a').split('b'))).not.toEqual(ints(Random.fromSeed(s1).split('a/b')));
      }),
      { numRuns: numRuns(100) },
    );
  });

  test('draws stay within their bounds', () => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: -1e6, max: 1e6 }), fc.nat({ max: 1e6 }), fc.nat({ max: 1e6 }), (seed, lo, span, base) => {
        const r = Random.fromSeed(seed);
        const v = r.nextInt(lo, lo + span);
        expect(Number.isInteger(v) && v >= lo && v <= lo + span).toBe(true);
        const f = r.nextFloat();
        expect(f >= 0 && f < 1).toBe(true);
        const spread = Math.floor(base / 3);
        const j = r.jitterNs(base, spread);
        expect(Number.isInteger(j) && j >= base - spread && j <= base + spread).toBe(true);
        const e = r.exponentialNs(base);
        expect(Number.isInteger(e) && e >= 0).toBe(true);
      }),
      { numRuns: numRuns(200) },
    );
  });

  test('the exponential helper has the mean it is given (10,000 draws, fixed seed)', () => {
    const r = Random.fromSeed(7).split('noise');
    let total = 0;
    for (let i = 0; i < 10_000; i++) total += r.exponential(1000);
    expect(Math.abs(total / 10_000 - 1000)).toBeLessThan(50);
  });

  test('bad arguments and a second split of one name are refused, naming the value', () => {
    const r = Random.fromSeed(1);
    expect(() => Random.fromSeed(0.5)).toThrow(/seed = 0.5/);
    expect(() => r.nextInt(5, 4)).toThrow(/min = 5 is greater than max = 4/);
    expect(() => r.nextInt(0, 1.5)).toThrow(/max = 1.5/);
    expect(() => r.jitterNs(10, 11)).toThrow(/spreadNs = 11/);
    expect(() => r.exponential(-1)).toThrow(/mean = -1/);
    expect(() => r.chance(2)).toThrow(/p = 2/);
    r.split('nic');
    expect(() => r.split('nic')).toThrow(RandomError);
    expect(() => r.split('')).toThrow(/non-empty/);
  });
});
