/**
 * InfiniBand unreliable datagrams on model/ib-fabric.ts (IBTA Vol. 1 §9.8; dissertation §3.3.1):
 * a datagram is one packet of at most the 2 KB UD MTU; it is never acknowledged or resent; one that
 * finds no receive posted is dropped. With `k` receives posted and datagrams sent one way, exactly
 * the first `k` arrive (one path, in order) and the rest are dropped.
 *
 * The MTU check is shown to bite on a fabric that ignores the UD MTU. The drop property has no
 * mutant of its own: the queue-pair machine (machines/queue-pair.ts, its own mutants) decides the drop.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { defaultCosts } from '../model/costs.js';
import { IbFabric } from '../model/ib-fabric.js';
import { System } from '../model/wiring.js';
import { systemRuns } from './harness.js';

function run(sizes: readonly number[], k: number, extraReceives = 0): { delivered: unknown[]; dropped: number; acks: number } {
  const sys = new System({ recorder: { mode: 'ring', capacity: 16 } });
  const f = new IbFabric(sys, { hosts: ['A', 'B'], costs: defaultCosts });
  const a = f.createUd('A');
  const b = f.createUd('B');
  const delivered: unknown[] = [];
  f.onCompletion(b, (e) => {
    if (e.queue === 'recv' && e.status === 'success') delivered.push(e.tag);
  });
  for (let i = 0; i < k + extraReceives; i++) f.postRecv(b, { id: i, bytes: 2_048 });
  sizes.forEach((bytes, i) => f.udSend(a, b, { id: 1000 + i, bytes, tag: i }, i * 50));
  sys.run({ maxEvents: 100_000 });
  return { delivered, dropped: f.stats.udDropped, acks: f.stats.acks };
}

describe('UD: at most the MTU, no acknowledgements, dropped without a receive', () => {
  const arb = fc.tuple(fc.array(fc.integer({ min: 0, max: 2_048 }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 30 }));
  test('the first k datagrams arrive, in order; the rest are dropped', () => {
    fc.assert(
      fc.property(arb, ([sizes, k]) => {
        const r = run(sizes, k);
        const n = Math.min(k, sizes.length);
        expect(r.delivered).toEqual(sizes.slice(0, n).map((_, i) => i));
        expect(r.dropped).toBe(sizes.length - n);
        expect(r.acks).toBe(0);
      }),
      { numRuns: systemRuns(40) },
    );
  });

  const oversize = (broken?: { ignoreUdMtu: boolean }) => () => {
    const sys = new System();
    const f = new IbFabric(sys, { hosts: ['A', 'B'], costs: defaultCosts, broken });
    const a = f.createUd('A');
    const b = f.createUd('B');
    f.udSend(a, b, { id: 1, bytes: defaultCosts.ibUdMtuBytes + 1 });
  };
  test('a datagram larger than the UD MTU is refused, naming the field', () => {
    expect(oversize()).toThrow(/bytes must be at most the UD MTU 2048/);
  });

  test('a fabric that ignores the UD MTU fails that check', () => {
    expect(oversize({ ignoreUdMtu: true })).not.toThrow();
  });
});
