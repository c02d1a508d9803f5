/**
 * Seeded randomness for the model: one stream per component, derived by name.
 *
 * The generator is pure-rand's xoroshiro128+ (the library fast-check is built on), so a property
 * test's seed can be handed straight to a run. Streams are split by *name*, not by drawing from
 * the parent: a component's stream is a function of (root seed, its path of names) only. Adding,
 * removing or reordering other components, or drawing more numbers elsewhere, leaves it unchanged
 * (ARCHITECTURE.md "Model": a seeded PRNG passed in; same seed, same trace).
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/** A rejected argument to a random helper, naming it and its value. */
export class RandomError extends Error {
  override readonly name = 'RandomError';
}

/** Murmur3's 32-bit finalizer: spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** A 32-bit hash of `key` under `salt` (not cryptographic; only to seed independent streams). */
function hash32(key: string, salt: number): number {
  let h = fmix32(salt ^ 0x9e3779b9);
  for (let i = 0; i < key.length; i++) {
    h = Math.imul(h ^ key.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 15;
  }
  return fmix32(h ^ key.length);
}

/** The 128-bit generator state for a stream: four 32-bit words hashed from seed and path. */
function stateFor(seed: number, path: readonly string[]): number[] {
  const hi = Math.floor(seed / 0x1_0000_0000);
  const lo = seed >>> 0;
  // JSON keeps the path unambiguous: ["a/b"] and ["a","b"] are different streams.
  const key = JSON.stringify([hi, lo, ...path]);
  const words: number[] = [0, 1, 2, 3].map((k) => hash32(key, k));
  // xoroshiro's all-zero state is a fixed point.
  if (words.every((w): boolean => w === 0)) words[0] = 1;
  return words;
}

function checkSafeInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RandomError(`${what} = ${String(v)} is not a safe integer`);
  return v;
}

function checkFinite(what: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new RandomError(`${what} = ${String(v)} is not allowed; expected a finite number >= ${min}`);
  }
  return v;
}

export class Random {
  readonly #seed: number;
  readonly #rng: RandomGenerator;
  readonly #children = new Set<string>();
  /** Names from the root to this stream. */
  readonly path: readonly string[];

  private constructor(seed: number, path: readonly string[]) {
    this.#seed = seed;
    this.path = path;
    this.#rng = xoroshiro128plusFromState(stateFor(seed, path));
  }

  /** The root stream for `seed` (any safe integer, e.g. one fast-check generated). */
  static fromSeed(seed: number): Random {
    return new Random(checkSafeInt('seed', seed), []);
  }

  /** The root seed this stream descends from. */
  get seed(): number {
    return this.#seed;
  }

  /** `a/b/c`, or `(root)`. */
  get name(): string {
    return this.path.length === 0 ? '(root)' : this.path.join('/');
  }

  /**
   * The child stream called `name`: depends only on the root seed and the path, never on draws
   * from this stream or on other children. Splitting the same name twice from one parent is an
   * error, since two components sharing a stream would be silently correlated.
   */
  split(name: string): Random {
    if (typeof name !== 'string' || name === '') throw new RandomError(`stream name must be a non-empty string, got ${JSON.stringify(name)}`);
    if (this.#children.has(name)) throw new RandomError(`stream "${name}" was already split from ${this.name}`);
    this.#children.add(name);
    return new Random(this.#seed, [...this.path, name]);
  }

  /** A uniform integer in [min, max], both inclusive. */
  nextInt(min: number, max: number): number {
    checkSafeInt('nextInt min', min);
    checkSafeInt('nextInt max', max);
    if (min > max) throw new RandomError(`nextInt min = ${min} is greater than max = ${max}`);
    return uniformInt(this.#rng, min, max);
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number {
    return uniformFloat64(this.#rng);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new RandomError(`chance p = ${String(p)} is not a probability in [0, 1]`);
    return this.nextFloat() < p;
  }

  /** An exponentially distributed float with the given mean (inverse transform). */
  exponential(mean: number): number {
    checkFinite('exponential mean', mean, 0);
    // 1 - u lies in (0, 1], so the logarithm is finite.
    return -mean * Math.log(1 - this.nextFloat());
  }

  /** An exponential delay with mean `meanNs`, rounded to whole ns (for the scheduler). */
  exponentialNs(meanNs: number): number {
    return Math.round(this.exponential(meanNs));
  }

  /** A uniform integer delay in [minNs, maxNs]. */
  uniformNs(minNs: number, maxNs: number): number {
    if (!Number.isSafeInteger(minNs) || minNs < 0) throw new RandomError(`uniformNs minNs = ${String(minNs)} is not a non-negative integer`);
    return this.nextInt(minNs, maxNs);
  }

  /** `baseNs` moved by a uniform integer in [-spreadNs, +spreadNs]; never negative. */
  jitterNs(baseNs: number, spreadNs: number): number {
    if (!Number.isSafeInteger(baseNs) || baseNs < 0) throw new RandomError(`jitterNs baseNs = ${String(baseNs)} is not a non-negative integer`);
    if (!Number.isSafeInteger(spreadNs) || spreadNs < 0 || spreadNs > baseNs) {
      throw new RandomError(`jitterNs spreadNs = ${String(spreadNs)} is not allowed; expected an integer from 0 to baseNs (${baseNs})`);
    }
    return baseNs + this.nextInt(-spreadNs, spreadNs);
  }
}
