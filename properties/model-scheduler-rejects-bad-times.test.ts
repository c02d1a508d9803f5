/**
 * Claim: the scheduler refuses any time that is not a non-negative integer number of nanoseconds,
 * or that lies in the past, with an error naming the value; and it refuses unknown targets.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { TimeError } from '../model/clock.js';
import { Scheduler } from '../model/scheduler.js';
import { numRuns } from './harness.js';

function scheduler(): Scheduler<string> {
  const s = new Scheduler<string>();
  s.register('x', () => {});
  return s;
}

/** Numbers that are not valid times: negative, fractional, not finite, unsafe. */
const badNumber = fc.oneof(
  fc.integer({ min: -1_000_000, max: -1 }),
  fc.double({ min: 0.0001, max: 1e9, noNaN: true }).filter((v) => !Number.isInteger(v)),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53, -0.5),
);

describe('model scheduler input checks', () => {
  test('a bad delay or time is rejected with a TimeError that names the value', () => {
    fc.assert(
      fc.property(badNumber, fc.boolean(), (v, asDelay) => {
        const s = scheduler();
        const when = asDelay ? { delayNs: v } : { atNs: v };
        let err: unknown;
        try {
          s.schedule(when, 'x', 'e');
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(TimeError);
        expect((err as Error).message).toContain(String(v));
        expect((err as Error).message).toContain(asDelay ? 'delayNs' : 'atNs');
        expect(s.pending).toBe(0);
      }),
      { numRuns: numRuns(200) },
    );
  });

  test('values that are not numbers are rejected too', () => {
    const s = scheduler();
    for (const v of ['5', null, undefined, 5n, {}]) {
      expect(() => s.schedule({ delayNs: v as never }, 'x', 'e')).toThrow(TimeError);
    }
    expect(() => s.schedule(5 as never, 'x', 'e')).toThrow(/schedule when = 5/);
  });

  test('a time in the past is rejected, naming it and the current time', () => {
    const s = scheduler();
    s.scheduleAt(100, 'x', 'e');
    s.run();
    expect(() => s.scheduleAt(99, 'x', 'e')).toThrow(/schedule atNs = 99 .*no earlier than now \(100 ns\)/);
    expect(() => s.run({ until: 50 })).toThrow(/run until = 50/);
    // The present itself is allowed.
    expect(() => s.scheduleAt(100, 'x', 'e')).not.toThrow();
  });

  test('a handler cannot schedule into the past either', () => {
    const s = new Scheduler<string>();
    s.register('x', (_e, ctx) => ctx.schedule({ atNs: ctx.now - 1 }, 'x', 'again'));
    s.scheduleAt(10, 'x', 'e');
    expect(() => s.run()).toThrow(/atNs = 9 /);
  });

  test('unknown targets, duplicate targets, bad maxEvents and nested runs are refused', () => {
    const s = scheduler();
    expect(() => s.scheduleIn(1, 'y', 'e')).toThrow(/unknown target "y"; known targets: x/);
    expect(() => s.register('x', () => {})).toThrow(/"x" is already registered/);
    expect(() => s.run({ maxEvents: 1.5 })).toThrow(/maxEvents = 1.5/);
    s.register('nest', () => s.run());
    s.scheduleIn(0, 'nest', 'e');
    expect(() => s.run()).toThrow(/inside a handler/);
  });
});
