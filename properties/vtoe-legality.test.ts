/**
 * VNET+VTOE composition (model/vtoe-path.ts), legality (protocol-notes.md §7 items 4 and 5): no QP
 * modify outside the legal verbs transitions (the QP machine refuses one with `modify.failed`, which
 * never appears in a correct run); the VTOE NIC never has to refuse an overlay event; every VTOE
 * event sequence a guest sees follows the rdma_cm order (checked by an automaton of this test's own,
 * not the NIC's); nothing is delivered after DEVICE_REMOVAL.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { numRuns } from './harness.js';
import { MUTANTS, holds, legality, workloadArb } from './vtoe-path-checks.js';

describe('VNET+VTOE: legal QP modifies, rdma_cm event order, nothing after DEVICE_REMOVAL', () => {
  test('holds over arbitrary interleavings, workloads and faults', () => {
    fc.assert(holds(legality, workloadArb()), { numRuns: numRuns(300) });
  });

  for (const m of MUTANTS.filter((x) => x.caughtBy.includes('legality'))) {
    test(`fails on the broken variant: ${m.name}`, () => {
      expect(fc.check(holds(legality, workloadArb(), m.variant), { numRuns: 200, seed: 1 }).failed).toBe(true);
    });
  }
});
