/**
 * Virtual time: integer nanoseconds.
 *
 * The model never reads a wall clock. Time is a safe integer count of nanoseconds since the start
 * of a run, so that sums and comparisons are exact and two runs with the same inputs agree to the
 * nanosecond (ARCHITECTURE.md "Model": same seed, same trace). 2^53 ns is about 104 days of
 * simulated time, far beyond any experiment here.
 */

export const NS_PER_US = 1_000;
export const NS_PER_MS = 1_000_000;
export const NS_PER_S = 1_000_000_000;

/** A rejected time or delay: names what it was, the value, and what is allowed. */
export class TimeError extends Error {
  override readonly name = 'TimeError';
  constructor(
    readonly what: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`${what} = ${showValue(value)} is not allowed; expected ${allowed}`);
  }
}

function showValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** Throws unless `v` is a non-negative safe integer (a time or a delay in ns). */
export function checkNs(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new TimeError(what, v, 'a non-negative integer number of nanoseconds');
  }
  return v;
}

/** Whole nanoseconds for `n` microseconds (rounded to the nearest ns). */
export const us = (n: number): number => Math.round(n * NS_PER_US);
/** Whole nanoseconds for `n` milliseconds. */
export const ms = (n: number): number => Math.round(n * NS_PER_MS);
/** Whole nanoseconds for `n` seconds. */
export const seconds = (n: number): number => Math.round(n * NS_PER_S);

/** A clock that only moves forward. */
export class Clock {
  #now = 0;

  constructor(startNs = 0) {
    this.#now = checkNs('clock start', startNs);
  }

  /** Current virtual time in ns. */
  get now(): number {
    return this.#now;
  }

  /** Moves the clock to `t`; moving it backwards is a bug in the caller. */
  advanceTo(t: number): void {
    checkNs('clock time', t);
    if (t < this.#now) throw new TimeError('clock time', t, `a time no earlier than now (${this.#now} ns)`);
    this.#now = t;
  }
}
