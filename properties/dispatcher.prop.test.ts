/** The dispatcher's own properties, and a few pinned scenarios in the dissertation's terms. */
import fc from 'fast-check';
import { createActor } from 'xstate';
import { describe, expect, test } from 'vitest';
import { dispatcherMachine, type Emitted, type Event, type Input } from '../machines/dispatcher.js';
import { numRuns } from './harness.js';
import { properties } from './dispatcher.props.js';

function run(input: Input, events: readonly Event[]) {
  const actor = createActor(dispatcherMachine, { input });
  const out: Emitted[] = [];
  actor.on('*', (x: Emitted) => {
    out.push(x);
  });
  actor.start();
  for (const ev of events) actor.send(ev);
  const snap = actor.getSnapshot();
  actor.stop();
  return { snap, out };
}

describe('dispatcher', () => {
  for (const p of properties) {
    test(`${p.name}: ${p.description}`, () => {
      fc.assert(p.property(dispatcherMachine), { numRuns: numRuns(p.runs) });
    });
  }

  test('pinned: a VMM-driven backlog of 100 takes two rounds at the default quota of 64', () => {
    const { out } = run({ initialMode: 'vmm-driven' }, [
      { type: 'tx.queued', nic: 0, packets: 100, now: 0 },
      { type: 'thread.round', thread: 0, now: 10 },
      { type: 'thread.round', thread: 0, now: 20 },
    ]);
    expect(out).toEqual([
      { type: 'dispatch', nic: 0, packets: 64, first: 0, context: 'thread', thread: 0, now: 10 },
      { type: 'dispatch', nic: 0, packets: 36, first: 64, context: 'thread', thread: 0, now: 20 },
    ]);
  });

  test('pinned: a guest-driven kick takes the whole backlog in its exit; the dissertation\'s threads do not poll it, the original\'s do', () => {
    const events: Event[] = [
      { type: 'tx.queued', nic: 0, packets: 100, now: 0 },
      { type: 'thread.round', thread: 0, now: 5 },
      { type: 'kick', nic: 0, now: 10 },
    ];
    expect(run({}, events).out).toEqual([
      { type: 'thread.yield', thread: 0, now: 5 },
      { type: 'dispatch', nic: 0, packets: 100, first: 0, context: 'exit', now: 10 },
    ]);
    expect(run({ pollGuestDriven: true }, events).out).toEqual([
      { type: 'dispatch', nic: 0, packets: 64, first: 0, context: 'thread', thread: 0, now: 5 },
      { type: 'dispatch', nic: 0, packets: 36, first: 64, context: 'exit', now: 10 },
    ]);
  });

  test('pinned: a timed-yield thread sleeps T_sleep and is woken by the first event past its wake time', () => {
    const { snap, out } = run({ yieldStrategy: 'timed', initialMode: 'vmm-driven' }, [
      { type: 'thread.round', thread: 0, now: 1_000 },
      { type: 'tx.queued', nic: 0, packets: 1, now: 500_000 },
      { type: 'exit', nic: 0, now: 1_500_000 },
    ]);
    expect(out).toEqual([
      { type: 'thread.sleep', thread: 0, until: 1_001_000, now: 1_000 },
      { type: 'thread.woke', thread: 0, at: 1_001_000, now: 1_500_000 },
      { type: 'dispatch', nic: 0, packets: 1, first: 0, context: 'unrelated-exit', now: 1_500_000 },
    ]);
    expect(snap.value).toBe('active');
  });

  test('pinned: adaptive yield stays runnable until idle for more than T_nowork, then sleeps', () => {
    const { out } = run({ yieldStrategy: 'adaptive', tNowork: 1_000_000 }, [
      { type: 'thread.round', thread: 0, now: 1_000_000 },
      { type: 'thread.round', thread: 0, now: 1_000_001 },
    ]);
    expect(out).toEqual([
      { type: 'thread.yield', thread: 0, now: 1_000_000 },
      { type: 'thread.sleep', thread: 0, until: 2_000_001, now: 1_000_001 },
    ]);
  });

  test('a round of a sleeping thread, and an event whose time goes backwards, are refused and counted', () => {
    const { snap, out } = run({ yieldStrategy: 'timed' }, [
      { type: 'thread.round', thread: 0, now: 100 },
      { type: 'thread.round', thread: 0, now: 200 },
      { type: 'exit', nic: 0, now: 50 },
      { type: 'kick', nic: 3, now: 300 },
    ]);
    expect(out.slice(1)).toEqual([
      { type: 'event.rejected', event: 'thread.round', now: 200, reason: 'thread-asleep' },
      { type: 'event.rejected', event: 'exit', now: 50, reason: 'time-backwards' },
      { type: 'event.rejected', event: 'kick', now: 300, reason: 'invalid' },
    ]);
    expect(snap.context.stats.rejected).toBe(3);
    expect(snap.context.now).toBe(100);
    expect(snap.value).toBe('allAsleep');
  });
});
