/**
 * Claim: the scheduler delivers events in (time, sequence) order for any schedule, including
 * events scheduled by handlers and cancellations, and however a run is cut into pieces.
 *
 * The oracle is a plain list scanned for its minimum on every step: slow, obviously right, and
 * independent of the heap.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Scheduler } from '../model/scheduler.js';
import { numRuns } from './harness.js';

const TARGETS = ['a', 'b', 'c'] as const;

interface Plan {
  /** Events scheduled before the run: absolute time and target. */
  readonly initial: readonly { readonly at: number; readonly target: number }[];
  /** What the k-th delivery schedules (cycled): delays (0 allowed) and targets. */
  readonly spawn: readonly (readonly { readonly delay: number; readonly target: number }[])[];
  /** What the k-th delivery cancels (cycled): an id counted back from the newest, or none. */
  readonly cancel: readonly (number | null)[];
}

interface Delivered {
  readonly id: number;
  readonly at: number;
  readonly target: string;
}

const MAX_SCHEDULED = 150;

const planArb: fc.Arbitrary<Plan> = fc.record({
  initial: fc.array(fc.record({ at: fc.nat({ max: 40 }), target: fc.nat({ max: 2 }) }), { minLength: 1, maxLength: 30 }),
  spawn: fc.array(fc.array(fc.record({ delay: fc.nat({ max: 15 }), target: fc.nat({ max: 2 }) }), { maxLength: 3 }), {
    minLength: 1,
    maxLength: 8,
  }),
  cancel: fc.array(fc.option(fc.nat({ max: 10 }), { nil: null }), { minLength: 1, maxLength: 8 }),
});

/** Runs `plan` on the real scheduler, optionally in pieces; returns the deliveries in order. */
function runScheduler(plan: Plan, pieces?: readonly { until?: number; maxEvents?: number }[]): Delivered[] {
  const s = new Scheduler<number>();
  const out: Delivered[] = [];
  let scheduled = 0;
  for (const t of TARGETS) {
    s.register(t, (_ev, ctx) => {
      const k = out.length;
      out.push({ id: _ev, at: ctx.now, target: t });
      for (const sp of plan.spawn[k % plan.spawn.length]) {
        if (scheduled >= MAX_SCHEDULED) break;
        // The event carries its own id, so the delivery can be matched to the scheduling.
        const id = scheduled++;
        const got = ctx.schedule({ delayNs: sp.delay }, TARGETS[sp.target], id);
        if (got !== id) throw new Error(`schedule returned id ${got}, expected ${id}`);
      }
      const c = plan.cancel[k % plan.cancel.length];
      if (c !== null && scheduled - 1 - c >= 0) s.cancel(scheduled - 1 - c);
    });
  }
  for (const e of plan.initial) {
    const id = scheduled++;
    s.schedule({ atNs: e.at }, TARGETS[e.target], id);
  }
  // `until` may not lie in the past: a cut point behind the clock becomes the clock.
  if (pieces) for (const p of pieces) s.run({ ...p, until: p.until === undefined ? undefined : Math.max(p.until, s.now) });
  s.run();
  expect(s.pending).toBe(0);
  return out;
}

/** The oracle: a list, scanned for the minimum (time, id) each step. */
function runOracle(plan: Plan): Delivered[] {
  const pending: { id: number; at: number; target: string }[] = [];
  const out: Delivered[] = [];
  let scheduled = 0;
  let now = 0;
  for (const e of plan.initial) pending.push({ id: scheduled++, at: e.at, target: TARGETS[e.target] });
  while (pending.length > 0) {
    let m = 0;
    for (let i = 1; i < pending.length; i++) {
      if (pending[i].at < pending[m].at || (pending[i].at === pending[m].at && pending[i].id < pending[m].id)) m = i;
    }
    const [d] = pending.splice(m, 1);
    now = d.at;
    const k = out.length;
    out.push(d);
    for (const sp of plan.spawn[k % plan.spawn.length]) {
      if (scheduled >= MAX_SCHEDULED) break;
      pending.push({ id: scheduled++, at: now + sp.delay, target: TARGETS[sp.target] });
    }
    const c = plan.cancel[k % plan.cancel.length];
    if (c !== null && scheduled - 1 - c >= 0) {
      const j = pending.findIndex((p) => p.id === scheduled - 1 - c);
      if (j >= 0) pending.splice(j, 1);
    }
  }
  return out;
}

describe('model scheduler', () => {
  test('events come out in (time, sequence) order, as the list oracle delivers them', () => {
    fc.assert(
      fc.property(planArb, (plan) => {
        const got = runScheduler(plan);
        expect(got).toEqual(runOracle(plan));
        for (let i = 1; i < got.length; i++) {
          const [a, b] = [got[i - 1], got[i]];
          expect(a.at < b.at || (a.at === b.at && a.id < b.id)).toBe(true);
        }
      }),
      { numRuns: numRuns(150) },
    );
  });

  test('cutting a run into pieces (until, maxEvents) does not change the order', () => {
    const piece = fc.record({ until: fc.option(fc.nat({ max: 60 }), { nil: undefined }), maxEvents: fc.option(fc.nat({ max: 10 }), { nil: undefined }) });
    fc.assert(
      fc.property(planArb, fc.array(piece, { maxLength: 6 }), (plan, pieces) => {
        expect(runScheduler(plan, pieces)).toEqual(runScheduler(plan));
      }),
      { numRuns: numRuns(100) },
    );
  });

  test('run reports why it returned and leaves the clock at `until`', () => {
    const s = new Scheduler<string>();
    const seen: string[] = [];
    s.register('x', (e, ctx) => {
      seen.push(`${ctx.now}:${e}`);
      if (e === 'stop') ctx.stop('asked to');
    });
    s.scheduleAt(10, 'x', 'a');
    s.scheduleAt(20, 'x', 'stop');
    s.scheduleAt(30, 'x', 'c');
    expect(s.run({ until: 5 })).toEqual({ delivered: 0, now: 5, stoppedBy: 'until', pending: 3 });
    expect(s.run({ maxEvents: 1 })).toEqual({ delivered: 1, now: 10, stoppedBy: 'maxEvents', pending: 2 });
    expect(s.run()).toEqual({ delivered: 1, now: 20, stoppedBy: 'stop', stopReason: 'asked to', pending: 1 });
    expect(s.run({ until: 100 })).toEqual({ delivered: 1, now: 100, stoppedBy: 'empty', pending: 0 });
    expect(seen).toEqual(['10:a', '20:stop', '30:c']);
    // A delay is measured from the clock, which `until` moved to 100.
    s.scheduleIn(7, 'x', 'late');
    s.run();
    expect(seen.at(-1)).toBe('107:late');
  });

  test('a cancelled event is not delivered, and cancelling twice or after delivery says false', () => {
    const s = new Scheduler<string>();
    const seen: string[] = [];
    s.register('x', (e) => seen.push(e));
    const a = s.scheduleAt(1, 'x', 'a');
    const b = s.scheduleAt(1, 'x', 'b');
    expect(s.cancel(a)).toBe(true);
    expect(s.cancel(a)).toBe(false);
    expect(s.pending).toBe(1);
    expect(s.peekTime()).toBe(1);
    s.run();
    expect(s.cancel(b)).toBe(false);
    expect(seen).toEqual(['b']);
  });
});
