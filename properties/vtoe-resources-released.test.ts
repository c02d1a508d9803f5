/**
 * VNET+VTOE composition (model/vtoe-path.ts), resources (dissertation §4.6.2: the agent maps SIDs to
 * shadow CIDs; §5.3.1: time-wait before idle): a SID and its CID are released only after the shadow
 * connection's IB time-wait (or if it never connected), with no work request left on the QP; the
 * SID <-> CID map is a bijection after every step; once every connection is closed or failed and the
 * time-wait timers have run, no SID, CID or QP is held on either host.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { numRuns } from './harness.js';
import { MUTANTS, holds, resources, workloadArb } from './vtoe-path-checks.js';

describe('VNET+VTOE: every SID, CID and QP is released, after time-wait, and the map stays a bijection', () => {
  test('holds over arbitrary interleavings, workloads and faults', () => {
    fc.assert(holds(resources, workloadArb()), { numRuns: numRuns(300) });
  });

  for (const m of MUTANTS.filter((x) => x.caughtBy.includes('resources'))) {
    test(`fails on the broken variant: ${m.name}`, () => {
      expect(fc.check(holds(resources, workloadArb(), m.variant), { numRuns: 200, seed: 1 }).failed).toBe(true);
    });
  }
});
