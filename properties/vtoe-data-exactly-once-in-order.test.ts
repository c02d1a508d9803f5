/**
 * VNET+VTOE composition (model/vtoe-path.ts), data (protocol-notes.md §7 item 1): on every
 * connection and in both directions, what reaches the receiving guest is a prefix of what was sent,
 * each message once and in order; a message that completed successfully at its sender arrived; a
 * message that did not arrive completed with an error (the flush of the work requests outstanding
 * when the QP entered ERR); without a fault everything sent arrives; and when something is lost,
 * each guest that had the connection was told that it failed.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { numRuns } from './harness.js';
import { MUTANTS, cleanWorkloadArb, data, holds, workloadArb } from './vtoe-path-checks.js';

describe('VNET+VTOE: bytes arrive exactly once and in order, or the guests are told', () => {
  test('holds over arbitrary interleavings, workloads and faults', () => {
    fc.assert(holds(data, workloadArb()), { numRuns: numRuns(300) });
  });

  test('holds without faults (everything arrives)', () => {
    fc.assert(holds(data, cleanWorkloadArb), { numRuns: numRuns(100) });
  });

  for (const m of MUTANTS.filter((x) => x.caughtBy.includes('data'))) {
    test(`fails on the broken variant: ${m.name}`, () => {
      expect(fc.check(holds(data, workloadArb(), m.variant), { numRuns: 300, seed: 1 }).failed).toBe(true);
    });
  }
});
